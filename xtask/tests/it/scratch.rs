//! A scratch copy of this repository for running the xtask binary end to end, sharing the
//! test run's target directory so only the plugin crate itself compiles again.

use std::{
    collections::BTreeMap,
    fs,
    path::{Path, PathBuf},
    process::{Command, Output},
    time::SystemTime,
};

pub const PLUGIN_ID: &str = "acme-servicechecks-app";
pub const EXECUTABLE: &str = "gpx_service_checks";
/// 2026-11-24T00:00:00Z, pinned through SOURCE_DATE_EPOCH.
pub const EPOCH: &str = "1795478400";

fn repository() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_owned()
}

/// `<target>/debug/xtask` → `<target>`.
pub fn shared_target_dir() -> PathBuf {
    Path::new(env!("CARGO_BIN_EXE_xtask"))
        .ancestors()
        .nth(2)
        .unwrap()
        .to_owned()
}

pub fn host_binary_name() -> String {
    harness::host_executable_name(EXECUTABLE)
}

pub struct Scratch {
    dir: tempfile::TempDir,
}

impl Scratch {
    pub fn new() -> Scratch {
        let dir = tempfile::tempdir().unwrap();
        let from = repository();
        for entry in [
            "Cargo.toml",
            "Cargo.lock",
            "plugin.json",
            "README.md",
            "LICENSE",
            "CHANGELOG.md",
            "docker-compose.yaml",
            "provisioning",
            ".cargo",
            "plugin",
            "xtask",
            "grafana-plugin-xtask",
            "harness",
            "static",
        ] {
            copy_tree(&from.join(entry), &dir.path().join(entry));
        }
        Scratch { dir }
    }

    /// An app made with create-plugin (fixtures/create-plugin-app: package.json, src/,
    /// a stand-in for webpack) with this repository's Rust workspace copied in, as the
    /// README's adoption steps do.
    pub fn create_plugin_app() -> Scratch {
        let dir = tempfile::tempdir().unwrap();
        let from = repository();
        copy_tree(&from.join("fixtures/create-plugin-app"), dir.path());
        for entry in [
            "Cargo.toml",
            "Cargo.lock",
            "LICENSE",
            ".cargo",
            "plugin",
            "xtask",
            "grafana-plugin-xtask",
            "harness",
        ] {
            copy_tree(&from.join(entry), &dir.path().join(entry));
        }
        Scratch { dir }
    }

    pub fn root(&self) -> &Path {
        self.dir.path()
    }

    pub fn xtask(&self, args: &[&str]) -> Output {
        self.xtask_env(args, &[])
    }

    pub fn xtask_env(&self, args: &[&str], env: &[(&str, &str)]) -> Output {
        Command::new(env!("CARGO_BIN_EXE_xtask"))
            .args(args)
            .current_dir(self.root())
            .env("CARGO_TARGET_DIR", shared_target_dir())
            .env("SOURCE_DATE_EPOCH", EPOCH)
            .env("CARGO_TERM_COLOR", "never")
            .envs(env.iter().copied())
            .output()
            .unwrap()
    }

    pub fn edit(&self, file: &str, edit: impl FnOnce(String) -> String) {
        let path = self.root().join(file);
        fs::write(&path, edit(fs::read_to_string(&path).unwrap())).unwrap();
    }
}

pub(crate) fn copy_tree(from: &Path, to: &Path) {
    if from.is_dir() {
        fs::create_dir_all(to).unwrap();
        for entry in fs::read_dir(from).unwrap() {
            let entry = entry.unwrap();
            if !["target", "node_modules", "dist"]
                .contains(&entry.file_name().to_str().unwrap_or(""))
            {
                copy_tree(&entry.path(), &to.join(entry.file_name()));
            }
        }
    } else {
        fs::copy(from, to).unwrap();
    }
}

/// Every file under `dir`: relative path → (contents, modification time).
pub fn snapshot(dir: &Path) -> BTreeMap<String, (Vec<u8>, SystemTime)> {
    let mut files = BTreeMap::new();
    let mut stack = vec![dir.to_owned()];
    while let Some(current) = stack.pop() {
        for entry in fs::read_dir(&current).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
            } else {
                let relative = path
                    .strip_prefix(dir)
                    .unwrap()
                    .to_string_lossy()
                    .replace('\\', "/");
                let modified = fs::metadata(&path).unwrap().modified().unwrap();
                files.insert(relative, (fs::read(&path).unwrap(), modified));
            }
        }
    }
    files
}

pub fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}
