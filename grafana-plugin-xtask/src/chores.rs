//! The Mage targets every plugin repository has besides building: `clean` (what this tool
//! wrote), `test` (the workspace's tests) and `coverage` (through `cargo llvm-cov` when it is
//! installed).
use std::path::PathBuf;

use anyhow::{Result, bail};

use crate::{context::Context, dist, package, spawn::cmd, util};

/// Removes what the tool wrote: `dist/`, the archives (`target/package/`), the staging
/// folders in `target/xtask/` and e2e's Grafana home (`target/e2e/`). Cargo's builds stay
/// (`cargo clean` removes them) and so does `target/dev/`, the development Grafana's data
/// (its dashboards and data sources). Returns what it removed.
pub fn clean(context: &Context) -> Result<Vec<PathBuf>> {
    let root = context.root()?.to_owned();
    let scratch = dist::scratch_dir(&root);
    // Not while another run stages there.
    let _held = context.hold_scratch("clean")?;
    let mut removed = Vec::new();
    let mut remove = |path: PathBuf| -> Result<()> {
        if std::fs::symlink_metadata(&path).is_ok() {
            util::remove_path_if_present(&path)?;
            removed.push(path);
        }
        Ok(())
    };
    remove(dist::dist_dir(&root))?;
    remove(package::out_dir(&root))?;
    remove(root.join("target").join("e2e"))?;
    if let Ok(entries) = std::fs::read_dir(&scratch) {
        for entry in entries.flatten() {
            // The lock being held, and who holds it, stay.
            if !entry.file_name().to_string_lossy().starts_with("lock") {
                remove(entry.path())?;
            }
        }
    }
    Ok(removed)
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
