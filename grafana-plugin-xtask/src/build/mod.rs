//! `cargo xtask build`: plan every target as data (back end, command, output, what is
//! missing), print it with `--dry-run`, otherwise build the targets one after another and
//! land the binaries that built in dist/ together, in one swap. `dev` and `package` make
//! their own [`Request`] and get the plan back in [`Built`].
mod exec;
mod frontend;
mod group;
mod plan;
mod report;
#[cfg(test)]
mod tests;

use std::{fs, path::Path, time::Instant};

use anyhow::{Result, bail};

pub use exec::run_command;
pub use plan::{BuildPlan, Profile, STATIC_DIR, Step, staged_files};

use exec::{Outcome, build_one, build_together, install_std_if_needed};
use plan::{Inputs, Options, ROOT_FILES, TargetPlan, dist_plan};
use report::{describe, names, plan_json, report, sizes};

use crate::{
    context::{BuildEvent, Context},
    dist,
    flags::{BuildFlags, MessageFormat},
    layout::Layout,
    targets::{self, BuildTarget},
    toolchain::{self, Backend, Environment},
    util,
};

/// What to build, decided once from the command line (or by `dev` and `package`).
#[derive(Clone, Debug)]
pub struct Request {
    /// Empty: no backend, dist/ assembled around the binaries already there.
    pub targets: Vec<BuildTarget>,
    pub profile: Profile,
    pub clean: bool,
    pub check_only: bool,
    pub backend: Option<Backend>,
    pub dry_run: bool,
    pub message_format: MessageFormat,
    /// Refuse to build anything when one target cannot be built (`package`).
    pub all_or_nothing: bool,
    /// Problems the caller found (`package --sign` without a token) that refuse the build as
    /// a missing platform does: listed with the missing platforms, before anything builds.
    pub refused_also: Vec<String>,
    /// The command building (`build`, `package`, `dev`), for the hooks.
    pub command: &'static str,
    /// Build a create-plugin app's frontend (its `build` script) first.
    pub frontend: bool,
}

impl Request {
    pub fn from_flags(flags: &BuildFlags) -> Result<Request> {
        let targets = if flags.no_backend || flags.frontend_only {
            Vec::new()
        } else if flags.targets.is_empty() && !flags.all {
            vec![targets::host()?]
        } else {
            requested_targets(&flags.targets)?
        };
        Ok(Request {
            targets,
            profile: if flags.debug {
                Profile::Debug
            } else {
                flags.profile
            },
            clean: flags.clean,
            check_only: flags.check_only,
            backend: flags.backend,
            dry_run: flags.dry_run,
            message_format: flags.message_format,
            all_or_nothing: false,
            refused_also: Vec::new(),
            command: "build",
            frontend: !flags.backend_only,
        })
    }

    /// A plain release or debug build of `targets`, as `dev` and `package` ask for.
    pub fn of(targets: Vec<BuildTarget>, profile: Profile) -> Request {
        Request {
            targets,
            profile,
            clean: false,
            check_only: false,
            backend: None,
            dry_run: false,
            message_format: MessageFormat::Human,
            all_or_nothing: false,
            refused_also: Vec::new(),
            command: "build",
            frontend: true,
        }
    }

    fn options(&self, quiet: bool) -> Options {
        Options {
            profile: self.profile,
            clean: self.clean,
            quiet,
            check_only: self.check_only,
            forced: self.backend,
        }
    }
}

/// The targets named on the command line (all six when none), each a target rustc knows.
pub fn requested_targets(specs: &[String]) -> Result<Vec<BuildTarget>> {
    let targets = targets::parse_or_all(specs, std::env::consts::OS)?;
    let custom = specs.iter().any(|spec| spec.contains('='));
    if custom {
        targets::check_known(&targets, &toolchain::target_list()?)?;
    }
    Ok(targets)
}

/// What a build did: the plan as it was carried out (with any fallback chosen on the way).
pub struct Built {
    pub plan: BuildPlan,
}

pub fn run(context: &Context, request: &Request) -> Result<Built> {
    let project = context.project()?;
    let (sh, ui) = (&context.sh, &context.ui);
    let root = &project.cargo.workspace_root;
    let _held = match request.dry_run {
        true => None,
        false => Some(context.hold_scratch(request.command)?),
    };
    // A run interrupted in the middle of replacing dist/ is repaired before anything else.
    dist::recover_interrupted_swap(
        &crate::dist::dist_dir(root),
        &dist::scratch_dir(root).join(dist::PREVIOUS_DIR),
    )?;
    if !request.targets.is_empty() {
        check_profile_defined(root, request.profile)?;
    }
    // A plain host build needs no probing: cargo and the host's std are there.
    let mut environment = if request.targets.iter().all(|t| t.triple.is_none()) {
        Environment::default()
    } else {
        Environment::probe(sh, &request.targets, request.backend)?
    };
    environment.auditable = crate::util::on_path("cargo-auditable").is_some();
    if environment.host_os != "macos" && !environment.sdkroot {
        environment.stub_sdk = Some(project.cargo.target_dir.join("xtask").join("macos-sdk"));
    }
    let options = request.options(ui.quiet());
    warn_about_other_ids(ui, root, &project.plugin.id);
    let prefix = targets::executable_prefix(&project.plugin.executable);
    let (before, mut frontend) = Before::take(context, request, &prefix)?;
    let built = build_from(
        context,
        request,
        &environment,
        &options,
        &before,
        &mut frontend,
    );
    // A build that stopped early never leaves webpack running behind it.
    let built = built.and_then(|built| finish_frontend(frontend.take()).map(|()| built));
    let _ = finish_frontend(frontend.take());
    if built.is_err() {
        // A failed frontend or backend leaves dist/ as it was before this command.
        before.put_back()?;
    }
    let built = built?;
    before.discard();
    Ok(built)
}

/// A custom profile (`dist`) must be declared in the workspace's Cargo.toml, where cargo
/// looks for it; its absence is said with the lines to add, before anything builds.
fn check_profile_defined(root: &Path, profile: Profile) -> Result<()> {
    if profile != Profile::Dist {
        return Ok(());
    }
    let manifest = root.join("Cargo.toml");
    let text = crate::project::read_text(&manifest)?;
    let declared = text
        .parse::<toml_edit::DocumentMut>()
        .is_ok_and(|document| {
            document
                .get("profile")
                .and_then(|p| p.get("dist"))
                .is_some()
        });
    if !declared {
        bail!(
            "{}: no [profile.dist], the profile release archives are built with; add \
             `[profile.dist]` with `inherits = \"release\"`, `lto = \"fat\"`, \
             `codegen-units = 1` (as this template's Cargo.toml has)",
            manifest.display()
        );
    }
    Ok(())
}

/// dist/ as it was before a create-plugin frontend build wrote into it.
struct Before {
    dist: std::path::PathBuf,
    copy: Option<(std::path::PathBuf, bool)>,
}

/// A create-plugin frontend build running beside the backend's.
type FrontendJob = std::thread::JoinHandle<Result<bool>>;

impl Before {
    /// Copies dist/ aside and starts a create-plugin app's frontend build in the background:
    /// webpack writes dist/, cargo writes target/, so the two halves run side by side.
    fn take(
        context: &Context,
        request: &Request,
        prefix: &str,
    ) -> Result<(Before, Option<FrontendJob>)> {
        let project = context.project()?;
        let root = project.cargo.workspace_root.clone();
        let mut before = Before {
            dist: crate::dist::dist_dir(&root),
            copy: None,
        };
        let Layout::CreatePlugin(manager) = project.layout else {
            return Ok((before, None));
        };
        if request.dry_run {
            return Ok((before, None));
        }
        let scratch = dist::scratch_dir(&root);
        let copy = scratch.join(dist::BEFORE_DIR);
        if dist::recover_snapshot(&before.dist, &copy)? {
            frontend::forget(&scratch);
            context.ui.note(
                "dist/ was put back as it was before an interrupted build (webpack may have \
                 half-written it)",
            );
        }
        if !request.frontend {
            return Ok((before, None));
        }
        // Before any build: a missing yarn is said now, not after the backend's minutes.
        frontend::check_tools(&context.sh, &context.ui, &root, manager)?;
        let existed = dist::snapshot(&before.dist, &copy)?;
        before.copy = Some((copy, existed));
        let (ui, prefix) = (context.ui, prefix.to_owned());
        let job = std::thread::spawn(move || {
            let sh = xshell::Shell::new()?;
            sh.change_dir(&root);
            frontend::build(&sh, &ui, &root, &scratch, manager, &prefix)
        });
        Ok((before, Some(job)))
    }

    /// Where the binaries that were in dist/ can be read from now.
    fn binaries_dir(&self) -> &Path {
        match &self.copy {
            Some((copy, true)) => copy,
            _ => &self.dist,
        }
    }

    fn put_back(&self) -> Result<()> {
        if let Some((copy, existed)) = &self.copy {
            dist::restore(&self.dist, copy, *existed)?;
            frontend::forget(copy.parent().unwrap_or(copy));
        }
        Ok(())
    }

    fn discard(&self) {
        if let Some((copy, _)) = &self.copy {
            let _ = fs::remove_dir_all(copy);
        }
    }
}

/// Waits for the frontend build, if one runs.
fn finish_frontend(job: Option<FrontendJob>) -> Result<()> {
    match job {
        None => Ok(()),
        Some(job) => job
            .join()
            .map_err(|_| anyhow::anyhow!("the frontend build panicked"))?
            .map(drop),
    }
}

/// The plan, the backend builds and the new dist/, once the frontend (if any) is built.
fn build_from(
    context: &Context,
    request: &Request,
    environment: &Environment,
    options: &Options,
    before: &Before,
    frontend: &mut Option<FrontendJob>,
) -> Result<Built> {
    let started = Instant::now();
    let project = context.project()?;
    let (sh, ui) = (&context.sh, &context.ui);
    let root = &project.cargo.workspace_root;
    let mut inputs = gather_inputs(root, project, before.binaries_dir())?;
    if frontend.is_some() {
        // dist/ is webpack's until the frontend build is done: its files come after.
        inputs.frontend_files = Some(Vec::new());
    }
    let mut plan = plan::plan(project, &request.targets, environment, options, &inputs)?;
    if request.dry_run {
        match request.message_format {
            MessageFormat::Human => print!("{}", describe(&plan, root)),
            MessageFormat::Json => println!("{}", plan_json(&plan, root)),
        }
        let missing = plan.targets.iter().filter(|t| t.step.is_err()).count();
        if missing > 0 {
            let above = match request.message_format {
                MessageFormat::Human => "the lines marked missing above",
                MessageFormat::Json => "\"missing\" in the JSON above",
            };
            bail!(
                "{missing} of {} targets cannot be built here ({above})",
                plan.targets.len()
            );
        }
        return Ok(Built { plan });
    }

    say_what_carries_no_dependency_list(ui, environment, &plan);
    // Everything that can be diagnosed or fixed is, before the first build starts.
    for target_plan in &mut plan.targets {
        install_std_if_needed(
            sh,
            ui,
            &dist::scratch_dir(root),
            environment,
            options,
            &project.cargo.package,
            target_plan,
        );
    }
    let total = plan.targets.len();
    let missing: Vec<&String> = (plan.targets.iter())
        .filter_map(|t| t.step.as_ref().err())
        .collect();
    if total > 1 || request.all_or_nothing {
        for missing in missing.iter().copied().chain(&request.refused_also) {
            ui.error(missing);
        }
    }
    if request.all_or_nothing && !(missing.is_empty() && request.refused_also.is_empty()) {
        let mut problems = Vec::new();
        if !missing.is_empty() {
            problems.push(format!(
                "{} of {total} targets cannot be built here",
                missing.len()
            ));
        }
        if !request.refused_also.is_empty() {
            problems.push(format!("{} other problem(s)", request.refused_also.len()));
        }
        bail!(
            "{} (above); nothing was built and dist/ was left as it was",
            problems.join(" and ")
        );
    }
    if let Some(stub) = &environment.stub_sdk {
        let stub_text = stub.display().to_string();
        let linked_against_stub = (plan.targets.iter())
            .filter_map(|t| t.step.as_ref().ok())
            .any(|step| (step.command.env.iter()).any(|(k, v)| k == "SDKROOT" && *v == stub_text));
        if linked_against_stub {
            crate::toolchain::write_stub_sdk(stub)?;
        }
    }
    let mut event = build_event(root, &project.cargo.target_dir, &plan, request.command);
    let backend = !plan.targets.is_empty() && !plan.check_only;
    if backend && context.has_before_build() {
        context.before_build(&mut event)?;
        for step in (plan.targets.iter_mut()).filter_map(|t| t.step.as_mut().ok()) {
            apply_changes(&event.changes, &mut step.command);
        }
        // What the hook wrote under static/ belongs to this build's dist/.
        if frontend.is_none() {
            inputs = gather_inputs(root, project, before.binaries_dir())?;
            plan.files = plan::staged_files(root, &inputs)?;
        }
    }
    let outcomes = build_all(sh, ui, options, &plan.targets);
    if frontend.is_some() {
        finish_frontend(frontend.take())?;
        let inputs = gather_inputs(root, project, before.binaries_dir())?;
        plan.files = plan::staged_files(root, &inputs)?;
    }
    if total > 1 || request.message_format == MessageFormat::Json {
        report(ui, request.message_format, &plan, &outcomes);
    }
    let built: Vec<(&TargetPlan, &Outcome)> = (plan.targets.iter().zip(&outcomes))
        .filter(|(_, outcome)| outcome.result.is_ok())
        .collect();
    if request.all_or_nothing && built.len() < total {
        bail!(
            "{} of {total} targets failed to build (above); dist/ was left as it was",
            total - built.len()
        );
    }
    // Without targets (--no-backend) dist/ is assembled around the binaries already there.
    if !plan.check_only && (!built.is_empty() || plan.targets.is_empty()) {
        assemble(ui, &plan, &built, &inputs)?;
    }
    finish(ui, &plan, &outcomes, &built, started)?;
    if backend {
        context.after_build(&event)?;
    }
    Ok(Built { plan })
}

/// One line when what ships will not carry its dependency list (cargo-auditable's section,
/// which scanners and `validate ARCHIVE` read): cargo-auditable missing for a `dist` build,
/// or a target built by cross, whose container has no cargo-auditable.
fn say_what_carries_no_dependency_list(
    ui: &crate::ui::Ui,
    environment: &Environment,
    plan: &BuildPlan,
) {
    if plan.check_only || plan.profile == Profile::Debug || plan.targets.is_empty() {
        return;
    }
    if !environment.auditable {
        if plan.profile == Profile::Dist {
            ui.note(
                "the binaries carry no dependency list: cargo-auditable is not installed \
                 (`cargo install cargo-auditable`); scanners and `validate ARCHIVE` then cannot \
                 audit them",
            );
        }
        return;
    }
    let by_cross: Vec<String> = (plan.targets.iter())
        .filter(|t| {
            t.step
                .as_ref()
                .is_ok_and(|step| step.choice.backend == crate::toolchain::Backend::Cross)
        })
        .map(|t| t.target.platform_name())
        .collect();
    if !by_cross.is_empty() {
        ui.note(format!(
            "{}: no dependency list embedded (cross builds in a container, without \
             cargo-auditable)",
            by_cross.join(", ")
        ));
    }
}

/// What the hooks are told about a build of `plan`.
pub fn build_event(
    root: &Path,
    target_dir: &Path,
    plan: &BuildPlan,
    command: &'static str,
) -> BuildEvent {
    BuildEvent {
        root: root.to_owned(),
        target_dir: target_dir.to_owned(),
        platforms: (plan.targets.iter())
            .map(|t| t.target.platform_name())
            .collect(),
        profile: plan.profile.to_string(),
        command,
        changes: crate::context::BuildChanges::default(),
    }
}

/// A before-build hook's changes, applied to one build command: environment, `--features`,
/// rustc flags through `--config` (joined with the configured ones for every target, the
/// host included: `cfg(all())` matches all), then the extra cargo arguments.
pub fn apply_changes(changes: &crate::context::BuildChanges, command: &mut plan::CommandLine) {
    command.env.extend(changes.env.iter().cloned());
    if !changes.features.is_empty() {
        command.args.push("--features".to_owned());
        command.args.push(changes.features.join(","));
    }
    if !changes.rustflags.is_empty() {
        let flags: toml_edit::Array = changes.rustflags.iter().map(String::as_str).collect();
        command.args.push("--config".to_owned());
        command
            .args
            .push(format!("target.'cfg(all())'.rustflags = {flags}"));
    }
    command.args.extend(changes.cargo_args.iter().cloned());
}

/// Builds every target: each group of targets one invocation can build together (plain cargo;
/// cargo-zigbuild), then the others (cross, a target alone in its group, the host without
/// `--target`) one after another. The outcomes are in the plan's order.
fn build_all(
    sh: &xshell::Shell,
    ui: &crate::ui::Ui,
    options: &Options,
    targets: &[TargetPlan],
) -> Vec<Outcome> {
    // `[2/3]` counts the targets that build: those refused up front were said already.
    let buildable: Vec<usize> = (targets.iter().enumerate())
        .filter(|(_, target_plan)| target_plan.step.is_ok())
        .map(|(index, _)| index)
        .collect();
    let total = buildable.len();
    let ordinal = |index: usize| buildable.iter().position(|&i| i == index).unwrap_or(0);
    let mut outcomes: Vec<Option<Outcome>> = targets.iter().map(|_| None).collect();
    for group in group::together_groups(targets, options.check_only) {
        let counted: Vec<(usize, &TargetPlan)> = (group.iter())
            .map(|&index| (ordinal(index), &targets[index]))
            .collect();
        let together = build_together(sh, ui, options, &counted, total);
        for (index, outcome) in group.iter().zip(together) {
            outcomes[*index] = Some(outcome);
        }
    }
    (targets.iter().enumerate())
        .zip(outcomes)
        .map(|((index, target_plan), outcome)| {
            outcome.unwrap_or_else(|| {
                build_one(sh, ui, options, target_plan, (ordinal(index) + 1, total))
            })
        })
        .collect()
}

/// `linux/arm64` for each `<executable>_linux_arm64` (the name itself when it is no platform's).
fn platforms_of(executable: &str, names: &[String]) -> Vec<String> {
    names
        .iter()
        .map(|name| match targets::platform_of_file(executable, name) {
            Some((os, arch)) => format!("{os}/{arch}"),
            None => name.clone(),
        })
        .collect()
}

/// Names, once, the binaries in dist/ this build did not make and Grafana may run: a Go
/// backend's (left by Mage: Grafana on that platform would run Go, not this backend), and
/// files of another executable name (which Grafana never runs), each with the fix.
fn warn_about_foreign_binaries(ui: &crate::ui::Ui, plan: &BuildPlan) {
    let go: Vec<&String> = (plan.kept_binaries.iter())
        .filter(|name| crate::binary::is_go_file(&plan.kept_from.join(name)).unwrap_or(false))
        .collect();
    if !go.is_empty() {
        let names: Vec<String> = go.iter().map(|name| name.to_string()).collect();
        let targets: Vec<String> = platforms_of(&plan.executable, &names)
            .into_iter()
            .map(|platform| format!("--target {platform}"))
            .collect();
        ui.warning(format!(
            "dist/ keeps Go binaries a Go backend's build left: {}; Grafana on those platforms \
             would run the Go backend, not this one: build them (`cargo xtask build {}`) or \
             drop them (`cargo xtask build --clean`)",
            names.join(", "),
            targets.join(" ")
        ));
    }
    let prefix = targets::executable_prefix(&plan.executable);
    let foreign: Vec<&String> = (plan.files.iter())
        .map(|file| &file.dest)
        .filter(|name| name.starts_with("gpx_") && !name.starts_with(&prefix))
        .collect();
    if !foreign.is_empty() {
        let names: Vec<&str> = foreign.iter().map(|name| name.as_str()).collect();
        ui.warning(format!(
            "dist/ has backend binaries of another executable name: {}; Grafana runs only \
             {prefix}<os>_<arch> (plugin.json's executable): delete them from dist/ (a Go \
             backend's build left them?)",
            names.join(", ")
        ));
    }
}

fn assemble(
    ui: &crate::ui::Ui,
    plan: &BuildPlan,
    built: &[(&TargetPlan, &Outcome)],
    inputs: &Inputs,
) -> Result<()> {
    let targets: Vec<&TargetPlan> = built.iter().map(|(target, _)| *target).collect();
    let dist_plan = dist_plan(plan, &targets, &inputs.dist_entries);
    // One count everywhere: the files (plugin.json, static/, the repository's), then binaries.
    let mut what = format!("dist/: {} files", plan.files.len());
    if !built.is_empty() {
        what.push_str(&format!(", built {}", names(built)));
    }
    if !plan.kept_binaries.is_empty() {
        what.push_str(&format!(
            ", keeping the binaries already there for {}",
            platforms_of(&plan.executable, &plan.kept_binaries).join(", ")
        ));
    }
    ui.status("Assembling", what);
    warn_about_foreign_binaries(ui, plan);
    if !plan.dropped_binaries.is_empty() {
        ui.status(
            "Removing",
            format!(
                "{} (other platforms' binaries; --clean)",
                plan.dropped_binaries.join(", ")
            ),
        );
    }
    dist::assemble(&dist_plan)
}

/// The closing line, or the error saying which targets did not build.
fn finish(
    ui: &crate::ui::Ui,
    plan: &BuildPlan,
    outcomes: &[Outcome],
    built: &[(&TargetPlan, &Outcome)],
    started: Instant,
) -> Result<()> {
    let total = plan.targets.len();
    let failed = total - built.len();
    if failed == 0 {
        let what = if plan.check_only {
            "checked".to_owned()
        } else if built.is_empty() {
            match plan.kept_binaries.len() {
                0 => "dist/ (no backend binary in it)".to_owned(),
                1 => "dist/ around the binary already there".to_owned(),
                kept => format!("dist/ around the {kept} binaries already there"),
            }
        } else {
            format!("dist/ ({}, {} profile)", sizes(built), plan.profile.name())
        };
        ui.status(
            "Finished",
            format!("{what} in {:.2}s", started.elapsed().as_secs_f64()),
        );
        return Ok(());
    }
    if total == 1 {
        let message = outcomes
            .first()
            .and_then(|o| o.result.clone().err())
            .unwrap_or_default();
        bail!("{message}");
    }
    let failures: Vec<String> = (plan.targets.iter().zip(outcomes))
        .filter(|(_, outcome)| outcome.result.is_err())
        .map(|(plan, _)| plan.target.platform_name())
        .collect();
    bail!(
        "{failed} of {total} targets were not built ({}); {}",
        failures.join(", "),
        if built.is_empty() || plan.check_only {
            "dist/ was left as it was".to_owned()
        } else {
            "dist/ has the others".to_owned()
        }
    )
}

/// The development files that name the plugin by id: after a rename they must follow, or
/// Grafana mounts, allows and provisions a plugin that no longer exists.
const FILES_NAMING_THE_ID: [&str; 2] = ["docker-compose.yaml", "provisioning/plugins"];

/// Warns about every place those files name another plugin id than plugin.json's.
fn warn_about_other_ids(ui: &crate::ui::Ui, root: &Path, id: &str) {
    let mut files = Vec::new();
    for name in FILES_NAMING_THE_ID {
        let path = root.join(name);
        if path.is_file() {
            files.push(path);
        } else if path.is_dir() {
            let entries = util::walk(&path).unwrap_or_default();
            files.extend(entries.into_iter().filter(|e| !e.is_dir).map(|e| e.path));
        }
    }
    for file in files {
        let Ok(text) = fs::read_to_string(&file) else {
            continue;
        };
        for (line, other) in crate::project::other_plugin_ids(&text, id) {
            ui.warning(format!(
                "{}:{line}: names the plugin id \"{other}\", but plugin.json's id is \"{id}\"; \
                 replace it if this is about this plugin",
                file.display()
            ));
        }
    }
}

/// What the plan needs from the file system: static/ and the repository files (or, in a
/// create-plugin app, what the frontend build wrote into dist/), and the binaries already in
/// dist/ (read from `binaries_dir`).
pub fn gather_inputs(
    root: &Path,
    project: &crate::project::Project,
    binaries_dir: &Path,
) -> Result<Inputs> {
    let static_dir = root.join(STATIC_DIR);
    // Nothing reaches dist/ through a link: static/ itself, the files below it (util::walk),
    // the manifest and the repository files are refused when they are links.
    util::refuse_link(&static_dir)?;
    util::refuse_link(&root.join(project.layout.plugin_json()))?;
    for name in ROOT_FILES {
        util::refuse_link(&root.join(name))?;
    }
    let static_files = if static_dir.is_dir() {
        (util::walk(&static_dir)?.into_iter())
            .filter(|entry| !entry.is_dir)
            .map(|entry| entry.relative)
            .collect()
    } else {
        Vec::new()
    };
    let root_files = ROOT_FILES
        .into_iter()
        .filter(|name| root.join(name).is_file())
        .collect();
    let dist_entries = match fs::read_dir(binaries_dir) {
        Ok(entries) => entries
            .filter_map(|entry| entry.ok()?.file_name().into_string().ok())
            .collect(),
        Err(_) => Vec::new(),
    };
    let frontend_files = match project.layout {
        Layout::CreatePlugin(_) => {
            let prefix = targets::executable_prefix(&project.plugin.executable);
            Some(frontend::files_in_dist(
                &crate::dist::dist_dir(root),
                &prefix,
            )?)
        }
        Layout::Template => None,
    };
    Ok(Inputs {
        static_files,
        root_files,
        dist_entries,
        kept_from: binaries_dir.to_owned(),
        frontend_files,
        today: util::utc_date(util::now_or_source_date_epoch()?),
    })
}
