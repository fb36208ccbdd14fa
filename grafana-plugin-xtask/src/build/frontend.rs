//! The frontend half of a create-plugin app: its dependencies installed as the lockfile has
//! them when `node_modules/` is missing, its `build` script run (webpack writes dist/,
//! keeping Grafana's backend binaries by create-plugin's `output.clean.keep` pattern), and
//! skipped when none of its inputs changed since the last successful run.
use std::{fs, path::Path};

use anyhow::{Context, Result};
use sha2::{Digest, Sha256};
use xshell::Shell;

use crate::{layout::PackageManager, spawn::cmd, ui::Ui, util};

/// What webpack reads (or copies into dist/), relative to the app's root. Directories are
/// taken whole.
const INPUTS: [&str; 11] = [
    "src",
    ".config",
    "package.json",
    "package-lock.json",
    "yarn.lock",
    "pnpm-lock.yaml",
    "tsconfig.json",
    "README.md",
    "CHANGELOG.md",
    "LICENSE",
    "provisioning",
];

/// Where the fingerprint of the last successful frontend build is kept.
fn stamp(scratch: &Path) -> std::path::PathBuf {
    scratch.join("frontend.fingerprint")
}

/// A digest of every input's path, size and modification time, and of the frontend files
/// now in dist/: equal digests mean the build would produce what dist/ already has.
fn fingerprint(root: &Path, frontend_files: &[String]) -> Result<String> {
    let mut digest = Sha256::new();
    for input in INPUTS {
        let path = root.join(input);
        let entries = if path.is_dir() {
            util::walk(&path)?
                .into_iter()
                .filter(|entry| !entry.is_dir)
                .map(|entry| entry.path)
                .collect()
        } else if path.is_file() {
            vec![path]
        } else {
            continue;
        };
        for file in entries {
            let metadata =
                fs::metadata(&file).with_context(|| format!("cannot read {}", file.display()))?;
            let modified = metadata
                .modified()
                .ok()
                .and_then(|time| time.duration_since(std::time::UNIX_EPOCH).ok())
                .map_or(0, |since| since.as_nanos());
            digest.update(format!(
                "{}\0{}\0{modified}\n",
                file.display(),
                metadata.len()
            ));
        }
    }
    for file in frontend_files {
        digest.update(format!("out\0{file}\n"));
    }
    Ok(util::hex(&digest.finalize()))
}

/// The frontend files now in dist/ (everything but the backend binaries), sorted.
pub fn files_in_dist(dist: &Path, executable_prefix: &str) -> Result<Vec<String>> {
    if !dist.is_dir() {
        return Ok(Vec::new());
    }
    Ok(util::walk(dist)?
        .into_iter()
        .filter(|entry| !entry.is_dir)
        .map(|entry| entry.relative)
        .filter(|relative| !relative.starts_with(executable_prefix) || relative.contains('/'))
        .collect())
}

/// The frontend's tools, found before anything builds: the package manager (named by
/// package.json's `packageManager` or the lockfile) and node, old enough for `engines.node`.
/// Each missing piece is said with how to get it.
pub fn check_tools(sh: &Shell, ui: &Ui, root: &Path, manager: PackageManager) -> Result<()> {
    let package_path = root.join("package.json");
    let package: serde_json::Value =
        serde_json::from_str(&crate::project::read_text(&package_path)?)
            .with_context(|| format!("{}: not valid JSON", package_path.display()))?;
    let program = manager.program();
    let named_by = match package["packageManager"].as_str() {
        Some(field) => format!("package.json's packageManager is {field}"),
        None => format!("the app's lockfile is {program}'s"),
    };
    if util::on_path("node").is_none() {
        anyhow::bail!(
            "the frontend build needs Node.js, and `node` is not on PATH: install Node.js {} \
             (https://nodejs.org, or nvm), which includes npm and corepack",
            package["engines"]["node"].as_str().unwrap_or("22 or newer")
        );
    }
    if util::on_path(program).is_none() {
        let fix = match manager {
            PackageManager::Npm => "it comes with Node.js; reinstall Node.js".to_owned(),
            _ => format!(
                "run `corepack enable` (it comes with Node.js and provides the version \
                 packageManager names), or `npm install --global {program}`"
            ),
        };
        anyhow::bail!(
            "the frontend build runs `{program} run build` ({named_by}), and `{program}` is not \
             on PATH: {fix}"
        );
    }
    if let Some(wanted) = package["engines"]["node"].as_str()
        && let Some(minimum) = minimum_major(wanted)
    {
        let version = cmd!(sh, "node --version")
            .quiet()
            .read()
            .unwrap_or_default();
        let major = version
            .trim()
            .trim_start_matches('v')
            .split('.')
            .next()
            .and_then(|major| major.parse::<u32>().ok());
        if let Some(major) = major.filter(|major| *major < minimum) {
            let message = format!(
                "node {} is older than package.json's engines.node ({wanted}): install Node.js \
                 {minimum} or newer (nvm install {minimum})",
                version.trim()
            );
            if manager == PackageManager::Yarn {
                // yarn refuses to install under an engine it does not match.
                anyhow::bail!("{message}");
            }
            ui.warning(format!("{message}; {program} may go on (major {major})"));
        }
    }
    Ok(())
}

/// The least major version a simple `engines` range allows: `>=22`, `>=22.11.0`, `^22`.
fn minimum_major(range: &str) -> Option<u32> {
    let range = range.trim();
    let rest = range
        .strip_prefix(">=")
        .or_else(|| range.strip_prefix('^'))
        .or_else(|| range.strip_prefix('~'))?;
    rest.trim().split('.').next()?.parse().ok()
}

/// Runs the app's `build` script unless its inputs and dist/'s frontend files are as they
/// were after the last successful build. `Ok(false)`: skipped.
pub fn build(
    sh: &Shell,
    ui: &Ui,
    root: &Path,
    scratch: &Path,
    manager: PackageManager,
    executable_prefix: &str,
) -> Result<bool> {
    let dist = crate::dist::dist_dir(root);
    let before = fingerprint(root, &files_in_dist(&dist, executable_prefix)?)?;
    let stamp = stamp(scratch);
    let produced_something = !files_in_dist(&dist, executable_prefix)?.is_empty();
    if produced_something && fs::read_to_string(&stamp).is_ok_and(|last| last.trim() == before) {
        ui.status("Fresh", "frontend (no input changed since its last build)");
        return Ok(false);
    }
    let program = manager.program();
    if !root.join("node_modules").is_dir() {
        let install = manager.install_args(root.join(manager.lockfile()).is_file());
        ui.status(
            "Installing",
            format!(
                "the frontend's dependencies ({program} {})",
                install.join(" ")
            ),
        );
        run(ui, cmd!(sh, "{program} {install...}"))
            .with_context(|| format!("`{program} {}` failed", install.join(" ")))?;
    }
    let run = manager.run_args("build");
    ui.status(
        "Building",
        format!("frontend ({program} {})", run.join(" ")),
    );
    // A failed build invalidates the stamp before anything else can go wrong.
    let _ = fs::remove_file(&stamp);
    self::run(ui, cmd!(sh, "{program} {run...}"))
        .with_context(|| format!("the frontend build (`{program} {}`) failed", run.join(" ")))?;
    let after = fingerprint(root, &files_in_dist(&dist, executable_prefix)?)?;
    fs::create_dir_all(scratch).with_context(|| format!("cannot create {}", scratch.display()))?;
    fs::write(&stamp, after).with_context(|| format!("cannot write {}", stamp.display()))?;
    Ok(true)
}

/// Runs a frontend command. Its output is on screen as it comes, as cargo shows its own;
/// with `--quiet`, only when it fails.
fn run(ui: &Ui, command: xshell::Cmd<'_>) -> Result<()> {
    let command = command.quiet();
    if !ui.quiet() {
        return Ok(command.run()?);
    }
    let output = command.ignore_status().output()?;
    if !output.status.success() {
        use std::io::Write as _;
        let mut stderr = std::io::stderr().lock();
        let _ = stderr.write_all(&output.stdout);
        let _ = stderr.write_all(&output.stderr);
        anyhow::bail!("{}", output.status);
    }
    Ok(())
}

/// Forgets the last build, so the next one runs the frontend again (after dist/ was put
/// back as it was before a failed build).
pub fn forget(scratch: &Path) {
    let _ = fs::remove_file(stamp(scratch));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_fingerprint_follows_inputs_and_outputs_but_not_the_backend() {
        let root = tempfile::tempdir().unwrap();
        fs::create_dir_all(root.path().join("src")).unwrap();
        fs::create_dir_all(root.path().join("plugin/src")).unwrap();
        fs::write(root.path().join("src/module.tsx"), "one").unwrap();
        fs::write(root.path().join("package.json"), "{}").unwrap();
        let outputs = vec!["module.js".to_owned()];
        let first = fingerprint(root.path(), &outputs).unwrap();
        assert_eq!(first, fingerprint(root.path(), &outputs).unwrap());
        // A backend source is not a frontend input.
        fs::write(root.path().join("plugin/src/main.rs"), "fn main() {}").unwrap();
        assert_eq!(first, fingerprint(root.path(), &outputs).unwrap());
        // An output gone, or an input changed, is a change.
        assert_ne!(first, fingerprint(root.path(), &[]).unwrap());
        fs::write(root.path().join("src/module.tsx"), "two!").unwrap();
        assert_ne!(first, fingerprint(root.path(), &outputs).unwrap());
    }

    #[test]
    fn engines_ranges_give_their_least_major() {
        assert_eq!(minimum_major(">=22"), Some(22));
        assert_eq!(minimum_major(">= 20.11.0"), Some(20));
        assert_eq!(minimum_major("^18.0.0"), Some(18));
        assert_eq!(minimum_major("*"), None);
        assert_eq!(minimum_major("20 || 22"), None);
    }

    #[test]
    fn dist_files_leave_out_the_backend_binaries() {
        let dist = tempfile::tempdir().unwrap();
        fs::create_dir_all(dist.path().join("img")).unwrap();
        for file in ["module.js", "202.js", "img/logo.svg", "gpx_a_linux_amd64"] {
            fs::write(dist.path().join(file), "x").unwrap();
        }
        assert_eq!(
            files_in_dist(dist.path(), "gpx_a_").unwrap(),
            ["202.js", "img/logo.svg", "module.js"]
        );
    }
}
