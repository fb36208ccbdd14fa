//! `cargo xtask dev`: build the backend for the platform Grafana runs on, start Grafana in
//! development mode (docker compose, a local install given by --grafana/GRAFANA_HOME, or
//! one started elsewhere with --attach), and with --watch rebuild on save and make Grafana
//! run the new backend: swap the binary, stop the running process, Grafana starts the new
//! one within a second. Ctrl-C stops everything it started.
use std::{
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    sync::mpsc,
    time::{Duration, Instant},
};

use anyhow::{Context, Result, bail};
use notify::{EventKind, RecursiveMode, Watcher, event::AccessKind, event::AccessMode};
use xshell::{Shell, cmd};

use crate::{
    build::{self, Options, Profile, Step},
    dist,
    flags::{BuildFlags, DevFlags, MessageFormat},
    grafana_api::{self, Endpoint, Verdict},
    process,
    project::Project,
    targets::{self, BuildTarget},
    toolchain::Environment,
    ui::Ui,
    watch::{Batch, Change, Debouncer, classify},
};

/// Quiet period after the last file event before a batch is handled.
const DEBOUNCE: Duration = Duration::from_millis(100);
/// How long a plugin process gets to exit after SIGTERM before it is killed.
const PLUGIN_GRACE: Duration = Duration::from_millis(1500);
/// How long Grafana gets to shut down.
const GRAFANA_GRACE: Duration = Duration::from_secs(10);

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Mode {
    /// `docker compose` with the repository's docker-compose.yaml.
    Compose,
    /// A local Grafana: the `grafana` binary, and its home directory when known.
    Local {
        binary: PathBuf,
        home: Option<PathBuf>,
    },
    /// A Grafana started elsewhere that serves dist/: only rebuild and restart the plugin.
    Attach,
}

/// --attach, else --grafana / GRAFANA_HOME, else docker compose when an engine answers.
pub fn choose_mode(
    attach: bool,
    grafana: Option<&Path>,
    grafana_home: Option<&Path>,
    engine: impl FnOnce() -> bool,
) -> Result<Mode> {
    if attach {
        return Ok(Mode::Attach);
    }
    if let Some(path) = grafana.or(grafana_home) {
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
            return Ok(Mode::Local {
                binary,
                home: Some(path.to_owned()),
            });
        }
        if path.is_file() {
            return Ok(Mode::Local {
                binary: path.to_owned(),
                home: None,
            });
        }
        bail!("{}: not a Grafana binary or home directory", path.display());
    }
    if engine() {
        return Ok(Mode::Compose);
    }
    bail!(
        "no Grafana to run the plugin in: start a Docker or Podman engine (for docker compose), \
         give a local Grafana with --grafana PATH or GRAFANA_HOME, or use --attach with a Grafana \
         started elsewhere that loads dist/"
    )
}

enum Message {
    Files(notify::Result<notify::Event>),
    Stop,
}

pub fn run(sh: &Shell, ui: &Ui, flags: &DevFlags) -> Result<()> {
    let project = Project::load(sh, &crate::cargo())?;
    let root = project.cargo.workspace_root.clone();
    sh.change_dir(&root);
    let grafana_home = std::env::var_os("GRAFANA_HOME").map(PathBuf::from);
    let mode = choose_mode(
        flags.attach,
        flags.grafana.as_deref(),
        grafana_home.as_deref(),
        || {
            cmd!(sh, "docker info")
                .quiet()
                .ignore_stdout()
                .ignore_stderr()
                .run()
                .is_ok()
        },
    )?;
    let target = match mode {
        Mode::Compose => targets::linux_of_host()?,
        _ => targets::host()?,
    };

    // The first build assembles the whole dist/, before any Grafana serves from it.
    let build_flags = BuildFlags {
        targets: target.triple.iter().cloned().collect(),
        all: false,
        backend: None,
        check_only: false,
        no_backend: false,
        debug: true,
        clean: false,
        dry_run: false,
        message_format: MessageFormat::Human,
    };
    build::run(sh, ui, &build_flags)?;
    let loop_state = Loop::new(sh, &project, &target, &mode)?;

    let (sender, messages) = mpsc::channel();
    let stop = sender.clone();
    ctrlc::set_handler(move || {
        let _ = stop.send(Message::Stop);
    })
    .context("cannot install the Ctrl-C handler")?;

    let mut grafana = Grafana::start(sh, ui, &mode, &root, &project.plugin.id, flags.port)?;
    // Credentials only from the environment, never printed: an attached Grafana may want a
    // service-account token; the ones dev starts allow anonymous admins.
    let endpoint = match (&mode, std::env::var("GRAFANA_URL")) {
        (Mode::Attach, Ok(url)) => Endpoint::parse(&url, std::env::var("GRAFANA_TOKEN").ok())?,
        _ => Endpoint::parse(
            &format!("http://localhost:{}", flags.port),
            std::env::var("GRAFANA_TOKEN").ok(),
        )?,
    };
    let executable = loop_state
        .dest
        .file_name()
        .unwrap_or_default()
        .to_string_lossy();
    grafana.watch_over(endpoint, &project.plugin.id, &executable);
    grafana.report(ui);

    let result = if flags.watch {
        watch(sh, ui, &root, &loop_state, &mut grafana, sender, &messages)
    } else {
        let _ = messages.recv();
        Ok(())
    };
    ui.status(
        "Stopping",
        if flags.keep_running {
            "the watcher (Grafana keeps running)"
        } else {
            "Grafana and the plugin"
        },
    );
    if !flags.keep_running {
        grafana.stop(sh)?;
        // Nothing this loop started may outlive it, even if Grafana did not stop its plugin.
        let pids = process::running(sh, &loop_state.binary_paths())?;
        process::stop(sh, &pids, PLUGIN_GRACE)?;
    }
    result
}

/// What each cycle needs: how to rebuild, where the binary goes, which files to refresh.
struct Loop {
    step: Step,
    dest: PathBuf,
    plan: build::BuildPlan,
    mode: Mode,
    container_binary: String,
}

impl Loop {
    fn new(sh: &Shell, project: &Project, target: &BuildTarget, mode: &Mode) -> Result<Loop> {
        let environment = if target.triple.is_none() {
            Environment::default()
        } else {
            Environment::probe(sh, std::slice::from_ref(target), None)?
        };
        let options = Options {
            profile: Profile::Debug,
            clean: false,
            quiet: false,
            check_only: false,
            forced: None,
        };
        let inputs = build::gather_inputs(&project.cargo.workspace_root)?;
        let plan = build::plan(
            project,
            std::slice::from_ref(target),
            &environment,
            &options,
            &inputs,
        )?;
        let target_plan = &plan.targets[0];
        let step = target_plan.step.clone().map_err(anyhow::Error::msg)?;
        let dest = plan.dist_dir.join(&target_plan.dist_name);
        let container_binary = format!(
            "/var/lib/grafana/plugins/{}/{}",
            project.plugin.id, target_plan.dist_name
        );
        Ok(Loop {
            step,
            dest,
            plan,
            mode: mode.clone(),
            container_binary,
        })
    }

    fn binary_paths(&self) -> Vec<PathBuf> {
        vec![self.dest.clone(), dist::aside_path(&self.dest)]
    }

    fn rebuild(&self, sh: &Shell) -> bool {
        let program = if self.step.command.program == "cargo" {
            crate::cargo()
        } else {
            self.step.command.program.clone()
        };
        let args = &self.step.command.args;
        let mut command = cmd!(sh, "{program} {args...}").quiet();
        for (key, value) in &self.step.command.env {
            command = command.env(key, value);
        }
        command.run().is_ok()
    }

    /// Makes the running plugin exit so that Grafana starts the new binary.
    fn restart_plugin(&self, sh: &Shell) -> Result<()> {
        match self.mode {
            Mode::Compose => {
                let binary = &self.container_binary;
                let _ = cmd!(sh, "docker compose exec -T grafana pkill -f {binary}")
                    .quiet()
                    .ignore_stderr()
                    .run();
            }
            _ => {
                let pids = process::running(sh, &self.binary_paths())?;
                process::stop(sh, &pids, PLUGIN_GRACE)?;
            }
        }
        let _ = std::fs::remove_file(&self.binary_paths()[1]);
        Ok(())
    }
}

fn watch(
    sh: &Shell,
    ui: &Ui,
    root: &Path,
    state: &Loop,
    grafana: &mut Grafana,
    sender: mpsc::Sender<Message>,
    messages: &mpsc::Receiver<Message>,
) -> Result<()> {
    let mut watcher = notify::recommended_watcher(move |event| {
        let _ = sender.send(Message::Files(event));
    })
    .context("cannot watch files")?;
    for (path, mode) in [
        ("plugin", RecursiveMode::Recursive),
        ("static", RecursiveMode::Recursive),
        (".", RecursiveMode::NonRecursive),
    ] {
        let path = root.join(path);
        if path.exists() {
            watcher
                .watch(&path, mode)
                .with_context(|| format!("cannot watch {}", path.display()))?;
        }
    }
    ui.status(
        "Watching",
        "plugin/, static/, plugin.json and the Cargo files; Ctrl-C stops",
    );
    let mut debouncer = Debouncer::new(DEBOUNCE);
    loop {
        let message = match debouncer.wait(Instant::now()) {
            None => messages
                .recv()
                .map_err(|_| mpsc::RecvTimeoutError::Disconnected),
            Some(wait) => messages.recv_timeout(wait),
        };
        match message {
            Ok(Message::Stop) | Err(mpsc::RecvTimeoutError::Disconnected) => return Ok(()),
            Ok(Message::Files(Err(error))) => ui.warning(format!("file watching: {error}")),
            Ok(Message::Files(Ok(event))) => {
                if matches!(event.kind, EventKind::Access(kind) if kind != AccessKind::Close(AccessMode::Write))
                {
                    continue;
                }
                for path in &event.paths {
                    let canonical = path.canonicalize().unwrap_or_else(|_| path.clone());
                    let root = root.canonicalize().unwrap_or_else(|_| root.to_owned());
                    if let Some(change) =
                        classify(&root, &canonical).or_else(|| classify(&root, path))
                    {
                        let shown = canonical
                            .strip_prefix(&root)
                            .unwrap_or(path)
                            .display()
                            .to_string();
                        debouncer.record(change, &shown, Instant::now());
                    }
                }
            }
            Err(mpsc::RecvTimeoutError::Timeout) => {}
        }
        if let Some(batch) = debouncer.take(Instant::now()) {
            // A cycle that fails (a file vanished mid-edit, a rename refused) is reported;
            // the loop keeps watching and the previous backend keeps serving.
            if let Err(error) = cycle(sh, ui, state, grafana, &batch) {
                ui.error(format!("{error:#}"));
            }
        }
    }
}

/// One batch of changes: refresh files, or rebuild and restart; one status line.
fn cycle(sh: &Shell, ui: &Ui, state: &Loop, grafana: &mut Grafana, batch: &Batch) -> Result<()> {
    let detected = batch.last_event.elapsed();
    // Editors and tools write temporary files and rename them; name what is still there.
    let existing: Vec<&str> = batch
        .paths
        .iter()
        .map(String::as_str)
        .filter(|p| {
            state
                .plan
                .dist_dir
                .parent()
                .is_some_and(|root| root.join(p).exists())
        })
        .collect();
    let what = if existing.is_empty() {
        batch.paths.join(", ")
    } else {
        existing.join(", ")
    };
    if batch.strongest() == Change::Static {
        dist::refresh_files(
            &state.plan.dist_dir,
            &state.plan.files,
            &state.plan.placeholders,
        )?;
        ui.status("Refreshed", format!("dist/ ({what})"));
        return Ok(());
    }
    ui.status("Rebuilding", format!("({what} changed)"));
    let build_started = Instant::now();
    if !state.rebuild(sh) {
        ui.error("the build failed (see above); the previous backend keeps serving");
        return Ok(());
    }
    let build_time = build_started.elapsed();
    let restart_started = Instant::now();
    if batch.changes.contains(&Change::Static) || batch.changes.contains(&Change::Manifest) {
        dist::refresh_files(
            &state.plan.dist_dir,
            &state.plan.files,
            &state.plan.placeholders,
        )?;
    }
    dist::replace_binary(&state.step.built_binary, &state.dest)?;
    let restarted = if batch.strongest() == Change::Manifest {
        grafana.restart(sh, ui)?;
        "Grafana restarted (plugin.json is read at start-up)"
    } else {
        state.restart_plugin(sh)?;
        "plugin restarted"
    };
    ui.status(
        "Reloaded",
        format!(
            "{} after {what}: detected {:.0} ms, build {:.1} s, {restarted} in {:.0} ms",
            state.dest.file_name().unwrap_or_default().to_string_lossy(),
            detected.as_secs_f64() * 1000.0,
            build_time.as_secs_f64(),
            restart_started.elapsed().as_secs_f64() * 1000.0
        ),
    );
    Ok(())
}

/// The Grafana this command runs (or the one it attached to).
struct Grafana {
    mode: Mode,
    child: Option<Child>,
    command: Option<LocalCommand>,
    /// Where its HTTP API answers, and what to ask it about: the plugin id and the file
    /// name of the backend Grafana starts.
    api: Option<(Endpoint, String, String)>,
}

/// How a local Grafana is started (again, after a plugin.json change).
struct LocalCommand {
    binary: PathBuf,
    args: Vec<String>,
    env: Vec<(String, String)>,
    log: PathBuf,
}

impl Grafana {
    fn start(
        sh: &Shell,
        ui: &Ui,
        mode: &Mode,
        root: &Path,
        plugin_id: &str,
        port: u16,
    ) -> Result<Grafana> {
        let mut grafana = Grafana {
            mode: mode.clone(),
            child: None,
            command: None,
            api: None,
        };
        match mode {
            Mode::Attach => ui.status(
                "Attached",
                "to a Grafana started elsewhere; it must load dist/",
            ),
            Mode::Compose => {
                // Recreated so the container mounts the dist/ the first build just swapped in.
                let port = port.to_string();
                cmd!(sh, "docker compose up --detach --force-recreate")
                    .env("GRAFANA_PORT", port)
                    .run()
                    .context("docker compose could not start Grafana")?;
            }
            Mode::Local { binary, home } => {
                let dev = root.join("target").join("dev");
                let plugins = dev.join("plugins");
                link_plugin(&plugins.join(plugin_id), &root.join("dist"))?;
                let mut args = vec!["server".to_owned()];
                if let Some(home) = home {
                    args.extend(["--homepath".to_owned(), home.display().to_string()]);
                }
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
                    args,
                    env,
                    log,
                });
                grafana.spawn(ui)?;
            }
        }
        Ok(grafana)
    }

    fn watch_over(&mut self, endpoint: Endpoint, plugin_id: &str, executable: &str) {
        self.api = Some((endpoint, plugin_id.to_owned(), executable.to_owned()));
    }

    /// Asks Grafana whether it loaded the plugin and reaches its backend, and prints the
    /// app's URL only when it does, else the reason and its fix.
    fn report(&self, ui: &Ui) {
        let Some((endpoint, plugin_id, executable)) = &self.api else {
            return;
        };
        // Time for Grafana to start: a container or a local server, not one attached to.
        let wait = match self.mode {
            Mode::Attach => Duration::from_secs(2),
            Mode::Compose => Duration::from_secs(180),
            Mode::Local { .. } => Duration::from_secs(60),
        };
        let app = format!("{}/a/{plugin_id}", endpoint.url());
        match grafana_api::check(endpoint, plugin_id, executable, wait) {
            Verdict::Serving(health) => {
                ui.status("Serving", format!("{app} (backend healthy: {health})"))
            }
            Verdict::Unhealthy(health) => {
                ui.status("Serving", &app);
                ui.warning(format!("the backend's health check reports: {health}"));
            }
            Verdict::NotServing(reason) => ui.error(format!("the plugin is not serving: {reason}")),
        }
    }

    fn spawn(&mut self, ui: &Ui) -> Result<()> {
        let Some(LocalCommand {
            binary,
            args,
            env,
            log,
        }) = &self.command
        else {
            return Ok(());
        };
        let log_file = std::fs::File::create(log)
            .with_context(|| format!("cannot create {}", log.display()))?;
        let child = Command::new(binary)
            .args(args)
            .envs(env.iter().map(|(k, v)| (k, v)))
            .stdin(Stdio::null())
            .stdout(log_file.try_clone()?)
            .stderr(log_file)
            .spawn()
            .with_context(|| format!("cannot start {}", binary.display()))?;
        ui.status(
            "Started",
            format!("Grafana (pid {}), log in {}", child.id(), log.display()),
        );
        self.child = Some(child);
        Ok(())
    }

    fn restart(&mut self, sh: &Shell, ui: &Ui) -> Result<()> {
        match self.mode {
            Mode::Compose => cmd!(sh, "docker compose restart grafana")
                .quiet()
                .run()
                .context("docker compose could not restart Grafana")?,
            Mode::Attach => ui.warning("plugin.json changed: restart your Grafana to load it"),
            Mode::Local { .. } => {
                self.stop(sh)?;
                self.spawn(ui)?;
            }
        }
        if self.mode != Mode::Attach {
            self.report(ui);
        }
        Ok(())
    }

    fn stop(&mut self, sh: &Shell) -> Result<()> {
        if self.mode == Mode::Compose {
            cmd!(sh, "docker compose down")
                .quiet()
                .run()
                .context("docker compose could not stop Grafana")?;
        }
        if let Some(mut child) = self.child.take() {
            process::stop(sh, &[child.id()], GRAFANA_GRACE)?;
            let _ = child.kill();
            let _ = child.wait();
        }
        Ok(())
    }
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

    /// docker-compose.yaml agrees with plugin.json, has no shell glue, and is valid for
    /// `docker-compose config` (or `docker compose config`) when one is installed.
    #[test]
    fn the_compose_file_mounts_dist_as_the_plugin_in_development_mode() {
        let compose = include_str!("../../docker-compose.yaml");
        let plugin: serde_json::Value =
            serde_json::from_str(include_str!("../../plugin.json")).unwrap();
        let id = plugin["id"].as_str().unwrap();
        assert!(
            compose.contains(&format!("- ./dist:/var/lib/grafana/plugins/{id}\n")),
            "dist/ mounted as the plugin"
        );
        assert!(compose.contains(&format!(
            "GF_PLUGINS_ALLOW_LOADING_UNSIGNED_PLUGINS: {id}\n"
        )));
        assert!(compose.contains(&format!("GF_LOG_FILTERS: plugin.{id}:debug\n")));
        assert!(compose.contains(&format!("GF_PLUGINS_FORWARD_HOST_ENV_VARS: {id}\n")));
        assert!(compose.contains("GF_DEFAULT_APP_MODE: development\n"));
        assert!(compose.contains("- ./provisioning:/etc/grafana/provisioning\n"));
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
            let usable = Command::new(program)
                .args(version)
                .output()
                .is_ok_and(|output| output.status.success());
            if !usable {
                continue;
            }
            let output = Command::new(program)
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

    #[test]
    fn the_mode_follows_the_flags_then_the_environment() {
        let dir = tempfile::tempdir().unwrap();
        let binary = dir.path().join("grafana-binary");
        std::fs::write(&binary, "").unwrap();
        assert_eq!(
            choose_mode(true, Some(&binary), None, || true).unwrap(),
            Mode::Attach
        );
        assert_eq!(
            choose_mode(false, Some(&binary), None, || true).unwrap(),
            Mode::Local {
                binary: binary.clone(),
                home: None
            }
        );
        let home = dir.path().join("grafana-11");
        std::fs::create_dir_all(home.join("bin")).unwrap();
        let error = choose_mode(false, None, Some(&home), || true)
            .unwrap_err()
            .to_string();
        assert!(error.contains("no bin/grafana"), "{error}");
        let home_binary = home
            .join("bin")
            .join(format!("grafana{}", std::env::consts::EXE_SUFFIX));
        std::fs::write(&home_binary, "").unwrap();
        assert_eq!(
            choose_mode(false, None, Some(&home), || true).unwrap(),
            Mode::Local {
                binary: home_binary,
                home: Some(home.clone())
            }
        );
        assert_eq!(
            choose_mode(false, None, None, || true).unwrap(),
            Mode::Compose
        );
        let error = choose_mode(false, None, None, || false)
            .unwrap_err()
            .to_string();
        assert!(
            error.contains("--grafana PATH or GRAFANA_HOME") && error.contains("--attach"),
            "{error}"
        );
        assert!(choose_mode(false, Some(&dir.path().join("missing")), None, || true).is_err());
    }
}
