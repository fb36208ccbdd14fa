//! A plugin's own xtask written on the library alone, run end to end in scratch copies, no
//! `cargo xtask` run through a process: the `codegen` example's before-build hook (generated
//! code, an environment variable the plugin's build script sees, a file shipped in that
//! same build) in `build`, `package` and a `dev --watch` cycle; the `release` example's
//! build → package → its own step with each archive's size and digest, and its own
//! validation of an archive by path, printed its own way.
use std::{
    path::{Path, PathBuf},
    process::{Command, Output, Stdio},
};

use crate::scratch::{Scratch, shared_target_dir, text};

/// The `codegen` example, built with the stand-in (its dependencies are the xtask's,
/// compiled already).
fn codegen() -> PathBuf {
    crate::scratch::workspace_binaries().1.clone()
}

fn run(xtask: &Path, scratch: &Scratch, args: &[&str]) -> Output {
    run_env(xtask, scratch, args, &[])
}

fn run_env(xtask: &Path, scratch: &Scratch, args: &[&str], env: &[(&str, &str)]) -> Output {
    Command::new(xtask)
        .args(args)
        .envs(env.iter().copied())
        .current_dir(scratch.root())
        .env("CARGO_TARGET_DIR", shared_target_dir())
        .env("CARGO_TERM_COLOR", "never")
        .stdin(Stdio::null())
        .output()
        .unwrap()
}

#[test]
fn a_before_build_hook_runs_before_build_package_and_each_dev_cycle() {
    let xtask = codegen();
    let scratch = Scratch::new();
    // Generated into cargo's target directory (the tests share one).
    let generated_dir = shared_target_dir().join("generated");
    let generated = generated_dir.join("platforms.rs");
    let read = || std::fs::read_to_string(&generated).unwrap_or_default();
    // The plugin's build script says what the hook set in its environment.
    scratch.edit("plugin/build.rs", |s| {
        s.replacen(
            "fn main() {\n",
            "fn main() {\n    println!(\"cargo:rerun-if-env-changed=GENERATED_DIR\");\n    \
             println!(\"cargo:warning=GENERATED_DIR={}\", env::var(\"GENERATED_DIR\").unwrap_or_default());\n",
            1,
        )
    });

    let output = run(&xtask, &scratch, &["build", "--debug"]);
    let stderr = text(&output.stderr);
    assert!(output.status.success(), "{stderr}");
    let host = crate::e2e::host_platform();
    assert_eq!(
        read(),
        format!("// generated before `build`\npub const BUILT_FOR: &[&str] = &[\"{host}\"];\n")
    );
    assert!(
        stderr.contains(&format!("GENERATED_DIR={}", generated_dir.display())),
        "the build script did not see the hook's variable: {stderr}"
    );
    assert!(
        stderr.contains("Generated "),
        "the hook's status line: {stderr}"
    );
    // Written under static/ by the hook, shipped by the same build.
    let info = std::fs::read_to_string(scratch.root().join("dist/build-info.json"));
    assert_eq!(
        info.unwrap_or_default(),
        "{\"command\": \"build\", \"profile\": \"dev\"}\n"
    );

    // package: the hook runs before the build starts. Here cargo then stops at once (a flag
    // rustc refuses), which spares the test compiling every dependency with the size-optimized
    // profile only to be thrown away.
    std::fs::remove_file(&generated).unwrap();
    let refused = [("CARGO_ENCODED_RUSTFLAGS", "--not-a-rustc-flag")];
    let output = run_env(&xtask, &scratch, &["package", "--target", &host], &refused);
    let stderr = text(&output.stderr);
    assert!(!output.status.success(), "{stderr}");
    assert!(
        stderr.contains("Unrecognized option: 'not-a-rustc-flag'"),
        "{stderr}"
    );
    assert!(
        read().starts_with("// generated before `package`"),
        "{}",
        read()
    );

    // dev --watch: the first build, then a cycle after a save.
    let standin = crate::dev::standin();
    let port = crate::dev::free_port();
    let (mut child, output) = crate::dev::spawn_dev_watch_of(&xtask, &scratch, &standin, port);
    crate::dev::wait_for("the first build to serve", &output, || {
        output.lock().unwrap().contains("Serving")
    });
    assert!(
        read().starts_with("// generated before `dev`"),
        "{}",
        read()
    );
    std::fs::remove_file(&generated).unwrap();
    scratch.edit("plugin/src/health.rs", |s| {
        s.replace("No targets configured yet", "Hooked: no targets")
    });
    crate::dev::wait_for("the cycle", &output, || {
        output.lock().unwrap().contains("Reloaded")
    });
    assert!(
        read().starts_with("// generated before `dev`"),
        "{}",
        read()
    );
    let _ = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status();
    let status = child.wait().unwrap();
    assert!(status.success(), "{}", output.lock().unwrap());
}

/// The `release` example, built with the stand-in.
fn release_example() -> PathBuf {
    crate::scratch::workspace_binaries().2.clone()
}

#[test]
fn an_own_release_command_builds_packages_reports_digests_and_validates_by_path() {
    let xtask = release_example();
    let scratch = Scratch::new();
    let host = crate::e2e::host_platform();
    // build → package → the own step, through the library (the release profile: the dist
    // profile's fat LTO would only make the test slower).
    let output = run(
        &xtask,
        &scratch,
        &[
            "release",
            "--target",
            &host,
            "--profile",
            "release",
            "--to",
            "https://up.test/",
        ],
    );
    let stderr = text(&output.stderr);
    assert!(output.status.success(), "{stderr}");
    let line = stderr
        .lines()
        .find(|line| line.contains("Uploading"))
        .unwrap_or_else(|| panic!("no upload line: {stderr}"));
    let archive = scratch.root().join(format!(
        "target/package/{}-0.1.0.zip",
        crate::scratch::PLUGIN_ID
    ));
    let bytes = std::fs::read(&archive).unwrap();
    let sha256 = std::fs::read_to_string(archive.with_extension("zip.sha256")).unwrap();
    let sha256 = sha256.split_whitespace().next().unwrap();
    assert!(
        line.ends_with(&format!(
            "{} ({} bytes, sha256 {sha256}) to https://up.test/",
            archive.display(),
            bytes.len()
        )),
        "{line}"
    );
    // No warning is printed twice: package validates once.
    let validated = stderr.matches("Validated").count();
    assert_eq!(validated, 1, "{stderr}");

    // The archive alone, without its source: with cargo-auditable the binary carries its
    // dependency list, and `validate ARCHIVE` reports the same advisories as the source.
    let db = crate::scratch::repository().join("fixtures/advisory-db");
    let db = [("GRAFANA_PLUGIN_ADVISORY_DB", db.to_str().unwrap())];
    if crate::cross::on_path("cargo-auditable").is_some() {
        let output = run_env(
            &xtask,
            &scratch,
            &["validate", archive.to_str().unwrap()],
            &db,
        );
        let from_binary = text(&output.stderr);
        assert!(output.status.success(), "{from_binary}");
        let output = run_env(&xtask, &scratch, &["audit"], &db);
        let from_source = text(&output.stderr);
        assert!(output.status.success(), "{from_source}");
        let accepted = |said: &str| -> Vec<String> {
            (said.lines())
                .filter(|line| line.trim_start().starts_with("Accepted "))
                .map(|line| line.trim().to_owned())
                .collect()
        };
        assert!(
            from_binary.contains("Audited the binaries' dependency lists (cargo-auditable)"),
            "{from_binary}"
        );
        assert!(!accepted(&from_binary).is_empty(), "{from_binary}");
        assert_eq!(accepted(&from_binary), accepted(&from_source));
    } else {
        println!(
            "SKIPPED the archive's own dependency list: cargo-auditable is not installed \
             (cargo install cargo-auditable)"
        );
    }

    // Validation of an archive by path, printed by the command itself.
    let output = run(
        &xtask,
        &scratch,
        &["check-archive", archive.to_str().unwrap()],
    );
    let stdout = text(&output.stdout);
    assert!(output.status.success(), "{stdout}{}", text(&output.stderr));
    assert!(
        stdout.ends_with(&format!("ok   {}\n", archive.display())),
        "{stdout}"
    );
    assert!(
        !text(&output.stderr).contains("Validated"),
        "the library printed nothing"
    );
    // An archive without plugin.json: the findings as the command prints them, and a failure.
    let broken = scratch.root().join("target/broken.zip");
    let mut zip = zip::ZipWriter::new(std::fs::File::create(&broken).unwrap());
    let readme = format!("{}/README.md", crate::scratch::PLUGIN_ID);
    zip.start_file(readme, zip::write::SimpleFileOptions::default())
        .unwrap();
    std::io::Write::write_all(&mut zip, b"# hello").unwrap();
    zip.finish().unwrap();
    let output = run(
        &xtask,
        &scratch,
        &["check-archive", broken.to_str().unwrap()],
    );
    let stdout = text(&output.stdout);
    assert!(!output.status.success(), "{stdout}");
    assert!(
        stdout.lines().any(|line| line.starts_with("FAIL ")),
        "{stdout}"
    );
    assert!(
        text(&output.stderr).contains("not releasable"),
        "{}",
        text(&output.stderr)
    );
}
