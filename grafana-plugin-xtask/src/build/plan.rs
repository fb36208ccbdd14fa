//! The pure half of `build`: types, and the plan computed from the project, the requested
//! targets, the machine and the files beside the plugin, before anything runs.
use std::path::{Path, PathBuf};

use anyhow::{Result, bail};

use crate::{
    dist::{self, DistPlan, Placeholders, StagedFile},
    project::{PLUGIN_JSON, Project},
    targets::{self, BuildTarget},
    toolchain::{self, Backend, Choice, Environment},
};

/// Static frontend files (module.js, img/, an optional plugin README) live here.
pub const STATIC_DIR: &str = "static";
/// Repository files copied next to them when present; README.md only when static/ has none.
pub(super) const ROOT_FILES: [&str; 3] = ["README.md", "LICENSE", "CHANGELOG.md"];

/// Cargo profiles by purpose (cargo-dist's idea): `release` rebuilds in seconds for
/// everyday builds, `dist` is what ships (fat LTO, one codegen unit), `debug` is the dev loop.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Profile {
    /// Optimized and stripped, cargo's default codegen: fast to rebuild.
    Release,
    /// The release archive's profile: `release` plus fat LTO and one codegen unit (smaller
    /// and faster, slow to rebuild). What `package` builds.
    Dist,
    /// cargo's dev profile: fastest to compile, unoptimized, with debug information.
    Debug,
}

/// The name cargo's `--profile` takes (`release`, `dist`, `dev`), as [`BuildEvent`]'s
/// `profile` holds it.
///
/// [`BuildEvent`]: crate::BuildEvent
///
/// ```
/// use grafana_plugin_xtask::api::Profile;
/// assert_eq!(Profile::Debug.to_string(), "dev");
/// assert_eq!(Profile::Dist.to_string(), "dist");
/// ```
impl std::fmt::Display for Profile {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Profile::Release => "release",
            Profile::Dist => "dist",
            Profile::Debug => "dev",
        })
    }
}

impl Profile {
    /// The profile's directory under target/ (cargo calls `dev`'s `debug`).
    pub(super) fn name(self) -> &'static str {
        match self {
            Profile::Release => "release",
            Profile::Dist => "dist",
            Profile::Debug => "debug",
        }
    }

    /// How cargo is asked for it.
    pub(super) fn cargo_args(self) -> &'static [&'static str] {
        match self {
            Profile::Release => &["--release"],
            Profile::Dist => &["--profile", "dist"],
            Profile::Debug => &[],
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
    pub(super) fn display(&self) -> String {
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
    /// plugin.json's `executable`: every binary is `<executable>_<os>_<arch>[.exe]`.
    pub executable: String,
    pub version: String,
    pub profile: Profile,
    pub check_only: bool,
    pub clean: bool,
    pub targets: Vec<TargetPlan>,
    /// plugin.json, static files and repository files.
    pub files: Vec<StagedFile>,
    /// Binaries already in dist/ for platforms not built now; kept unless `--clean`.
    pub kept_binaries: Vec<String>,
    /// Binaries of other platforms in dist/ that `--clean` drops.
    pub dropped_binaries: Vec<String>,
    pub dist_dir: PathBuf,
    /// Where the binaries already there are read from (dist/, or its copy taken before a
    /// create-plugin frontend build).
    pub kept_from: PathBuf,
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
    /// File names now in dist/ (in a create-plugin app: in dist/ as it was before the
    /// frontend build, kept in `kept_from`).
    pub dist_entries: Vec<String>,
    /// Where the binaries of `dist_entries` are read from.
    pub kept_from: PathBuf,
    /// In a create-plugin app, the files its frontend build wrote into dist/; they take the
    /// place of static/ and the repository files. `Some(empty)` while that build runs.
    pub frontend_files: Option<Vec<String>>,
    pub today: String,
}

pub struct Options {
    pub profile: Profile,
    pub clean: bool,
    pub quiet: bool,
    pub check_only: bool,
    pub forced: Option<Backend>,
}

/// The prefix of cargo's per-target settings: `CARGO_TARGET_<TRIPLE>_`.
pub(super) fn target_variables(triple: &str) -> String {
    format!(
        "CARGO_TARGET_{}_",
        triple.to_ascii_uppercase().replace(['-', '.'], "_")
    )
}

/// The command and output of one target built with `choice`.
pub(super) fn step_for(
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
    // Optimized builds carry their dependency list (cargo-auditable's `.dep-v0` section),
    // for scanners and `validate ARCHIVE`; cross builds in a container without it.
    if environment.auditable
        && options.profile != Profile::Debug
        && !options.check_only
        && choice.backend != Backend::Cross
    {
        args.push("auditable".to_owned());
    }
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
            let variable = format!("{}LINKER", target_variables(triple));
            env.push((variable, "rust-lld".to_owned()));
        }
        if choice.build_std && target.is_linux_musl() {
            // The std built from source has no self-contained musl start files or libc;
            // rustc must leave them to the linker (zig), which brings its own.
            let variable = format!("{}RUSTFLAGS", target_variables(triple));
            env.push((variable, "-C link-self-contained=no".to_owned()));
        }
        if target.is_darwin() {
            env.push((
                "MACOSX_DEPLOYMENT_TARGET".to_owned(),
                targets::MACOSX_DEPLOYMENT_TARGET.to_owned(),
            ));
            if choice.backend == Backend::Zigbuild
                && !environment.sdkroot
                && let Some(stub) = &environment.stub_sdk
            {
                env.push(("SDKROOT".to_owned(), stub.display().to_string()));
            }
        }
    }
    args.extend(options.profile.cargo_args().iter().map(|a| (*a).to_owned()));
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

/// The whole plan: one entry per target, the files to stage, the binaries to keep.
pub fn plan(
    project: &Project,
    requested: &[BuildTarget],
    environment: &Environment,
    options: &Options,
    inputs: &Inputs,
) -> Result<BuildPlan> {
    let root = &project.cargo.workspace_root;
    let mut targets: Vec<TargetPlan> = Vec::new();
    for target in requested {
        let target_plan = target_plan(project, target, environment, options);
        if targets.iter().any(|t| t.dist_name == target_plan.dist_name) {
            bail!("--target: {} is given twice", target.platform_name());
        }
        targets.push(target_plan);
    }
    let files = staged_files(root, inputs)?;
    let prefix = targets::executable_prefix(&project.plugin.executable);
    let mut others: Vec<String> = (inputs.dist_entries.iter())
        .filter(|name| name.starts_with(&prefix) && !targets.iter().any(|t| &t.dist_name == *name))
        .cloned()
        .collect();
    others.sort();
    let (kept_binaries, dropped_binaries) = if options.clean {
        (Vec::new(), others)
    } else {
        (others, Vec::new())
    };

    Ok(BuildPlan {
        plugin_id: project.plugin.id.clone(),
        executable: project.plugin.executable.clone(),
        version: project.cargo.version.clone(),
        profile: options.profile,
        check_only: options.check_only,
        clean: options.clean,
        targets,
        files,
        kept_binaries,
        dropped_binaries,
        dist_dir: crate::dist::dist_dir(root),
        kept_from: inputs.kept_from.clone(),
        scratch_dir: dist::scratch_dir(root),
        placeholders: Placeholders {
            version: project.cargo.version.clone(),
            today: inputs.today.clone(),
            plugin_id: project.plugin.id.clone(),
        },
    })
}

/// Where cargo leaves the binary of one target, and how to build it (or what is missing).
fn target_plan(
    project: &Project,
    target: &BuildTarget,
    environment: &Environment,
    options: &Options,
) -> TargetPlan {
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
    let step =
        toolchain::choose(target, environment, options.forced, options.check_only).map(|choice| {
            step_for(
                target,
                choice,
                &built_binary,
                options,
                environment,
                &project.cargo.package,
            )
        });
    TargetPlan {
        target: target.clone(),
        dist_name: target.executable_file_name(&project.plugin.executable),
        step,
    }
}

/// plugin.json (filled), everything under static/, and the repository files static/ does
/// not replace.
pub fn staged_files(root: &Path, inputs: &Inputs) -> Result<Vec<StagedFile>> {
    if inputs.frontend_files.as_ref().is_some_and(Vec::is_empty) {
        // The frontend build is still running: its files are staged once it is done.
        return Ok(Vec::new());
    }
    if let Some(frontend) = &inputs.frontend_files {
        // Everything the frontend build wrote, as it wrote it (webpack filled plugin.json).
        if !frontend.iter().any(|f| f == "module.js") {
            bail!(
                "{}: missing after the frontend build; Grafana loads every plugin's frontend \
                 from module.js (check the `build` script in package.json)",
                crate::dist::dist_dir(root).join("module.js").display()
            );
        }
        return Ok(frontend
            .iter()
            .map(|relative| StagedFile {
                source: crate::dist::dist_dir(root).join(relative),
                dest: relative.clone(),
                fill: false,
                executable: false,
                link: false,
            })
            .collect());
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
        link: false,
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
            link: false,
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
            link: false,
        });
    }
    Ok(files)
}

/// The dist/ to assemble once the builds are done: the binaries that built, the files, the
/// binaries of other platforms already in dist/, and the previous binary of a target that
/// failed now (unless `--clean`).
pub(super) fn dist_plan(
    plan: &BuildPlan,
    built: &[&TargetPlan],
    dist_entries: &[String],
) -> DistPlan {
    let built_now = |name: &String| built.iter().any(|t| &t.dist_name == name);
    let mut files: Vec<StagedFile> = built
        .iter()
        .filter_map(|target_plan| {
            let step = target_plan.step.as_ref().ok()?;
            Some(StagedFile {
                source: step.built_binary.clone(),
                dest: target_plan.dist_name.clone(),
                fill: false,
                executable: true,
                link: false,
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
            source: plan.kept_from.join(name),
            dest: name.clone(),
            fill: false,
            executable: true,
            link: true,
        });
    }
    DistPlan {
        dist_dir: plan.dist_dir.clone(),
        staging_dir: plan.scratch_dir.join(dist::STAGING_DIR),
        previous_dir: plan.scratch_dir.join(dist::PREVIOUS_DIR),
        files,
        placeholders: plan.placeholders.clone(),
    }
}

pub(super) fn backend_label(target: &BuildTarget, choice: &Choice) -> String {
    let mut label = choice.backend.name().to_owned();
    if choice.build_std {
        label.push_str(" + nightly -Zbuild-std");
    } else if choice.backend == Backend::Cargo && target.is_linux_musl() {
        label.push_str(" + rust-lld");
    }
    label
}
