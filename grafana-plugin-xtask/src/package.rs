//! `cargo xtask package`: what plugin-actions does with `mv dist <id>; zip -r; sha1sum`,
//! natively and reproducibly. Builds the platforms (unless `--no-build`), refuses an
//! incomplete dist/, stages `<id>/`, optionally signs it, writes `<id>-<version>.zip` (and
//! per-platform archives) with checksums, and validates what it wrote.
use std::{
    fs,
    path::{Path, PathBuf},
};

use anyhow::{Context as _, Result, bail};
use xshell::Shell;

use crate::{
    archive,
    build::{self, Profile, Request},
    context::Context,
    dist,
    flags::PackageFlags,
    project::PLUGIN_JSON,
    spawn::cmd,
    targets::{self, BuildTarget},
    ui::Ui,
    util, validate,
};

/// Files every archive needs besides the binaries (the validator's required files).
const REQUIRED_FILES: [&str; 4] = [PLUGIN_JSON, "module.js", "README.md", "LICENSE"];
pub use crate::{
    archive::{archive_name, out_dir},
    spawn::TOKEN_VARIABLE,
};

/// The signing token from the environment, if set and not empty.
pub fn token() -> Option<String> {
    std::env::var(TOKEN_VARIABLE).ok().filter(|t| !t.is_empty())
}

/// Where an archive's tree `<id>/` is staged, below the xtask's scratch directory: the
/// release's at `package/<id>`, a platform's at `package/<os>_<arch>/<id>`.
fn stage_dir(root: &Path, id: &str, platform: Option<&BuildTarget>) -> PathBuf {
    let package = dist::scratch_dir(root).join("package");
    match platform {
        None => package.join(id),
        Some(platform) => package
            .join(format!("{}_{}", platform.os, platform.arch))
            .join(id),
    }
}

/// What goes into the archive: each platform with its binary's name in dist/, as the build's
/// plan named it (or, with `--no-build`, as the plan would).
pub struct Contents {
    pub binaries: Vec<(BuildTarget, String)>,
    /// The platforms were chosen with `--target` rather than all six.
    pub narrowed: bool,
}

/// `cargo xtask package`: builds every requested platform with the size-optimized profile
/// (unless `--no-build`), then packages what that build's plan wrote.
pub fn run(context: &Context, flags: &PackageFlags) -> Result<Vec<Written>> {
    let project = context.project()?;
    let _held = context.hold_scratch("package")?;
    let platforms = build::requested_targets(&flags.targets)?;
    // Everything that can stop the package is found, and said together, before anything
    // builds: the token with the platforms this machine cannot build.
    let token = token();
    let token_problem = (token.is_none() && flags.sign).then(|| {
        format!(
            "--sign needs a Grafana access policy token in {TOKEN_VARIABLE} (grafana.com → \
             Access Policies, scope plugins:write)"
        )
    });
    if let (true, Some(problem)) = (flags.no_build, &token_problem) {
        bail!("{problem}");
    }
    // A known vulnerability in what ships stops the release before anything builds.
    crate::audit::project(context)?;

    let binaries = if flags.no_build {
        (platforms.into_iter())
            .map(|target| {
                let name = target.executable_file_name(&project.plugin.executable);
                (target, name)
            })
            .collect()
    } else {
        // The size-optimized profile: what ships is built with fat LTO and one codegen unit.
        let mut request = Request::of(platforms, Profile::Dist);
        request.command = "package";
        // One missing platform refuses the package: nothing builds, dist/ stays as it is.
        request.all_or_nothing = true;
        request.refused_also = token_problem.into_iter().collect();
        let built = build::run(context, &request).context(
            "cannot package what cannot build here; build on a machine that has every \
             platform's toolchain (darwin needs macOS), or package fewer platforms with --target",
        )?;
        (built.plan.targets.into_iter())
            .map(|target_plan| (target_plan.target, target_plan.dist_name))
            .collect()
    };
    let contents = Contents {
        binaries,
        narrowed: !flags.targets.is_empty(),
    };
    write(context, flags, token.as_deref(), &contents)
}

/// One archive `package` wrote.
#[derive(Clone, Debug)]
pub struct Written {
    pub path: PathBuf,
    /// The platform of a per-platform archive; `None` for the release archive.
    pub platform: Option<String>,
    pub size: u64,
    pub checksums: archive::Checksums,
    /// Signed (a MANIFEST.txt from Grafana's signing service).
    pub signed: bool,
    /// The validator's warnings (an error would have stopped the package).
    pub warnings: Vec<validate::Finding>,
}

/// Checks dist/ against `contents`, stages `<id>/`, signs it when asked, writes the archive
/// (and one per platform with `--per-platform`) with its checksums and validates each.
/// Returns what it wrote, the release archive first.
pub fn write(
    context: &Context,
    flags: &PackageFlags,
    token: Option<&str>,
    contents: &Contents,
) -> Result<Vec<Written>> {
    let (sh, ui) = (&context.sh, &context.ui);
    let project = context.project()?;
    let root = &project.cargo.workspace_root;
    let dist = dist::dist_dir(root);
    dist::check_dist_path(&dist)?;
    let executable = &project.plugin.executable;
    let dist_entries = list_names(&dist)?;
    let binaries: Vec<String> = contents.binaries.iter().map(|(_, b)| b.clone()).collect();
    check_dist(&dist_entries, contents)
        .map_err(|problem| anyhow::anyhow!("{}: {problem}", dist.display()))?;
    check_binaries(ui, &dist, &binaries, executable)?;

    let id = &project.plugin.id;
    // One tree per archive, each signed for exactly its files: Grafana opens every file a
    // manifest lists, so a per-platform archive cannot carry the release's manifest.
    let stage = stage_dir(root, id, None);
    let left_out = stage_dist(&dist, &stage, &dist_entries, &binaries, executable)?;
    if !left_out.is_empty() {
        ui.warning(format!(
            "left out of the archive: {} (hidden files: an interrupted build's leftovers or \
             the system's, never shipped)",
            left_out
                .iter()
                .map(|name| format!("dist/{name}"))
                .collect::<Vec<_>>()
                .join(", ")
        ));
    }
    let mut stages = vec![(None, stage)];
    if flags.per_platform {
        for (platform, binary) in &contents.binaries {
            let stage = stage_dir(root, id, Some(platform));
            stage_dist(
                &dist,
                &stage,
                &dist_entries,
                std::slice::from_ref(binary),
                executable,
            )?;
            stages.push((Some(platform), stage));
        }
    }
    let trees: Vec<PathBuf> = stages.iter().map(|(_, stage)| stage.clone()).collect();
    sign(sh, ui, &trees, token, flags)?;

    let out_dir = match &flags.out_dir {
        Some(dir) => dir.clone(),
        None => out_dir(root),
    };
    fs::create_dir_all(&out_dir).with_context(|| format!("cannot create {}", out_dir.display()))?;
    let time = archive::dos_time(timestamp(sh)?);
    let version = &project.cargo.version;
    let prefix = targets::executable_prefix(executable);

    let mut archives = Vec::new();
    for (platform, stage) in &stages {
        archives.push((
            out_dir.join(archive_name(id, version, *platform)),
            platform.map(|p| p.platform_name()),
            archive::entries_of(stage, id, &prefix)?,
        ));
    }
    let signed = token.is_some();
    (archives.into_iter())
        .map(|(path, platform, entries)| {
            let written = write_one(ui, path, &entries, time)?;
            Ok(Written {
                platform,
                signed,
                ..written
            })
        })
        .collect()
}

/// Writes one archive of `entries`, validated before it takes its name (a failing archive
/// never sits under it), then its checksums.
fn write_one(
    ui: &Ui,
    path: PathBuf,
    entries: &[archive::Entry],
    time: zip::DateTime,
) -> Result<Written> {
    ui.status(
        "Packaging",
        format!("{} ({} entries)", path.display(), entries.len()),
    );
    let mut warnings = Vec::new();
    archive::write(&path, entries, time, |written| {
        let findings = validate::check_file(written)?;
        validate::report(ui, &path, &findings)?;
        warnings = findings;
        Ok(())
    })?;
    let checksums = archive::write_checksums(&path)?;
    ui.status(
        "Wrote",
        format!(
            "{}\n{:>12} {}\n{:>12} {}",
            path.display(),
            "",
            checksums.files[0].display(),
            "",
            checksums.files[1].display()
        ),
    );
    let size = fs::metadata(&path)
        .with_context(|| format!("cannot read {}", path.display()))?
        .len();
    Ok(Written {
        path,
        platform: None,
        size,
        checksums,
        signed: false,
        warnings,
    })
}

fn list_names(dir: &Path) -> Result<Vec<String>> {
    let entries = fs::read_dir(dir).with_context(|| {
        format!(
            "cannot read {}; build first (cargo xtask build --all)",
            dir.display()
        )
    })?;
    let mut names: Vec<String> = entries
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .collect();
    names.sort();
    Ok(names)
}

/// Whether dist/ (`names`) holds the required files and every binary of `contents`, or what
/// it lacks and how to fix it. Binaries of other platforms in dist/ are left out of the
/// archive when the targets were narrowed.
pub fn check_dist(names: &[String], contents: &Contents) -> Result<(), String> {
    let mut missing: Vec<String> = REQUIRED_FILES
        .iter()
        .filter(|file| !names.iter().any(|n| n == *file))
        .map(|file| (*file).to_owned())
        .collect();
    missing.extend(
        (contents.binaries.iter())
            .filter(|(_, binary)| !names.contains(binary))
            .map(|(platform, binary)| format!("{binary} ({})", platform.platform_name())),
    );
    if missing.is_empty() {
        return Ok(());
    }
    let fix = if contents.narrowed {
        "build them (cargo xtask build --target …)"
    } else {
        "build them (cargo xtask build --all; darwin on macOS), or package fewer platforms with --target"
    };
    Err(format!("incomplete, lacks {}; {fix}", missing.join(", ")))
}

/// A fresh copy of dist/ under `<id>/`, with only the chosen platforms' binaries and no
/// hidden files; returns the hidden files it left out (paths relative to dist/).
fn stage_dist(
    dist: &Path,
    stage: &Path,
    names: &[String],
    binaries: &[String],
    executable: &str,
) -> Result<Vec<String>> {
    if stage.exists() {
        fs::remove_dir_all(stage).with_context(|| format!("cannot remove {}", stage.display()))?;
    }
    fs::create_dir_all(stage).with_context(|| format!("cannot create {}", stage.display()))?;
    let prefix = targets::executable_prefix(executable);
    let mut left_out = Vec::new();
    for name in names {
        if name.starts_with(&prefix) && !binaries.contains(name) {
            continue;
        }
        if is_leftover(name) {
            left_out.push(name.clone());
            continue;
        }
        copy_tree(&dist.join(name), &stage.join(name), name, &mut left_out)?;
    }
    Ok(left_out)
}

/// A hidden file: `.DS_Store`, or what an interrupted build left (`.gpx_*.old` beside a
/// replaced binary, `.*.partial`). Never shipped.
fn is_leftover(name: &str) -> bool {
    name.starts_with('.')
}

/// Copies `from` (a regular file or a directory tree of them; no links) to `to`, leaving out
/// hidden files (named in `left_out`, relative to dist/ through `name`).
fn copy_tree(from: &Path, to: &Path, name: &str, left_out: &mut Vec<String>) -> Result<()> {
    let kind = fs::symlink_metadata(from)
        .with_context(|| format!("cannot read {}", from.display()))?
        .file_type();
    if kind.is_file() {
        fs::copy(from, to)
            .with_context(|| format!("cannot copy {} to {}", from.display(), to.display()))?;
        return Ok(());
    }
    if !kind.is_dir() {
        bail!(
            "{}: not a regular file or directory; dist/ must hold only those",
            from.display()
        );
    }
    fs::create_dir_all(to).with_context(|| format!("cannot create {}", to.display()))?;
    for entry in util::walk(from)? {
        if entry.relative.split(['/', '\\']).any(is_leftover) {
            if !entry.is_dir {
                left_out.push(format!("{name}/{}", entry.relative.replace('\\', "/")));
            }
            continue;
        }
        let dest = to.join(&entry.relative);
        if entry.is_dir {
            fs::create_dir_all(&dest)
                .with_context(|| format!("cannot create {}", dest.display()))?;
        } else {
            fs::copy(&entry.path, &dest).with_context(|| {
                format!("cannot copy {} to {}", entry.path.display(), dest.display())
            })?;
        }
    }
    Ok(())
}

/// Refuses binaries Grafana could not start under their names (wrong format or CPU, a glibc
/// build for Alpine, a debug build), before anything is staged or written.
fn check_binaries(ui: &Ui, dist: &Path, binaries: &[String], executable: &str) -> Result<()> {
    let mut problems = Vec::new();
    for name in binaries {
        let path = dist.join(name);
        let data = fs::read(&path).with_context(|| format!("cannot read {}", path.display()))?;
        problems.extend(validate::binary_problems(executable, name, &data));
    }
    for problem in &problems {
        ui.error(format!("dist/{problem}"));
    }
    if !problems.is_empty() {
        bail!(
            "{}: {} problem(s) with the binaries (above); nothing was packaged",
            dist.display(),
            problems.len()
        );
    }
    Ok(())
}

/// The signing tool, pinned with its lockfile (every package and its integrity hash): the
/// one place its version is chosen. Written to target/ and installed with `npm ci`.
const SIGN_PLUGIN_PACKAGE: &str = include_str!("../sign-plugin/package.json");
const SIGN_PLUGIN_LOCK: &str = include_str!("../sign-plugin/package-lock.json");
/// A different @grafana/sign-plugin version, run with `npm exec` (not lock-pinned).
pub const SIGN_PLUGIN_VERSION_VARIABLE: &str = "GRAFANA_SIGN_PLUGIN_VERSION";

/// The @grafana/sign-plugin version the lockfile pins.
fn pinned_sign_plugin_version() -> Result<String> {
    let package: serde_json::Value = serde_json::from_str(SIGN_PLUGIN_PACKAGE)?;
    package["dependencies"]["@grafana/sign-plugin"]
        .as_str()
        .map(str::to_owned)
        .context("sign-plugin/package.json names no @grafana/sign-plugin version")
}

/// Signs each staged tree with Grafana's tool when there is a token, so each archive's
/// MANIFEST.txt lists exactly its own files; otherwise says the archive is unsigned. The tool
/// comes from the npm registry at the pinned version with lifecycle scripts off, installed
/// once; the token is only in the environment of the process that signs (handed to it here),
/// never in `npm ci`'s, cargo's or any other child's, and never on a command line.
fn sign(
    sh: &Shell,
    ui: &Ui,
    stages: &[PathBuf],
    token: Option<&str>,
    flags: &PackageFlags,
) -> Result<()> {
    let Some(token) = token else {
        ui.warning(format!(
            "the archive is unsigned; to sign it, set {TOKEN_VARIABLE} (and --root-urls for a private signature)"
        ));
        return Ok(());
    };
    let pinned = pinned_sign_plugin_version()?;
    let version = std::env::var(SIGN_PLUGIN_VERSION_VARIABLE)
        .ok()
        .filter(|v| !v.is_empty())
        .unwrap_or_else(|| pinned.clone());
    let failed = "signing failed: @grafana/sign-plugin needs Node.js and npm, network access to \
                  the npm registry and grafana.com, and a valid token";
    let installed = if version == pinned {
        let tool = package_scratch(stages)?.join("sign-plugin");
        fs::create_dir_all(&tool).with_context(|| format!("cannot create {}", tool.display()))?;
        fs::write(tool.join("package.json"), SIGN_PLUGIN_PACKAGE)?;
        fs::write(tool.join("package-lock.json"), SIGN_PLUGIN_LOCK)?;
        let _dir = sh.push_dir(&tool);
        // Like every child, npm runs without the token (spawn.rs scrubs it).
        cmd!(sh, "npm ci --ignore-scripts --no-audit --no-fund")
            .quiet()
            .ignore_stdout()
            .run()
            .context(failed)?;
        Some(tool.join("node_modules/@grafana/sign-plugin/dist/bin/run.js"))
    } else {
        ui.warning(format!(
            "{SIGN_PLUGIN_VERSION_VARIABLE}={version}: running that version with npm exec, \
             without the lockfile's integrity pins"
        ));
        None
    };
    for stage in stages {
        let mut args = vec!["--distDir".to_owned(), stage.display().to_string()];
        if let Some(urls) = &flags.root_urls {
            args.extend(["--rootUrls".to_owned(), urls.clone()]);
        }
        ui.status(
            "Signing",
            format!("{} with @grafana/sign-plugin {version}", stage.display()),
        );
        let signing = match &installed {
            Some(run) => cmd!(sh, "node {run} {args...}"),
            None => {
                let package = format!("--package=@grafana/sign-plugin@{version}");
                cmd!(
                    sh,
                    "npm exec --yes --ignore-scripts {package} -- sign-plugin {args...}"
                )
            }
        };
        // Every child's environment is scrubbed of the token (spawn.rs); the signer alone is
        // handed it, in its environment, never on the command line.
        signing
            .env(TOKEN_VARIABLE, token)
            .quiet()
            .run()
            .context(failed)?;
        if !stage.join("MANIFEST.txt").is_file() {
            bail!("signing wrote no MANIFEST.txt into {}", stage.display());
        }
    }
    Ok(())
}

/// The directory holding the stages (target/xtask/package).
fn package_scratch(stages: &[PathBuf]) -> Result<&Path> {
    stages
        .first()
        .and_then(|stage| stage.parent())
        .context("nothing is staged")
}

/// Seconds since 1970 for every entry: SOURCE_DATE_EPOCH, else the last commit's time, so the
/// same sources give the same bytes.
fn timestamp(sh: &Shell) -> Result<i64> {
    if let Some(seconds) = util::source_date_epoch()? {
        return Ok(seconds);
    }
    let committed = cmd!(sh, "git log -1 --format=%ct")
        .quiet()
        .ignore_stderr()
        .read();
    Ok(committed
        .ok()
        .and_then(|t| t.trim().parse().ok())
        .unwrap_or(315_532_800)) // 1980-01-01, the zip epoch
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| (*s).to_owned()).collect()
    }

    const FILES: [&str; 5] = ["LICENSE", "README.md", "img", "module.js", "plugin.json"];

    /// Each platform with its binary's name, as the build's plan names them.
    fn contents(platforms: Vec<BuildTarget>, narrowed: bool) -> Contents {
        let binaries = (platforms.into_iter())
            .map(|t| {
                let name = t.executable_file_name("gpx_x");
                (t, name)
            })
            .collect();
        Contents { binaries, narrowed }
    }

    #[test]
    fn a_complete_dist_has_one_binary_per_platform() {
        let mut dist = names(&FILES);
        dist.extend(
            targets::all("linux")
                .iter()
                .map(|t| t.executable_file_name("gpx_x")),
        );
        assert_eq!(
            check_dist(&dist, &contents(targets::all("linux"), false)),
            Ok(())
        );
        dist.retain(|name| name != "gpx_x_windows_amd64.exe");
        let error = check_dist(&dist, &contents(targets::all("linux"), false)).unwrap_err();
        assert!(
            error.contains("lacks gpx_x_windows_amd64.exe (windows/amd64)"),
            "{error}"
        );
    }

    #[test]
    fn an_incomplete_dist_is_refused_with_what_is_missing() {
        let mut dist = names(&FILES);
        dist.push("gpx_x_linux_amd64".into());
        dist.retain(|n| n != "LICENSE");
        let error = check_dist(&dist, &contents(targets::all("linux"), false)).unwrap_err();
        assert!(error.starts_with("incomplete, lacks LICENSE, gpx_x_linux_arm64 (linux/arm64), gpx_x_linux_arm (linux/arm)"), "{error}");
        assert!(
            error.ends_with("or package fewer platforms with --target"),
            "{error}"
        );
        // Narrowed to what is there: fine, once LICENSE is back.
        dist.push("LICENSE".into());
        let amd64 = vec![targets::parse("linux/amd64", "linux").unwrap()];
        assert_eq!(check_dist(&dist, &contents(amd64, true)), Ok(()));
    }

    #[test]
    fn archive_names_are_the_release_and_one_per_platform() {
        let arm64 = targets::parse("linux/arm64", "linux").unwrap();
        assert_eq!(archive_name("a-b-app", "1.2.3", None), "a-b-app-1.2.3.zip");
        assert_eq!(
            archive_name("a-b-app", "1.2.3", Some(&arm64)),
            "a-b-app-1.2.3.linux_arm64.zip"
        );
    }
}
