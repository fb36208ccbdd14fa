//! `cargo xtask dev --watch` end to end, against a stand-in for Grafana's process manager
//! (`harness`'s `grafana-standin`: starts the plugin as Grafana does, restarts it within a
//! second when it exits, reports what serves in a status file). Edit → the new health
//! message is served; compile error → the old one keeps serving and the error is printed;
//! fix → the new one; SIGINT → every process started is gone.
use std::{
    io::{BufRead, BufReader},
    path::{Path, PathBuf},
    process::{Command, Stdio},
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use crate::scratch::{Scratch, text};

pub(crate) fn standin() -> PathBuf {
    // Built into the test run's target directory (the xtask test binary cannot name another
    // package's binary): dependencies are already compiled, so this is quick.
    let repository = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
    let target = Path::new(env!("CARGO_BIN_EXE_xtask"))
        .ancestors()
        .nth(2)
        .unwrap()
        .to_owned();
    let output = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
        .args([
            "build",
            "--quiet",
            "--package",
            "harness",
            "--bin",
            "grafana-standin",
        ])
        .current_dir(repository)
        .env("CARGO_TARGET_DIR", &target)
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", text(&output.stderr));
    target.join("debug/grafana-standin")
}

fn status(scratch: &Scratch) -> Option<serde_json::Value> {
    let text =
        std::fs::read_to_string(scratch.root().join("target/dev/data/standin-status.json")).ok()?;
    serde_json::from_str(&text).ok()
}

/// Waits until `done` holds, or panics with `what` and the xtask's output so far.
pub(crate) fn wait_for(what: &str, output: &Mutex<String>, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(120);
    while !done() {
        assert!(
            Instant::now() < deadline,
            "timed out waiting for {what}; xtask printed:\n{}",
            output.lock().unwrap()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

pub(crate) fn alive(pid: u64) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|stat| {
        !stat
            .rsplit(')')
            .next()
            .unwrap_or_default()
            .trim_start()
            .starts_with('Z')
    })
}

/// `cargo xtask dev --watch --grafana <stand-in>` in `scratch`, its stderr collected.
pub(crate) fn spawn_dev_watch(
    scratch: &Scratch,
    standin: &Path,
    port: u16,
) -> (std::process::Child, Arc<Mutex<String>>) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_xtask"))
        .args(["dev", "--watch", "--port", &port.to_string(), "--grafana"])
        .arg(standin)
        .current_dir(scratch.root())
        .env("CARGO_TARGET_DIR", crate::scratch::shared_target_dir())
        .env("CARGO_TERM_COLOR", "never")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let output = Arc::new(Mutex::new(String::new()));
    let sink = output.clone();
    let stderr = child.stderr.take().unwrap();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            let mut output = sink.lock().unwrap();
            output.push_str(&line);
            output.push('\n');
        }
    });
    (child, output)
}

/// The parent of a process (other tests run stand-ins of their own).
fn parent(pid: u64) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    stat.rsplit(')')
        .next()?
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()
}

pub(crate) fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn health(scratch: &Scratch) -> String {
    status(scratch)
        .and_then(|s| s["health"].as_str().map(str::to_owned))
        .unwrap_or_default()
}

#[test]
fn dev_watch_rebuilds_reloads_survives_a_broken_build_and_cleans_up() {
    if !cfg!(target_os = "linux") {
        return harness::skip(
            "dev_watch_rebuilds_reloads_survives_a_broken_build_and_cleans_up",
            "checks processes through /proc",
        );
    }
    let standin = standin();
    let scratch = Scratch::new();
    let port = free_port();
    let (mut child, output) = spawn_dev_watch(&scratch, &standin, port);

    wait_for("the first build to serve", &output, || {
        health(&scratch).starts_with("No targets configured yet")
    });
    wait_for("the watcher", &output, || {
        output.lock().unwrap().contains("Watching")
    });
    // Printed only after Grafana's API said the plugin is loaded and its backend healthy.
    assert!(
        output.lock().unwrap().contains(&format!(
            "Serving http://localhost:{port}/a/acme-servicechecks-app (backend healthy: No targets configured yet"
        )),
        "{}",
        output.lock().unwrap()
    );
    let first_pid = status(&scratch).unwrap()["pid"].as_u64().unwrap();

    scratch.edit("plugin/src/health.rs", |s| {
        s.replace("No targets configured yet", "Edit one: no targets")
    });
    wait_for("the edited message", &output, || {
        health(&scratch).starts_with("Edit one")
    });
    let second_pid = status(&scratch).unwrap()["pid"].as_u64().unwrap();
    assert_ne!(first_pid, second_pid, "a new process serves the new build");
    assert!(
        output.lock().unwrap().contains("Reloaded"),
        "{}",
        output.lock().unwrap()
    );

    scratch.edit("plugin/src/health.rs", |s| {
        s + "\ncompile_error!(\"broken on purpose\");\n"
    });
    wait_for("the failed build", &output, || {
        output
            .lock()
            .unwrap()
            .contains("the previous backend keeps serving")
    });
    assert!(
        output.lock().unwrap().contains("broken on purpose"),
        "the compiler's error is printed"
    );
    std::thread::sleep(Duration::from_millis(1500));
    assert!(
        health(&scratch).starts_with("Edit one"),
        "the old build keeps serving: {}",
        health(&scratch)
    );
    assert!(alive(second_pid));

    scratch.edit("plugin/src/health.rs", |s| {
        s.replace("\ncompile_error!(\"broken on purpose\");\n", "")
            .replace("Edit one", "Edit two")
    });
    wait_for("the fixed build", &output, || {
        health(&scratch).starts_with("Edit two")
    });
    let plugin_pid = status(&scratch).unwrap()["pid"].as_u64().unwrap();

    let standin_pids: Vec<u64> = std::fs::read_dir("/proc")
        .unwrap()
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse().ok())
        .filter(|pid| {
            std::fs::read_link(format!("/proc/{pid}/exe")).is_ok_and(|exe| exe == standin)
                && parent(*pid) == Some(u64::from(child.id()))
        })
        .collect();
    assert!(!standin_pids.is_empty());
    let interrupted = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(interrupted.success());
    let deadline = Instant::now() + Duration::from_secs(30);
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        assert!(
            Instant::now() < deadline,
            "xtask dev did not stop on SIGINT:\n{}",
            output.lock().unwrap()
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(status.success(), "{status:?}\n{}", output.lock().unwrap());
    assert!(!alive(plugin_pid), "the plugin process outlived dev");
    for pid in standin_pids {
        assert!(!alive(pid), "the Grafana stand-in outlived dev");
    }
}

/// Runs `cargo xtask dev --attach` against a stand-in Grafana started with `env` and serving
/// `plugins`, and returns the line where dev tells whether the plugin serves.
fn attach_verdict(scratch: &Scratch, plugins: &Path, env: &[(&str, &str)]) -> String {
    let port = free_port();
    let data = tempfile::tempdir().unwrap();
    let mut grafana = Command::new(standin())
        .arg("server")
        .env("GF_PATHS_PLUGINS", plugins)
        .env("GF_PATHS_DATA", data.path())
        .env("GF_SERVER_HTTP_PORT", port.to_string())
        .envs(env.iter().copied())
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    let mut dev = Command::new(env!("CARGO_BIN_EXE_xtask"))
        .args(["dev", "--attach", "--port", &port.to_string()])
        .current_dir(scratch.root())
        .env("CARGO_TARGET_DIR", crate::scratch::shared_target_dir())
        .env("CARGO_TERM_COLOR", "never")
        .env_remove("GRAFANA_URL")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut verdict = String::new();
    let mut printed = String::new();
    let mut lines = BufReader::new(dev.stderr.take().unwrap())
        .lines()
        .map_while(Result::ok);
    for line in lines.by_ref() {
        printed.push_str(&line);
        printed.push('\n');
        if line.trim_start().starts_with("Serving") || line.starts_with("error:") {
            verdict = line;
            break;
        }
    }
    let _ = Command::new("kill")
        .args(["-INT", &dev.id().to_string()])
        .status();
    for line in lines {
        printed.push_str(&line);
        printed.push('\n');
    }
    let _ = dev.wait();
    let _ = grafana.kill();
    let _ = grafana.wait();
    // Attach mode says what it manages, and on Ctrl-C leaves the Grafana it did not start.
    assert!(
        printed.contains("does not start, restart or stop Grafana")
            && printed.contains(
                "Stopping the watcher (the attached Grafana and its plugin keep running)"
            ),
        "{printed}"
    );
    assert!(!verdict.is_empty(), "dev printed no verdict:\n{printed}");
    verdict
}

#[test]
fn dev_says_whether_grafana_loaded_the_plugin_and_why_not() {
    let scratch = Scratch::new();
    // The dist/ an attached Grafana finds when it starts.
    let built = scratch.xtask(&["build", "--debug"]);
    assert!(built.status.success(), "{}", text(&built.stderr));
    let dist = scratch.root().join("dist");
    let id = "acme-servicechecks-app";
    // Grafana's plugins directory with dist/ linked in as the plugin (as dev does locally).
    let linked = tempfile::tempdir().unwrap();
    std::os::unix::fs::symlink(&dist, linked.path().join(id)).unwrap();

    let verdict = attach_verdict(
        &scratch,
        linked.path(),
        &[("GF_DEFAULT_APP_MODE", "development")],
    );
    assert!(
        verdict.contains("/a/acme-servicechecks-app (backend healthy: No targets configured yet"),
        "{verdict}"
    );

    let verdict = attach_verdict(&scratch, linked.path(), &[]);
    assert!(
        verdict.starts_with("error: the plugin is not serving: Grafana refused the unsigned plugin (signatureMissing)")
            && verdict.contains("GF_DEFAULT_APP_MODE=development")
            && verdict.contains(&format!("GF_PLUGINS_ALLOW_LOADING_UNSIGNED_PLUGINS={id}")),
        "{verdict}"
    );

    // A plugin whose backend file Grafana cannot find for its platform.
    let misnamed = tempfile::tempdir().unwrap();
    let plugin = misnamed.path().join(id);
    std::fs::create_dir_all(&plugin).unwrap();
    let manifest = std::fs::read_to_string(dist.join("plugin.json"))
        .unwrap()
        .replace("\"gpx_service_checks\"", "\"gpx_renamed\"");
    std::fs::write(plugin.join("plugin.json"), manifest).unwrap();
    let verdict = attach_verdict(
        &scratch,
        misnamed.path(),
        &[("GF_DEFAULT_APP_MODE", "development")],
    );
    assert!(
        verdict.contains("could not start its backend (failedBackendStart)")
            && verdict.contains(&format!("dist/{}", crate::scratch::host_binary_name())),
        "{verdict}"
    );

    let empty = tempfile::tempdir().unwrap();
    let verdict = attach_verdict(
        &scratch,
        empty.path(),
        &[("GF_DEFAULT_APP_MODE", "development")],
    );
    assert!(
        verdict.contains(&format!(
            "Grafana has not loaded {id}: it is not in Grafana's plugins directory"
        )),
        "{verdict}"
    );
}
