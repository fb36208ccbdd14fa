//! `cargo xtask dev`: build the backend for the platform Grafana runs on, start Grafana in
//! development mode (docker compose, a local install given by --grafana/GRAFANA_HOME, or
//! one started elsewhere with --attach), and with --watch rebuild on save and make Grafana
//! run the new backend: swap the binary, stop the running process, Grafana starts the new
//! one within a second. Ctrl-C stops everything it started.
mod compose;
mod cycle;
mod datasource_api;
mod frontend;
mod grafana;
mod grafana_api;
mod process;
mod verdict;
mod watch;

use std::{
    path::{Path, PathBuf},
    sync::{
        atomic::{AtomicBool, Ordering},
        mpsc,
    },
    time::{Duration, Instant},
};

use anyhow::{Context as _, Result, bail};
use notify::{RecommendedWatcher, RecursiveMode, Watcher};

use crate::{
    build::{self, Profile, Request},
    context::Context,
    flags::DevFlags,
    http::Endpoint,
    layout::Layout,
    targets,
    ui::Ui,
    util,
};
use compose::Compose;
use cycle::{Loop, watch};
use grafana::{Grafana, Watched};
use grafana_api::Verdict;
/// Stops processes: SIGTERM, then SIGKILL after the grace (taskkill on Windows).
pub(crate) use process::stop as stop_processes;

/// Quiet period after the last file event before a batch is handled: watchexec's default.
/// An editor's save (write a temporary, rename it) or a save-all lands within it.
const DEBOUNCE: Duration = Duration::from_millis(50);
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
        let (binary, home) = crate::local_grafana::find(path)?;
        return Ok(Mode::Local { binary, home });
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
    // Everything the loop needs is found before the first build.
    let (mode, target, compose) = where_grafana_runs(sh, flags)?;

    // Ctrl-C is heard from here on: every wait below looks at `stop` at least once a second
    // (a terminal's Ctrl-C also reaches the cargo of the first build, which then ends).
    let (sender, messages) = mpsc::channel();
    let listening = on_ctrl_c(sender.clone())?;
    let stop = listening.flag();
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
        Err(_) if heard(&stop) => return stopped("the first build"),
        built => built?,
    };
    if stop.load(Ordering::SeqCst) {
        return stopped("the first build");
    }
    let mut loop_state = Loop::new(
        built.plan,
        &project.plugin.id,
        &mode,
        compose.clone(),
        project.layout,
    )?;
    // Dropped last, after Grafana: no plugin process this loop started outlives it, even if
    // Grafana did not stop its plugin.
    let _sweep = Sweep {
        paths: loop_state.binary_paths(),
        armed: !flags.keep_running && mode != Mode::Attach,
    };

    let mut grafana = match Grafana::start(
        sh,
        ui,
        &mode,
        compose,
        &root,
        &project.plugin.id,
        flags.port,
    ) {
        Err(_) if heard(&stop) => return stopped("Grafana's start"),
        grafana => grafana?,
    };
    if flags.keep_running {
        grafana.keep_running();
    }
    grafana.watch_over(Watched {
        endpoint: endpoint(&mode, flags.port)?,
        plugin_id: project.plugin.id.clone(),
        binary: loop_state.dest.clone(),
        target,
    });
    let verdict = grafana.report(ui, &stop);
    let webpack = match flags.watch && !stop.load(Ordering::SeqCst) {
        true => start_webpack(ui, &root, project.layout)?,
        false => None,
    };

    let result = if stop.load(Ordering::SeqCst) {
        Ok(())
    } else if flags.watch {
        watch(
            context,
            &root,
            &mut loop_state,
            &mut grafana,
            &messages,
            &stop,
        )
    } else if mode == Mode::Attach {
        attached_once(&verdict)
    } else {
        ui.note("Grafana runs until Ctrl-C");
        let _ = messages.recv();
        Ok(())
    };
    tear_down(context, flags, &mode, webpack, &mut grafana, result)
}

/// The end of `dev`, said as it goes: the frontend watcher, then Grafana (unless kept). A
/// failed stop is an error of this command too, but the loop's own error comes first.
fn tear_down(
    context: &Context,
    flags: &DevFlags,
    mode: &Mode,
    webpack: Option<frontend::FrontendWatcher>,
    grafana: &mut Grafana,
    result: Result<()>,
) -> Result<()> {
    let ui = &context.ui;
    if let Some(mut watcher) = webpack {
        ui.status("Stopping", "the frontend watcher");
        watcher.stop();
    }
    if let Some(stopping) = stopping_what(mode, flags.keep_running, flags.watch) {
        ui.status("Stopping", stopping);
    }
    let stopped = match flags.keep_running {
        true => Ok(()),
        false => grafana.stop(&context.sh),
    };
    match (result, stopped) {
        (Err(error), Err(stop_error)) => {
            ui.warning(format!("{stop_error:#}"));
            Err(error)
        }
        (result, stopped) => result.and(stopped),
    }
}

/// Stops the plugin processes still running from this loop's binaries when dropped.
struct Sweep {
    paths: Vec<PathBuf>,
    armed: bool,
}

impl Drop for Sweep {
    fn drop(&mut self) {
        if !self.armed {
            return;
        }
        let Ok(sh) = xshell::Shell::new() else { return };
        if let Ok(pids) = process::running(&sh, &self.paths) {
            process::stop(&pids, PLUGIN_GRACE);
        }
    }
}

/// The mode (--attach, --grafana/GRAFANA_HOME, else compose), the platform Grafana runs the
/// backend on, and the compose command when it is compose.
fn where_grafana_runs(
    sh: &xshell::Shell,
    flags: &DevFlags,
) -> Result<(Mode, targets::BuildTarget, Option<Compose>)> {
    let grafana_home = std::env::var_os("GRAFANA_HOME").map(PathBuf::from);
    let mode = choose_mode(
        flags.attach,
        flags.grafana.as_deref(),
        grafana_home.as_deref(),
        || util::engine_answers("docker"),
    )?;
    Ok(match mode {
        Mode::Compose => (mode, targets::linux_of_host()?, Some(Compose::find(sh)?)),
        _ => (mode, targets::host()?, None),
    })
}

/// Sets the flag and sends [`Message::Stop`] on Ctrl-C (and SIGTERM) while listening.
fn on_ctrl_c(sender: mpsc::Sender<Message>) -> Result<crate::interrupt::Listening> {
    crate::interrupt::listen(move || {
        let _ = sender.send(Message::Stop);
    })
}

/// Whether Ctrl-C was pressed, asked after something failed. A terminal's Ctrl-C reaches
/// this process and its children (cargo, Grafana) at once, and the handler runs on a thread
/// of its own: a child's death by that Ctrl-C can be seen before the flag is set. So a failure
/// waits a moment for the flag before it is taken as the failure.
fn heard(stop: &AtomicBool) -> bool {
    let deadline = Instant::now() + Duration::from_millis(500);
    while !stop.load(Ordering::SeqCst) {
        if Instant::now() >= deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    true
}

/// Where Grafana's API answers. Credentials only from the environment, never printed: an
/// attached Grafana may want a service-account token; the ones dev starts allow anonymous
/// admins.
fn endpoint(mode: &Mode, port: u16) -> Result<Endpoint> {
    let token = std::env::var("GRAFANA_TOKEN").ok();
    match (mode, std::env::var("GRAFANA_URL")) {
        (Mode::Attach, Ok(url)) => Endpoint::parse(&url, token),
        _ => Endpoint::parse(&format!("http://localhost:{port}"), token),
    }
}

/// In a create-plugin app webpack watches the frontend (its `dev` script); this loop, the
/// backend.
fn start_webpack(
    ui: &Ui,
    root: &Path,
    layout: Layout,
) -> Result<Option<frontend::FrontendWatcher>> {
    let Layout::CreatePlugin(manager) = layout else {
        return Ok(None);
    };
    let watcher = frontend::FrontendWatcher::start(root, manager)?;
    ui.status(
        "Watching",
        format!(
            "the frontend with `{} run dev` (pid {}; its lines start with [frontend])",
            manager.program(),
            watcher.id()
        ),
    );
    Ok(Some(watcher))
}

/// `--attach` without `--watch`: nothing started, nothing to watch; the answer is the exit
/// status.
fn attached_once(verdict: &Verdict) -> Result<()> {
    match verdict {
        Verdict::Serving(_)
        | Verdict::ServingDataSource { .. }
        | Verdict::Unhealthy(_)
        | Verdict::Interrupted => Ok(()),
        _ => bail!(
            "the plugin is not serving (the reason is above); nothing to wait for without \
             --watch"
        ),
    }
}

/// What stopping stops, as the status line says it; `None` when nothing was started.
fn stopping_what(mode: &Mode, keep_running: bool, watch: bool) -> Option<&'static str> {
    match (mode, keep_running, watch) {
        (Mode::Attach, _, false) => None,
        (Mode::Attach, _, true) => {
            Some("the watcher (the attached Grafana and its plugin keep running)")
        }
        (_, true, true) => Some("the watcher (Grafana keeps running)"),
        (_, true, false) => Some("nothing: Grafana keeps running (--keep-running)"),
        (_, false, _) => Some("Grafana and the plugin"),
    }
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

#[cfg(test)]
mod tests {
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
