//! `cargo xtask build`: plan the build as data (what cargo runs, what lands in dist/), print
//! it with `--dry-run`, otherwise run cargo and assemble dist/ from the plan.
use std::{
    fmt::Write as _,
    fs,
    path::{Path, PathBuf},
    time::{Instant, SystemTime},
};

use anyhow::{Context, Result, bail};
use xshell::{Shell, cmd};

use crate::{
    dist::{self, DistPlan, Placeholders, StagedFile},
    flags::BuildFlags,
    project::{PLUGIN_JSON, Project},
    targets::{self, Platform},
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

/// Everything `build` will do, computed before it does any of it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BuildPlan {
    pub plugin_id: String,
    pub version: String,
    pub platform: Platform,
    pub profile: Profile,
    /// Arguments after `cargo`.
    pub cargo_args: Vec<String>,
    /// Where cargo leaves the binary.
    pub built_binary: PathBuf,
    pub binary_name: String,
    /// Binaries of other platforms already in dist/ that are kept.
    pub kept_binaries: Vec<String>,
    pub dist: DistPlan,
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

pub fn run(sh: &Shell, ui: &Ui, flags: &BuildFlags) -> Result<()> {
    let started = Instant::now();
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned());
    let project = Project::load(sh, &cargo)?;
    let root = project.cargo.workspace_root.clone();
    sh.change_dir(&root);
    let inputs = gather_inputs(&root)?;
    let profile = if flags.debug {
        Profile::Debug
    } else {
        Profile::Release
    };
    let plan = plan(
        &project,
        targets::host()?,
        profile,
        flags.clean,
        ui.quiet(),
        &inputs,
    )?;

    if flags.dry_run {
        print!("{}", describe(&plan, &root));
        return Ok(());
    }

    ui.status(
        "Building",
        format!(
            "{} {} backend for {} ({})",
            plan.plugin_id,
            plan.version,
            plan.platform.name(),
            profile.name()
        ),
    );
    let args = &plan.cargo_args;
    cmd!(sh, "{cargo} {args...}")
        .quiet()
        .run()
        .context("cargo could not build the backend; dist/ was left as it was")?;

    let file_count = plan.dist.files.len();
    ui.status(
        "Assembling",
        format!(
            "dist/ with {} and {} other files",
            plan.binary_name,
            file_count - 1
        ),
    );
    dist::assemble(&plan.dist)?;
    let size = fs::metadata(plan.dist.dist_dir.join(&plan.binary_name))
        .map(|m| m.len())
        .unwrap_or(0);
    let mut kept = String::new();
    if !plan.kept_binaries.is_empty() {
        let _ = write!(
            kept,
            ", kept {} of other platforms",
            plan.kept_binaries.len()
        );
    }
    ui.status(
        "Finished",
        format!(
            "dist/{} ({:.1} MB) in {:.2}s{kept}",
            plan.binary_name,
            size as f64 / 1e6,
            started.elapsed().as_secs_f64()
        ),
    );
    Ok(())
}

fn gather_inputs(root: &Path) -> Result<Inputs> {
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
        Err(_) => Ok(SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs() as i64)),
    }
}

pub fn plan(
    project: &Project,
    platform: Platform,
    profile: Profile,
    clean: bool,
    quiet: bool,
    inputs: &Inputs,
) -> Result<BuildPlan> {
    let root = &project.cargo.workspace_root;
    let executable = &project.plugin.executable;

    let mut cargo_args: Vec<String> = ["build", "--package", &project.cargo.package]
        .map(String::from)
        .to_vec();
    if profile == Profile::Release {
        cargo_args.push("--release".into());
    }
    if quiet {
        cargo_args.push("--quiet".into());
    }
    let built_binary = project.cargo.target_dir.join(profile.name()).join(format!(
        "{}{}",
        project.cargo.bin_name,
        std::env::consts::EXE_SUFFIX
    ));
    let binary_name = platform.executable_file_name(executable);

    if !inputs.static_files.iter().any(|f| f == "module.js") {
        bail!(
            "{}: missing; Grafana loads every plugin's frontend from module.js, add one (see README)",
            root.join(STATIC_DIR).join("module.js").display()
        );
    }
    let mut files = vec![StagedFile {
        source: built_binary.clone(),
        dest: binary_name.clone(),
        fill: false,
        executable: true,
    }];
    files.push(StagedFile {
        source: root.join(PLUGIN_JSON),
        dest: PLUGIN_JSON.into(),
        fill: true,
        executable: false,
    });
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

    let prefix = Platform::executable_prefix(executable);
    let mut kept_binaries: Vec<String> = if clean {
        Vec::new()
    } else {
        inputs
            .dist_entries
            .iter()
            .filter(|name| name.starts_with(&prefix) && **name != binary_name)
            .cloned()
            .collect()
    };
    kept_binaries.sort();
    for name in &kept_binaries {
        files.push(StagedFile {
            source: root.join("dist").join(name),
            dest: name.clone(),
            fill: false,
            executable: true,
        });
    }

    let scratch = root.join("target").join("xtask");
    Ok(BuildPlan {
        plugin_id: project.plugin.id.clone(),
        version: project.cargo.version.clone(),
        platform,
        profile,
        cargo_args,
        built_binary,
        binary_name,
        kept_binaries,
        dist: DistPlan {
            dist_dir: root.join("dist"),
            staging_dir: scratch.join("dist.staging"),
            previous_dir: scratch.join("dist.previous"),
            files,
            placeholders: Placeholders {
                version: project.cargo.version.clone(),
                today: inputs.today.clone(),
                plugin_id: project.plugin.id.clone(),
            },
        },
    })
}

/// The plan as `--dry-run` prints it, paths relative to the repository root.
pub fn describe(plan: &BuildPlan, root: &Path) -> String {
    let show = |path: &Path| {
        path.strip_prefix(root)
            .unwrap_or(path)
            .display()
            .to_string()
            .replace('\\', "/")
    };
    let mut out = String::new();
    let _ = writeln!(
        out,
        "build {} {} for {} ({})",
        plan.plugin_id,
        plan.version,
        plan.platform.name(),
        plan.profile.name()
    );
    let _ = writeln!(out, "  run   cargo {}", plan.cargo_args.join(" "));
    for file in &plan.dist.files {
        let verb = if plan.kept_binaries.contains(&file.dest) {
            "keep"
        } else if file.fill {
            "fill"
        } else {
            "copy"
        };
        let mode = if file.executable { "0755" } else { "0644" };
        let _ = writeln!(
            out,
            "  {verb:<5} {} -> dist/{} ({mode})",
            show(&file.source),
            file.dest
        );
    }
    out
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

    const LINUX_AMD64: Platform = targets::PLATFORMS[0];

    #[test]
    fn release_plan_builds_the_package_and_names_the_binary_for_grafana() {
        let plan = plan(
            &project(),
            LINUX_AMD64,
            Profile::Release,
            false,
            false,
            &inputs(),
        )
        .unwrap();
        assert_eq!(
            plan.cargo_args,
            ["build", "--package", "plugin", "--release"]
        );
        assert_eq!(
            plan.built_binary,
            Path::new("/repo/target/release")
                .join(format!("plugin{}", std::env::consts::EXE_SUFFIX))
        );
        assert_eq!(plan.binary_name, "gpx_checks_linux_amd64");
        assert_eq!(plan.dist.placeholders.version, "1.2.3");
        assert_eq!(plan.dist.placeholders.today, "2026-11-24");
        assert_eq!(plan.dist.placeholders.plugin_id, "acme-checks-app");
        assert_eq!(
            plan.dist.staging_dir,
            Path::new("/repo/target/xtask/dist.staging")
        );
    }

    #[test]
    fn dry_run_shows_every_file_with_its_mode_and_the_binaries_kept() {
        let plan = plan(
            &project(),
            LINUX_AMD64,
            Profile::Debug,
            false,
            true,
            &inputs(),
        )
        .unwrap();
        let root = Path::new("/repo");
        let exe = std::env::consts::EXE_SUFFIX;
        assert_eq!(
            describe(&plan, root),
            format!(
                "build acme-checks-app 1.2.3 for linux/amd64 (debug)
  run   cargo build --package plugin --quiet
  copy  target/debug/plugin{exe} -> dist/gpx_checks_linux_amd64 (0755)
  fill  plugin.json -> dist/plugin.json (0644)
  copy  static/img/logo.svg -> dist/img/logo.svg (0644)
  copy  static/module.js -> dist/module.js (0644)
  fill  README.md -> dist/README.md (0644)
  copy  LICENSE -> dist/LICENSE (0644)
  copy  CHANGELOG.md -> dist/CHANGELOG.md (0644)
  keep  dist/gpx_checks_linux_arm64 -> dist/gpx_checks_linux_arm64 (0755)
  keep  dist/gpx_checks_windows_amd64.exe -> dist/gpx_checks_windows_amd64.exe (0755)
"
            )
        );
    }

    #[test]
    fn clean_drops_other_platforms_binaries() {
        let plan = plan(
            &project(),
            LINUX_AMD64,
            Profile::Release,
            true,
            false,
            &inputs(),
        )
        .unwrap();
        assert!(plan.kept_binaries.is_empty());
        assert!(plan.dist.files.iter().all(|f| !f.dest.contains("arm64")));
    }

    #[test]
    fn static_readme_wins_over_the_repository_readme() {
        let mut inputs = inputs();
        inputs.static_files.push("README.md".into());
        let plan = plan(
            &project(),
            LINUX_AMD64,
            Profile::Release,
            false,
            false,
            &inputs,
        )
        .unwrap();
        let readmes: Vec<&StagedFile> = plan
            .dist
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
            LINUX_AMD64,
            Profile::Release,
            false,
            false,
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
            LINUX_AMD64,
            Profile::Release,
            false,
            false,
            &second,
        )
        .unwrap_err()
        .to_string();
        assert!(
            message.contains("belongs at the repository root only"),
            "{message}"
        );
    }

    #[test]
    fn the_windows_binary_gets_exe_and_other_platforms_are_kept() {
        let windows = targets::PLATFORMS[5];
        let plan = plan(
            &project(),
            windows,
            Profile::Release,
            false,
            false,
            &inputs(),
        )
        .unwrap();
        assert_eq!(plan.binary_name, "gpx_checks_windows_amd64.exe");
        assert_eq!(
            plan.kept_binaries,
            ["gpx_checks_linux_amd64", "gpx_checks_linux_arm64"]
        );
    }
}
