//! `cargo xtask dev`: build the backend for the platform Grafana runs on, start Grafana in
//! development mode (docker compose, a local install given by --grafana/GRAFANA_HOME, or
//! one started elsewhere with --attach), and with --watch rebuild on save and make Grafana
//! run the new backend: swap the binary, stop the running process, Grafana starts the new
//! one within a second. Ctrl-C stops everything it started.
mod compose;
mod frontend;
mod grafana;
mod grafana_api;
mod process;
mod watch;

use std::{
    path::{Path, PathBuf},
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
        mpsc,
    },
    time::{Duration, Instant},
};

use anyhow::{Context as _, Result, bail};
use notify::{
    EventKind, RecommendedWatcher, RecursiveMode, Watcher, event::AccessKind, event::AccessMode,
};
use xshell::Shell;

use crate::http::Endpoint;
use crate::{
    build::{self, BuildPlan, Profile, Request, Step},
    context::Context,
    dist,
    flags::DevFlags,
    layout::Layout,
    targets,
    ui::Ui,
    util,
};
use compose::Compose;
use grafana::{Grafana, Watched};
use grafana_api::Verdict;
/// Stops processes: SIGTERM, then SIGKILL after the grace (taskkill on Windows).
pub(crate) use process::stop as stop_processes;
use watch::{Batch, Change, Debouncer, classify};

/// Quiet period after the last file event before a batch is handled.
const DEBOUNCE: Duration = Duration::from_millis(100);
/// How long a plugin process gets to exit after SIGTERM before it is killed.
const PLUGIN_GRACE: Duration = Duration::from_millis(1500);

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

pub fn run(context: &Context, flags: &DevFlags) -> Result<()> {
    let (sh, ui) = (&context.sh, &context.ui);
    let project = context.project()?;
    let root = project.cargo.workspace_root.clone();
    let grafana_home = std::env::var_os("GRAFANA_HOME").map(PathBuf::from);
    let mode = choose_mode(
        flags.attach,
        flags.grafana.as_deref(),
        grafana_home.as_deref(),
        || util::engine_answers(sh, "docker"),
    )?;
    let target = match mode {
        Mode::Compose => targets::linux_of_host()?,
        _ => targets::host()?,
    };
    // Everything the loop needs is found before the first build.
    let compose = match mode {
        Mode::Compose => Some(Compose::find(sh)?),
        _ => None,
    };

    // Ctrl-C is heard from here on: every wait below looks at `stop` at least once a second
    // (a terminal's Ctrl-C also reaches the cargo of the first build, which then ends).
    let stop = Arc::new(AtomicBool::new(false));
    let (sender, messages) = mpsc::channel();
    let handler = (stop.clone(), sender.clone());
    ctrlc::set_handler(move || {
        handler.0.store(true, Ordering::SeqCst);
        let _ = handler.1.send(Message::Stop);
    })
    .context("cannot install the Ctrl-C handler")?;
    // Armed before the first build: a save made while it runs, while Grafana starts or
    // before "Serving" waits in the channel and is rebuilt as soon as the start is over.
    let _watcher = match flags.watch {
        true => Some(watch_files(ui, &root, project.layout, sender)?),
        false => None,
    };
    let stopped = |during: &str| {
        ui.status("Stopping", format!("(Ctrl-C during {during})"));
        Ok(())
    };

    // The first build assembles the whole dist/, before any Grafana serves from it; its plan
    // is the one every cycle reruns.
    let mut request = Request::of(vec![target.clone()], Profile::Debug);
    request.command = "dev";
    let built = match build::run(context, &request) {
        Err(_) if stop.load(Ordering::SeqCst) => return stopped("the first build"),
        built => built?,
    };
    if stop.load(Ordering::SeqCst) {
        return stopped("the first build");
    }
    let mut loop_state = Loop::new(built.plan, &project.plugin.id, &mode, compose.clone())?;
    loop_state.layout = project.layout;

    let mut grafana = match Grafana::start(
        sh,
        ui,
        &mode,
        compose,
        &root,
        &project.plugin.id,
        flags.port,
    ) {
        Err(_) if stop.load(Ordering::SeqCst) => return stopped("Grafana's start"),
        grafana => grafana?,
    };
    // Credentials only from the environment, never printed: an attached Grafana may want a
    // service-account token; the ones dev starts allow anonymous admins.
    let token = std::env::var("GRAFANA_TOKEN").ok();
    let endpoint = match (&mode, std::env::var("GRAFANA_URL")) {
        (Mode::Attach, Ok(url)) => Endpoint::parse(&url, token)?,
        _ => Endpoint::parse(&format!("http://localhost:{}", flags.port), token)?,
    };
    grafana.watch_over(Watched {
        endpoint,
        plugin_id: project.plugin.id.clone(),
        binary: loop_state.dest.clone(),
        target,
    });
    let verdict = grafana.report(ui, &stop);
    // In a create-plugin app webpack watches the frontend; this loop, the backend.
    let webpack = match (flags.watch, project.layout) {
        (true, Layout::CreatePlugin(manager)) if !stop.load(Ordering::SeqCst) => {
            let watcher = frontend::FrontendWatcher::start(&root, manager)?;
            ui.status(
                "Watching",
                format!(
                    "the frontend with `{} run dev` (pid {}; its lines start with [frontend])",
                    manager.program(),
                    watcher.id()
                ),
            );
            Some(watcher)
        }
        _ => None,
    };

    let result = if stop.load(Ordering::SeqCst) {
        Ok(())
    } else if flags.watch {
        watch(context, &root, &loop_state, &mut grafana, &messages, &stop)
    } else if mode == Mode::Attach {
        // Nothing started, nothing to watch: the answer is the exit status.
        match verdict {
            Verdict::Serving(_) | Verdict::Unhealthy(_) | Verdict::Interrupted => Ok(()),
            _ => Err(anyhow::anyhow!(
                "the plugin is not serving (the reason is above); nothing to wait for without \
                 --watch"
            )),
        }
    } else {
        ui.note("Grafana runs until Ctrl-C");
        let _ = messages.recv();
        Ok(())
    };
    if let Some(watcher) = webpack {
        ui.status("Stopping", "the frontend watcher");
        watcher.stop();
    }
    let stopping = match (&mode, flags.keep_running, flags.watch) {
        (Mode::Attach, _, false) => None,
        (Mode::Attach, _, true) => {
            Some("the watcher (the attached Grafana and its plugin keep running)")
        }
        (_, true, true) => Some("the watcher (Grafana keeps running)"),
        (_, true, false) => Some("nothing: Grafana keeps running (--keep-running)"),
        (_, false, _) => Some("Grafana and the plugin"),
    };
    if let Some(stopping) = stopping {
        ui.status("Stopping", stopping);
    }
    if !flags.keep_running && mode != Mode::Attach {
        grafana.stop(sh)?;
        // Nothing this loop started may outlive it, even if Grafana did not stop its plugin.
        let pids = process::running(sh, &loop_state.binary_paths())?;
        process::stop(&pids, PLUGIN_GRACE);
    }
    result
}

/// What each cycle needs: how to rebuild, where the binary goes, which files to refresh.
struct Loop {
    step: Step,
    dest: PathBuf,
    plan: BuildPlan,
    mode: Mode,
    compose: Option<Compose>,
    container_binary: String,
    /// A create-plugin app's frontend files are webpack's: never refreshed here.
    layout: Layout,
}

/// What stopping the running plugin found.
enum Restart {
    /// A plugin process was stopped; Grafana starts the new binary within a second.
    Stopped,
    /// No plugin process was running; Grafana starts the new binary when it next needs it.
    NoneRunning,
}

impl Loop {
    fn new(
        plan: BuildPlan,
        plugin_id: &str,
        mode: &Mode,
        compose: Option<Compose>,
    ) -> Result<Loop> {
        let target_plan = plan.targets.first().context("dev builds one target")?;
        let step = target_plan.step.clone().map_err(anyhow::Error::msg)?;
        let dest = plan.dist_dir.join(&target_plan.dist_name);
        let container_binary = format!(
            "/var/lib/grafana/plugins/{plugin_id}/{}",
            target_plan.dist_name
        );
        Ok(Loop {
            step,
            dest,
            plan,
            mode: mode.clone(),
            compose,
            container_binary,
            layout: Layout::Template,
        })
    }

    fn webpack_frontend(&self) -> bool {
        matches!(self.layout, Layout::CreatePlugin(_))
    }

    /// The file name Grafana starts: `<executable>_<os>_<arch>[.exe]`.
    fn file_name(&self) -> String {
        self.dest
            .file_name()
            .unwrap_or_default()
            .to_string_lossy()
            .into_owned()
    }

    fn binary_paths(&self) -> Vec<PathBuf> {
        vec![self.dest.clone(), dist::aside_path(&self.dest)]
    }

    /// Makes the running plugin exit so that Grafana starts the new binary.
    fn restart_plugin(&self, sh: &Shell) -> Result<Restart> {
        let restart = match self.mode {
            Mode::Compose => {
                let compose = self
                    .compose
                    .as_ref()
                    .context("compose mode without compose")?;
                // Grafana starts the plugin by its path, without arguments: the command line
                // matched exactly (-x, the path's regex characters escaped), so nothing else,
                // and no pattern a name could inject, is ever stopped. pkill: 0 = stopped,
                // 1 = nothing matched; anything else is a failure.
                let pattern = exact_pattern(&self.container_binary);
                let output = compose
                    .command(
                        sh,
                        &["exec", "-T", "grafana", "pkill", "-x", "-f", "--", &pattern],
                    )
                    .quiet()
                    .ignore_status()
                    .output()
                    .with_context(|| format!("cannot run {} exec", compose.name()))?;
                match output.status.code() {
                    Some(0) => Restart::Stopped,
                    Some(1) => Restart::NoneRunning,
                    _ => bail!(
                        "could not stop the plugin in the container ({} exec grafana pkill): {}",
                        compose.name(),
                        String::from_utf8_lossy(&output.stderr).trim()
                    ),
                }
            }
            _ => {
                let pids = process::running(sh, &self.binary_paths())?;
                process::stop(&pids, PLUGIN_GRACE);
                if pids.is_empty() {
                    Restart::NoneRunning
                } else {
                    Restart::Stopped
                }
            }
        };
        let _ = std::fs::remove_file(&self.binary_paths()[1]);
        Ok(restart)
    }
}

/// A POSIX extended regular expression (pkill's) that matches exactly `text`. Not
/// `regex_lite::escape`: it also escapes `-`, `#`, `&` and `~`, which POSIX leaves undefined
/// after a backslash, and every plugin id has a `-`.
fn exact_pattern(text: &str) -> String {
    let mut pattern = String::from("^");
    for c in text.chars() {
        if "\\.[]()*+?{}|^$".contains(c) {
            pattern.push('\\');
        }
        pattern.push(c);
    }
    pattern.push('$');
    pattern
}

/// Starts watching what the backend is built from and what dist/ is assembled from; events
/// go to `sender` from now on, whatever the loop is doing.
fn watch_files(
    ui: &Ui,
    root: &Path,
    layout: Layout,
    sender: mpsc::Sender<Message>,
) -> Result<RecommendedWatcher> {
    let mut watcher = notify::recommended_watcher(move |event| {
        let _ = sender.send(Message::Files(event));
    })
    .context("cannot watch files")?;
    let (paths, shown): (&[(&str, RecursiveMode)], &str) = match layout {
        Layout::Template => (
            &[
                ("plugin", RecursiveMode::Recursive),
                ("static", RecursiveMode::Recursive),
                (".", RecursiveMode::NonRecursive),
            ],
            "plugin/, static/, plugin.json and the Cargo files",
        ),
        // webpack's own watcher has the rest of src/ and copies src/plugin.json to dist/.
        Layout::CreatePlugin(_) => (
            &[
                ("plugin", RecursiveMode::Recursive),
                ("src", RecursiveMode::NonRecursive),
                (".", RecursiveMode::NonRecursive),
            ],
            "plugin/, src/plugin.json and the Cargo files",
        ),
    };
    for (path, mode) in paths {
        let path = root.join(path);
        if path.exists() {
            watcher
                .watch(&path, *mode)
                .with_context(|| format!("cannot watch {}", path.display()))?;
        }
    }
    ui.status(
        "Watching",
        format!("{shown} (a save during the first build is rebuilt after it); Ctrl-C stops"),
    );
    Ok(watcher)
}

fn watch(
    context: &Context,
    root: &Path,
    state: &Loop,
    grafana: &mut Grafana,
    messages: &mpsc::Receiver<Message>,
    stop: &AtomicBool,
) -> Result<()> {
    let ui = &context.ui;
    let mut debouncer = Debouncer::new(DEBOUNCE);
    let root = root.canonicalize().unwrap_or_else(|_| root.to_owned());
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
                    if let Some(change) = classify(&root, &canonical, state.layout)
                        .or_else(|| classify(&root, path, state.layout))
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
            if let Err(error) = cycle(context, state, grafana, &batch, stop) {
                ui.error(format!("{error:#}"));
            }
        }
    }
}

/// One batch of changes: refresh files, or rebuild and restart; one status line.
fn cycle(
    context: &Context,
    state: &Loop,
    grafana: &mut Grafana,
    batch: &Batch,
    stop: &AtomicBool,
) -> Result<()> {
    let (sh, ui) = (&context.sh, &context.ui);
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
    if batch.strongest() == Change::Static && state.webpack_frontend() {
        // webpack's watcher copies these into dist/ itself.
        return Ok(());
    }
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
    let root = state.plan.dist_dir.parent().unwrap_or(&state.plan.dist_dir);
    let event = build::build_event(root, &state.plan, "dev");
    context.before_build(&event)?;
    if build::run_command(sh, &state.step.command).is_err() {
        ui.error("the build failed (see above); the previous backend keeps serving");
        return Ok(());
    }
    let build_time = build_started.elapsed();
    let restart_started = Instant::now();
    if !state.webpack_frontend()
        && (batch.changes.contains(&Change::Static) || batch.changes.contains(&Change::Manifest))
    {
        dist::refresh_files(
            &state.plan.dist_dir,
            &state.plan.files,
            &state.plan.placeholders,
        )?;
    }
    dist::replace_binary(&state.step.built_binary, &state.dest)?;
    context.after_build(&event)?;
    let milliseconds = || restart_started.elapsed().as_secs_f64() * 1000.0;
    let restarted = if batch.strongest() == Change::Manifest {
        if state.webpack_frontend() {
            wait_for_webpack_manifest(ui, &state.plan.dist_dir, stop);
        }
        grafana.restart(sh, ui, stop)?;
        format!(
            "Grafana restarted in {:.0} ms (plugin.json is read at start-up)",
            milliseconds()
        )
    } else {
        match state.restart_plugin(sh)? {
            Restart::Stopped => format!("plugin restarted in {:.0} ms", milliseconds()),
            Restart::NoneRunning => "no plugin process was running; Grafana starts the new \
                                     binary when it loads the plugin"
                .to_owned(),
        }
    };
    ui.status(
        "Reloaded",
        format!(
            "{} after {what}: detected {:.0} ms, build {:.1} s, {restarted}",
            state.file_name(),
            detected.as_secs_f64() * 1000.0,
            build_time.as_secs_f64(),
        ),
    );
    Ok(())
}

/// In a create-plugin app webpack copies src/plugin.json into dist/: Grafana is restarted
/// once that copy is newer than the edit (at most a few seconds), so it reads the new one.
fn wait_for_webpack_manifest(ui: &Ui, dist: &Path, stop: &AtomicBool) {
    let modified = |path: PathBuf| std::fs::metadata(path).and_then(|m| m.modified()).ok();
    let edited = dist
        .parent()
        .and_then(|root| modified(root.join("src").join("plugin.json")));
    let copied = || modified(dist.join("plugin.json")) >= edited;
    let deadline = Instant::now() + Duration::from_secs(10);
    while !copied() {
        if Instant::now() >= deadline || stop.load(Ordering::SeqCst) {
            ui.warning(
                "webpack has not copied src/plugin.json to dist/ within 10 s; Grafana restarts \
                 with the dist/plugin.json it has (is `run dev` running?)",
            );
            return;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_plugin_in_the_container_is_matched_exactly_and_nothing_else() {
        let path = "/var/lib/grafana/plugins/acme-x-app/gpx_x.y_linux_amd64";
        let pattern = super::exact_pattern(path);
        assert_eq!(
            pattern,
            "^/var/lib/grafana/plugins/acme-x-app/gpx_x\\.y_linux_amd64$"
        );
        let regex = regex_lite::Regex::new(&pattern).unwrap();
        assert!(regex.is_match(path));
        for other in [
            "/var/lib/grafana/plugins/acme-x-app/gpx_xXy_linux_amd64",
            "/var/lib/grafana/plugins/acme-x-app/gpx_x.y_linux_amd64 --flag",
            "sh -c /var/lib/grafana/plugins/acme-x-app/gpx_x.y_linux_amd64",
        ] {
            assert!(!regex.is_match(other), "{other}");
        }
        assert_eq!(super::exact_pattern("a|b*"), "^a\\|b\\*$");
    }

    use super::*;

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
