//! The Grafana `dev` runs the plugin in: docker compose (the repository's
//! docker-compose.yaml), a local Grafana as a child process, or one started elsewhere
//! (attach). Starting, restarting after a plugin.json change, stopping, and asking its HTTP
//! API whether it loaded the plugin.
use std::{
    io::{Read, Seek, SeekFrom},
    path::{Path, PathBuf},
    process::Child,
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
    },
    time::{Duration, Instant},
};

use anyhow::{Context, Result};
use xshell::Shell;

use super::{
    Mode,
    compose::Compose,
    grafana_api::{self, Verdict},
    process,
};
use crate::{binary, http::Endpoint, targets::BuildTarget, ui::Ui};

/// How long Grafana gets to shut down.
const GRAFANA_GRACE: Duration = Duration::from_secs(10);

/// The Grafana this command runs (or the one it attached to).
pub struct Grafana {
    mode: Mode,
    compose: Option<Compose>,
    child: Option<Child>,
    command: Option<LocalCommand>,
    /// Where its HTTP API answers, and what to ask it about.
    api: Option<Watched>,
    plugin_id: String,
    /// Set to end the thread that prints the plugin's lines of the local Grafana's log.
    tail: Option<Arc<AtomicBool>>,
    /// Where `docker compose` runs (the repository root).
    root: PathBuf,
    /// Containers that may be up: set before `compose up`, so an interrupted or failed start
    /// is taken down too.
    compose_up: bool,
    /// `--keep-running`: left running when dropped.
    keep: bool,
}

/// What `report` asks Grafana about: the plugin, and the backend file Grafana starts.
pub struct Watched {
    pub endpoint: Endpoint,
    pub plugin_id: String,
    /// dist/<executable>_<os>_<arch>[.exe]
    pub binary: PathBuf,
    /// The platform Grafana runs on (the binary's).
    pub target: BuildTarget,
}

/// How a local Grafana is started (again, after a plugin.json change).
struct LocalCommand {
    binary: PathBuf,
    home: Option<PathBuf>,
    env: Vec<(String, String)>,
    log: PathBuf,
}

impl Grafana {
    pub fn start(
        sh: &Shell,
        ui: &Ui,
        mode: &Mode,
        compose: Option<Compose>,
        root: &Path,
        plugin_id: &str,
        port: u16,
    ) -> Result<Grafana> {
        let mut grafana = Grafana {
            mode: mode.clone(),
            compose,
            child: None,
            command: None,
            api: None,
            plugin_id: plugin_id.to_owned(),
            tail: None,
            root: root.to_owned(),
            compose_up: false,
            keep: false,
        };
        match mode {
            Mode::Attach => ui.status(
                "Attached",
                "to a Grafana started elsewhere, which must load dist/: this command rebuilds and \
                 restarts the plugin, and does not start, restart or stop Grafana",
            ),
            Mode::Compose => {
                grafana.compose_up = true;
                let compose = grafana.compose()?;
                // Recreated so the container mounts the dist/ the first build just swapped in;
                // built when the file says how (create-plugin's extends a Dockerfile build).
                compose
                    .command(sh, &["up", "--detach", "--force-recreate", "--build"])
                    .env("GRAFANA_PORT", port.to_string())
                    .run()
                    .with_context(|| format!("{} could not start Grafana", compose.name()))?;
            }
            Mode::Local { binary, home } => {
                let dev = root.join("target").join("dev");
                let plugins = dev.join("plugins");
                link_plugin(&plugins.join(plugin_id), &crate::dist::dist_dir(root))?;
                let env = vec![
                    ("GF_PATHS_PLUGINS".to_owned(), plugins.display().to_string()),
                    (
                        "GF_PATHS_DATA".to_owned(),
                        dev.join("data").display().to_string(),
                    ),
                    (
                        "GF_PATHS_PROVISIONING".to_owned(),
                        root.join("provisioning").display().to_string(),
                    ),
                    ("GF_SERVER_HTTP_PORT".to_owned(), port.to_string()),
                    ("GF_DEFAULT_APP_MODE".to_owned(), "development".to_owned()),
                    (
                        "GF_PLUGINS_ALLOW_LOADING_UNSIGNED_PLUGINS".to_owned(),
                        plugin_id.to_owned(),
                    ),
                    (
                        "GF_LOG_FILTERS".to_owned(),
                        format!("plugin.{plugin_id}:debug"),
                    ),
                    // Grafana 12.4+ passes its environment (the developer's RUST_LOG) only
                    // to the plugins listed here.
                    (
                        "GF_PLUGINS_FORWARD_HOST_ENV_VARS".to_owned(),
                        plugin_id.to_owned(),
                    ),
                    ("GF_AUTH_ANONYMOUS_ENABLED".to_owned(), "true".to_owned()),
                    ("GF_AUTH_ANONYMOUS_ORG_ROLE".to_owned(), "Admin".to_owned()),
                ];
                let log = dev.join("grafana.log");
                grafana.command = Some(LocalCommand {
                    binary: binary.clone(),
                    home: home.clone(),
                    env,
                    log,
                });
                grafana.spawn(ui)?;
            }
        }
        Ok(grafana)
    }

    fn compose(&self) -> Result<&Compose> {
        self.compose
            .as_ref()
            .context("compose mode without a Compose command")
    }

    pub fn watch_over(&mut self, watched: Watched) {
        self.api = Some(watched);
    }

    /// Asks Grafana whether it loaded the plugin and reaches its backend, and prints the
    /// app's URL only when it does, else the reason and its fix. Returns whether it serves.
    pub fn report(&self, ui: &Ui, stop: &AtomicBool) -> Verdict {
        let Some(Watched {
            endpoint,
            plugin_id,
            binary,
            target,
        }) = &self.api
        else {
            return Verdict::NotServing("nothing to ask".to_owned());
        };
        // Time for Grafana to start: a container or a local server, not one attached to.
        let wait = match self.mode {
            Mode::Attach => Duration::from_secs(2),
            Mode::Compose => Duration::from_secs(180),
            Mode::Local { .. } => Duration::from_secs(60),
        };
        let app = format!("{}/a/{plugin_id}", endpoint.url());
        let verdict = grafana_api::check(endpoint, plugin_id, wait, stop);
        match &verdict {
            Verdict::Serving(health) => {
                ui.status("Serving", format!("{app} (backend healthy: {health})"))
            }
            Verdict::ServingDataSource { uid, said } => ui.status(
                "Serving",
                format!(
                    "{}/connections/datasources/edit/{uid} ({said})",
                    endpoint.url()
                ),
            ),
            Verdict::Unhealthy(health) => {
                ui.status("Serving", &app);
                ui.warning(format!("the backend's health check reports: {health}"));
            }
            Verdict::BackendDown { said, .. } => ui.error(format!(
                "the plugin is not serving: {said}; {}",
                backend_file(binary, target, &self.output_hint(plugin_id))
            )),
            Verdict::NotServing(reason) => ui.error(format!("the plugin is not serving: {reason}")),
            Verdict::Interrupted => {}
        }
        verdict
    }

    /// After a reload: how long from `since` until a call through Grafana is served again
    /// (an app's health, a data source's instance health and query), which after a handover
    /// or restart is a call the new build serves. None when nothing is watched or it does
    /// not serve within Grafana's start of a backend.
    pub fn served_after(&self, since: Instant, stop: &AtomicBool) -> Option<Duration> {
        let watched = self.api.as_ref()?;
        let verdict = grafana_api::check(
            &watched.endpoint,
            &watched.plugin_id,
            Duration::from_secs(2),
            stop,
        );
        matches!(
            verdict,
            Verdict::Serving(_) | Verdict::ServingDataSource { .. } | Verdict::Unhealthy(_)
        )
        .then(|| since.elapsed())
    }

    /// Where the plugin's own output (stderr, Grafana's `logger=plugin.<id>` lines) is.
    fn output_hint(&self, plugin_id: &str) -> String {
        let lines = format!("the lines with logger=plugin.{plugin_id}");
        match (&self.mode, &self.compose, &self.command) {
            (Mode::Compose, Some(compose), _) => {
                format!("`{} logs grafana` ({lines})", compose.name())
            }
            (Mode::Local { .. }, _, Some(command)) => format!(
                "{} ({lines}; dev prints them as they come, after [grafana])",
                command.log.display()
            ),
            _ => format!("Grafana's log ({lines})"),
        }
    }

    fn spawn(&mut self, ui: &Ui) -> Result<()> {
        let Some(LocalCommand {
            binary,
            home,
            env,
            log,
        }) = &self.command
        else {
            return Ok(());
        };
        let child = crate::local_grafana::launch(binary, home.as_deref(), env, log)?;
        ui.status(
            "Started",
            format!("Grafana (pid {}), log in {}", child.id(), log.display()),
        );
        if let Some(previous) = self.tail.take() {
            previous.store(true, Ordering::Relaxed);
        }
        self.tail = Some(tail_plugin_lines(
            log.clone(),
            format!("logger=plugin.{} ", self.plugin_id),
            |line| eprintln!("[grafana] {line}"),
        ));
        self.child = Some(child);
        Ok(())
    }

    pub fn restart(&mut self, sh: &Shell, ui: &Ui, stop: &AtomicBool) -> Result<()> {
        match self.mode {
            Mode::Compose => {
                let compose = self.compose()?;
                compose
                    .command(sh, &["restart", "grafana"])
                    .quiet()
                    .run()
                    .with_context(|| format!("{} could not restart Grafana", compose.name()))?
            }
            Mode::Attach => ui.warning("plugin.json changed: restart your Grafana to load it"),
            Mode::Local { .. } => {
                self.stop(sh)?;
                self.spawn(ui)?;
            }
        }
        if self.mode != Mode::Attach {
            self.report(ui, stop);
        }
        Ok(())
    }

    /// Stops what this command started: the containers (`compose down`) or the local
    /// Grafana. Nothing when attached; once.
    pub fn stop(&mut self, sh: &Shell) -> Result<()> {
        if let Some(tail) = self.tail.take() {
            tail.store(true, Ordering::Relaxed);
        }
        if let Some(mut child) = self.child.take() {
            process::stop(&[child.id()], GRAFANA_GRACE);
            let _ = child.kill();
            let _ = child.wait();
        }
        if self.mode == Mode::Compose && std::mem::take(&mut self.compose_up) {
            let compose = self.compose()?;
            compose
                .command(sh, &["down"])
                .quiet()
                .run()
                .with_context(|| format!("{} could not stop Grafana", compose.name()))?;
        }
        Ok(())
    }

    /// `--keep-running`: Grafana (or its containers) outlive this command.
    pub fn keep_running(&mut self) {
        self.keep = true;
    }
}

/// The one owner of the Grafana `dev` started: whatever way the command ends (an error, a
/// Ctrl-C during `compose up`, a panic), it is stopped, unless kept running.
impl Drop for Grafana {
    fn drop(&mut self) {
        if let Some(tail) = self.tail.take() {
            tail.store(true, Ordering::Relaxed);
        }
        if self.keep {
            return;
        }
        let stopped = Shell::new().map_err(anyhow::Error::from).and_then(|sh| {
            sh.change_dir(&self.root);
            self.stop(&sh)
        });
        if let Err(error) = stopped {
            eprintln!("warning: {error:#}");
        }
    }
}

/// What the backend file in dist/ is, for a backend Grafana could not start or reach:
/// missing (build it), not for Grafana's platform (rebuild it), or right (then its own
/// output says why it exited).
fn backend_file(binary: &Path, target: &BuildTarget, output: &str) -> String {
    let name = format!(
        "dist/{}",
        binary.file_name().unwrap_or_default().to_string_lossy()
    );
    let platform = target.platform_name();
    let fix = format!("cargo xtask build --target {platform}");
    let Ok(bytes) = std::fs::read(binary) else {
        return format!("{name}, the file Grafana on {platform} starts, is missing: {fix}");
    };
    let inspected = match binary::inspect(&bytes) {
        Ok(inspected) => inspected,
        Err(why) => return format!("{name} is {why}: {fix}"),
    };
    let cpus = |cpus: &[binary::Cpu]| {
        cpus.iter()
            .map(|cpu| cpu.name())
            .collect::<Vec<_>>()
            .join("+")
    };
    if let Some((format, cpu)) = crate::targets::expected_binary(&target.os, &target.arch)
        && (inspected.format != format || !inspected.cpus.contains(&cpu))
    {
        return format!(
            "{name} is {} for {}, but Grafana on {platform} needs {} for {}: {fix}",
            inspected.format.name(),
            cpus(&inspected.cpus),
            format.name(),
            cpu.name()
        );
    }
    format!(
        "{name} is there ({} for {}), so it exited or did not answer Grafana at start; \
         its own output says why: {output}",
        inspected.format.name(),
        cpus(&inspected.cpus)
    )
}

/// Hands `print` the lines of the local Grafana's log that `marker` marks (its plugin's), as
/// they come, until the flag returned is set. Polls: a log file is appended by another
/// process, and begun again when Grafana restarts.
fn tail_plugin_lines(
    log: PathBuf,
    marker: String,
    print: impl Fn(&str) + Send + 'static,
) -> Arc<AtomicBool> {
    let done = Arc::new(AtomicBool::new(false));
    let stop = done.clone();
    std::thread::spawn(move || {
        let mut offset = 0u64;
        let mut partial = String::new();
        while !stop.load(Ordering::Relaxed) {
            std::thread::sleep(Duration::from_millis(250));
            let Ok(mut file) = std::fs::File::open(&log) else {
                continue;
            };
            let length = file.metadata().map(|m| m.len()).unwrap_or(0);
            if length < offset {
                // Grafana restarted and the log began again.
                offset = 0;
                partial.clear();
            }
            let mut fresh = Vec::new();
            if file.seek(SeekFrom::Start(offset)).is_err()
                || file.take(1 << 20).read_to_end(&mut fresh).is_err()
            {
                continue;
            }
            offset += fresh.len() as u64;
            partial.push_str(&String::from_utf8_lossy(&fresh));
            while let Some(end) = partial.find('\n') {
                let line: String = partial.drain(..=end).collect();
                if line.contains(&marker) {
                    print(line.trim_end());
                }
            }
        }
    });
    done
}

/// `<plugins>/<id>` → dist/, so the local Grafana loads the dist/ the loop updates.
fn link_plugin(link: &Path, dist: &Path) -> Result<()> {
    if let Some(parent) = link.parent() {
        std::fs::create_dir_all(parent)
            .with_context(|| format!("cannot create {}", parent.display()))?;
    }
    if std::fs::symlink_metadata(link).is_ok() {
        return Ok(());
    }
    #[cfg(unix)]
    std::os::unix::fs::symlink(dist, link)
        .with_context(|| format!("cannot link {} to {}", link.display(), dist.display()))?;
    #[cfg(windows)]
    std::os::windows::fs::symlink_dir(dist, link).with_context(|| {
        format!(
            "cannot link {} to {} (enable Developer Mode for symbolic links)",
            link.display(),
            dist.display()
        )
    })?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `compose up` (which fails when `$FAIL_UP` names a file that exists) and `down`,
    /// recorded in `$0.log`.
    #[cfg(unix)]
    fn fake_compose(dir: &Path) -> Compose {
        use std::os::unix::fs::PermissionsExt;
        let program = dir.join("compose");
        let script = "#!/bin/sh\necho \"$*\" >> \"$0.log\"\n\
                      [ \"$1\" = up ] && [ -e \"$0.fail\" ] && exit 1\nexit 0\n";
        std::fs::write(&program, script).unwrap();
        std::fs::set_permissions(&program, std::fs::Permissions::from_mode(0o755)).unwrap();
        Compose::fake(Box::leak(program.display().to_string().into_boxed_str()))
    }

    #[cfg(unix)]
    #[test]
    fn the_containers_are_taken_down_on_every_way_out_unless_kept() {
        let dir = tempfile::tempdir().unwrap();
        let compose = fake_compose(dir.path());
        let log = dir.path().join("compose.log");
        let asked = || std::fs::read_to_string(&log).unwrap_or_default();
        let sh = Shell::new().unwrap();
        let ui = Ui::from_env(true);
        let start = |compose: &Compose| {
            Grafana::start(
                &sh,
                &ui,
                &Mode::Compose,
                Some(compose.clone()),
                dir.path(),
                "acme-x-app",
                3000,
            )
        };
        // A start that fails (or is interrupted by Ctrl-C) half-way still takes down what
        // came up.
        std::fs::write(dir.path().join("compose.fail"), "").unwrap();
        assert!(start(&compose).is_err());
        assert_eq!(
            asked(),
            "up --detach --force-recreate --build\ndown\n",
            "taken down after a failed up"
        );
        std::fs::remove_file(dir.path().join("compose.fail")).unwrap();
        std::fs::remove_file(&log).unwrap();
        // Dropped on an early return (an error before the loop): taken down once.
        let grafana = start(&compose).unwrap();
        drop(grafana);
        assert_eq!(asked(), "up --detach --force-recreate --build\ndown\n");
        std::fs::remove_file(&log).unwrap();
        // Stopped at the end, then dropped: taken down once.
        let mut grafana = start(&compose).unwrap();
        grafana.stop(&sh).unwrap();
        drop(grafana);
        assert_eq!(asked(), "up --detach --force-recreate --build\ndown\n");
        std::fs::remove_file(&log).unwrap();
        // --keep-running: left up.
        let mut grafana = start(&compose).unwrap();
        grafana.keep_running();
        drop(grafana);
        assert_eq!(asked(), "up --detach --force-recreate --build\n");
    }

    #[test]
    fn the_plugins_lines_of_grafanas_log_are_shown_as_they_come() {
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("grafana.log");
        let seen = Arc::new(std::sync::Mutex::new(Vec::<String>::new()));
        let sink = seen.clone();
        let done = tail_plugin_lines(log.clone(), "logger=plugin.a-b-app ".into(), move |line| {
            sink.lock().unwrap().push(line.to_owned())
        });
        let wait_for = |count: usize| {
            for _ in 0..100 {
                if seen.lock().unwrap().len() >= count {
                    return;
                }
                std::thread::sleep(Duration::from_millis(50));
            }
            panic!("saw {:?}", seen.lock().unwrap());
        };
        std::fs::write(
            &log,
            "logger=server msg=up\nlogger=plugin.a-b-app msg=\"exit 1\"\nlogger=plugin.a-b-app-x msg=other\nlogger=plugin.a-b-app msg=partial",
        )
        .unwrap();
        wait_for(1);
        // The rest of a line, then Grafana restarted: its log begins again.
        std::fs::OpenOptions::new()
            .append(true)
            .open(&log)
            .and_then(|mut file| std::io::Write::write_all(&mut file, b" line\n"))
            .unwrap();
        wait_for(2);
        std::fs::write(&log, "logger=plugin.a-b-app msg=again\n").unwrap();
        wait_for(3);
        done.store(true, Ordering::Relaxed);
        assert_eq!(
            *seen.lock().unwrap(),
            [
                "logger=plugin.a-b-app msg=\"exit 1\"",
                "logger=plugin.a-b-app msg=partial line",
                "logger=plugin.a-b-app msg=again"
            ]
        );
    }

    #[test]
    fn a_backend_that_did_not_start_is_explained_by_its_file() {
        let dist = tempfile::tempdir().unwrap();
        let binary = dist.path().join("gpx_x_linux_amd64");
        let target = BuildTarget {
            os: "linux".into(),
            arch: "amd64".into(),
            triple: None,
        };
        let output = "`docker compose logs grafana` (the lines with logger=plugin.x)";
        let said = backend_file(&binary, &target, output);
        assert_eq!(
            said,
            "dist/gpx_x_linux_amd64, the file Grafana on linux/amd64 starts, is missing: \
             cargo xtask build --target linux/amd64"
        );
        std::fs::write(&binary, crate::fixtures::release_for("linux", "arm64")).unwrap();
        let said = backend_file(&binary, &target, output);
        assert!(
            said.contains("is an ELF (Linux) executable for aarch64, but Grafana on linux/amd64 needs an ELF (Linux) executable for x86_64: cargo xtask build --target linux/amd64"),
            "{said}"
        );
        std::fs::write(&binary, "#!/bin/sh\nexit 1\n").unwrap();
        let said = backend_file(&binary, &target, output);
        assert!(said.contains("is not an executable"), "{said}");
        std::fs::write(&binary, crate::fixtures::release_for("linux", "amd64")).unwrap();
        let said = backend_file(&binary, &target, output);
        assert!(
            said.contains("is there (an ELF (Linux) executable for x86_64)")
                && said.ends_with(output)
                && !said.contains("cargo xtask build"),
            "{said}"
        );
    }

    #[test]
    fn the_compose_file_mounts_dist_as_the_plugin_in_development_mode() {
        let compose = include_str!("../../../docker-compose.yaml");
        let plugin: serde_json::Value =
            serde_json::from_str(include_str!("../../../plugin.json")).unwrap();
        let id = plugin["id"].as_str().unwrap();
        // Each line docker-compose.yaml needs for plugin.json's id; a rename must reach it.
        for line in [
            format!("- ./dist:/var/lib/grafana/plugins/{id}\n"),
            format!("GF_PLUGINS_ALLOW_LOADING_UNSIGNED_PLUGINS: {id}\n"),
            format!("GF_LOG_FILTERS: plugin.{id}:debug\n"),
            format!("GF_PLUGINS_FORWARD_HOST_ENV_VARS: {id}\n"),
            "GF_DEFAULT_APP_MODE: development\n".to_owned(),
            "- ./provisioning:/etc/grafana/provisioning\n".to_owned(),
        ] {
            assert!(
                compose.contains(&line),
                "docker-compose.yaml lacks `{}` for plugin.json's id {id:?}; fix docker-compose.yaml",
                line.trim()
            );
        }
        assert!(compose.contains("${GRAFANA_IMAGE:-grafana/grafana}:${GRAFANA_VERSION:-"));
        for glue in ["command:", "entrypoint:", "sh -c", "bash"] {
            assert!(
                !compose.contains(glue),
                "no shell glue in the compose file: {glue}"
            );
        }
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
        // (program, how to ask its version, how to check the file). Absent or unusable
        // (docker without its compose plugin) is not the file's fault, hence the version first.
        let attempts: [(&str, &[&str], &[&str]); 2] = [
            ("docker-compose", &["version"], &["config", "--quiet"]),
            (
                "docker",
                &["compose", "version"],
                &["compose", "config", "--quiet"],
            ),
        ];
        for (program, version, check) in attempts {
            let usable = crate::spawn::command(program)
                .args(version)
                .output()
                .is_ok_and(|output| output.status.success());
            if !usable {
                continue;
            }
            let output = crate::spawn::command(program)
                .args(check)
                .current_dir(root)
                .output()
                .unwrap();
            assert!(
                output.status.success(),
                "`{program} {}` rejects docker-compose.yaml: {}",
                check.join(" "),
                String::from_utf8_lossy(&output.stderr)
            );
            return;
        }
        use std::io::Write as _;
        let _ = writeln!(
            std::io::stderr(),
            "SKIPPED compose config check: neither docker-compose nor docker compose is installed (Debian: apt install docker-compose)"
        );
    }
}
