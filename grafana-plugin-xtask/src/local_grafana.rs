//! The one way a local Grafana server is started, by `dev` (development mode) and `e2e`
//! (production mode): from its `grafana` binary or its home directory, with the settings
//! given as `GF_*` variables, its output in a log file.
use std::{
    path::{Path, PathBuf},
    process::{Child, Stdio},
};

use anyhow::{Context as _, Result, bail};

/// A local Grafana given as its `grafana` binary or its home directory: the binary, and the
/// home when known (`--homepath`).
pub(crate) fn find(path: &Path) -> Result<(PathBuf, Option<PathBuf>)> {
    if path.is_dir() {
        let binary = path
            .join("bin")
            .join(format!("grafana{}", std::env::consts::EXE_SUFFIX));
        if !binary.is_file() {
            bail!(
                "{}: no bin/grafana in this Grafana home; point --grafana at an unpacked Grafana",
                path.display()
            );
        }
        return Ok((binary, Some(path.to_owned())));
    }
    if path.is_file() {
        return Ok((path.to_owned(), None));
    }
    bail!("{}: not a Grafana binary or home directory", path.display())
}

/// Starts `grafana server` (with `--homepath` when the home is known) with `settings` in its
/// environment and its output written to `log`. The caller's `GF_DEFAULT_APP_MODE` is not
/// passed on: the mode is the caller's choice, in `settings`.
pub(crate) fn launch(
    binary: &Path,
    home: Option<&Path>,
    settings: &[(String, String)],
    log: &Path,
) -> Result<Child> {
    let log_file =
        std::fs::File::create(log).with_context(|| format!("cannot create {}", log.display()))?;
    let mut command = crate::spawn::command(binary);
    command.arg("server");
    if let Some(home) = home {
        command.arg("--homepath").arg(home);
    }
    command
        .env_remove("GF_DEFAULT_APP_MODE")
        .envs(settings.iter().map(|(name, value)| (name, value)))
        .stdin(Stdio::null())
        .stdout(log_file.try_clone()?)
        .stderr(log_file)
        .spawn()
        .with_context(|| format!("cannot start {}", binary.display()))
}
