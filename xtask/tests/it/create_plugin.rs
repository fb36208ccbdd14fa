//! `cargo xtask` in an app made with create-plugin (fixtures/create-plugin-app: its
//! package.json scripts and dist/ output, with a stand-in for webpack, so nothing is
//! downloaded): one dist/ with the frontend build's files and the backend binary, in both
//! build orders; a failed frontend or backend build leaves dist/ as it was; one version;
//! the archive. SKIPPED without node and npm.
use std::{fs, path::Path, process::Command};

use crate::scratch::{EXECUTABLE, PLUGIN_ID, Scratch, host_binary_name, snapshot, text};

fn names(dist: &Path) -> Vec<String> {
    snapshot(dist).into_keys().collect()
}

pub(crate) fn node_and_npm() -> Result<(), String> {
    for tool in ["node", "npm"] {
        let works = Command::new(tool)
            .arg("--version")
            .output()
            .is_ok_and(|output| output.status.success());
        if !works {
            return Err(format!(
                "{tool} is not installed (Node.js runs create-plugin's frontend build)"
            ));
        }
    }
    Ok(())
}

const FRONTEND: [&str; 12] = [
    "202.js",
    "202.js.map",
    "372.js",
    "372.js.map",
    "CHANGELOG.md",
    "LICENSE",
    "README.md",
    "img/logo.svg",
    "module.js",
    "module.js.LICENSE.txt",
    "module.js.map",
    "plugin.json",
];

#[test]
fn a_create_plugin_app_builds_its_frontend_and_backend_into_one_dist() {
    const TEST: &str = "a_create_plugin_app_builds_its_frontend_and_backend_into_one_dist";
    if let Err(reason) = node_and_npm() {
        return harness::skip(TEST, &reason);
    }
    let scratch = Scratch::create_plugin_app();
    let dist = scratch.root().join("dist");
    let binary = host_binary_name();

    // One command builds both halves; the dependencies are installed from the lockfile.
    let output = scratch.xtask(&["build", "--debug"]);
    let stderr = text(&output.stderr);
    assert!(output.status.success(), "{stderr}");
    assert!(
        stderr.contains("Installing the frontend's dependencies (npm ci)"),
        "{stderr}"
    );
    assert!(
        stderr.contains("Building frontend (npm run build)"),
        "{stderr}"
    );
    let mut expected: Vec<String> = FRONTEND.iter().map(|f| f.to_string()).collect();
    expected.push(binary.clone());
    expected.sort();
    assert_eq!(names(&dist), expected);
    let manifest = fs::read_to_string(dist.join("plugin.json")).unwrap();
    assert!(manifest.contains("\"version\": \"0.1.0\""), "{manifest}");

    // Nothing changed: the frontend is not built again.
    let output = scratch.xtask(&["build", "--debug"]);
    let stderr = text(&output.stderr);
    assert!(output.status.success(), "{stderr}");
    assert!(stderr.contains("Fresh frontend"), "{stderr}");
    assert!(!stderr.contains("Installing"), "{stderr}");

    // A backend binary of another executable name (an old Go build's) is named once.
    fs::write(dist.join("gpx_old_linux_amd64"), "an old build").unwrap();
    let output = scratch.xtask(&["build", "--debug", "--backend-only"]);
    let stderr = text(&output.stderr);
    assert!(
        stderr.contains(
            "warning: dist/ has backend binaries of another executable name: gpx_old_linux_amd64;"
        ) && stderr.matches("another executable name").count() == 1,
        "{stderr}"
    );
    fs::remove_file(dist.join("gpx_old_linux_amd64")).unwrap();

    // `npm run build` after `cargo xtask build` keeps the binary (create-plugin's keep
    // pattern), and `cargo xtask build` after `npm run build` keeps the frontend output.
    let npm = Command::new("npm")
        .args(["run", "build"])
        .current_dir(scratch.root())
        .output()
        .unwrap();
    assert!(npm.status.success(), "{}", text(&npm.stderr));
    assert_eq!(names(&dist), expected);
    let output = scratch.xtask(&["build", "--debug", "--backend-only"]);
    assert!(output.status.success(), "{}", text(&output.stderr));
    assert_eq!(names(&dist), expected);

    // A frontend that does not build: dist/ exactly as it was, though webpack cleaned it.
    let before = snapshot(&dist);
    scratch.edit("src/module.tsx", |s| s + "\nSYNTAX ERROR\n");
    let output = scratch.xtask(&["build", "--debug"]);
    let stderr = text(&output.stderr);
    assert!(!output.status.success());
    assert!(
        stderr.contains("the frontend build (`npm run build`) failed"),
        "{stderr}"
    );
    assert_eq!(
        snapshot(&dist),
        before,
        "dist/ changed after a failed frontend build"
    );
    // With -q the frontend's output is on screen only because it failed.
    let output = scratch.xtask(&["build", "--frontend-only", "-q"]);
    let stderr = text(&output.stderr);
    assert!(
        !output.status.success()
            && stderr.contains("ERROR in ./src/module.tsx")
            && stderr.contains("error: the frontend build"),
        "{stderr}"
    );

    // A backend that does not build: dist/ as it was too, the new frontend output undone.
    scratch.edit("src/module.tsx", |s| {
        format!("// edited\n{}", s.replace("\nSYNTAX ERROR\n", "\n"))
    });
    scratch.edit("plugin/src/health.rs", |s| {
        s + "\ncompile_error!(\"broken on purpose\");\n"
    });
    let output = scratch.xtask(&["build", "--debug"]);
    assert!(!output.status.success());
    assert_eq!(
        snapshot(&dist),
        before,
        "dist/ changed after a failed backend build"
    );
    scratch.edit("plugin/src/health.rs", |s| {
        s.replace("\ncompile_error!(\"broken on purpose\");\n", "")
    });
    let output = scratch.xtask(&["build", "--debug"]);
    let stderr = text(&output.stderr);
    assert!(output.status.success(), "{stderr}");
    // The failure forgot the last frontend build: it runs again.
    assert!(stderr.contains("Building frontend"), "{stderr}");
    assert!(
        fs::read_to_string(dist.join("module.js"))
            .unwrap()
            .contains("edited")
    );

    // One version: package.json's must be Cargo.toml's.
    scratch.edit("package.json", |s| {
        s.replace("\"version\": \"0.1.0\"", "\"version\": \"0.2.0\"")
    });
    let output = scratch.xtask(&["build", "--debug"]);
    let errors: Vec<String> = text(&output.stderr)
        .lines()
        .filter(|l| l.starts_with("error:"))
        .map(str::to_owned)
        .collect();
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert!(
        errors[0].contains("package.json: field `version` is \"0.2.0\" but ")
            && errors[0].contains("Cargo.toml says \"0.1.0\"; make them equal"),
        "{errors:?}"
    );
    scratch.edit("package.json", |s| {
        s.replace("\"version\": \"0.2.0\"", "\"version\": \"0.1.0\"")
    });

    // -q prints only errors: webpack's lines of a build that works are not shown.
    scratch.edit("src/module.tsx", |s| format!("// quiet\n{s}"));
    let output = scratch.xtask(&["build", "--frontend-only", "-q"]);
    assert!(output.status.success(), "{}", text(&output.stderr));
    assert_eq!(text(&output.stderr), "", "-q printed something");
    assert!(
        fs::read_to_string(dist.join("module.js"))
            .unwrap()
            .contains("quiet")
    );

    // The archive carries every frontend file and the binary, and passes validate.
    let release = harness::binaries::release_for("linux", "amd64");
    let linux = format!("{EXECUTABLE}_linux_amd64");
    fs::write(dist.join(&linux), release).unwrap();
    let output = scratch.xtask(&["package", "--no-build", "--target", "linux/amd64"]);
    assert!(output.status.success(), "{}", text(&output.stderr));
    let archive = scratch
        .root()
        .join("target/package")
        .join(format!("{PLUGIN_ID}-0.1.0.zip"));
    let zip = zip::ZipArchive::new(fs::File::open(&archive).unwrap()).unwrap();
    let entries: Vec<String> = zip
        .file_names()
        .map(|name| name.unwrap().into_owned())
        .collect();
    for file in FRONTEND.iter().map(|f| f.to_string()).chain([linux]) {
        assert!(
            entries.contains(&format!("{PLUGIN_ID}/{file}")),
            "{file} in {entries:?}"
        );
    }
}

#[test]
fn a_missing_package_manager_is_said_before_anything_builds() {
    const TEST: &str = "a_missing_package_manager_is_said_before_anything_builds";
    // PATH with node but without yarn: the places yarn is left out.
    let path = crate::scratch::path_without("yarn")
        .filter(|path| std::env::split_paths(path).any(|dir| dir.join("node").is_file()));
    let Some(path) = path else {
        return harness::skip(
            TEST,
            "node is not installed, or yarn is installed beside it",
        );
    };
    let scratch = Scratch::create_plugin_app();
    scratch.edit("package.json", |s| {
        s.replacen('{', "{\n  \"packageManager\": \"yarn@1.22.22\",", 1)
    });
    let output = scratch.xtask_env(&["build", "--debug"], &[("PATH", path.as_str())]);
    let stderr = text(&output.stderr);
    assert!(!output.status.success());
    assert!(
        stderr.contains("the frontend build runs `yarn run build` (package.json's packageManager is yarn@1.22.22), and `yarn` is not on PATH: run `corepack enable`"),
        "{stderr}"
    );
    assert!(
        !stderr.contains("Compiling"),
        "nothing builds first: {stderr}"
    );
}

#[test]
fn without_a_plugin_json_anywhere_the_error_names_every_place_looked_at() {
    let scratch = Scratch::create_plugin_app();
    fs::remove_file(scratch.root().join("src/plugin.json")).unwrap();
    let output = scratch.xtask(&["build", "--dry-run"]);
    assert!(!output.status.success());
    let stderr = text(&output.stderr);
    for place in ["plugin.json", "src/plugin.json", "package.json"] {
        let path = scratch.root().join(place);
        assert!(
            stderr.contains(&path.display().to_string()),
            "{place} in {stderr}"
        );
    }
}

/// Processes whose working directory is inside `dir` and whose program is `node`.
#[cfg(target_os = "linux")]
fn node_processes_in(dir: &Path) -> Vec<u64> {
    let dir = dir.canonicalize().unwrap();
    fs::read_dir("/proc")
        .unwrap()
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u64>().ok())
        .filter(|pid| crate::dev::alive(*pid))
        .filter(|pid| {
            let cwd = fs::read_link(format!("/proc/{pid}/cwd"));
            let exe = fs::read_link(format!("/proc/{pid}/exe"));
            cwd.is_ok_and(|cwd| cwd.starts_with(&dir))
                && exe.is_ok_and(|exe| {
                    exe.file_name()
                        .is_some_and(|n| n.to_string_lossy().starts_with("node"))
                })
        })
        .collect()
}

#[cfg(target_os = "linux")]
#[test]
fn dev_watch_runs_the_frontend_watcher_and_leaves_no_node_behind() {
    const TEST: &str = "dev_watch_runs_the_frontend_watcher_and_leaves_no_node_behind";
    if let Err(reason) = node_and_npm() {
        return harness::skip(TEST, &reason);
    }
    let standin = crate::dev::standin();
    let scratch = Scratch::create_plugin_app();
    let port = crate::dev::free_port();
    let (mut child, output) = crate::dev::spawn_dev_watch(&scratch, &standin, port);
    crate::dev::wait_for("the frontend watcher", &output, || {
        output
            .lock()
            .unwrap()
            .contains("[frontend] webpack compiled successfully")
    });
    assert!(
        !node_processes_in(scratch.root()).is_empty(),
        "no node watcher runs"
    );

    // A frontend change is webpack's: dist/module.js follows, the backend is not rebuilt.
    scratch.edit("src/module.tsx", |s| format!("// watched\n{s}"));
    let module = scratch.root().join("dist/module.js");
    crate::dev::wait_for("webpack's rebuild", &output, || {
        fs::read_to_string(&module).is_ok_and(|m| m.contains("watched"))
    });
    assert!(
        !output.lock().unwrap().contains("Rebuilding"),
        "{}",
        output.lock().unwrap()
    );
    assert!(
        scratch
            .root()
            .join("dist")
            .join(host_binary_name())
            .is_file(),
        "webpack's clean kept the backend binary"
    );

    // The manifest is src/plugin.json: webpack copies it to dist/, then Grafana restarts
    // (it reads plugin.json only at start-up), as a plugin.json edit does in the template.
    assert!(
        output
            .lock()
            .unwrap()
            .contains("Watching plugin/, src/plugin.json and the Cargo files"),
        "{}",
        output.lock().unwrap()
    );
    scratch.edit("src/plugin.json", |s| {
        s.replacen("Checks TCP services", "Edited: checks TCP services", 1)
    });
    crate::dev::wait_for("Grafana's restart for src/plugin.json", &output, || {
        output.lock().unwrap().contains("Grafana restarted")
    });
    let manifest = fs::read_to_string(scratch.root().join("dist/plugin.json")).unwrap();
    assert!(
        manifest.contains("Edited: checks TCP services"),
        "webpack did not copy the edited manifest: {manifest}"
    );

    let interrupted = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(interrupted.success());
    let status = child.wait().unwrap();
    assert!(status.success(), "{}", output.lock().unwrap());
    assert!(
        output
            .lock()
            .unwrap()
            .contains("Stopping the frontend watcher"),
        "{}",
        output.lock().unwrap()
    );
    let left = node_processes_in(scratch.root());
    assert!(left.is_empty(), "node outlived dev: {left:?}");
}

#[test]
fn adopt_gives_a_create_plugin_app_the_rust_backend_and_then_it_builds() {
    const TEST: &str = "adopt_gives_a_create_plugin_app_the_rust_backend_and_then_it_builds";
    if let Err(reason) = node_and_npm() {
        return harness::skip(TEST, &reason);
    }
    // The app as create-plugin leaves it: a frontend, no Rust (a Go backend would be here).
    let app = tempfile::tempdir().unwrap();
    let fixture = Path::new(env!("CARGO_MANIFEST_DIR")).join("../fixtures/create-plugin-app");
    crate::scratch::sync(&fixture, app.path());
    fs::write(app.path().join("Magefile.go"), "package main\n").unwrap();
    fs::copy(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../LICENSE"),
        app.path().join("LICENSE"),
    )
    .unwrap();

    // The app's own cargo configuration, and a file of its own where adopt writes one.
    let config = "# The app's registry.\n[registries.acme]\nindex = \"sparse+https://cargo.acme.example/\"\n";
    fs::create_dir_all(app.path().join(".cargo")).unwrap();
    fs::write(app.path().join(".cargo/config.toml"), config).unwrap();
    fs::create_dir_all(app.path().join("plugin/src")).unwrap();
    fs::write(
        app.path().join("plugin/src/main.rs"),
        "fn main() {} // mine\n",
    )
    .unwrap();

    let repository = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
    let adopt = |force: bool| {
        let mut command = Command::new(crate::scratch::xtask_binary());
        command.arg("adopt").arg(app.path());
        if force {
            command.arg("--force");
        }
        command
            .current_dir(repository)
            .env("CARGO_TERM_COLOR", "never")
            .output()
            .unwrap()
    };
    // Not an app: said so, with what makes one.
    let empty = tempfile::tempdir().unwrap();
    let output = Command::new(crate::scratch::xtask_binary())
        .arg("adopt")
        .arg(empty.path())
        .current_dir(repository)
        .env("CARGO_TERM_COLOR", "never")
        .output()
        .unwrap();
    let stderr = text(&output.stderr);
    assert!(
        !output.status.success()
            && stderr.contains("not a create-plugin app (no package.json)")
            && stderr.contains("a package.json with a `build` script and src/plugin.json"),
        "{stderr}"
    );
    fs::write(
        empty.path().join("package.json"),
        "{\"version\": \"1.0.0\"}",
    )
    .unwrap();
    let output = Command::new(crate::scratch::xtask_binary())
        .arg("adopt")
        .arg(empty.path())
        .current_dir(repository)
        .output()
        .unwrap();
    assert!(
        text(&output.stderr)
            .contains("not a create-plugin app (package.json has no `build` script)"),
        "{}",
        text(&output.stderr)
    );

    // A file that would change: listed, nothing written.
    let refused = adopt(false);
    let stderr = text(&refused.stderr);
    assert!(!refused.status.success());
    assert!(
        stderr.contains("adopt would overwrite 1 file(s) of the app that differ from what it writes: plugin/src/main.rs; nothing was written"),
        "{stderr}"
    );
    assert!(!app.path().join("Cargo.toml").exists());
    assert_eq!(
        fs::read_to_string(app.path().join(".cargo/config.toml")).unwrap(),
        config
    );

    // --force writes over it, keeping it beside; the alias joins the app's configuration.
    let forced = adopt(true);
    let stderr = text(&forced.stderr);
    assert!(forced.status.success(), "{stderr}");
    assert!(stderr.contains("delete Magefile.go"), "{stderr}");
    assert!(
        stderr.contains("merged into .cargo/config.toml"),
        "{stderr}"
    );
    assert_eq!(
        fs::read_to_string(app.path().join("plugin/src/main.rs.before-adopt")).unwrap(),
        "fn main() {} // mine\n"
    );
    let merged = fs::read_to_string(app.path().join(".cargo/config.toml")).unwrap();
    assert!(
        merged.starts_with(config) && merged.contains("[alias]\nxtask = "),
        "{merged}"
    );
    for file in [
        "Cargo.toml",
        "Cargo.lock",
        "xtask/src/main.rs",
        "plugin/src/main.rs",
    ] {
        assert!(app.path().join(file).is_file(), "{file}");
    }
    fs::remove_file(app.path().join("plugin/src/main.rs.before-adopt")).unwrap();
    // What works on a teammate's or CI's checkout: the library by a relative path, said so;
    // and cargo's output kept out of git.
    let manifest = fs::read_to_string(app.path().join("Cargo.toml")).unwrap();
    assert!(
        manifest.contains("grafana-plugin-xtask = { path = \"../")
            && manifest.contains("grafana-plugin-runtime = { path = \"../")
            && !manifest.contains(&format!("path = \"{}", repository.display())),
        "{manifest}"
    );
    assert!(stderr.contains("by the relative paths ../"), "{stderr}");
    let ignore = fs::read_to_string(app.path().join(".gitignore")).unwrap();
    let theirs = fs::read_to_string(fixture.join(".gitignore")).unwrap();
    assert!(
        ignore.starts_with(&theirs) && ignore.ends_with("\n/target\n"),
        "{ignore}"
    );

    // With no other edit, the app's own `cargo xtask build` builds both halves.
    let build = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
        .args(["xtask", "build", "--debug"])
        .current_dir(app.path())
        .env("CARGO_TARGET_DIR", crate::scratch::shared_target_dir())
        .env("CARGO_TERM_COLOR", "never")
        .output()
        .unwrap();
    let stderr = text(&build.stderr);
    assert!(build.status.success(), "{stderr}");
    assert!(!stderr.contains("warning: `plugin`"), "{stderr}");
    let dist = app.path().join("dist");
    assert!(
        dist.join("module.js").is_file() && dist.join("202.js").is_file(),
        "{stderr}"
    );
    assert!(dist.join(host_binary_name()).is_file(), "{stderr}");

    // The backend it wrote, on the runtime crate, passes its own tests there.
    let tested = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
        .args(["test", "-p", "plugin", "--quiet"])
        .current_dir(app.path())
        .env("CARGO_TARGET_DIR", crate::scratch::shared_target_dir())
        .env("CARGO_TERM_COLOR", "never")
        .output()
        .unwrap();
    assert!(
        tested.status.success() && text(&tested.stdout).contains("test result: ok"),
        "{}{}",
        text(&tested.stdout),
        text(&tested.stderr)
    );

    // Adopting again changes nothing, and keeps the app's Cargo.lock as its build left it.
    let lock = fs::read(app.path().join("Cargo.lock")).unwrap();
    let again = adopt(false);
    assert!(again.status.success(), "{}", text(&again.stderr));
    assert!(
        text(&again.stderr).contains("nothing was written"),
        "{}",
        text(&again.stderr)
    );
    assert_eq!(fs::read(app.path().join("Cargo.lock")).unwrap(), lock);
}
