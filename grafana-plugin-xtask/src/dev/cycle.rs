//! One cycle of `dev --watch`: the event loop that turns saved files into batches, and for
//! each batch the rebuild (or refresh), the binary swapped into dist/ and the running plugin
//! (or Grafana, for plugin.json) restarted. `Loop` is what every cycle reruns.
use std::{
    path::{Path, PathBuf},
    sync::{
        atomic::{AtomicBool, Ordering},
        mpsc,
    },
    time::{Duration, Instant},
};

use anyhow::{Context as _, Result, bail};
use notify::{EventKind, event::AccessKind, event::AccessMode};
use xshell::Shell;

use super::{
    DEBOUNCE, Message, Mode, PLUGIN_GRACE,
    compose::Compose,
    grafana::Grafana,
    process,
    watch::{Batch, Change, Debouncer, classify},
};
use crate::{
    build::{self, BuildPlan, Step},
    context::Context,
    dist,
    layout::Layout,
    ui::Ui,
};

/// What each cycle needs: how to rebuild, where the binary goes, which files to refresh.
pub(super) struct Loop {
    step: Step,
    /// dist/<executable>_<os>_<arch>[.exe]
    pub(super) dest: PathBuf,
    plan: BuildPlan,
    mode: Mode,
    compose: Option<Compose>,
    container_binary: String,
    /// A create-plugin app's frontend files are webpack's: never refreshed here.
    layout: Layout,
}

/// What stopping the running plugin found.
enum Restart {
    /// The running plugin took the new binary in place (same process, no call failed): the
    /// time until it ran the new file, when this system can tell.
    HandedOver(Option<Duration>),
    /// A plugin process was stopped; Grafana starts the new binary within a second.
    Stopped,
    /// No plugin process was running; Grafana starts the new binary when it next needs it.
    NoneRunning,
}

impl Loop {
    pub(super) fn new(
        plan: BuildPlan,
        plugin_id: &str,
        mode: &Mode,
        compose: Option<Compose>,
        layout: Layout,
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
            layout,
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

    /// Whether both the running binary (set aside by the swap) and the new one carry the
    /// plugin runtime's handover: the old image must take the signal, the new one the
    /// listener. Not on Windows (no exec), nor for a plugin crate without the runtime's
    /// handover (one adopted before it): those are restarted as before.
    fn can_hand_over(&self) -> bool {
        let carries = |path: &Path| {
            crate::binary::file_contains(path, process::HANDOVER_MARKER).unwrap_or(false)
        };
        cfg!(unix) && carries(&dist::aside_path(&self.dest)) && carries(&self.dest)
    }

    pub(super) fn binary_paths(&self) -> Vec<PathBuf> {
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
                // The handover's signal to the exact process where the plugin supports it,
                // else the stop Grafana restarts it from.
                let handing_over = self.can_hand_over();
                // `-USR1`, not `--signal`: the image's pkill is BusyBox's (Alpine), which
                // knows only the short form.
                let signal = if handing_over { "-USR1" } else { "-TERM" };
                let output = compose
                    .command(
                        sh,
                        &[
                            "exec", "-T", "grafana", "pkill", "--signal", signal, "-x", "-f", "--",
                            &pattern,
                        ],
                    )
                    .quiet()
                    .ignore_status()
                    .output()
                    .with_context(|| format!("cannot run {} exec", compose.name()))?;
                match output.status.code() {
                    Some(0) if handing_over => Restart::HandedOver(None),
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
                if pids.is_empty() {
                    Restart::NoneRunning
                } else if self.can_hand_over() {
                    Restart::HandedOver(process::hand_over(&pids, &self.dest))
                } else {
                    process::stop(&pids, PLUGIN_GRACE);
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

pub(super) fn watch(
    context: &Context,
    root: &Path,
    state: &mut Loop,
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
    state: &mut Loop,
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
    // dist/ is written by this cycle alone: a `build` in another terminal waits, or this
    // cycle waits for it.
    let held = context.hold_scratch("dev")?;
    if batch.strongest() == Change::Static {
        let said = refresh_dist(context, state)?;
        ui.status("Refreshed", format!("dist/ ({what}){said}"));
        return Ok(());
    }
    ui.status("Rebuilding", format!("({what} changed)"));
    let build_started = Instant::now();
    let root = state.plan.dist_dir.parent().unwrap_or(&state.plan.dist_dir);
    let target_dir = &context.project()?.cargo.target_dir;
    let mut event = build::build_event(root, target_dir, &state.plan, "dev");
    let mut command = state.step.command.clone();
    if context.has_before_build() {
        context.before_build(&mut event)?;
        build::apply_changes(&event.changes, &mut command);
    }
    if build::run_command(sh, &command).is_err() {
        ui.error("the build failed (see above); the previous backend keeps serving");
        return Ok(());
    }
    let build_time = build_started.elapsed();
    let restart_started = Instant::now();
    if !state.webpack_frontend()
        && (batch.changes.contains(&Change::Static) || batch.changes.contains(&Change::Manifest))
    {
        refresh_dist(context, state)?;
    }
    dist::replace_binary(&state.step.built_binary, &state.dest)?;
    drop(held);
    context.after_build(&event)?;
    let restarted = load_new_binary(context, state, grafana, batch, stop, restart_started)?;
    let served = match grafana.served_after(restart_started, stop) {
        Some(took) => format!(
            ", first call served {:.0} ms after the binary was replaced",
            took.as_secs_f64() * 1000.0
        ),
        None => ", not serving yet".to_owned(),
    };
    ui.status(
        "Reloaded",
        format!(
            "{} after {what}: detected {:.0} ms, build {:.1} s, {restarted}{served}",
            state.file_name(),
            detected.as_secs_f64() * 1000.0,
            build_time.as_secs_f64(),
        ),
    );
    Ok(())
}

/// Has the new binary serve: Grafana restarted for a plugin.json change (read at start-up),
/// else the plugin handed over in place or restarted. Says how, for the reload line.
fn load_new_binary(
    context: &Context,
    state: &Loop,
    grafana: &mut Grafana,
    batch: &Batch,
    stop: &AtomicBool,
    restart_started: Instant,
) -> Result<String> {
    let (sh, ui) = (&context.sh, &context.ui);
    let milliseconds = || restart_started.elapsed().as_secs_f64() * 1000.0;
    if batch.strongest() == Change::Manifest {
        if state.webpack_frontend() {
            wait_for_webpack_manifest(ui, &state.plan.dist_dir, stop);
        }
        grafana.restart(sh, ui, stop)?;
        return Ok(format!(
            "Grafana restarted in {:.0} ms (plugin.json is read at start-up)",
            milliseconds()
        ));
    }
    Ok(match state.restart_plugin(sh)? {
        Restart::HandedOver(Some(took)) => format!(
            "handed over in {:.0} ms (same process, no call failed)",
            took.as_secs_f64() * 1000.0
        ),
        Restart::HandedOver(None) => "handed over (same process)".to_owned(),
        Restart::Stopped => format!(
            "plugin restarted in {:.0} ms (it has no handover: Grafana started it again)",
            milliseconds()
        ),
        Restart::NoneRunning => "no plugin process was running; Grafana starts the new \
                                 binary when it loads the plugin"
            .to_owned(),
    })
}

/// Brings dist/'s copied files (static/, plugin.json, README, CHANGELOG, LICENSE) up to date
/// with the sources as they are now, not as they were at the first build: a file added is
/// copied in, one deleted or renamed away is removed from dist/ (the binaries stay). Says
/// what came and went.
fn refresh_dist(context: &Context, state: &mut Loop) -> Result<String> {
    let project = context.project()?;
    let root = &project.cargo.workspace_root;
    let dist_dir = state.plan.dist_dir.clone();
    let inputs = build::gather_inputs(root, project, &dist_dir)?;
    let files = build::staged_files(root, &inputs)?;
    dist::refresh_files(&dist_dir, &files, &state.plan.placeholders)?;
    let listed = |list: &[dist::StagedFile], dest: &str| list.iter().any(|f| f.dest == dest);
    let mut changes = Vec::new();
    for gone in state
        .plan
        .files
        .iter()
        .filter(|old| !listed(&files, &old.dest))
    {
        crate::util::remove_path_if_present(&dist_dir.join(&gone.dest))?;
        changes.push(format!("-{}", gone.dest));
    }
    for new in files
        .iter()
        .filter(|new| !listed(&state.plan.files, &new.dest))
    {
        changes.push(format!("+{}", new.dest));
    }
    state.plan.files = files;
    Ok(if changes.is_empty() {
        String::new()
    } else {
        format!(": {}", changes.join(", "))
    })
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
}
