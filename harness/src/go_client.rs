//! Grafana's real client, HashiCorp's go-plugin over grpc-go (bench/go-plugin-client, built
//! from Debian's Go sources by bench/go-plugin-build.sh, REFERENCE §9), and a driver for its
//! `script` mode: one call per line, as Grafana makes them for users of orgs and data sources.
use std::{
    io::{BufRead, BufReader, Lines, Write},
    path::{Path, PathBuf},
    process::{Child, ChildStdin, ChildStdout, Command, Stdio},
};

/// Builds the client into `out` (once per process and directory). `Err` names what is
/// missing (Go or its go-plugin/grpc sources: the caller skips); a build that fails with them
/// present panics.
pub fn build(out: &Path) -> Result<PathBuf, String> {
    static BUILT: std::sync::Mutex<Vec<(PathBuf, Result<PathBuf, String>)>> =
        std::sync::Mutex::new(Vec::new());
    let mut built = BUILT
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    if let Some((_, result)) = built.iter().find(|(dir, _)| dir == out) {
        return result.clone();
    }
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
    let output = Command::new("bash")
        .arg(root.join("bench/go-plugin-build.sh"))
        .arg(out)
        .current_dir(root)
        .output()
        .map_err(|error| format!("cannot run bash: {error}"))?;
    let stderr = String::from_utf8_lossy(&output.stderr).trim().to_owned();
    let result = match output.status.code() {
        Some(0) => Ok(out.join("client")),
        Some(2) => Err(stderr),
        _ => panic!(
            "Go and the go-plugin sources are there, but the client does not build: {stderr}"
        ),
    };
    built.push((out.to_owned(), result.clone()));
    result
}

/// The client in `script` mode over `executable`, started as Grafana starts plugins.
pub struct Grafana {
    child: Child,
    input: Option<ChildStdin>,
    output: Lines<BufReader<ChildStdout>>,
}

impl Grafana {
    /// Starts `client script executable` with `PLUGIN_ID` and `env` (which go-plugin passes
    /// on to the plugin, as Grafana passes its own and `GF_PLUGIN_*`).
    pub fn start(
        client: &Path,
        executable: &Path,
        plugin_id: &str,
        env: &[(&str, &str)],
    ) -> Grafana {
        let mut child = Command::new(client)
            .arg("script")
            .arg(executable)
            .env("PLUGIN_ID", plugin_id)
            .envs(env.iter().copied())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("the go-plugin client starts");
        let input = child.stdin.take();
        let output = BufReader::new(child.stdout.take().expect("stdout is piped")).lines();
        Grafana {
            child,
            input,
            output,
        }
    }

    /// One call (a JSON object of the client's `scriptCall`); its answer.
    pub fn call(&mut self, call: serde_json::Value) -> serde_json::Value {
        let input = self.input.as_mut().expect("the client is running");
        writeln!(input, "{call}").expect("the client reads its input");
        let line = self
            .output
            .next()
            .expect("the client answered")
            .expect("the client's answer is text");
        serde_json::from_str(&line).expect("the client answers JSON")
    }

    /// Ends the script: the client stops the plugin as Grafana does (Shutdown, then 2 s).
    pub fn stop(mut self) {
        drop(self.input.take());
        assert!(self.child.wait().unwrap().success(), "the client failed");
    }
}

impl Drop for Grafana {
    fn drop(&mut self) {
        if self.input.is_some() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}
