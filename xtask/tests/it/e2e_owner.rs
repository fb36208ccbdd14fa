//! What `e2e` starts, it stops: Ctrl-C while it waits for Grafana's image removes the
//! container at once, and a container an earlier e2e left (its process gone) is removed at
//! the next start. A fake `docker` on PATH records what it is asked (no engine here).
use std::{
    fs,
    io::Read,
    process::{Command, Stdio},
    time::{Duration, Instant},
};

use crate::{
    dev::free_port,
    scratch::{EXECUTABLE, Scratch, text},
};

const FAKE_DOCKER: &str = r#"#!/bin/sh
echo "$*" >> "$DOCKER_LOG"
case "$1" in
  info) exit 0 ;;
  ps) echo "grafana-e2e-999999 999999"; echo "grafana-e2e-$ALIVE_PID $ALIVE_PID" ;;
  run) echo 0123456789ab ;;
  logs) echo "grafana's log" ;;
esac
exit 0
"#;

/// A folder holding `docker` (the script), the log it writes, and PATH with it first.
fn fake_docker(script: &str) -> (tempfile::TempDir, std::path::PathBuf, String) {
    use std::os::unix::fs::PermissionsExt;
    let bin = tempfile::tempdir().unwrap();
    let docker = bin.path().join("docker");
    fs::write(&docker, script).unwrap();
    fs::set_permissions(&docker, fs::Permissions::from_mode(0o755)).unwrap();
    let log = bin.path().join("docker.log");
    let path = format!(
        "{}:{}",
        bin.path().display(),
        std::env::var("PATH").unwrap()
    );
    (bin, log, path)
}

/// All a child wrote to its piped stderr, once it has closed it.
fn stderr_of(child: &mut std::process::Child) -> String {
    let mut stderr = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut stderr)
        .unwrap();
    stderr
}

#[test]
fn ctrl_c_during_e2e_removes_its_container_and_stale_ones_go_at_start() {
    let scratch = Scratch::new();
    let output = scratch.xtask(&["build", "--no-backend"]);
    assert!(output.status.success(), "{}", text(&output.stderr));
    let platform = crate::e2e::host_platform().replace('/', "_");
    fs::write(
        scratch.root().join(format!("dist/{EXECUTABLE}_{platform}")),
        harness::binaries::release_for("linux", platform.rsplit('_').next().unwrap()),
    )
    .unwrap();
    let (_bin, log, path) = fake_docker(FAKE_DOCKER);
    let alive = std::process::id().to_string();

    // Nothing answers on the port: e2e waits (up to 300 s) for Grafana's /api/health.
    let mut e2e = scratch
        .xtask_command(&["e2e", "--no-build", "--port", &free_port().to_string()])
        .env("PATH", &path)
        .env("DOCKER_LOG", &log)
        .env("ALIVE_PID", &alive)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let pid = e2e.id();
    let deadline = Instant::now() + Duration::from_secs(120);
    while !fs::read_to_string(&log).is_ok_and(|asked| asked.contains("run ")) {
        assert!(Instant::now() < deadline, "e2e never ran the container");
        assert!(
            e2e.try_wait().unwrap().is_none(),
            "e2e exited before its container"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    std::thread::sleep(Duration::from_millis(500));
    let interrupted = Command::new("kill")
        .args(["-INT", &pid.to_string()])
        .status()
        .unwrap();
    assert!(interrupted.success());
    let started = Instant::now();
    let status = e2e.wait().unwrap();
    let stderr = stderr_of(&mut e2e);
    assert!(!status.success(), "{stderr}");
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "slow to stop: {stderr}"
    );
    assert!(stderr.contains("interrupted (Ctrl-C)"), "{stderr}");

    let asked = fs::read_to_string(&log).unwrap();
    let name = format!("grafana-e2e-{pid}");
    assert!(
        asked.contains(&format!(
            "run --detach --rm --name {name} --label grafana-plugin-xtask.e2e={pid} "
        )),
        "{asked}"
    );
    assert!(
        asked.contains("rm --force grafana-e2e-999999"),
        "the stale one: {asked}"
    );
    assert!(
        !asked.contains(&format!("rm --force grafana-e2e-{alive}")),
        "another e2e's container, whose process runs: {asked}"
    );
    assert!(
        asked.lines().last() == Some(format!("rm --force {name}").as_str()),
        "its own container removed last: {asked}"
    );
}

/// `docker` for `dev`'s compose mode: an engine that answers, the compose plugin, an `up`
/// that takes its time (an image pull), a `down` that is recorded.
const FAKE_COMPOSE_DOCKER: &str = r#"#!/bin/sh
echo "$*" >> "$DOCKER_LOG"
case "$1 $2" in
  "info "*) exit 0 ;;
  "compose version") echo "2.29.0"; exit 0 ;;
  "compose up") sleep 60 ;;
esac
exit 0
"#;

#[test]
fn ctrl_c_during_compose_up_takes_the_containers_down() {
    // Compose mode builds the static Linux binary the container runs.
    let musl = format!("{}-unknown-linux-musl", std::env::consts::ARCH);
    if !crate::cross::sysroot_has_std(&musl) {
        return harness::skip(
            "ctrl_c_during_compose_up_takes_the_containers_down",
            &format!("no {musl} standard library (rustup target add {musl})"),
        );
    }
    let scratch = Scratch::new();
    let (_bin, log, path) = fake_docker(FAKE_COMPOSE_DOCKER);
    // In its own process group, as a terminal runs it: Ctrl-C reaches dev and compose.
    let mut command = scratch.xtask_command(&["dev", "--port", &free_port().to_string()]);
    std::os::unix::process::CommandExt::process_group(&mut command, 0);
    let mut dev = command
        .env("PATH", &path)
        .env("DOCKER_LOG", &log)
        .env_remove("GRAFANA_HOME")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // The first build (static Linux, for the container), then `compose up`.
    let deadline = Instant::now() + Duration::from_secs(600);
    while !fs::read_to_string(&log).is_ok_and(|asked| asked.contains("compose up")) {
        assert!(Instant::now() < deadline, "dev never ran compose up");
        if let Some(status) = dev.try_wait().unwrap() {
            let stderr = stderr_of(&mut dev);
            panic!("dev exited before compose up ({status}): {stderr}");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    std::thread::sleep(Duration::from_millis(300));
    let interrupted = Command::new("kill")
        .args(["-INT", "--", &format!("-{}", dev.id())])
        .status()
        .unwrap();
    assert!(interrupted.success());
    let status = dev.wait().unwrap();
    let stderr = stderr_of(&mut dev);
    assert!(status.success(), "{stderr}");
    assert!(
        stderr.contains("Stopping (Ctrl-C during Grafana's start)"),
        "{stderr}"
    );
    let asked = fs::read_to_string(&log).unwrap();
    assert!(
        asked.lines().last() == Some("compose down"),
        "what came up is taken down, last: {asked}"
    );
}
