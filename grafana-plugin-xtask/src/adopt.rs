//! `cargo xtask adopt APP`: gives an app made with create-plugin this repository's Rust
//! backend and `cargo xtask`, without touching its frontend: a workspace `Cargo.toml` (the
//! app's version), this `Cargo.lock`, `.cargo/config.toml` (the alias), a thin `xtask/` that
//! depends on this library by path, and the backend crate `plugin/`. Its identity comes from
//! the app's `src/plugin.json`, never from this repository. Refuses an app that already has
//! a Cargo.toml; writes nothing until every file is computed.
use std::{
    fs,
    path::{Path, PathBuf},
};

use anyhow::{Context as _, Result, bail};

use crate::{
    Context,
    flags::AdoptFlags,
    layout::{self, Layout},
    project, util,
};

/// The thin binary an adopting app gets, as a Magefile imports the Go SDK's build package.
const XTASK_MAIN: &str = "//! `cargo xtask` for this plugin: the commands of grafana-plugin-xtask.
fn main() -> std::process::ExitCode {
    grafana_plugin_xtask::main()
}
";

pub fn run(context: &Context, flags: &AdoptFlags) -> Result<()> {
    let here = context.root()?.to_owned();
    let app = fs::canonicalize(&flags.app)
        .with_context(|| format!("{}: no such directory", flags.app.display()))?;
    let files = plan(&here, &app)?;
    for (path, contents) in &files {
        if let Some(parent) = path.parent() {
            fs::create_dir_all(parent)
                .with_context(|| format!("cannot create {}", parent.display()))?;
        }
        let partial = path.with_extension("adopt.partial");
        fs::write(&partial, contents)
            .with_context(|| format!("cannot write {}", partial.display()))?;
        fs::rename(&partial, path).with_context(|| format!("cannot write {}", path.display()))?;
    }
    context.status(
        "Adopted",
        format!(
            "{}: {} files written (Cargo.toml, Cargo.lock, .cargo/, xtask/, plugin/); run `cargo xtask build` there",
            app.display(),
            files.len()
        ),
    );
    let go: Vec<&str> = ["Magefile.go", "go.mod", "go.sum", "pkg"]
        .into_iter()
        .filter(|name| app.join(name).exists())
        .collect();
    if !go.is_empty() {
        context.status(
            "Note",
            format!(
                "the Go backend is still there: delete {} once the Rust one replaces it \
                 (create-plugin's CI runs mage only while Magefile.go exists)",
                go.join(", ")
            ),
        );
    }
    Ok(())
}

/// Every file to write into `app`, with its contents.
fn plan(here: &Path, app: &Path) -> Result<Vec<(PathBuf, Vec<u8>)>> {
    if app.join("Cargo.toml").exists() {
        bail!(
            "{}: already exists; adopt writes a new workspace and never overwrites one",
            app.join("Cargo.toml").display()
        );
    }
    let package_path = app.join("package.json");
    let package: serde_json::Value = serde_json::from_str(&project::read_text(&package_path)?)
        .with_context(|| format!("{}: not valid JSON", package_path.display()))?;
    let found = layout::detect(app, None, |p| app.join(p).is_file(), Some(&package))?;
    if !matches!(found, Layout::CreatePlugin(_)) {
        bail!(
            "{}: not an app made with create-plugin (src/plugin.json and a build script in package.json)",
            app.display()
        );
    }
    // The app's identity, checked as every build will check it.
    let manifest = app.join(found.plugin_json());
    project::parse_plugin_json(&manifest, &project::read_text(&manifest)?).with_context(|| {
        "adopting needs a backend: set \"backend\": true and \"executable\": \"gpx_<name>\" in src/plugin.json"
    })?;
    let version = package["version"].as_str().unwrap_or_default();
    project::check_version(&package_path, "version", version)?;

    let library = here.join("grafana-plugin-xtask");
    let mut files = vec![
        (
            app.join("Cargo.toml"),
            workspace_manifest(
                &project::read_text(&here.join("Cargo.toml"))?,
                version,
                &library,
            )
            .into_bytes(),
        ),
        (app.join("Cargo.lock"), read(&here.join("Cargo.lock"))?),
        (
            app.join(".cargo/config.toml"),
            read(&here.join(".cargo/config.toml"))?,
        ),
        (
            app.join("xtask/Cargo.toml"),
            xtask_manifest(&project::read_text(&here.join("xtask/Cargo.toml"))?).into_bytes(),
        ),
        (
            app.join("xtask/src/main.rs"),
            XTASK_MAIN.as_bytes().to_vec(),
        ),
        (
            app.join("plugin/Cargo.toml"),
            without_section(
                &project::read_text(&here.join("plugin/Cargo.toml"))?,
                "[dev-dependencies]",
            )
            .into_bytes(),
        ),
        (
            app.join("plugin/build.rs"),
            read(&here.join("plugin/build.rs"))?,
        ),
    ];
    let source = here.join("plugin/src");
    for entry in util::walk(&source)?.into_iter().filter(|e| !e.is_dir) {
        files.push((
            app.join("plugin/src").join(&entry.relative),
            read(&entry.path)?,
        ));
    }
    Ok(files)
}

fn read(path: &Path) -> Result<Vec<u8>> {
    fs::read(path).with_context(|| format!("cannot read {}", path.display()))
}

/// This workspace's Cargo.toml for the app: members `plugin` and `xtask`, the app's version,
/// the library by path, no test harness.
pub fn workspace_manifest(ours: &str, version: &str, library: &Path) -> String {
    let mut out = String::new();
    for line in ours.lines() {
        let line = if line.starts_with("members = ") {
            "members = [\"plugin\", \"xtask\"]".to_owned()
        } else if line.starts_with("default-members = ") {
            continue;
        } else if line.starts_with("version = ") {
            format!("version = \"{version}\"")
        } else if line.starts_with("harness = ") {
            continue;
        } else if line.starts_with("grafana-plugin-xtask = ") {
            format!(
                "grafana-plugin-xtask = {{ path = {:?} }}",
                library.display().to_string()
            )
        } else {
            line.to_owned()
        };
        out.push_str(&line);
        out.push('\n');
    }
    out
}

/// The thin xtask's manifest without its test-only dependencies.
fn xtask_manifest(ours: &str) -> String {
    without_section(ours, "[dev-dependencies]")
}

/// `text` without the TOML section that starts with the line `header`.
fn without_section(text: &str, header: &str) -> String {
    let mut out = String::new();
    let mut skipping = false;
    for line in text.lines() {
        if line.starts_with('[') {
            skipping = line.trim() == header;
        }
        if !skipping {
            out.push_str(line);
            out.push('\n');
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_workspace_manifest_has_the_apps_version_and_the_library_by_path() {
        let ours = "[workspace]\nmembers = [\"plugin\", \"grafana-plugin-xtask\", \"xtask\", \"harness\"]\ndefault-members = [\"plugin\"]\n\n[workspace.package]\nversion = \"0.1.0\"\n\n[workspace.dependencies]\nharness = { path = \"harness\" }\ngrafana-plugin-xtask = { path = \"grafana-plugin-xtask\" }\n";
        let manifest =
            workspace_manifest(ours, "1.0.0", Path::new("/src/repo/grafana-plugin-xtask"));
        assert_eq!(
            manifest,
            "[workspace]\nmembers = [\"plugin\", \"xtask\"]\n\n[workspace.package]\nversion = \"1.0.0\"\n\n[workspace.dependencies]\ngrafana-plugin-xtask = { path = \"/src/repo/grafana-plugin-xtask\" }\n"
        );
    }

    #[test]
    fn a_section_is_left_out_whole() {
        let text = "[package]\nname = \"x\"\n\n[dev-dependencies]\nharness.workspace = true\n\n[target.'cfg(unix)'.dependencies]\nlibc = \"0.2\"\n";
        assert_eq!(
            without_section(text, "[dev-dependencies]"),
            "[package]\nname = \"x\"\n\n[target.'cfg(unix)'.dependencies]\nlibc = \"0.2\"\n"
        );
    }
}
