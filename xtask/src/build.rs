//! `cargo xtask build`: plan every target as data (back end, command, output, what is
//! missing), print it with `--dry-run`, otherwise build the targets one after another and
//! land the binaries that built in dist/ together, in one swap.
use std::{
    fmt::Write as _,
    fs,
    path::{Path, PathBuf},
    time::{Instant, SystemTime},
};

use anyhow::{Context, Result, bail};
use serde_json::json;
use xshell::{Shell, cmd};

use crate::{
    dist::{self, DistPlan, Placeholders, StagedFile},
    flags::{BuildFlags, MessageFormat},
    project::{PLUGIN_JSON, Project},
    targets::{self, BuildTarget},
    toolchain::{self, Backend, Choice, Environment},
    ui::Ui,
};

/// Static frontend files (module.js, img/, an optional plugin README) live here.
pub const STATIC_DIR: &str = "static";
/// Repository files copied next to them when present; README.md only when static/ has none.
const ROOT_FILES: [&str; 3] = ["README.md", "LICENSE", "CHANGELOG.md"];

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Profile {
    Release,
    Debug,
}

impl Profile {
    fn name(self) -> &'static str {
        match self {
            Profile::Release => "release",
            Profile::Debug => "debug",
        }
    }
}

/// A command to run: `program` is `cargo` (the running cargo), `rustup` or `cross`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CommandLine {
    pub program: String,
    pub args: Vec<String>,
    pub env: Vec<(String, String)>,
}

impl CommandLine {
    fn display(&self) -> String {
        let env: Vec<String> = self.env.iter().map(|(k, v)| format!("{k}={v} ")).collect();
        format!("{}{} {}", env.concat(), self.program, self.args.join(" "))
    }
}

/// How one target gets built.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Step {
    pub choice: Choice,
    pub command: CommandLine,
    /// Where cargo leaves the binary.
    pub built_binary: PathBuf,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TargetPlan {
    pub target: BuildTarget,
    pub dist_name: String,
    /// How to build it, or what is missing (with the fix).
    pub step: Result<Step, String>,
}

/// Everything `build` will do, computed before it does any of it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BuildPlan {
    pub plugin_id: String,
    pub version: String,
    pub profile: Profile,
    pub check_only: bool,
    pub clean: bool,
    pub targets: Vec<TargetPlan>,
    /// plugin.json, static files and repository files.
    pub files: Vec<StagedFile>,
    /// Binaries already in dist/ for platforms not built now; kept unless `--clean`.
    pub kept_binaries: Vec<String>,
    pub dist_dir: PathBuf,
    pub scratch_dir: PathBuf,
    pub placeholders: Placeholders,
}

/// What the plan needs from the file system, gathered beforehand so planning stays pure.
#[derive(Clone, Debug, Default)]
pub struct Inputs {
    /// Files under static/, relative, with `/` separators.
    pub static_files: Vec<String>,
    /// Which of [`ROOT_FILES`] exist.
    pub root_files: Vec<&'static str>,
    /// File names now in dist/.
    pub dist_entries: Vec<String>,
    pub today: String,
}

pub struct Options {
    pub profile: Profile,
    pub clean: bool,
    pub quiet: bool,
    pub check_only: bool,
    pub forced: Option<Backend>,
}

pub fn run(sh: &Shell, ui: &Ui, flags: &BuildFlags) -> Result<()> {
    let started = Instant::now();
    let cargo = crate::cargo();
    let project = Project::load(sh, &cargo)?;
    let root = project.cargo.workspace_root.clone();
    sh.change_dir(&root);

    let host_os = std::env::consts::OS;
    let requested: Vec<BuildTarget> = if flags.no_backend {
        Vec::new()
    } else if flags.targets.is_empty() && !flags.all {
        vec![targets::host()?]
    } else {
        targets::parse_or_all(&flags.targets, host_os)?
    };
    // A plain host build needs no probing: cargo and the host's std are there.
    let environment = if requested.iter().all(|t| t.triple.is_none()) {
        Environment::default()
    } else {
        Environment::probe(sh, &requested, flags.backend)?
    };
    let options = Options {
        profile: if flags.debug {
            Profile::Debug
        } else {
            Profile::Release
        },
        clean: flags.clean,
        quiet: ui.quiet(),
        check_only: flags.check_only,
        forced: flags.backend,
    };
    let inputs = gather_inputs(&root)?;
    let mut plan = plan(&project, &requested, &environment, &options, &inputs)?;

    if flags.dry_run {
        match flags.message_format {
            MessageFormat::Human => print!("{}", describe(&plan, &root)),
            MessageFormat::Json => println!("{}", plan_json(&plan, &root)),
        }
        return Ok(());
    }

    let total = plan.targets.len();
    // Everything that can be diagnosed or fixed is, before the first build starts.
    for target_plan in &mut plan.targets {
        install_std_if_needed(
            sh,
            ui,
            &environment,
            &options,
            &project.cargo.package,
            target_plan,
        );
    }
    if total > 1 {
        for missing in plan.targets.iter().filter_map(|t| t.step.as_ref().err()) {
            ui.error(missing);
        }
    }
    let mut outcomes = Vec::with_capacity(total);
    for (index, target_plan) in plan.targets.iter().enumerate() {
        outcomes.push(build_one(
            sh,
            ui,
            &cargo,
            &options,
            target_plan,
            (index + 1, total),
        ));
    }
    let built: Vec<(&TargetPlan, &Outcome)> = plan
        .targets
        .iter()
        .zip(&outcomes)
        .filter(|(_, outcome)| outcome.result.is_ok())
        .collect();

    if total > 1 || flags.message_format == MessageFormat::Json {
        report(ui, flags.message_format, &plan, &outcomes);
    }
    let failed = total - built.len();
    // Without targets (--no-backend) dist/ is assembled around the binaries already there.
    if !plan.check_only && (!built.is_empty() || plan.targets.is_empty()) {
        let dist_plan = dist_plan(&plan, &built, &inputs.dist_entries);
        ui.status(
            "Assembling",
            format!(
                "dist/ with {} other files{}",
                dist_plan.files.len() - built.len(),
                if built.is_empty() {
                    String::new()
                } else {
                    format!(" and {}", names(&built))
                }
            ),
        );
        dist::assemble(&dist_plan)?;
    }
    if failed == 0 {
        let what = if plan.check_only {
            "checked".to_owned()
        } else if built.is_empty() {
            format!(
                "dist/ around {} binaries already there",
                plan.kept_binaries.len()
            )
        } else {
            format!("dist/ ({})", sizes(&built))
        };
        ui.status(
            "Finished",
            format!("{what} in {:.2}s", started.elapsed().as_secs_f64()),
        );
        return Ok(());
    }
    if total == 1 {
        let message = outcomes
            .into_iter()
            .next()
            .and_then(|o| o.result.err())
            .unwrap_or_default();
        bail!("{message}");
    }
    let failures: Vec<String> = plan
        .targets
        .iter()
        .zip(&outcomes)
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

/// What happened to one target.
struct Outcome {
    seconds: f64,
    result: Result<u64, String>,
}

/// Runs `rustup target add` for a target whose standard library is missing; when that fails,
/// falls back to nightly `-Zbuild-std` if possible, or records what is missing.
fn install_std_if_needed(
    sh: &Shell,
    ui: &Ui,
    environment: &Environment,
    options: &Options,
    package: &str,
    target_plan: &mut TargetPlan,
) {
    let Ok(step) = &target_plan.step else { return };
    if !step.choice.install_std {
        return;
    }
    let triple = target_plan.target.triple_name().to_owned();
    ui.status(
        "Installing",
        format!("the standard library for {triple} (rustup target add {triple})"),
    );
    let failure = match cmd!(sh, "rustup target add {triple}")
        .quiet()
        .ignore_status()
        .output()
    {
        Err(error) => Some(error.to_string()),
        Ok(output) if !output.status.success() => {
            Some(last_line(&String::from_utf8_lossy(&output.stderr)))
        }
        Ok(_) => None,
    };
    let Some(reason) = failure else { return };
    target_plan.step = toolchain::after_failed_install(&target_plan.target, environment, &reason)
        .map(|choice| {
            ui.status(
                "Falling back",
                format!("to nightly -Zbuild-std: {triple}'s standard library is built from source"),
            );
            step_for(
                &target_plan.target,
                choice,
                &step.built_binary,
                options,
                environment,
                package,
            )
        });
}

/// The last non-empty line of a tool's error output, without rustup's `  1: ` numbering.
fn last_line(text: &str) -> String {
    let line = text
        .lines()
        .rev()
        .map(str::trim)
        .find(|line| !line.is_empty())
        .unwrap_or("no output");
    let unnumbered = line
        .split_once(": ")
        .filter(|(n, _)| n.bytes().all(|b| b.is_ascii_digit()));
    unnumbered.map_or(line, |(_, rest)| rest).to_owned()
}

fn build_one(
    sh: &Shell,
    ui: &Ui,
    cargo: &str,
    options: &Options,
    target_plan: &TargetPlan,
    (index, total): (usize, usize),
) -> Outcome {
    let started = Instant::now();
    let done = |result| Outcome {
        seconds: started.elapsed().as_secs_f64(),
        result,
    };
    let platform = target_plan.target.platform_name();
    let step = match &target_plan.step {
        Err(missing) => return done(Err(missing.clone())),
        Ok(step) => step,
    };
    let counter = if total > 1 {
        format!("[{index}/{total}] ")
    } else {
        String::new()
    };
    ui.status(
        if options.check_only {
            "Checking"
        } else {
            "Building"
        },
        format!(
            "{counter}{platform} ({}) with {}",
            target_plan.target.triple_name(),
            backend_label(&target_plan.target, &step.choice)
        ),
    );
    let program = if step.command.program == "cargo" {
        cargo.to_owned()
    } else {
        step.command.program.clone()
    };
    let args = &step.command.args;
    let mut command = cmd!(sh, "{program} {args...}").quiet();
    for (key, value) in &step.command.env {
        command = command.env(key, value);
    }
    if let Err(error) = command.run() {
        let message = if total == 1 {
            "cargo could not build the backend; dist/ was left as it was".to_owned()
        } else {
            format!("{platform}: the build failed ({error})")
        };
        return done(Err(message));
    }
    if options.check_only {
        return done(Ok(0));
    }
    match fs::metadata(&step.built_binary) {
        Ok(metadata) => done(Ok(metadata.len())),
        Err(error) => done(Err(format!(
            "{platform}: the build left no binary at {}: {error}",
            step.built_binary.display()
        ))),
    }
}

fn backend_label(target: &BuildTarget, choice: &Choice) -> String {
    let mut label = choice.backend.name().to_owned();
    if choice.build_std {
        label.push_str(" + nightly -Zbuild-std");
    } else if choice.backend == Backend::Cargo && target.is_linux_musl() {
        label.push_str(" + rust-lld");
    }
    label
}

fn names(built: &[(&TargetPlan, &Outcome)]) -> String {
    built
        .iter()
        .map(|(plan, _)| plan.dist_name.as_str())
        .collect::<Vec<_>>()
        .join(", ")
}

fn sizes(built: &[(&TargetPlan, &Outcome)]) -> String {
    built
        .iter()
        .map(|(plan, outcome)| {
            format!(
                "{} {:.1} MB",
                plan.dist_name,
                *outcome.result.as_ref().unwrap_or(&0) as f64 / 1e6
            )
        })
        .collect::<Vec<_>>()
        .join(", ")
}

fn report(ui: &Ui, format: MessageFormat, plan: &BuildPlan, outcomes: &[Outcome]) {
    match format {
        MessageFormat::Json => {
            for (target_plan, outcome) in plan.targets.iter().zip(outcomes) {
                let line = json!({
                    "platform": target_plan.target.platform_name(),
                    "target": target_plan.target.triple_name(),
                    "backend": target_plan.step.as_ref().ok().map(|s| s.choice.backend.name()),
                    "seconds": (outcome.seconds * 100.0).round() / 100.0,
                    "bytes": outcome.result.as_ref().ok(),
                    "status": if outcome.result.is_ok() { "ok" } else if target_plan.step.is_err() { "missing" } else { "failed" },
                    "message": outcome.result.as_ref().err(),
                });
                println!("{line}");
            }
        }
        MessageFormat::Human => {
            if ui.quiet() {
                return;
            }
            let mut table = format!(
                "{:<14} {:<32} {:<10} {:>8} {:>9}  result\n",
                "platform", "target", "back end", "time", "size"
            );
            for (target_plan, outcome) in plan.targets.iter().zip(outcomes) {
                let backend = target_plan
                    .step
                    .as_ref()
                    .map_or("-", |s| s.choice.backend.name());
                let (size, result) = match &outcome.result {
                    Ok(_) if plan.check_only => (String::from("-"), "checked".to_owned()),
                    Ok(bytes) => (format!("{:.1} MB", *bytes as f64 / 1e6), "ok".to_owned()),
                    Err(_) if target_plan.step.is_err() => {
                        ("-".into(), "missing (see above)".to_owned())
                    }
                    Err(_) => ("-".into(), "FAILED".to_owned()),
                };
                let _ = writeln!(
                    table,
                    "{:<14} {:<32} {:<10} {:>7.1}s {:>9}  {result}",
                    target_plan.target.platform_name(),
                    target_plan.target.triple_name(),
                    backend,
                    outcome.seconds,
                    size
                );
            }
            ui.status("Summary", "");
            eprint!("{table}");
        }
    }
}

pub fn gather_inputs(root: &Path) -> Result<Inputs> {
    let mut static_files = Vec::new();
    let static_dir = root.join(STATIC_DIR);
    if static_dir.is_dir() {
        list_files(&static_dir, "", &mut static_files)?;
    }
    static_files.sort();
    let root_files = ROOT_FILES
        .into_iter()
        .filter(|name| root.join(name).is_file())
        .collect();
    let dist_entries = match fs::read_dir(root.join("dist")) {
        Ok(entries) => entries
            .filter_map(|entry| entry.ok()?.file_name().into_string().ok())
            .collect(),
        Err(_) => Vec::new(),
    };
    Ok(Inputs {
        static_files,
        root_files,
        dist_entries,
        today: dist::utc_date(now_or_source_date_epoch()?),
    })
}

/// Regular files only: a symbolic link could point outside the repository.
fn list_files(dir: &Path, prefix: &str, files: &mut Vec<String>) -> Result<()> {
    for entry in fs::read_dir(dir).with_context(|| format!("cannot list {}", dir.display()))? {
        let entry = entry.with_context(|| format!("cannot list {}", dir.display()))?;
        let name = entry.file_name().into_string().map_err(|name| {
            anyhow::anyhow!(
                "{}: file name {name:?} is not UTF-8; rename it",
                dir.display()
            )
        })?;
        let relative = format!("{prefix}{name}");
        let kind = entry.file_type()?;
        if kind.is_dir() {
            list_files(&entry.path(), &format!("{relative}/"), files)?;
        } else if kind.is_file() {
            files.push(relative);
        } else {
            bail!(
                "{}: not a regular file (a symbolic link?); dist/ takes only regular files, copy it in instead",
                entry.path().display()
            );
        }
    }
    Ok(())
}

/// `SOURCE_DATE_EPOCH` pins %TODAY% for reproducible builds.
fn now_or_source_date_epoch() -> Result<i64> {
    match std::env::var("SOURCE_DATE_EPOCH") {
        Ok(value) => value.trim().parse().with_context(|| {
            format!("environment variable SOURCE_DATE_EPOCH is {value:?}; set it to Unix seconds or unset it")
        }),
        Err(_) => Ok(SystemTime::now().duration_since(SystemTime::UNIX_EPOCH).map_or(0, |d| d.as_secs() as i64)),
    }
}

/// The command and output of one target built with `choice`.
fn step_for(
    target: &BuildTarget,
    choice: Choice,
    target_dir_binary: &Path,
    options: &Options,
    environment: &Environment,
    package: &str,
) -> Step {
    let mut args: Vec<String> = Vec::new();
    let program = if choice.build_std {
        // -Zbuild-std is nightly-only; `rustup run` because $CARGO is stable's cargo itself.
        args.extend(["run", "nightly", "cargo"].map(String::from));
        "rustup"
    } else if choice.backend == Backend::Cross {
        // Pinned to the toolchain in use: cross would otherwise update or pick another.
        args.push(format!("+{}", environment.rustc_release));
        "cross"
    } else {
        "cargo"
    };
    args.push(
        match (options.check_only, choice.backend) {
            (true, _) => "check",
            (false, Backend::Zigbuild) => "zigbuild",
            (false, _) => "build",
        }
        .to_owned(),
    );
    if choice.build_std {
        args.push("-Zbuild-std".into());
    }
    args.extend(["--package".to_owned(), package.to_owned()]);
    let mut env = Vec::new();
    if let Some(triple) = &target.triple {
        args.extend(["--target".to_owned(), triple.clone()]);
        if choice.backend == Backend::Cargo && target.is_linux_musl() {
            // Rust's own linker: musl targets are self-contained, no C cross compiler needed.
            let variable = format!(
                "CARGO_TARGET_{}_LINKER",
                triple.to_ascii_uppercase().replace(['-', '.'], "_")
            );
            env.push((variable, "rust-lld".to_owned()));
        }
        if choice.build_std && target.is_linux_musl() {
            // The std built from source has no self-contained musl start files or libc;
            // rustc must leave them to the linker (zig), which brings its own.
            let variable = format!(
                "CARGO_TARGET_{}_RUSTFLAGS",
                triple.to_ascii_uppercase().replace(['-', '.'], "_")
            );
            env.push((variable, "-C link-self-contained=no".to_owned()));
        }
        if target.is_darwin() {
            env.push((
                "MACOSX_DEPLOYMENT_TARGET".to_owned(),
                targets::MACOSX_DEPLOYMENT_TARGET.to_owned(),
            ));
        }
    }
    if options.profile == Profile::Release {
        args.push("--release".into());
    }
    if options.quiet {
        args.push("--quiet".into());
    }
    Step {
        choice,
        command: CommandLine {
            program: program.to_owned(),
            args,
            env,
        },
        built_binary: target_dir_binary.to_owned(),
    }
}

pub fn plan(
    project: &Project,
    requested: &[BuildTarget],
    environment: &Environment,
    options: &Options,
    inputs: &Inputs,
) -> Result<BuildPlan> {
    let root = &project.cargo.workspace_root;
    let executable = &project.plugin.executable;

    let mut targets = Vec::new();
    for target in requested {
        let dist_name = target.executable_file_name(executable);
        if targets
            .iter()
            .any(|t: &TargetPlan| t.dist_name == dist_name)
        {
            bail!("--target: {} is given twice", target.platform_name());
        }
        let mut binary_dir = project.cargo.target_dir.clone();
        if let Some(triple) = &target.triple {
            binary_dir.push(triple);
        }
        let suffix = if target.binary_has_exe_suffix() {
            ".exe"
        } else {
            ""
        };
        let built_binary = binary_dir
            .join(options.profile.name())
            .join(format!("{}{suffix}", project.cargo.bin_name));
        let step = toolchain::choose(target, environment, options.forced, options.check_only).map(
            |choice| {
                step_for(
                    target,
                    choice,
                    &built_binary,
                    options,
                    environment,
                    &project.cargo.package,
                )
            },
        );
        targets.push(TargetPlan {
            target: target.clone(),
            dist_name,
            step,
        });
    }

    if !inputs.static_files.iter().any(|f| f == "module.js") {
        bail!(
            "{}: missing; Grafana loads every plugin's frontend from module.js, add one (see README)",
            root.join(STATIC_DIR).join("module.js").display()
        );
    }
    let mut files = vec![StagedFile {
        source: root.join(PLUGIN_JSON),
        dest: PLUGIN_JSON.into(),
        fill: true,
        executable: false,
    }];
    for relative in &inputs.static_files {
        if relative == PLUGIN_JSON {
            bail!(
                "{}: plugin.json belongs at the repository root only; remove this copy",
                root.join(STATIC_DIR).join(PLUGIN_JSON).display()
            );
        }
        files.push(StagedFile {
            source: root.join(STATIC_DIR).join(relative),
            dest: relative.clone(),
            fill: relative == "README.md",
            executable: false,
        });
    }
    for name in &inputs.root_files {
        // static/README.md is the plugin's own page in Grafana; the repository README is
        // the fallback (create-plugin does the same with src/README.md).
        if inputs.static_files.iter().any(|f| f == name) {
            continue;
        }
        files.push(StagedFile {
            source: root.join(name),
            dest: (*name).to_owned(),
            fill: *name == "README.md",
            executable: false,
        });
    }

    let prefix = targets::executable_prefix(executable);
    let mut kept_binaries: Vec<String> = if options.clean {
        Vec::new()
    } else {
        inputs
            .dist_entries
            .iter()
            .filter(|name| {
                name.starts_with(&prefix) && !targets.iter().any(|t| &t.dist_name == *name)
            })
            .cloned()
            .collect()
    };
    kept_binaries.sort();

    Ok(BuildPlan {
        plugin_id: project.plugin.id.clone(),
        version: project.cargo.version.clone(),
        profile: options.profile,
        check_only: options.check_only,
        clean: options.clean,
        targets,
        files,
        kept_binaries,
        dist_dir: root.join("dist"),
        scratch_dir: root.join("target").join("xtask"),
        placeholders: Placeholders {
            version: project.cargo.version.clone(),
            today: inputs.today.clone(),
            plugin_id: project.plugin.id.clone(),
        },
    })
}

/// The dist/ to assemble once the builds are done: the binaries that built, the files, the
/// binaries of other platforms already in dist/, and the previous binary of a target that
/// failed now (unless `--clean`).
fn dist_plan(
    plan: &BuildPlan,
    built: &[(&TargetPlan, &Outcome)],
    dist_entries: &[String],
) -> DistPlan {
    let built_now = |name: &String| built.iter().any(|(t, _)| &t.dist_name == name);
    let mut files: Vec<StagedFile> = built
        .iter()
        .filter_map(|(target_plan, _)| {
            let step = target_plan.step.as_ref().ok()?;
            Some(StagedFile {
                source: step.built_binary.clone(),
                dest: target_plan.dist_name.clone(),
                fill: false,
                executable: true,
            })
        })
        .collect();
    files.extend(plan.files.iter().cloned());
    let failed_now = plan
        .targets
        .iter()
        .map(|t| &t.dist_name)
        .filter(|name| !plan.clean && !built_now(name) && dist_entries.contains(name));
    for name in plan.kept_binaries.iter().chain(failed_now) {
        files.push(StagedFile {
            source: plan.dist_dir.join(name),
            dest: name.clone(),
            fill: false,
            executable: true,
        });
    }
    DistPlan {
        dist_dir: plan.dist_dir.clone(),
        staging_dir: plan.scratch_dir.join("dist.staging"),
        previous_dir: plan.scratch_dir.join("dist.previous"),
        files,
        placeholders: plan.placeholders.clone(),
    }
}

fn show(path: &Path, root: &Path) -> String {
    path.strip_prefix(root)
        .unwrap_or(path)
        .display()
        .to_string()
        .replace('\\', "/")
}

/// The plan as `--dry-run` prints it, paths relative to the repository root.
pub fn describe(plan: &BuildPlan, root: &Path) -> String {
    let mut out = String::new();
    let verb = if plan.check_only { "check" } else { "build" };
    let _ = writeln!(
        out,
        "{verb} {} {} ({})",
        plan.plugin_id,
        plan.version,
        plan.profile.name()
    );
    for target_plan in &plan.targets {
        let target = &target_plan.target;
        let _ = writeln!(
            out,
            "  target {} ({})",
            target.platform_name(),
            target.triple_name()
        );
        match &target_plan.step {
            Err(missing) => {
                let _ = writeln!(out, "    missing  {missing}");
            }
            Ok(step) => {
                let _ = writeln!(out, "    backend  {}", backend_label(target, &step.choice));
                if step.choice.install_std {
                    let _ = writeln!(
                        out,
                        "    first    rustup target add {}",
                        target.triple_name()
                    );
                }
                let _ = writeln!(out, "    run      {}", step.command.display());
                if !plan.check_only {
                    let _ = writeln!(
                        out,
                        "    output   {} -> dist/{} (0755)",
                        show(&step.built_binary, root),
                        target_plan.dist_name
                    );
                }
            }
        }
    }
    if !plan.check_only {
        for file in &plan.files {
            let verb = if file.fill { "fill" } else { "copy" };
            let _ = writeln!(
                out,
                "  {verb:<6} {} -> dist/{} (0644)",
                show(&file.source, root),
                file.dest
            );
        }
        for name in &plan.kept_binaries {
            let _ = writeln!(out, "  keep   dist/{name} (0755)");
        }
    }
    out
}

/// The plan as `--dry-run --message-format json` prints it.
pub fn plan_json(plan: &BuildPlan, root: &Path) -> serde_json::Value {
    let targets: Vec<serde_json::Value> = plan
        .targets
        .iter()
        .map(|target_plan| {
            let target = &target_plan.target;
            let mut entry = json!({
                "platform": target.platform_name(),
                "target": target.triple_name(),
                "dist": format!("dist/{}", target_plan.dist_name),
            });
            match &target_plan.step {
                Err(missing) => entry["missing"] = json!(missing),
                Ok(step) => {
                    entry["backend"] = json!(step.choice.backend.name());
                    entry["buildStd"] = json!(step.choice.build_std);
                    entry["installStd"] = json!(step.choice.install_std);
                    entry["program"] = json!(step.command.program);
                    entry["args"] = json!(step.command.args);
                    entry["env"] = step
                        .command
                        .env
                        .iter()
                        .map(|(k, v)| (k.clone(), json!(v)))
                        .collect::<serde_json::Map<_, _>>()
                        .into();
                    entry["output"] = json!(show(&step.built_binary, root));
                }
            }
            entry
        })
        .collect();
    json!({
        "pluginId": plan.plugin_id,
        "version": plan.version,
        "profile": plan.profile.name(),
        "checkOnly": plan.check_only,
        "targets": targets,
        "files": plan.files.iter().map(|f| json!({ "source": show(&f.source, root), "dest": f.dest, "fill": f.fill })).collect::<Vec<_>>(),
        "keep": plan.kept_binaries,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::project::{CargoProject, PluginJson, PluginType};

    fn project() -> Project {
        Project {
            cargo: CargoProject {
                workspace_root: "/repo".into(),
                target_dir: "/repo/target".into(),
                package: "plugin".into(),
                bin_name: "plugin".into(),
                version: "1.2.3".into(),
            },
            plugin: PluginJson {
                id: "acme-checks-app".into(),
                executable: "gpx_checks".into(),
                plugin_type: PluginType::App,
            },
        }
    }

    fn inputs() -> Inputs {
        Inputs {
            static_files: vec!["img/logo.svg".into(), "module.js".into()],
            root_files: vec!["README.md", "LICENSE", "CHANGELOG.md"],
            dist_entries: vec![
                "gpx_checks_linux_amd64".into(),
                "gpx_checks_linux_arm64".into(),
                "gpx_checks_windows_amd64.exe".into(),
                "module.js".into(),
                "stale.txt".into(),
            ],
            today: "2026-11-24".into(),
        }
    }

    fn linux() -> Environment {
        Environment {
            host_os: "linux".into(),
            rustc_release: "1.95.0".into(),
            installed_std: vec!["x86_64-unknown-linux-musl".into()],
            rustup: true,
            rust_lld: true,
            ..Environment::default()
        }
    }

    fn options(profile: Profile) -> Options {
        Options {
            profile,
            clean: false,
            quiet: false,
            check_only: false,
            forced: None,
        }
    }

    fn host() -> BuildTarget {
        targets::host_of("linux", "x86_64").unwrap()
    }

    #[test]
    fn host_plan_builds_the_package_without_a_target_flag() {
        let plan = plan(
            &project(),
            &[host()],
            &Environment::default(),
            &options(Profile::Release),
            &inputs(),
        )
        .unwrap();
        let step = plan.targets[0].step.as_ref().unwrap();
        assert_eq!(step.command.program, "cargo");
        assert_eq!(
            step.command.args,
            ["build", "--package", "plugin", "--release"]
        );
        assert!(step.command.env.is_empty());
        let exe = if cfg!(windows) { ".exe" } else { "" };
        assert_eq!(
            step.built_binary,
            Path::new("/repo/target/release").join(format!("plugin{exe}"))
        );
        assert_eq!(plan.targets[0].dist_name, "gpx_checks_linux_amd64");
        assert_eq!(plan.placeholders.version, "1.2.3");
        assert_eq!(plan.placeholders.today, "2026-11-24");
        assert_eq!(plan.placeholders.plugin_id, "acme-checks-app");
        assert_eq!(
            plan.kept_binaries,
            ["gpx_checks_linux_arm64", "gpx_checks_windows_amd64.exe"]
        );
    }

    #[test]
    fn dry_run_shows_every_target_file_and_kept_binary() {
        let mut options = options(Profile::Debug);
        options.quiet = true;
        let targets = [targets::parse("linux/arm64", "linux").unwrap()];
        let plan = plan(&project(), &targets, &linux(), &options, &inputs()).unwrap();
        assert_eq!(
            describe(&plan, Path::new("/repo")),
            "build acme-checks-app 1.2.3 (debug)
  target linux/arm64 (aarch64-unknown-linux-musl)
    backend  cargo + rust-lld
    first    rustup target add aarch64-unknown-linux-musl
    run      CARGO_TARGET_AARCH64_UNKNOWN_LINUX_MUSL_LINKER=rust-lld cargo build --package plugin --target aarch64-unknown-linux-musl --quiet
    output   target/aarch64-unknown-linux-musl/debug/plugin -> dist/gpx_checks_linux_arm64 (0755)
  fill   plugin.json -> dist/plugin.json (0644)
  copy   static/img/logo.svg -> dist/img/logo.svg (0644)
  copy   static/module.js -> dist/module.js (0644)
  fill   README.md -> dist/README.md (0644)
  copy   LICENSE -> dist/LICENSE (0644)
  copy   CHANGELOG.md -> dist/CHANGELOG.md (0644)
  keep   dist/gpx_checks_linux_amd64 (0755)
  keep   dist/gpx_checks_windows_amd64.exe (0755)
"
        );
    }

    #[test]
    fn all_plans_the_six_platforms_and_says_what_is_missing() {
        let plan = plan(
            &project(),
            &targets::all("linux"),
            &linux(),
            &options(Profile::Release),
            &inputs(),
        )
        .unwrap();
        let summary: Vec<(String, String, Result<&str, bool>)> = plan
            .targets
            .iter()
            .map(|t| {
                (
                    t.target.platform_name(),
                    t.dist_name.clone(),
                    t.step
                        .as_ref()
                        .map(|s| s.choice.backend.name())
                        .map_err(|m| m.contains(&t.target.platform_name())),
                )
            })
            .collect();
        assert_eq!(
            summary,
            [
                (
                    "linux/amd64".into(),
                    "gpx_checks_linux_amd64".into(),
                    Ok("cargo")
                ),
                (
                    "linux/arm64".into(),
                    "gpx_checks_linux_arm64".into(),
                    Ok("cargo")
                ),
                (
                    "linux/arm".into(),
                    "gpx_checks_linux_arm".into(),
                    Ok("cargo")
                ),
                (
                    "darwin/amd64".into(),
                    "gpx_checks_darwin_amd64".into(),
                    Err(true)
                ),
                (
                    "darwin/arm64".into(),
                    "gpx_checks_darwin_arm64".into(),
                    Err(true)
                ),
                (
                    "windows/amd64".into(),
                    "gpx_checks_windows_amd64.exe".into(),
                    Err(true)
                ),
            ]
        );
        // Nothing planned now is "kept": every release binary is rebuilt.
        assert!(plan.kept_binaries.is_empty());
        let amd64 = plan.targets[0].step.as_ref().unwrap();
        assert_eq!(
            amd64.built_binary,
            Path::new("/repo/target/x86_64-unknown-linux-musl/release/plugin")
        );
        assert!(!amd64.choice.install_std);
        assert!(plan.targets[1].step.as_ref().unwrap().choice.install_std);

        let json = plan_json(&plan, Path::new("/repo"));
        assert_eq!(json["targets"].as_array().unwrap().len(), 6);
        assert_eq!(
            json["targets"][0]["env"]["CARGO_TARGET_X86_64_UNKNOWN_LINUX_MUSL_LINKER"],
            "rust-lld"
        );
        assert_eq!(
            json["targets"][0]["output"],
            "target/x86_64-unknown-linux-musl/release/plugin"
        );
        assert!(
            json["targets"][3]["missing"]
                .as_str()
                .unwrap()
                .contains("macOS runner")
        );
    }

    #[test]
    fn commands_per_backend() {
        let mac = Environment {
            host_os: "macos".into(),
            ..linux()
        };
        let darwin = targets::parse("darwin/arm64", "macos").unwrap();
        let plan_for = |target: &BuildTarget, env: &Environment, options: &Options| {
            plan(
                &project(),
                std::slice::from_ref(target),
                env,
                options,
                &inputs(),
            )
            .unwrap()
            .targets[0]
                .step
                .clone()
                .unwrap()
        };
        let step = plan_for(&darwin, &mac, &options(Profile::Release));
        assert_eq!(
            step.command.env,
            [("MACOSX_DEPLOYMENT_TARGET".to_owned(), "11.0".to_owned())]
        );

        let cross_env = Environment {
            cross: true,
            container_engine: true,
            ..linux()
        };
        let mut forced = options(Profile::Release);
        forced.forced = Some(Backend::Cross);
        let arm64 = targets::parse("linux/arm64", "linux").unwrap();
        let step = plan_for(&arm64, &cross_env, &forced);
        assert_eq!(step.command.program, "cross");
        assert_eq!(
            step.command.args,
            [
                "+1.95.0",
                "build",
                "--package",
                "plugin",
                "--target",
                "aarch64-unknown-linux-musl",
                "--release"
            ]
        );
        assert!(step.command.env.is_empty(), "cross links inside its image");

        let zig_env = Environment {
            zigbuild: true,
            ..linux()
        };
        let windows = targets::parse("windows/amd64", "linux").unwrap();
        let step = plan_for(&windows, &zig_env, &options(Profile::Release));
        assert_eq!(step.command.args[..2], ["zigbuild", "--package"]);
        assert_eq!(
            step.built_binary,
            Path::new("/repo/target/x86_64-pc-windows-gnu/release/plugin.exe")
        );

        let mut check = options(Profile::Debug);
        check.check_only = true;
        let step = plan_for(&darwin, &linux(), &check);
        assert_eq!(step.command.args[..1], ["check"]);

        let no_rustup = Environment {
            rustup: false,
            nightly_rust_src: true,
            zigbuild: true,
            ..linux()
        };
        let arm = targets::parse("linux/arm", "linux").unwrap();
        let step = plan_for(&arm, &no_rustup, &options(Profile::Release));
        assert_eq!(step.command.program, "rustup");
        assert_eq!(
            step.command.args[..5],
            ["run", "nightly", "cargo", "zigbuild", "-Zbuild-std"]
        );
        assert_eq!(
            step.command.env,
            [(
                "CARGO_TARGET_ARMV7_UNKNOWN_LINUX_MUSLEABIHF_RUSTFLAGS".to_owned(),
                "-C link-self-contained=no".to_owned()
            )]
        );
    }

    #[test]
    fn clean_keeps_nothing_and_a_target_given_twice_is_refused() {
        let mut clean = options(Profile::Release);
        clean.clean = true;
        let plan = plan(&project(), &[host()], &linux(), &clean, &inputs()).unwrap();
        assert!(plan.kept_binaries.is_empty());
        let twice = [
            targets::parse("linux/amd64", "linux").unwrap(),
            targets::parse("x86_64-unknown-linux-musl", "linux").unwrap(),
        ];
        let error = super::plan(
            &project(),
            &twice,
            &linux(),
            &options(Profile::Release),
            &inputs(),
        )
        .unwrap_err();
        assert_eq!(error.to_string(), "--target: linux/amd64 is given twice");
    }

    #[test]
    fn static_readme_wins_over_the_repository_readme() {
        let mut inputs = inputs();
        inputs.static_files.push("README.md".into());
        let plan = plan(
            &project(),
            &[host()],
            &linux(),
            &options(Profile::Release),
            &inputs,
        )
        .unwrap();
        let readmes: Vec<&StagedFile> = plan
            .files
            .iter()
            .filter(|f| f.dest == "README.md")
            .collect();
        assert_eq!(readmes.len(), 1);
        assert_eq!(readmes[0].source, Path::new("/repo/static/README.md"));
        assert!(readmes[0].fill);
    }

    #[test]
    fn missing_module_js_or_a_second_plugin_json_is_refused() {
        let mut no_module = inputs();
        no_module.static_files.retain(|f| f != "module.js");
        let message = plan(
            &project(),
            &[host()],
            &linux(),
            &options(Profile::Release),
            &no_module,
        )
        .unwrap_err()
        .to_string();
        assert!(
            message.contains("module.js: missing; Grafana loads"),
            "{message}"
        );

        let mut second = inputs();
        second.static_files.push("plugin.json".into());
        let message = plan(
            &project(),
            &[host()],
            &linux(),
            &options(Profile::Release),
            &second,
        )
        .unwrap_err()
        .to_string();
        assert!(
            message.contains("belongs at the repository root only"),
            "{message}"
        );
    }

    fn outcome(bytes: u64) -> Outcome {
        Outcome {
            seconds: 1.0,
            result: Ok(bytes),
        }
    }

    #[test]
    fn rustups_error_is_shortened_to_its_last_line() {
        let stderr = "info: downloading component rust-std\nerror: component download failed\n\nCaused by:\n    0: could not download file\n    1: http request returned an unsuccessful status code: 404\n";
        assert_eq!(
            last_line(stderr),
            "http request returned an unsuccessful status code: 404"
        );
        assert_eq!(last_line(""), "no output");
        assert_eq!(
            last_line("error: toolchain 'x' is not installed"),
            "error: toolchain 'x' is not installed"
        );
    }

    #[test]
    fn without_targets_dist_is_assembled_around_the_binaries_there() {
        let plan = plan(
            &project(),
            &[],
            &linux(),
            &options(Profile::Release),
            &inputs(),
        )
        .unwrap();
        assert!(plan.targets.is_empty());
        let dist = dist_plan(&plan, &[], &inputs().dist_entries);
        let binaries: Vec<&str> = dist
            .files
            .iter()
            .filter(|f| f.executable)
            .map(|f| f.dest.as_str())
            .collect();
        assert_eq!(
            binaries,
            [
                "gpx_checks_linux_amd64",
                "gpx_checks_linux_arm64",
                "gpx_checks_windows_amd64.exe"
            ]
        );
        assert!(dist.files.iter().any(|f| f.dest == "plugin.json" && f.fill));
    }

    #[test]
    fn dist_keeps_other_platforms_and_the_old_binary_of_a_failed_target() {
        let targets = [
            targets::parse("linux/amd64", "linux").unwrap(),
            targets::parse("linux/arm64", "linux").unwrap(),
        ];
        let plan = plan(
            &project(),
            &targets,
            &linux(),
            &options(Profile::Release),
            &inputs(),
        )
        .unwrap();
        // linux/amd64 built, linux/arm64 failed.
        let built = [(&plan.targets[0], &outcome(3))];
        let dist = dist_plan(&plan, &built, &inputs().dist_entries);
        let binaries: Vec<(&str, &Path)> = dist
            .files
            .iter()
            .filter(|f| f.executable)
            .map(|f| (f.dest.as_str(), f.source.as_path()))
            .collect();
        assert_eq!(
            binaries,
            [
                (
                    "gpx_checks_linux_amd64",
                    Path::new("/repo/target/x86_64-unknown-linux-musl/release/plugin")
                ),
                (
                    "gpx_checks_windows_amd64.exe",
                    Path::new("/repo/dist/gpx_checks_windows_amd64.exe")
                ),
                (
                    "gpx_checks_linux_arm64",
                    Path::new("/repo/dist/gpx_checks_linux_arm64")
                ),
            ]
        );
        assert_eq!(
            dist.staging_dir,
            Path::new("/repo/target/xtask/dist.staging")
        );
    }
}
