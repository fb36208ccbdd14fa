//! The Mage targets every plugin repository has besides building: `clean` (what this tool
//! wrote), `test` (the workspace's tests) and `coverage` (through `cargo llvm-cov` when it is
//! installed).
use std::path::{Path, PathBuf};

use anyhow::{Result, bail};

use crate::{context::Context, dist, package, spawn::cmd, util};

/// Removes what the tool wrote: `dist/`, the plugin's archives and checksums in
/// `target/package/` (`cargo package` writes its crates there too; they stay), the staging
/// folders in `target/xtask/` and e2e's Grafana home (`target/e2e/`). Cargo's builds stay
/// (`cargo clean` removes them) and so does `target/dev/`, the development Grafana's data
/// (its dashboards and data sources). Returns what it removed.
pub fn clean(context: &Context) -> Result<Vec<PathBuf>> {
    let root = context.root()?.to_owned();
    let id = context.plugin_id()?.to_owned();
    // Not while another run stages there.
    let _held = context.hold_scratch("clean")?;
    remove_outputs(&root, &id)
}

/// [`clean`]'s removals in the project at `root`, whose plugin is `id`.
fn remove_outputs(root: &Path, id: &str) -> Result<Vec<PathBuf>> {
    let mut removed = Vec::new();
    let mut remove = |path: PathBuf| -> Result<()> {
        if std::fs::symlink_metadata(&path).is_ok() {
            util::remove_path_if_present(&path)?;
            removed.push(path);
        }
        Ok(())
    };
    remove(dist::dist_dir(root))?;
    let archives = package::out_dir(root);
    for entry in entries(&archives) {
        if is_ours_in_package_dir(&entry.file_name().to_string_lossy(), id) {
            remove(entry.path())?;
        }
    }
    // Removed only when nothing else (cargo's crates) is left in it.
    if entries(&archives).is_empty() {
        remove(archives)?;
    }
    remove(root.join("target").join("e2e"))?;
    for entry in entries(&dist::scratch_dir(root)) {
        // The lock being held, and who holds it, stay.
        if !entry.file_name().to_string_lossy().starts_with("lock") {
            remove(entry.path())?;
        }
    }
    Ok(removed)
}

/// The entries of `dir`; none when it cannot be read (it is not there).
fn entries(dir: &Path) -> Vec<std::fs::DirEntry> {
    std::fs::read_dir(dir)
        .map(|entries| entries.flatten().collect())
        .unwrap_or_default()
}

/// Whether `name` in `target/package/` is `package`'s: an archive of plugin `id`
/// (`<id>-<version>[.<os>_<arch>].zip`), its `.sha1`/`.sha256`, or one being written
/// (`.<that name>.<pid>.partial`).
fn is_ours_in_package_dir(name: &str, id: &str) -> bool {
    let name = util::partial_of(name).unwrap_or(name);
    let archive = [".zip", ".zip.sha1", ".zip.sha256"]
        .iter()
        .find_map(|suffix| name.strip_suffix(suffix));
    archive.is_some_and(|stem| {
        stem.strip_prefix(id)
            .and_then(|rest| rest.strip_prefix('-'))
            .is_some_and(|version| version.starts_with(|c: char| c.is_ascii_digit()))
    })
}

/// `cargo xtask clean`.
pub fn run_clean(context: &Context) -> Result<()> {
    let root = context.root()?.to_owned();
    let removed = clean(context)?;
    if removed.is_empty() {
        context.status("Clean", "nothing to remove");
    }
    for path in removed {
        let shown = path.strip_prefix(&root).unwrap_or(&path);
        context.status("Removed", shown.display());
    }
    Ok(())
}

/// `cargo xtask test [ARGS…]`: the workspace's tests (`cargo test --workspace ARGS…`).
pub fn run_test(context: &Context, args: &[String]) -> Result<()> {
    context.enter_root()?;
    let cargo = util::cargo();
    cmd!(context.sh, "{cargo} test --workspace {args...}").run()?;
    Ok(())
}

/// `cargo xtask coverage [ARGS…]`: the workspace's tests with coverage through
/// `cargo llvm-cov`, which must be installed (it needs the `llvm-tools` component).
pub fn run_coverage(context: &Context, args: &[String]) -> Result<()> {
    if util::on_path("cargo-llvm-cov").is_none() {
        bail!(
            "coverage needs cargo-llvm-cov, which is not installed: `cargo install \
             cargo-llvm-cov` (it adds rustup's llvm-tools component on first use); no test was run"
        );
    }
    context.enter_root()?;
    let cargo = util::cargo();
    cmd!(context.sh, "{cargo} llvm-cov --workspace {args...}").run()?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clean_removes_the_tools_outputs_and_keeps_cargos_crates_and_the_dev_grafana() {
        let root = tempfile::tempdir().unwrap();
        let id = "acme-weather-datasource";
        let write = |path: &str| {
            let path = root.path().join(path);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(path, "x").unwrap();
        };
        let ours = [
            "dist/module.js",
            "target/package/acme-weather-datasource-1.2.0.zip",
            "target/package/acme-weather-datasource-1.2.0.zip.sha1",
            "target/package/acme-weather-datasource-1.2.0.zip.sha256",
            "target/package/acme-weather-datasource-1.2.0.linux_amd64.zip",
            "target/package/.acme-weather-datasource-1.2.0.zip.4242.partial",
            "target/e2e/grafana.log",
            "target/xtask/staging/plugin.json",
        ];
        let kept = [
            // cargo package's crate and its unpacked copy
            "target/package/plugin-1.2.0.crate",
            "target/package/plugin-1.2.0/Cargo.toml",
            // another plugin's archive, a file of the user's
            "target/package/acme-other-app-1.0.0.zip",
            "target/package/acme-weather-datasource-notes.zip",
            "target/xtask/lock",
            "target/dev/grafana.db",
            "target/release/plugin",
        ];
        for path in ours.iter().chain(&kept) {
            write(path);
        }
        let removed = remove_outputs(root.path(), id).unwrap();
        for path in ours {
            assert!(!root.path().join(path).exists(), "{path} is left");
        }
        for path in kept {
            assert!(root.path().join(path).exists(), "{path} was removed");
        }
        assert!(removed.contains(&root.path().join("dist")), "{removed:?}");

        // With only ours in it, target/package/ goes too; a second clean removes nothing.
        std::fs::remove_dir_all(root.path().join("target/package")).unwrap();
        write("target/package/acme-weather-datasource-1.2.0.zip");
        remove_outputs(root.path(), id).unwrap();
        assert!(!root.path().join("target/package").exists());
        assert_eq!(
            remove_outputs(root.path(), id).unwrap(),
            Vec::<PathBuf>::new()
        );
    }
}
