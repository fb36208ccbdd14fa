//! `cargo xtask e2e`: the packaged plugin in a real Grafana, checked through Grafana's HTTP
//! API as a user meets it. Packages the backend for the platform Grafana runs on, installs
//! the archive the way a user does (unzipped into a plugins folder; unsigned allowed by id,
//! not by development mode, so the production load path runs), starts Grafana (the
//! `grafana/grafana` image at `--grafana-version`, or a local Grafana given by `--grafana`),
//! then checks: `/api/health`; the plugin in `/api/plugins/<id>/settings` with no load
//! error; for an app, enables it in org 1 through the settings API as an org Admin does
//! (Grafana serves an app's health and resources only where it is enabled) and reads back
//! `enabled: true`; `/api/plugins/<id>/health` OK; each resource route as a Viewer and as an
//! Admin (authorization through Grafana), and the hook with its token; Grafana's log has the
//! plugin's start line and no error of the plugin's. On failure it prints the failed checks and the plugin's log lines. It
//! stops everything it started.
mod checks;
mod datasource;

use std::{
    fs,
    path::{Path, PathBuf},
    process::{Child, Stdio},
    time::Duration,
};

use anyhow::{Context as _, Result, bail};
use serde_json::Value;

use crate::{
    context::Context,
    flags::{E2eFlags, PackageFlags},
    http::Endpoint,
    package, project,
    spawn::cmd,
    targets, util,
};

pub fn run(context: &Context, flags: &E2eFlags) -> Result<()> {
    let (sh, ui) = (&context.sh, &context.ui);
    let project = context.project()?;
    let root = project.cargo.workspace_root.clone();
    let id = project.plugin.id.clone();
    let manifest = root.join(project.layout.plugin_json());
    let version = match flags.grafana_version.as_deref() {
        Some(version) => version.to_owned(),
        None => oldest_supported(&manifest)?,
    };
    // The platform Grafana runs on: this machine's for a local one, Linux in a container.
    let target = match &flags.grafana {
        Some(_) => targets::parse(&targets::host()?.platform_name(), std::env::consts::OS)?,
        None => {
            if !util::engine_answers("docker") {
                bail!(
                    "e2e runs Grafana's image and no container engine answers (`docker info`); \
                     start Docker or Podman, or give a local Grafana with --grafana PATH"
                );
            }
            targets::linux_of_host()?
        }
    };
    let platform = target.platform_name();
    let archive = package::run(
        context,
        &PackageFlags {
            targets: vec![platform.clone()],
            no_build: flags.no_build,
            out_dir: None,
            per_platform: false,
            sign: false,
            root_urls: None,
        },
    )?
    .swap_remove(0)
    .path;
    let work = root.join("target").join("e2e");
    util::remove_path_if_present(&work)?;
    let plugins = work.join("plugins");
    unzip(&archive, &plugins)?;
    ui.status(
        "Installed",
        format!("{} into {}", archive.display(), plugins.display()),
    );

    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |since| since.subsec_nanos());
    let password = format!("e2e-{}-{nanos}", std::process::id());
    let log = work.join("grafana.log");
    // Ctrl-C (or SIGTERM) from here on ends the waits, and Grafana is stopped on every path:
    // `Running` stops it when dropped.
    let listening = crate::interrupt::listen(|| {})?;
    let stop = listening.flag();
    let grafana = match &flags.grafana {
        Some(binary) => Grafana::local(binary, &work, &plugins, &id, flags.port, &password)?,
        None => Grafana::container(sh, &version, &plugins, &id, flags.port, &password)?,
    };
    let mut grafana = Running {
        grafana: Some(grafana),
        log: log.clone(),
    };
    ui.status("Started", grafana.get().describe(&version));
    let endpoint = Endpoint::parse(&format!("http://127.0.0.1:{}", flags.port), None)?;
    let failures =
        checks::Checks::new(ui, &endpoint, &id, &password, &stop).all(grafana.get(), &log);
    let failures = match failures {
        Ok(failures) => failures,
        Err(error) => vec![format!("{error:#}")],
    };
    let described = grafana.get().describe(&version);
    grafana.stop();
    if failures.is_empty() {
        ui.status(
            "Finished",
            format!("e2e: {id} on {platform} passed every check in {described}"),
        );
        return Ok(());
    }
    let lines = checks::plugin_log_lines(&log, &id);
    eprintln!("Grafana's log for plugin.{id} ({}):", log.display());
    for line in lines.iter().rev().take(40).rev() {
        eprintln!("  {line}");
    }
    for failure in &failures {
        ui.error(failure);
    }
    bail!("e2e: {} check(s) failed (above)", failures.len())
}

/// The oldest Grafana plugin.json's `grafanaDependency` allows (`>=12.4.0` → `12.4.0`).
fn oldest_supported(manifest: &Path) -> Result<String> {
    let json: Value = serde_json::from_str(&project::read_text(manifest)?)
        .with_context(|| format!("{}: not valid JSON", manifest.display()))?;
    let dependency = json["dependencies"]["grafanaDependency"]
        .as_str()
        .unwrap_or_default();
    let oldest = dependency
        .trim()
        .strip_prefix(">=")
        .map(str::trim)
        .filter(|v| !v.is_empty() && v.chars().all(|c| c.is_ascii_digit() || c == '.'));
    match oldest {
        Some(version) => Ok(version.to_owned()),
        None => bail!(
            "{}: dependencies.grafanaDependency is {dependency:?}, not `>=X.Y.Z`; give the \
             Grafana version to test with --grafana-version",
            manifest.display()
        ),
    }
}

/// Unzips the archive as a user does, refusing entries that would land outside `into`.
fn unzip(archive: &Path, into: &Path) -> Result<()> {
    let file =
        fs::File::open(archive).with_context(|| format!("cannot open {}", archive.display()))?;
    let mut zip = zip::ZipArchive::new(file)
        .with_context(|| format!("{}: not a zip archive", archive.display()))?;
    for index in 0..zip.len() {
        let mut entry = zip.by_index(index)?;
        let Some(relative) = entry.enclosed_name() else {
            bail!(
                "{}: entry {:?} leaves the archive's folder",
                archive.display(),
                entry.name()
            );
        };
        let path = into.join(relative);
        if entry.is_dir() {
            fs::create_dir_all(&path)?;
            continue;
        }
        if let Some(parent) = path.parent() {
            fs::create_dir_all(parent)?;
        }
        let mut out =
            fs::File::create(&path).with_context(|| format!("cannot write {}", path.display()))?;
        std::io::copy(&mut entry, &mut out)?;
        #[cfg(unix)]
        if let Some(mode) = entry.unix_mode() {
            use std::os::unix::fs::PermissionsExt;
            fs::set_permissions(&path, fs::Permissions::from_mode(mode & 0o777))?;
        }
    }
    Ok(())
}

/// The Grafana under test: a container or a local process.
enum Grafana {
    Container { name: String, engine: String },
    Local { child: Child, binary: PathBuf },
}

impl Grafana {
    fn container(
        sh: &xshell::Shell,
        version: &str,
        plugins: &Path,
        id: &str,
        port: u16,
        password: &str,
    ) -> Result<Grafana> {
        remove_stale_containers(sh);
        let name = format!("grafana-e2e-{}", std::process::id());
        let image = format!("grafana/grafana:{version}");
        let label = format!("{LABEL}={}", std::process::id());
        let publish = format!("127.0.0.1:{port}:3000");
        let volume = format!("{}:/var/lib/grafana/plugins", plugins.display());
        let allow = format!("GF_PLUGINS_ALLOW_LOADING_UNSIGNED_PLUGINS={id}");
        // The password through docker's environment, never on a command line.
        cmd!(
            sh,
            "docker run --detach --rm --name {name} --label {label} --publish {publish} --volume {volume} --env {allow} --env GF_SECURITY_ADMIN_PASSWORD {image}"
        )
        .env("GF_SECURITY_ADMIN_PASSWORD", password)
        .quiet()
        .ignore_stdout()
        .run()
        .with_context(|| format!("docker could not start {image}"))?;
        Ok(Grafana::Container {
            name,
            engine: "docker".to_owned(),
        })
    }

    fn local(
        binary: &Path,
        work: &Path,
        plugins: &Path,
        id: &str,
        port: u16,
        password: &str,
    ) -> Result<Grafana> {
        let (binary, home) = crate::local_grafana::find(binary)?;
        let settings = [
            ("GF_PATHS_PLUGINS", plugins.display().to_string()),
            ("GF_PATHS_DATA", work.join("data").display().to_string()),
            ("GF_SERVER_HTTP_PORT", port.to_string()),
            ("GF_PLUGINS_ALLOW_LOADING_UNSIGNED_PLUGINS", id.to_owned()),
            ("GF_SECURITY_ADMIN_USER", checks::ADMIN.to_owned()),
            ("GF_SECURITY_ADMIN_PASSWORD", password.to_owned()),
        ]
        .map(|(name, value)| (name.to_owned(), value));
        let child = crate::local_grafana::launch(
            &binary,
            home.as_deref(),
            &settings,
            &work.join("grafana.log"),
        )?;
        Ok(Grafana::Local { child, binary })
    }

    fn describe(&self, version: &str) -> String {
        match self {
            Grafana::Container { name, .. } => {
                format!("grafana/grafana:{version} (container {name}), production mode")
            }
            Grafana::Local { child, binary } => {
                format!("{} (pid {}), production mode", binary.display(), child.id())
            }
        }
    }

    /// Whether it still runs (a local Grafana that exited cannot answer).
    pub(super) fn running(&mut self) -> bool {
        match self {
            Grafana::Local { child, .. } => child.try_wait().is_ok_and(|status| status.is_none()),
            Grafana::Container { .. } => true,
        }
    }

    /// Stops it; a container's log is saved to `log` first (the container goes with it:
    /// `--rm`).
    fn stop(&mut self, log: &Path) {
        match self {
            Grafana::Container { name, engine } => {
                if let Ok(output) = crate::spawn::command(&*engine)
                    .args(["logs", name])
                    .stdin(Stdio::null())
                    .output()
                {
                    let mut text = output.stdout;
                    text.extend(output.stderr);
                    let _ = fs::write(log, text);
                }
                let _ = crate::spawn::command(&*engine)
                    .args(["rm", "--force", name])
                    .stdin(Stdio::null())
                    .stdout(Stdio::null())
                    .stderr(Stdio::null())
                    .status();
            }
            Grafana::Local { child, .. } => {
                crate::dev::stop_processes(&[child.id()], Duration::from_secs(10));
                let _ = child.kill();
                let _ = child.wait();
            }
        }
    }
}

/// Marks e2e's containers, with the pid of the e2e that started each.
const LABEL: &str = "grafana-plugin-xtask.e2e";

/// The Grafana e2e started, stopped when dropped (an error or a panic on the way out) or by
/// [`Running::stop`].
struct Running {
    grafana: Option<Grafana>,
    log: PathBuf,
}

impl Running {
    fn get(&mut self) -> &mut Grafana {
        self.grafana
            .as_mut()
            .expect("stopped only once, at the end")
    }

    fn stop(&mut self) {
        if let Some(mut grafana) = self.grafana.take() {
            grafana.stop(&self.log);
        }
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Removes the containers an earlier e2e left (killed before it could stop them): labelled
/// ones whose e2e process is gone. Another e2e that still runs keeps its own.
fn remove_stale_containers(sh: &xshell::Shell) {
    let format = "{{.Names}} {{.Label \"grafana-plugin-xtask.e2e\"}}";
    let filter = format!("label={LABEL}");
    let Ok(listed) = cmd!(sh, "docker ps --all --filter {filter} --format {format}")
        .quiet()
        .ignore_stderr()
        .read()
    else {
        return;
    };
    for line in listed.lines() {
        let mut fields = line.split_whitespace();
        let (Some(name), Some(pid)) = (fields.next(), fields.next()) else {
            continue;
        };
        let alive = pid.parse::<u32>().is_ok_and(util::process_alive);
        if !alive {
            let _ = cmd!(sh, "docker rm --force {name}")
                .quiet()
                .ignore_stdout()
                .ignore_stderr()
                .run();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_oldest_grafana_comes_from_grafana_dependency() {
        let dir = tempfile::tempdir().unwrap();
        let manifest = dir.path().join("plugin.json");
        fs::write(
            &manifest,
            r#"{"dependencies":{"grafanaDependency":">=12.4.0"}}"#,
        )
        .unwrap();
        assert_eq!(oldest_supported(&manifest).unwrap(), "12.4.0");
        fs::write(&manifest, r#"{"dependencies":{"grafanaDependency":"^12"}}"#).unwrap();
        let error = oldest_supported(&manifest).unwrap_err().to_string();
        assert!(error.contains("--grafana-version"), "{error}");
        // The repository's own plugin.json says which Grafana CI tests first.
        let ours = Path::new(env!("CARGO_MANIFEST_DIR")).join("../plugin.json");
        assert!(oldest_supported(&ours).is_ok());
    }
}
