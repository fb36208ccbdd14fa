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
