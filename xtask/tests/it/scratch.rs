//! A scratch copy of this repository for running the xtask binary end to end, sharing the
//! test run's target directory so only the plugin crate itself compiles again, and only
//! when its sources changed since the last run (each test keeps its copy at a stable path).

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

pub fn repository() -> PathBuf {
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

/// This repository's xtask as `cargo test` (or cargo-nextest) built it. Not
/// `<target>/debug/xtask`: an adopted app's `cargo xtask` (its own xtask, with the library's
/// commands only) is built into the same target directory and cargo links it to that path,
/// even while other tests of this run (or, under nextest, other test processes) still start.
/// cargo's own copy, `<target>/debug/deps/xtask-<hash>`, is this package's alone: the hash
/// stands for the package (an app's xtask has another), so it is the `xtask-*` there that
/// answers with this repository's commands (the newest, should an old build be there too).
pub fn xtask_binary() -> &'static Path {
    static FOUND: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();
    FOUND.get_or_init(|| {
        let deps = shared_target_dir().join("debug/deps");
        let mut candidates: Vec<(SystemTime, PathBuf)> = fs::read_dir(&deps)
            .unwrap()
            .map(|entry| entry.unwrap().path())
            .filter(|path| {
                let name = path.file_name().unwrap().to_string_lossy();
                let stem = name
                    .strip_suffix(std::env::consts::EXE_SUFFIX)
                    .unwrap_or(&name);
                stem.strip_prefix("xtask-")
                    .is_some_and(|hash| hash.bytes().all(|b| b.is_ascii_hexdigit()))
            })
            .map(|path| (fs::metadata(&path).unwrap().modified().unwrap(), path))
            .collect();
        candidates.sort();
        candidates
            .into_iter()
            .rev()
            .map(|(_, path)| path)
            .find(|path| {
                Command::new(path)
                    .arg("--help")
                    .output()
                    .is_ok_and(|help| text(&help.stdout).contains("lint "))
            })
            .unwrap_or_else(|| {
                panic!(
                    "no build of this repository's xtask in {}: run the tests through \
                     `cargo test`, which builds it",
                    deps.display()
                )
            })
    })
}

/// The Grafana stand-in (`harness`'s `grafana-standin`) and the library's `codegen` and
/// `release` examples,
/// built once into the test run's target directory (the xtask test binary cannot name another
/// package's binary). Built for the whole workspace with an example among the targets, so
/// cargo resolves the same features as `cargo test --workspace` did and reuses every
/// dependency it compiled (a build of `harness` alone would compile the SDK again). The
/// tests that use them (dev, hooks) are Unix's.
#[cfg(unix)]
pub fn workspace_binaries() -> &'static (PathBuf, PathBuf, PathBuf) {
    static BUILT: std::sync::OnceLock<(PathBuf, PathBuf, PathBuf)> = std::sync::OnceLock::new();
    BUILT.get_or_init(|| {
        let target = shared_target_dir();
        let output = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
            .args(["build", "--quiet", "--workspace"])
            .args(["--bin", "grafana-standin", "--example", "codegen"])
            .args(["--example", "release"])
            .current_dir(repository())
            .env("CARGO_TARGET_DIR", &target)
            .output()
            .unwrap();
        assert!(output.status.success(), "{}", text(&output.stderr));
        let exe = |path: &str| {
            target
                .join(path)
                .with_extension(std::env::consts::EXE_EXTENSION)
        };
        (
            exe("debug/grafana-standin"),
            exe("debug/examples/codegen"),
            exe("debug/examples/release"),
        )
    })
}

/// PATH without the directories holding `program`: this machine as one without it (without
/// cargo-zigbuild darwin cannot link; without yarn a yarn app cannot build its frontend).
/// `None` when `program` sits beside cargo or rustc, which cannot be left out.
pub fn path_without(program: &str) -> Option<String> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    let mut kept = Vec::new();
    for dir in std::env::split_paths(&path) {
        if dir.join(program).exists() {
            if dir.join("cargo").exists() || dir.join("rustc").exists() {
                return None;
            }
            continue;
        }
        kept.push(dir);
    }
    std::env::join_paths(kept)
        .ok()
        .and_then(|p| p.into_string().ok())
}

pub fn host_binary_name() -> String {
    harness::host_executable_name(EXECUTABLE)
}

/// A scratch copy of the repository (or of the create-plugin fixture with the Rust
/// workspace in it) at a stable path per test, `<target>/it-scratch/<test>`: brought in line
/// with the sources by content, so a file that did not change keeps its modification time
/// and cargo finds that copy's plugin crate fresh on the next run instead of compiling it
/// again. Anything else there (dist/, a previous run's edits and outputs) goes.
///
/// One scratch copy is in use at a time (each holds [`ONE_AT_A_TIME`] until the test drops
/// it): every build in one shares the test run's target directory, whose lock serializes
/// cargo anyway, and two tests at once only added waiting on each other's builds and dev
/// loops: on 2 cores a second `cargo test --workspace` took 198, 217 and 255 s with two
/// tests at a time, 147, 167 and 169 s with one (2026-12-02, one machine, alternated).
pub struct Scratch {
    dir: PathBuf,
    _turn: std::sync::MutexGuard<'static, ()>,
}

/// Held by the scratch copy in use; a test that failed while holding it releases it.
static ONE_AT_A_TIME: std::sync::Mutex<()> = std::sync::Mutex::new(());

/// Entries of the repository a scratch copy of it holds.
const REPOSITORY: [&str; 16] = [
    "Cargo.toml",
    "Cargo.lock",
    "deny.toml",
    "plugin.json",
    "README.md",
    "LICENSE",
    "CHANGELOG.md",
    "docker-compose.yaml",
    "provisioning",
    ".cargo",
    "plugin",
    "xtask",
    "grafana-plugin-runtime",
    "grafana-plugin-xtask",
    "harness",
    "static",
];

/// What the README's adoption steps put into a create-plugin app.
const RUST_WORKSPACE: [&str; 9] = [
    "Cargo.toml",
    "Cargo.lock",
    "LICENSE",
    ".cargo",
    "plugin",
    "xtask",
    "grafana-plugin-runtime",
    "grafana-plugin-xtask",
    "harness",
];

impl Scratch {
    pub fn new() -> Scratch {
        let from = repository();
        let sources: Vec<(PathBuf, PathBuf)> = REPOSITORY
            .iter()
            .map(|entry| (from.join(entry), PathBuf::from(entry)))
            .collect();
        let scratch = Scratch::synced(&sources);
        // Grafana (and its stand-in) enable the app from provisioning/ at start-up, and the
        // backend then checks the targets in its jsonData. The repository's file names a host
        // of the Docker network (host.docker.internal): tests connect only to loopback, so
        // their copy enables the app with no targets.
        fs::write(
            scratch.root().join("provisioning/plugins/apps.yaml"),
            format!(
                "# The tests' copy (xtask/tests/it/scratch.rs): enabled, no targets.\n\
                 apiVersion: 1\napps:\n  - type: {PLUGIN_ID}\n    org_id: 1\n    disabled: false\n"
            ),
        )
        .unwrap();
        scratch
    }

    /// An app made with create-plugin (fixtures/create-plugin-app: package.json, src/,
    /// a stand-in for webpack) with this repository's Rust workspace copied in, as the
    /// README's adoption steps do.
    pub fn create_plugin_app() -> Scratch {
        let from = repository();
        let fixture = from.join("fixtures/create-plugin-app");
        let mut sources: Vec<(PathBuf, PathBuf)> = fs::read_dir(&fixture)
            .unwrap()
            .map(|entry| {
                let name = entry.unwrap().file_name();
                (fixture.join(&name), PathBuf::from(name))
            })
            .filter(|(_, name)| !EXCLUDED.contains(&name.to_str().unwrap_or("")))
            .collect();
        for entry in RUST_WORKSPACE {
            sources.push((from.join(entry), PathBuf::from(entry)));
        }
        Scratch::synced(&sources)
    }

    /// The test's own directory, holding exactly `sources` (source path, name in it).
    fn synced(sources: &[(PathBuf, PathBuf)]) -> Scratch {
        let turn = ONE_AT_A_TIME
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let dir = shared_target_dir().join("it-scratch").join(test_name());
        fs::create_dir_all(&dir).unwrap();
        for (from, name) in sources {
            sync(from, &dir.join(name));
        }
        for entry in fs::read_dir(&dir).unwrap() {
            let entry = entry.unwrap();
            if !sources
                .iter()
                .any(|(_, name)| name.as_os_str() == entry.file_name())
            {
                remove(&entry.path());
            }
        }
        builds_of_its_own(&dir);
        Scratch { dir, _turn: turn }
    }

    pub fn root(&self) -> &Path {
        &self.dir
    }

    pub fn xtask(&self, args: &[&str]) -> Output {
        self.xtask_env(args, &[])
    }

    pub fn xtask_env(&self, args: &[&str], env: &[(&str, &str)]) -> Output {
        self.xtask_command(args)
            .envs(env.iter().copied())
            .output()
            .unwrap()
    }

    /// `cargo xtask ARGS` in this copy, to spawn.
    pub fn xtask_command(&self, args: &[&str]) -> Command {
        let mut command = Command::new(xtask_binary());
        command
            .args(args)
            .current_dir(self.root())
            .env("CARGO_TARGET_DIR", shared_target_dir())
            .env("SOURCE_DATE_EPOCH", EPOCH)
            .env("CARGO_TERM_COLOR", "never");
        command
    }

    pub fn edit(&self, file: &str, edit: impl FnOnce(String) -> String) {
        let path = self.root().join(file);
        fs::write(&path, edit(fs::read_to_string(&path).unwrap())).unwrap();
    }
}

/// The workspace members a scratch copy may hold.
const MEMBERS: [&str; 5] = [
    "plugin",
    "grafana-plugin-runtime",
    "grafana-plugin-xtask",
    "xtask",
    "harness",
];

/// Gives each member of the copy at `dir` a default feature named after the copy. Cargo tells
/// a workspace member's build by its name, version, enabled features and path relative to its
/// workspace: without this, every copy's `plugin` (or library) is one build in the shared
/// target directory with this repository's, and cargo judges it fresh by whichever copy's
/// files built it last (a later `cargo test` then ran a scratch copy's binary, or not the
/// library just edited). The feature enables nothing; dependencies keep their builds.
fn builds_of_its_own(dir: &Path) {
    let name: String = dir
        .file_name()
        .unwrap()
        .to_string_lossy()
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' {
                c
            } else {
                '-'
            }
        })
        .collect();
    let feature = format!("scratch-{name}");
    for member in MEMBERS {
        let manifest = dir.join(member).join("Cargo.toml");
        let Ok(text) = fs::read_to_string(&manifest) else {
            continue;
        };
        let declared = format!("default = [\"{feature}\"]\n{feature} = []\n");
        let text = match text.find("[features]\n") {
            Some(at) => {
                let after = at + "[features]\n".len();
                format!("{}{declared}{}", &text[..after], &text[after..])
            }
            None => format!("{text}\n[features]\n{declared}"),
        };
        fs::write(&manifest, text).unwrap();
    }
}

/// Directories never copied: build output and installed dependencies.
const EXCLUDED: [&str; 3] = ["target", "node_modules", "dist"];

/// Makes `to` hold what `from` holds, writing only the files whose contents differ (so the
/// others keep their modification times) and removing whatever `from` lacks.
pub(crate) fn sync(from: &Path, to: &Path) {
    let kind = fs::symlink_metadata(to).ok().map(|m| m.file_type());
    if from.is_dir() {
        if kind.is_some_and(|k| !k.is_dir()) {
            remove(to);
        }
        fs::create_dir_all(to).unwrap();
        let mut names = Vec::new();
        for entry in fs::read_dir(from).unwrap() {
            let name = entry.unwrap().file_name();
            if !EXCLUDED.contains(&name.to_str().unwrap_or("")) {
                sync(&from.join(&name), &to.join(&name));
                names.push(name);
            }
        }
        for entry in fs::read_dir(to).unwrap() {
            let entry = entry.unwrap();
            if !names.contains(&entry.file_name()) {
                remove(&entry.path());
            }
        }
    } else {
        let same =
            kind.is_some_and(|k| k.is_file()) && fs::read(to).ok() == Some(fs::read(from).unwrap());
        if !same {
            if kind.is_some() {
                remove(to);
            }
            fs::copy(from, to).unwrap();
        }
    }
}

fn remove(path: &Path) {
    let is_dir = fs::symlink_metadata(path).is_ok_and(|m| m.is_dir());
    if is_dir {
        fs::remove_dir_all(path).unwrap();
    } else {
        fs::remove_file(path).unwrap();
    }
}

/// The running test's name (libtest names each test's thread after it), plus a number for
/// a second scratch copy in the same test.
fn test_name() -> String {
    static TAKEN: std::sync::Mutex<Vec<String>> = std::sync::Mutex::new(Vec::new());
    let thread = std::thread::current();
    // Tests run on the main thread (one at a time) have no name of their own: the process
    // id keeps concurrent processes apart.
    let name = match thread.name() {
        Some(name) if name != "main" => name.to_owned(),
        _ => format!("main-{}", std::process::id()),
    };
    let base = name.replace("::", "-").replace(
        |c: char| !c.is_ascii_alphanumeric() && c != '-' && c != '_',
        "_",
    );
    let mut taken = TAKEN.lock().unwrap();
    let name = (1..)
        .map(|n| {
            if n == 1 {
                base.clone()
            } else {
                format!("{base}-{n}")
            }
        })
        .find(|candidate| !taken.contains(candidate))
        .unwrap();
    taken.push(name.clone());
    name
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
