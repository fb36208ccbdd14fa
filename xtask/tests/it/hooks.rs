//! A plugin's own xtask with a before-build hook (the library's `codegen` example: it writes
//! generated code before every build of the backend) run end to end in a scratch copy:
//! `build`, `package` and a `dev --watch` cycle each run the hook before building.
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
    let generated = scratch.root().join("target/generated/platforms.rs");
    let read = || std::fs::read_to_string(&generated).unwrap_or_default();

    let output = run(&xtask, &scratch, &["build", "--debug"]);
    assert!(output.status.success(), "{}", text(&output.stderr));
    let host = crate::e2e::host_platform();
    assert_eq!(
        read(),
        format!("// generated before `build`\npub const BUILT_FOR: &[&str] = &[\"{host}\"];\n")
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
