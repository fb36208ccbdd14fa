//! `cargo xtask build` end to end, in a scratch copy of this repository (see `scratch`). The dist/
//! it produces is checked the way Grafana uses it: file names, modes, the filled
//! plugin.json, and the binary answering the handshake and gRPC.
use std::{
    fs,
    io::{BufRead, BufReader, Read},
    process::{Output, Stdio},
};

use crate::scratch::{EXECUTABLE, PLUGIN_ID, Scratch, host_binary_name, snapshot, text};

/// Exactly one `error:` line, containing `expected`.
fn assert_one_error_line(output: &Output, expected: &str) {
    assert!(
        !output.status.success(),
        "should fail: {}",
        text(&output.stderr)
    );
    let stderr = text(&output.stderr);
    let errors: Vec<&str> = stderr.lines().filter(|l| l.starts_with("error:")).collect();
    let ours: Vec<&&str> = errors.iter().filter(|l| l.contains(expected)).collect();
    assert_eq!(
        ours.len(),
        1,
        "expected one `error:` line with {expected:?} in:\n{stderr}"
    );
}

#[tokio::test]
async fn build_assembles_a_dist_that_grafana_can_load() {
    let scratch = Scratch::new();
    let dist = scratch.root().join("dist");
    fs::create_dir_all(&dist).unwrap();
    let other_platform = format!("{EXECUTABLE}_linux_arm64");
    fs::write(dist.join(&other_platform), "an earlier cross build").unwrap();
    fs::write(dist.join("stale.txt"), "from an old layout").unwrap();

    let output = scratch.xtask(&["build", "--debug"]);
    assert!(output.status.success(), "{}", text(&output.stderr));
    let stderr = text(&output.stderr);
    assert!(
        stderr.contains("    Building ") && stderr.contains(" (host) with cargo\n"),
        "{stderr}"
    );
    assert!(stderr.contains("    Finished dist/"), "{stderr}");

    let binary = host_binary_name();
    let files: Vec<String> = snapshot(&dist).into_keys().collect();
    let mut expected = vec![
        "CHANGELOG.md".to_owned(),
        "LICENSE".into(),
        "README.md".into(),
        "img/logo.svg".into(),
        "module.js".into(),
        "plugin.json".into(),
        binary.clone(),
        other_platform.clone(),
    ];
    expected.sort();
    assert_eq!(files, expected);

    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = fs::metadata(dist.join(&binary))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o755);
    }

    let plugin_json = fs::read_to_string(dist.join("plugin.json")).unwrap();
    assert!(!plugin_json.contains('%'), "{plugin_json}");
    let plugin_json: serde_json::Value = serde_json::from_str(&plugin_json).unwrap();
    assert_eq!(plugin_json["info"]["version"], env!("CARGO_PKG_VERSION"));
    assert_eq!(plugin_json["info"]["updated"], "2026-11-24");
    assert_eq!(
        plugin_json["includes"][0]["path"],
        format!("/a/{PLUGIN_ID}")
    );

    let (status, stdout, _) = harness::run_to_end(&dist.join(&binary), &["--buildinfo"]).unwrap();
    assert!(status.success());
    let build_info: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(build_info["pluginID"], PLUGIN_ID);
    assert_eq!(build_info["time"], "2026-11-24T00:00:00Z");

    harness::assert_serves(None, &dist.join(&binary), PLUGIN_ID)
        .await
        .unwrap();

    // A second build keeps what it did not build unless told to clean.
    let output = scratch.xtask(&["build", "--debug", "--clean", "--quiet"]);
    assert!(output.status.success(), "{}", text(&output.stderr));
    assert!(
        text(&output.stderr).is_empty(),
        "--quiet: {}",
        text(&output.stderr)
    );
    assert!(!dist.join(&other_platform).exists());
    assert!(dist.join(&binary).exists());

    // Two runs at once: while another run holds target/xtask/ (its OS lock), a build says who
    // and waits, then builds once the lock is released.
    let scratch_dir = scratch.root().join("target/xtask");
    let lock = fs::File::options()
        .create(true)
        .write(true)
        .truncate(false)
        .open(scratch_dir.join("lock"))
        .unwrap();
    lock.lock().unwrap();
    fs::write(
        scratch_dir.join("lock.owner"),
        "`cargo xtask dev` (pid 4242)\n",
    )
    .unwrap();
    let mut second = scratch
        .xtask_command(&["build", "--debug"])
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stderr = BufReader::new(second.stderr.take().unwrap());
    let mut before = String::new();
    while !before.contains("Waiting") {
        // EOF (the build ended without waiting) fails here instead of hanging.
        assert_ne!(stderr.read_line(&mut before).unwrap(), 0, "{before}");
    }
    assert!(
        before.contains(&format!(
            "Waiting for `cargo xtask dev` (pid 4242) to finish with {}",
            scratch_dir.display()
        )) && !before.contains("Building"),
        "{before}"
    );
    std::thread::sleep(std::time::Duration::from_millis(300));
    assert!(second.try_wait().unwrap().is_none(), "it waits: {before}");
    drop(lock);
    let mut after = String::new();
    stderr.read_to_string(&mut after).unwrap();
    assert!(second.wait().unwrap().success(), "{before}{after}");
    assert!(after.contains("Finished dist/"), "{after}");
}

#[test]
fn failing_builds_and_bad_input_leave_dist_untouched() {
    let scratch = Scratch::new();
    let dist = scratch.root().join("dist");
    fs::create_dir_all(dist.join("img")).unwrap();
    fs::write(dist.join("plugin.json"), "the previous build").unwrap();
    fs::write(dist.join(host_binary_name()), "the previous binary").unwrap();
    fs::write(dist.join("img/logo.svg"), "<svg/>").unwrap();
    let before = snapshot(&dist);

    // A compile error: cargo's diagnostics are shown, then our one error line.
    scratch.edit("plugin/src/main.rs", |s| {
        s + "\ncompile_error!(\"broken on purpose\");\n"
    });
    let output = scratch.xtask(&["build", "--debug"]);
    assert_one_error_line(
        &output,
        "cargo could not build the backend; dist/ was left as it was",
    );
    assert!(text(&output.stderr).contains("broken on purpose"));
    assert_eq!(snapshot(&dist), before);
    scratch.edit("plugin/src/main.rs", |s| {
        s.replace("compile_error!(\"broken on purpose\");", "")
    });

    let original = fs::read_to_string(scratch.root().join("plugin.json")).unwrap();
    let plugin_json = scratch.root().join("plugin.json").display().to_string();
    // (edit: replace the first `find` with `replace`, expected error line)
    let cases = [
        (
            "\"type\": \"app\",",
            "\"type\": \"app\"",
            format!("{plugin_json}:4:3: invalid JSON: expected `,` or `}}`"),
        ),
        (
            "acme-servicechecks-app",
            "Acme_Checks",
            format!("{plugin_json}: field `id` is \"Acme_Checks\", which Grafana rejects"),
        ),
        (
            "\"backend\": true",
            "\"backend\": false",
            format!("{plugin_json}: field `backend` is false"),
        ),
        (
            "\"type\": \"app\"",
            "\"type\": \"frontend\"",
            format!("{plugin_json}: field `type` is \"frontend\""),
        ),
        (
            "\"executable\": \"gpx_service_checks\"",
            "\"executable\": 7",
            format!("{plugin_json}: field `executable` must be a string, found a number"),
        ),
    ];
    for (find, replace, expected) in cases {
        fs::write(
            scratch.root().join("plugin.json"),
            original.replacen(find, replace, 1),
        )
        .unwrap();
        let output = scratch.xtask(&["build", "--debug"]);
        assert_one_error_line(&output, &expected);
        assert_eq!(snapshot(&dist), before, "{find}");
    }
    fs::remove_file(scratch.root().join("plugin.json")).unwrap();
    let output = scratch.xtask(&["build"]);
    assert_one_error_line(
        &output,
        &format!("no plugin found: looked for {plugin_json}"),
    );
    assert_eq!(snapshot(&dist), before);
    fs::write(scratch.root().join("plugin.json"), &original).unwrap();

    scratch.edit("Cargo.toml", |s| {
        s.replacen("version = \"0.1.0\"", "version = \"0.2.0-beta.1\"", 1)
    });
    let output = scratch.xtask(&["build"]);
    let cargo_toml = scratch.root().join("Cargo.toml").display().to_string();
    assert_one_error_line(
        &output,
        &format!(
            "{cargo_toml}: field `workspace.package.version` is \"0.2.0-beta.1\"; Grafana needs X.Y.Z"
        ),
    );
    assert_eq!(snapshot(&dist), before);
}

#[test]
fn dry_run_prints_the_plan_and_writes_nothing() {
    let scratch = Scratch::new();
    let output = scratch.xtask(&["build", "--dry-run"]);
    assert!(output.status.success(), "{}", text(&output.stderr));
    let plan = text(&output.stdout);
    assert!(
        plan.starts_with("build acme-servicechecks-app 0.1.0 (release)\n  target "),
        "{plan}"
    );
    // Through cargo-auditable when it is installed: the binary carries its dependency list.
    let build = match crate::cross::on_path("cargo-auditable") {
        Some(_) => "cargo auditable build",
        None => "cargo build",
    };
    assert!(
        plan.contains(&format!(
            "    run      {build} --package plugin --release\n"
        )),
        "{plan}"
    );
    assert!(
        plan.contains(&format!("-> dist/{} (0755)", host_binary_name())),
        "{plan}"
    );
    assert!(
        plan.contains("  fill   plugin.json -> dist/plugin.json (0644)"),
        "{plan}"
    );
    assert!(!scratch.root().join("dist").exists());
    assert!(!scratch.root().join("target").exists());
}

#[test]
fn every_command_has_help() {
    let scratch = Scratch::new();
    let output = scratch.xtask(&["--help"]);
    assert!(output.status.success());
    let help = text(&output.stdout);
    assert!(help.contains("build") && help.contains("--quiet"), "{help}");
    // The repository's own command, added beside the library's (main_with).
    assert!(help.contains("lint "), "{help}");
    let output = scratch.xtask(&["build", "--help"]);
    assert!(output.status.success());
    let help = text(&output.stdout);
    for flag in [
        "--target",
        "--all",
        "--backend",
        "--check-only",
        "--message-format",
        "--debug",
        "--clean",
        "--dry-run",
        "--quiet",
    ] {
        assert!(help.contains(flag), "{flag} in {help}");
    }
    let output = scratch.xtask(&["e2e", "--help"]);
    assert!(output.status.success());
    let help = text(&output.stdout);
    for flag in ["--grafana-version", "--grafana", "--no-build", "--port"] {
        assert!(help.contains(flag), "{flag} in {help}");
    }
    let output = scratch.xtask(&["frobnicate"]);
    assert_eq!(output.status.code(), Some(2));
    assert!(
        text(&output.stderr).starts_with("error:"),
        "{}",
        text(&output.stderr)
    );
}

#[test]
fn go_binaries_left_in_dist_are_named_once_with_the_fix() {
    let scratch = Scratch::new();
    let dist = scratch.root().join("dist");
    fs::create_dir_all(&dist).unwrap();
    // What `mage buildAll` left for linux/arm64: a Go program (its build-info magic).
    let go = harness::binaries::go_for("linux", "arm64");
    let name = format!("{EXECUTABLE}_linux_arm64");
    fs::write(dist.join(&name), &go).unwrap();
    let output = scratch.xtask(&["build", "--debug"]);
    let stderr = text(&output.stderr);
    assert!(output.status.success(), "{stderr}");
    let warnings: Vec<&str> = stderr
        .lines()
        .filter(|line| line.contains("Go binaries"))
        .collect();
    assert_eq!(warnings.len(), 1, "{stderr}");
    assert!(
        warnings[0].starts_with(&format!(
            "warning: dist/ keeps Go binaries a Go backend's build left: {name}"
        )) && warnings[0].contains("`cargo xtask build --target linux/arm64`")
            && warnings[0].contains("--clean"),
        "{stderr}"
    );
    assert!(
        stderr.contains("keeping the binaries already there for linux/arm64"),
        "{stderr}"
    );
    // Built over, or dropped with --clean, it is gone and so is the warning.
    let output = scratch.xtask(&["build", "--debug", "--clean"]);
    assert!(output.status.success(), "{}", text(&output.stderr));
    assert!(!dist.join(&name).exists());
    let output = scratch.xtask(&["build", "--debug"]);
    assert!(!text(&output.stderr).contains("Go binaries"));
}

#[test]
fn a_rename_is_warned_about_and_clean_says_what_it_removes() {
    let scratch = Scratch::new();
    let dist = scratch.root().join("dist");
    fs::create_dir_all(&dist).unwrap();
    let other = format!("{EXECUTABLE}_linux_arm64");
    fs::write(dist.join(&other), "an earlier cross build").unwrap();
    scratch.edit("plugin.json", |s| {
        s.replace(
            &format!("\"id\": \"{PLUGIN_ID}\""),
            "\"id\": \"acme-renamed-app\"",
        )
    });
    let output = scratch.xtask(&["build", "--clean", "--dry-run"]);
    assert!(output.status.success(), "{}", text(&output.stderr));
    let stderr = text(&output.stderr);
    for file in ["docker-compose.yaml:", "provisioning/plugins/apps.yaml:"] {
        assert!(
            stderr.lines().any(|l| l.starts_with("warning: ")
                && l.contains(file)
                && l.contains(&format!(
                    "names the plugin id \"{PLUGIN_ID}\", but plugin.json's id is \"acme-renamed-app\""
                ))),
            "{file} in {stderr}"
        );
    }
    assert!(
        text(&output.stdout).contains(&format!("  remove dist/{other} (--clean)")),
        "{}",
        text(&output.stdout)
    );
}

#[test]
fn init_renames_the_plugin_everywhere_and_refuses_an_id_grafana_rejects() {
    let scratch = Scratch::new();
    let output = scratch.xtask(&["init", "--id", "MyOrg-Foo-app", "--name", "Foo"]);
    assert!(!output.status.success());
    assert!(
        text(&output.stderr).contains("Grafana accepts <org>-<name>-app"),
        "{}",
        text(&output.stderr)
    );
    let output = scratch.xtask(&["init", "--id", "acme-inited-app", "--name", "Inited"]);
    assert!(output.status.success(), "{}", text(&output.stderr));
    // Nothing spells the old identity any more, so nothing warns about it.
    for file in [
        "plugin.json",
        "docker-compose.yaml",
        "provisioning/plugins/apps.yaml",
        "static/README.md",
        "README.md",
        "xtask/tests/it/scratch.rs",
    ] {
        let text = fs::read_to_string(scratch.root().join(file)).unwrap();
        assert!(
            !text.contains(PLUGIN_ID) && !text.contains(EXECUTABLE),
            "{file} still names the old plugin"
        );
    }
    let manifest = fs::read_to_string(scratch.root().join("plugin.json")).unwrap();
    assert!(
        manifest.contains("\"id\": \"acme-inited-app\"")
            && manifest.contains("\"executable\": \"gpx_inited\"")
            && manifest.contains("\"name\": \"Inited\""),
        "{manifest}"
    );
    let output = scratch.xtask(&["build", "--dry-run"]);
    assert!(output.status.success(), "{}", text(&output.stderr));
    assert!(
        !text(&output.stderr).contains("warning:"),
        "{}",
        text(&output.stderr)
    );
    assert!(
        text(&output.stdout).contains("gpx_inited_"),
        "{}",
        text(&output.stdout)
    );

    // Again and again, with names that are ordinary words, Rust identifiers (worker::Checks)
    // or need escaping in JSON: the tree still builds and plugin.json still parses.
    for (id, name) in [
        ("acme-checks-app", "Checks"),
        ("acme-monitor-app", "Service Monitor"),
        ("acme-odd-app", r#"Odd "Quoted" \ Name"#),
    ] {
        let output = scratch.xtask(&["init", "--id", id, "--name", name]);
        assert!(output.status.success(), "{}", text(&output.stderr));
        let manifest: serde_json::Value =
            serde_json::from_str(&fs::read_to_string(scratch.root().join("plugin.json")).unwrap())
                .unwrap();
        assert_eq!(manifest["name"], name);
        assert_eq!(manifest["id"], id);
    }
    let app = fs::read_to_string(scratch.root().join("plugin/src/app.rs")).unwrap();
    let original = fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../plugin/src/app.rs"),
    )
    .unwrap();
    assert!(original.contains("worker::{Checks, Configured}"));
    assert_eq!(app, original, "init changed Rust code (worker::Checks)");
    let output = scratch.xtask(&["build", "--debug"]);
    assert!(output.status.success(), "{}", text(&output.stderr));
    assert!(
        scratch
            .root()
            .join("dist")
            .join(harness::host_executable_name("gpx_odd"))
            .is_file()
    );
    let output = scratch.xtask(&["init", "--id", "acme-odd-app", "--name", "Two\nLines"]);
    assert!(!output.status.success());
    assert!(text(&output.stderr).contains("without control characters"));
}

/// Nothing from outside the project reaches dist/ or the archive: a repository file,
/// static/ itself or a file below it that is a symbolic link is refused, naming where it
/// points; so is a dist/ that is a link or a file, and dist/ is left as it was.
#[cfg(unix)]
#[test]
fn links_out_of_the_project_are_refused_and_dist_is_left_alone() {
    use std::os::unix::fs::symlink;
    let scratch = Scratch::new();
    let root = scratch.root();
    let output = scratch.xtask(&["build", "--no-backend"]);
    assert!(output.status.success(), "{}", text(&output.stderr));
    let dist = root.join("dist");
    let before = snapshot(&dist);
    let outside = tempfile::tempdir().unwrap();
    let secret = outside.path().join("shadow");
    fs::write(&secret, "root:secret").unwrap();

    let refused = |expected: &str| {
        let output = scratch.xtask(&["build", "--no-backend"]);
        let stderr = text(&output.stderr);
        assert!(!output.status.success(), "{stderr}");
        assert!(
            stderr
                .lines()
                .any(|l| l.starts_with("error:") && l.contains(expected)),
            "{expected:?} in:\n{stderr}"
        );
        assert!(!stderr.contains("root:secret"));
    };
    let changelog = root.join("CHANGELOG.md");
    fs::remove_file(&changelog).unwrap();
    symlink(&secret, &changelog).unwrap();
    refused(&format!(
        "CHANGELOG.md: a symbolic link to {}",
        secret.display()
    ));
    assert_eq!(snapshot(&dist), before, "dist/ changed");
    fs::remove_file(&changelog).unwrap();
    fs::write(&changelog, "# Changelog\n").unwrap();

    let logo = root.join("static/img/extra.svg");
    symlink(&secret, &logo).unwrap();
    refused(&format!(
        "img/extra.svg: a symbolic link to {}",
        secret.display()
    ));
    fs::remove_file(&logo).unwrap();

    let moved = root.join("static.real");
    fs::rename(root.join("static"), &moved).unwrap();
    symlink(&moved, root.join("static")).unwrap();
    refused(&format!("static: a symbolic link to {}", moved.display()));
    fs::remove_file(root.join("static")).unwrap();
    fs::rename(&moved, root.join("static")).unwrap();
    assert_eq!(snapshot(&dist), before, "dist/ changed");

    // dist/ a link: refused, the link and what it points at untouched.
    fs::rename(&dist, root.join("dist.real")).unwrap();
    symlink(root.join("dist.real"), &dist).unwrap();
    refused("dist: a symbolic link to");
    assert!(
        fs::symlink_metadata(&dist)
            .unwrap()
            .file_type()
            .is_symlink()
    );
    let output = scratch.xtask(&["package", "--no-build"]);
    assert!(!output.status.success());
    assert!(text(&output.stderr).contains("dist: a symbolic link to"));
    fs::remove_file(&dist).unwrap();

    // dist a file: refused with what to do, the file kept.
    fs::write(&dist, "mine").unwrap();
    refused(
        "dist: a file, not a directory; the tool writes the plugin there: move the file away or remove it",
    );
    assert_eq!(fs::read_to_string(&dist).unwrap(), "mine");
    fs::remove_file(&dist).unwrap();
    let output = scratch.xtask(&["build", "--no-backend"]);
    assert!(output.status.success(), "{}", text(&output.stderr));
}
