//! Every child process the tool starts is made here, with the secrets it knows taken out of
//! its environment: Grafana's signing token and API token never reach cargo, build scripts,
//! rustup, npm, webpack, docker or Grafana. The signer alone is handed its token, explicitly.
use std::ffi::OsStr;

/// The environment variable plugin-actions uses for Grafana's signing token.
pub const TOKEN_VARIABLE: &str = "GRAFANA_ACCESS_POLICY_TOKEN";

/// Environment variables that hold secrets: the access-policy token that signs releases (and
/// its legacy name, which @grafana/sign-plugin still reads) and the service-account token
/// `dev` asks Grafana's API with.
pub const SECRET_VARIABLES: [&str; 3] = [TOKEN_VARIABLE, "GRAFANA_API_KEY", "GRAFANA_TOKEN"];

/// A `std::process::Command` for `program`, its environment scrubbed of the secrets.
pub fn command(program: impl AsRef<OsStr>) -> std::process::Command {
    let mut command = std::process::Command::new(program);
    for name in SECRET_VARIABLES {
        command.env_remove(name);
    }
    command
}

/// An xshell command with its environment scrubbed of the secrets; what [`cmd!`] makes.
pub fn scrubbed(mut command: xshell::Cmd<'_>) -> xshell::Cmd<'_> {
    for name in SECRET_VARIABLES {
        command = command.env_remove(name);
    }
    command
}

/// Runs `command` (made by [`command`]) to its end within `deadline`, keeping at most `cap`
/// bytes of each of its outputs (the rest is read and dropped, so the child never blocks on a
/// full pipe). `Ok(None)` when it was still running at the deadline: it is then killed.
pub fn output_within(
    mut command: std::process::Command,
    deadline: std::time::Duration,
    cap: usize,
) -> std::io::Result<Option<std::process::Output>> {
    use std::{io::Read, process::Stdio};
    let mut child = command
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()?;
    let read_capped = |pipe: Option<Box<dyn Read + Send>>| {
        std::thread::spawn(move || {
            let mut kept = Vec::new();
            let Some(mut pipe) = pipe else { return kept };
            let mut chunk = [0; 8192];
            while let Ok(read @ 1..) = pipe.read(&mut chunk) {
                let room = cap.saturating_sub(kept.len());
                kept.extend_from_slice(&chunk[..read.min(room)]);
            }
            kept
        })
    };
    let stdout = read_capped(child.stdout.take().map(|p| Box::new(p) as _));
    let stderr = read_capped(child.stderr.take().map(|p| Box::new(p) as _));
    let until = std::time::Instant::now() + deadline;
    let status = loop {
        if let Some(status) = child.try_wait()? {
            break status;
        }
        if std::time::Instant::now() >= until {
            let _ = child.kill();
            let _ = child.wait();
            // The readers end when the pipes close (at once, unless the child left a process
            // holding them): they are not waited for.
            return Ok(None);
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    };
    Ok(Some(std::process::Output {
        status,
        stdout: stdout.join().unwrap_or_default(),
        stderr: stderr.join().unwrap_or_default(),
    }))
}

/// xshell's `cmd!` (same syntax, same interpolation), scrubbed of the secrets. The only way
/// the tool runs a command through a shell object: a test refuses any other.
macro_rules! cmd {
    ($sh:expr, $template:literal) => {
        $crate::spawn::scrubbed(::xshell::cmd!($sh, $template))
    };
}
pub(crate) use cmd;

#[cfg(test)]
mod tests {
    use std::path::Path;

    /// Ways to start a process that bypass this module.
    const BYPASSES: [&str; 4] = [
        "Command::new(",
        "xshell::cmd!",
        ".cmd(",
        "process::Command::new",
    ];

    #[cfg(unix)]
    #[test]
    fn a_command_is_killed_at_its_deadline_and_its_output_capped() {
        use std::time::{Duration, Instant};
        let started = Instant::now();
        let mut sleeper = super::command("sleep");
        sleeper.arg("30");
        let answer = super::output_within(sleeper, Duration::from_millis(300), 1024).unwrap();
        assert!(answer.is_none());
        assert!(started.elapsed() < Duration::from_secs(20));
        let mut talker = super::command("sh");
        talker.args(["-c", "head -c 1000000 /dev/zero; echo done >&2"]);
        let output = super::output_within(talker, Duration::from_secs(20), 1024)
            .unwrap()
            .unwrap();
        assert!(output.status.success());
        assert_eq!(
            (output.stdout.len(), output.stderr.as_slice()),
            (1024, &b"done\n"[..])
        );
    }

    #[test]
    fn no_process_is_started_anywhere_but_here() {
        let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
        let mut offenders = Vec::new();
        for entry in crate::util::walk(&src).unwrap() {
            if entry.is_dir || entry.relative == "spawn.rs" {
                continue;
            }
            let text = std::fs::read_to_string(&entry.path).unwrap();
            for (number, line) in text.lines().enumerate() {
                let imports_xshell_cmd =
                    line.trim_start().starts_with("use xshell") && line.contains("cmd");
                if imports_xshell_cmd || BYPASSES.iter().any(|b| line.contains(b)) {
                    offenders.push(format!(
                        "src/{}:{}: {}",
                        entry.relative,
                        number + 1,
                        line.trim()
                    ));
                }
            }
        }
        assert!(
            offenders.is_empty(),
            "start processes through spawn::command or spawn::cmd!, which scrub the secrets:\n{}",
            offenders.join("\n")
        );
    }

    #[test]
    fn a_scrubbed_command_carries_no_secret() {
        let command = super::command("true");
        let removed: Vec<_> = command
            .get_envs()
            .filter(|(_, value)| value.is_none())
            .map(|(name, _)| name.to_str().unwrap().to_owned())
            .collect();
        for name in super::SECRET_VARIABLES {
            assert!(removed.iter().any(|r| r == name), "{name} is not removed");
        }
    }
}
