//! The two layouts a plugin repository can have, decided in one place: this template's (a
//! root `plugin.json`, the frontend as files in `static/`, no Node) and a create-plugin
//! app's (`src/plugin.json`, a `package.json` whose `build` script runs webpack into `dist/`).
//! Detected from the files; `[workspace.metadata.grafana-plugin] layout` in the workspace
//! Cargo.toml overrides. Pure: the caller says which files exist.
use std::path::{Path, PathBuf};

use anyhow::{Result, bail};
use serde_json::Value;

/// Where the plugin's manifest and frontend come from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Layout {
    /// Root `plugin.json`, frontend files in `static/` copied as they are.
    Template,
    /// `src/plugin.json`; the frontend is built by the `build` script of `package.json`.
    CreatePlugin(PackageManager),
}

/// The package manager a create-plugin app's lockfile names.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PackageManager {
    Npm,
    Yarn,
    Pnpm,
}

impl PackageManager {
    /// From package.json's `packageManager` (`yarn@1.22.22`, corepack's field), if it names
    /// one of these.
    pub fn from_field(package_json: Option<&Value>) -> Option<PackageManager> {
        let field = package_json?["packageManager"].as_str()?;
        match field.split('@').next()? {
            "npm" => Some(PackageManager::Npm),
            "yarn" => Some(PackageManager::Yarn),
            "pnpm" => Some(PackageManager::Pnpm),
            _ => None,
        }
    }

    /// From the lockfile present; npm without one (create-plugin's default).
    pub fn from_lockfiles(exists: impl Fn(&str) -> bool) -> PackageManager {
        if exists("pnpm-lock.yaml") {
            PackageManager::Pnpm
        } else if exists("yarn.lock") {
            PackageManager::Yarn
        } else {
            PackageManager::Npm
        }
    }

    pub fn program(self) -> &'static str {
        match self {
            PackageManager::Npm => "npm",
            PackageManager::Yarn => "yarn",
            PackageManager::Pnpm => "pnpm",
        }
    }

    /// The lockfile this manager writes and reads.
    pub fn lockfile(self) -> &'static str {
        match self {
            PackageManager::Npm => "package-lock.json",
            PackageManager::Yarn => "yarn.lock",
            PackageManager::Pnpm => "pnpm-lock.yaml",
        }
    }

    /// Installs the dependencies exactly as the lockfile has them, when there is one; a new
    /// create-plugin project has none until its first install, which writes it (`npm ci`
    /// refuses to run without one).
    pub fn install_args(self, locked: bool) -> &'static [&'static str] {
        match (self, locked) {
            (PackageManager::Npm, true) => &["ci"],
            (PackageManager::Yarn | PackageManager::Pnpm, true) => {
                &["install", "--frozen-lockfile"]
            }
            (_, false) => &["install"],
        }
    }

    /// Runs a `package.json` script (`npm run build`, `yarn run build`, `pnpm run build`).
    pub fn run_args(self, script: &'static str) -> [&'static str; 2] {
        ["run", script]
    }
}

impl Layout {
    /// Where plugin.json is, relative to the repository root.
    pub fn plugin_json(self) -> &'static str {
        match self {
            Layout::Template => "plugin.json",
            Layout::CreatePlugin(_) => "src/plugin.json",
        }
    }
}

/// The layout of the repository at `root`. `setting` is the Cargo.toml override; `exists`
/// answers for paths relative to `root`; `package_json` is package.json, parsed, if any.
pub fn detect(
    root: &Path,
    setting: Option<&str>,
    exists: impl Fn(&str) -> bool,
    package_json: Option<&Value>,
) -> Result<Layout> {
    let create_plugin = || {
        Layout::CreatePlugin(
            PackageManager::from_field(package_json)
                .unwrap_or_else(|| PackageManager::from_lockfiles(&exists)),
        )
    };
    match setting {
        Some("template") => return Ok(Layout::Template),
        Some("create-plugin") => return Ok(create_plugin()),
        Some(other) => bail!(
            "{}: [workspace.metadata.grafana-plugin] layout is {other:?}; use \"template\" (root \
             plugin.json, static/) or \"create-plugin\" (src/plugin.json, package.json), or \
             remove it to detect the layout from the files",
            root.join("Cargo.toml").display()
        ),
        None => {}
    }
    let has_build_script =
        package_json.is_some_and(|package| package["scripts"]["build"].is_string());
    if exists("src/plugin.json") && has_build_script {
        return Ok(create_plugin());
    }
    if exists("plugin.json") {
        return Ok(Layout::Template);
    }
    let looked_at: Vec<PathBuf> = ["plugin.json", "src/plugin.json", "package.json"]
        .iter()
        .map(|relative| root.join(relative))
        .collect();
    bail!(
        "no plugin found: looked for {} (this template's layout) and for {} with a `build` \
         script in {} (an app made with create-plugin); create one of them, or set the layout \
         under [workspace.metadata.grafana-plugin] in {}",
        looked_at[0].display(),
        looked_at[1].display(),
        looked_at[2].display(),
        root.join("Cargo.toml").display()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn detect_with(files: &[&str], setting: Option<&str>) -> Result<Layout> {
        let package = files
            .contains(&"package.json")
            .then(|| serde_json::json!({ "scripts": { "build": "webpack" } }));
        detect(
            Path::new("/app"),
            setting,
            |path| files.contains(&path),
            package.as_ref(),
        )
    }

    #[test]
    fn a_project_without_a_lockfile_yet_is_installed_so_it_gets_one() {
        // A project just made by create-plugin has no package-lock.json: `npm ci` refuses it.
        assert_eq!(PackageManager::Npm.install_args(false), ["install"]);
        assert_eq!(PackageManager::Npm.install_args(true), ["ci"]);
        assert_eq!(
            PackageManager::Yarn.install_args(true),
            ["install", "--frozen-lockfile"]
        );
        assert_eq!(PackageManager::Pnpm.install_args(false), ["install"]);
        assert_eq!(PackageManager::Pnpm.lockfile(), "pnpm-lock.yaml");
    }

    #[test]
    fn the_files_say_which_layout_and_which_package_manager() {
        assert_eq!(
            detect_with(&["plugin.json"], None).unwrap(),
            Layout::Template
        );
        assert_eq!(
            detect_with(
                &["src/plugin.json", "package.json", "package-lock.json"],
                None
            )
            .unwrap(),
            Layout::CreatePlugin(PackageManager::Npm)
        );
        assert_eq!(
            detect_with(&["src/plugin.json", "package.json", "yarn.lock"], None).unwrap(),
            Layout::CreatePlugin(PackageManager::Yarn)
        );
        assert_eq!(
            detect_with(&["src/plugin.json", "package.json", "pnpm-lock.yaml"], None).unwrap(),
            Layout::CreatePlugin(PackageManager::Pnpm)
        );
        // A root plugin.json copied into a create-plugin app does not hide the app.
        assert_eq!(
            detect_with(&["plugin.json", "src/plugin.json", "package.json"], None).unwrap(),
            Layout::CreatePlugin(PackageManager::Npm)
        );
        // package.json's packageManager (corepack's) names it before any lockfile.
        let package = serde_json::json!({
            "scripts": { "build": "webpack" },
            "packageManager": "yarn@1.22.22"
        });
        let files = ["src/plugin.json", "package.json", "package-lock.json"];
        assert_eq!(
            detect(
                Path::new("/app"),
                None,
                |p| files.contains(&p),
                Some(&package)
            )
            .unwrap(),
            Layout::CreatePlugin(PackageManager::Yarn)
        );
        // src/plugin.json without a build script is not a create-plugin app.
        assert!(detect_with(&["src/plugin.json"], None).is_err());
    }

    #[test]
    fn the_setting_overrides_and_a_bad_one_or_nothing_found_says_where_it_looked() {
        assert_eq!(
            detect_with(
                &["plugin.json", "src/plugin.json", "package.json"],
                Some("template")
            )
            .unwrap(),
            Layout::Template
        );
        let bad = detect_with(&[], Some("webpack")).unwrap_err().to_string();
        assert!(
            bad.contains("layout is \"webpack\"; use \"template\""),
            "{bad}"
        );
        let none = detect_with(&[], None).unwrap_err().to_string();
        let root = Path::new("/app");
        for place in ["plugin.json", "src/plugin.json", "package.json"] {
            assert!(
                none.contains(&root.join(place).display().to_string()),
                "{place} in {none}"
            );
        }
    }
}
