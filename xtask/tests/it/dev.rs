//! `cargo xtask dev --watch` end to end, against a stand-in for Grafana's process manager
//! (`harness`'s `grafana-standin`: starts the plugin as Grafana does, restarts it within a
//! second when it exits, reports what serves in a status file). Ctrl-C during the first
//! build stops it; a save before Grafana serves is served; edit → the new health message is
//! served; compile error → the old one keeps serving and the error is printed; fix → the
//! new one; SIGINT → every process started is gone.
use std::{
    fs,
    io::{BufRead, BufReader},
    path::{Path, PathBuf},
    process::{Command, Stdio},
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use crate::scratch::{Scratch, text};

pub(crate) fn standin() -> PathBuf {
    crate::scratch::workspace_binaries().0.clone()
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

/// `cargo xtask dev --watch --grafana <stand-in>` in `scratch`, its stderr collected; in a
/// process group of its own, as a terminal's foreground job is (Ctrl-C reaches the group).
pub(crate) fn spawn_dev_watch(
    scratch: &Scratch,
    standin: &Path,
    port: u16,
) -> (std::process::Child, Arc<Mutex<String>>) {
    spawn_dev_watch_of(crate::scratch::xtask_binary(), scratch, standin, port)
}

/// [`spawn_dev_watch`] with another xtask binary (a plugin's own, built on the library).
pub(crate) fn spawn_dev_watch_of(
    xtask: &Path,
    scratch: &Scratch,
    standin: &Path,
    port: u16,
) -> (std::process::Child, Arc<Mutex<String>>) {
    let mut command = Command::new(xtask);
    #[cfg(unix)]
    std::os::unix::process::CommandExt::process_group(&mut command, 0);
    let mut child = command
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

/// Waits for `child` to exit (30 s at most), for a test that has sent it SIGINT.
fn wait_exit(child: &mut std::process::Child, output: &Mutex<String>) -> std::process::ExitStatus {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return status;
        }
        assert!(
            Instant::now() < deadline,
            "xtask dev did not stop on SIGINT:\n{}",
            output.lock().unwrap()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
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

/// Waits (up to 60 s) until something accepts connections on 127.0.0.1:`port`.
pub(crate) fn wait_for_port(port: u16) {
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            std::time::Instant::now() < deadline,
            "nothing listens on {port}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
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

    // Ctrl-C (SIGINT to the foreground group, as a terminal sends it) while the first build
    // compiles: dev stops, successfully, and starts no Grafana.
    scratch.edit("plugin/src/health.rs", |s| s + "\n// a change to compile\n");
    let (mut child, output) = spawn_dev_watch(&scratch, &standin, port);
    wait_for("the first build to compile the plugin", &output, || {
        output.lock().unwrap().contains("Compiling plugin")
    });
    let interrupted = Command::new("kill")
        .args(["-INT", "--", &format!("-{}", child.id())])
        .status()
        .unwrap();
    assert!(interrupted.success());
    let exit = wait_exit(&mut child, &output);
    let printed = output.lock().unwrap().clone();
    assert!(exit.success(), "{exit:?}\n{printed}");
    assert!(
        printed.contains("Stopping (Ctrl-C during the first build)")
            && !printed.contains("Started"),
        "{printed}"
    );

    let (mut child, output) = spawn_dev_watch(&scratch, &standin, port);
    // The watcher is armed before the first build: a save made after the build, while
    // Grafana starts and before "Serving", is rebuilt and served without a second save.
    wait_for("the first build to finish", &output, || {
        output.lock().unwrap().contains("Finished dist/")
    });
    scratch.edit("plugin/src/health.rs", |s| {
        s.replace("No targets configured yet", "Saved at start-up: no targets")
    });
    wait_for("the first build to serve", &output, || {
        !health(&scratch).is_empty()
    });
    wait_for(
        "the save made during start-up to be served",
        &output,
        || health(&scratch).starts_with("Saved at start-up"),
    );
    // Printed only after Grafana's API said the plugin is loaded and its backend healthy;
    // the first build is the one from before the save.
    assert!(
        output.lock().unwrap().contains(&format!(
            "Serving http://localhost:{port}/a/acme-servicechecks-app (backend healthy: No targets configured yet"
        )),
        "{}",
        output.lock().unwrap()
    );
    let first_pid = status(&scratch).unwrap()["pid"].as_u64().unwrap();

    // dist/ follows static/ as it is now: a file added reaches it, one deleted leaves it
    // (and later refreshes still work).
    let added = scratch.root().join("static/img/added.svg");
    let in_dist = scratch.root().join("dist/img/added.svg");
    fs::write(&added, "<svg/>").unwrap();
    wait_for("the added file in dist/", &output, || in_dist.is_file());
    fs::remove_file(&added).unwrap();
    wait_for("the deleted file gone from dist/", &output, || {
        !in_dist.exists()
    });
    scratch.edit("static/README.md", |s| s + "\nOne more line.\n");
    wait_for("a refresh after the deletion", &output, || {
        fs::read_to_string(scratch.root().join("dist/README.md"))
            .is_ok_and(|readme| readme.contains("One more line."))
    });
    let said = output.lock().unwrap().clone();
    assert!(
        said.contains("+img/added.svg") && said.contains("-img/added.svg"),
        "{said}"
    );

    scratch.edit("plugin/src/health.rs", |s| {
        s.replace("Saved at start-up: no targets", "Edit one: no targets")
    });
    wait_for("the edited message", &output, || {
        health(&scratch).starts_with("Edit one")
    });
    let second_pid = status(&scratch).unwrap()["pid"].as_u64().unwrap();
    // Handed over in place: the same process serves the new build, and the stand-in (as
    // Grafana's process manager) started nothing.
    assert_eq!(
        first_pid, second_pid,
        "the same process serves the new build"
    );
    assert_eq!(
        status(&scratch).unwrap()["starts"],
        1,
        "Grafana restarted the plugin"
    );
    // One line per reload: detected, build, handed over, first call served by the new code.
    wait_for("the reload's line", &output, || {
        let said = output.lock().unwrap();
        said.lines().any(|line| {
            line.contains("Reloaded")
                && line.contains("handed over in")
                && line.contains("first call served")
        })
    });

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
    assert_eq!(
        status(&scratch).unwrap()["pid"].as_u64().unwrap(),
        second_pid
    );

    // A plugin crate without the runtime's handover (as one adopted before it): restarted as
    // before, said so.
    scratch.edit("grafana-plugin-runtime/src/handover.rs", |s| {
        s.replace(
            "grafana-plugin-runtime:handover:v1",
            "grafana-plugin-runtime:handover:xx",
        )
    });
    // Another version too: every scratch copy's runtime sits at the same place in its
    // workspace, so cargo (which hashes a member's path relative to the workspace) shares
    // one build of it in the shared target directory, judged fresh by another copy's files;
    // a version of its own is a build of its own.
    scratch.edit("grafana-plugin-runtime/Cargo.toml", |s| {
        s.replace("\nversion.workspace = true", "\nversion = \"0.0.1\"")
    });
    scratch.edit("plugin/src/health.rs", |s| {
        s.replace("Edit two", "Edit three")
    });
    wait_for("the build without a handover", &output, || {
        health(&scratch).starts_with("Edit three")
    });
    let plugin_pid = status(&scratch).unwrap()["pid"].as_u64().unwrap();
    assert_ne!(plugin_pid, second_pid, "restarted: a new process");
    // Said once the first call is served again (the line carries that time).
    wait_for("the restart's line", &output, || {
        output
            .lock()
            .unwrap()
            .contains("it has no handover: Grafana started it again")
    });

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
    let status = wait_exit(&mut child, &output);
    assert!(status.success(), "{status:?}\n{}", output.lock().unwrap());
    assert!(!alive(plugin_pid), "the plugin process outlived dev");
    for pid in standin_pids {
        assert!(!alive(pid), "the Grafana stand-in outlived dev");
    }
}

/// `cargo xtask dev --attach` without --watch, Grafana's API at `port`: the line where dev
/// tells whether the plugin serves, and whether it exited successfully. With nothing to
/// watch it exits by itself.
fn attach(scratch: &Scratch, port: u16) -> (String, bool) {
    let mut dev = Command::new(crate::scratch::xtask_binary())
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
    let pid = dev.id();
    let finished = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let watchdog = finished.clone();
    std::thread::spawn(move || {
        std::thread::sleep(Duration::from_secs(120));
        if !watchdog.load(std::sync::atomic::Ordering::SeqCst) {
            let _ = Command::new("kill").arg(pid.to_string()).status();
        }
    });
    let mut printed = String::new();
    for line in BufReader::new(dev.stderr.take().unwrap())
        .lines()
        .map_while(Result::ok)
    {
        printed.push_str(&line);
        printed.push('\n');
    }
    let status = dev.wait().unwrap();
    finished.store(true, std::sync::atomic::Ordering::SeqCst);
    // Attach mode says what it manages and, having started nothing, names nothing it stops.
    assert!(
        printed.contains("does not start, restart or stop Grafana")
            && !printed.contains("Stopping"),
        "{printed}"
    );
    let verdict = printed
        .lines()
        .find(|line| line.trim_start().starts_with("Serving") || line.starts_with("error:"))
        .unwrap_or_else(|| panic!("dev printed no verdict:\n{printed}"))
        .to_owned();
    (verdict, status.success())
}

/// [`attach`] to a stand-in Grafana started with `env` and serving `plugins`, with anonymous
/// access (as create-plugin's development Grafana has) and the scratch copy's provisioning
/// (which enables the app) unless `env` says otherwise.
fn attach_verdict(scratch: &Scratch, plugins: &Path, env: &[(&str, &str)]) -> (String, bool) {
    let port = free_port();
    let data = tempfile::tempdir().unwrap();
    let mut grafana = Command::new(standin())
        .arg("server")
        .env("GF_PATHS_PLUGINS", plugins)
        .env("GF_PATHS_DATA", data.path())
        .env("GF_SERVER_HTTP_PORT", port.to_string())
        .env("GF_PATHS_PROVISIONING", scratch.root().join("provisioning"))
        .env("GF_AUTH_ANONYMOUS_ENABLED", "true")
        .envs(env.iter().copied())
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    let verdict = attach(scratch, port);
    let _ = grafana.kill();
    let _ = grafana.wait();
    verdict
}

/// A web server that answers every request 200 with `body`, as a dashboard or proxy on
/// Grafana's port might; returns its port.
fn not_grafana(body: &'static str) -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for mut stream in listener.incoming().map_while(Result::ok) {
            let mut request = [0u8; 4096];
            let _ = std::io::Read::read(&mut stream, &mut request);
            let _ = std::io::Write::write_all(
                &mut stream,
                format!("HTTP/1.0 200 OK\r\nContent-Type: text/html\r\n\r\n{body}").as_bytes(),
            );
        }
    });
    port
}

#[test]
fn dev_says_whether_grafana_loaded_the_plugin_and_why_not() {
    let scratch = Scratch::new();
    // The dist/ an attached Grafana finds when it starts.
    let built = scratch.xtask(&["build", "--debug"]);
    assert!(built.status.success(), "{}", text(&built.stderr));
    let dist = scratch.root().join("dist");
    let id = "acme-servicechecks-app";
    let development = [("GF_DEFAULT_APP_MODE", "development")];
    // Grafana's plugins directory with dist/ linked in as the plugin (as dev does locally).
    let linked = tempfile::tempdir().unwrap();
    std::os::unix::fs::symlink(&dist, linked.path().join(id)).unwrap();

    let (verdict, success) = attach_verdict(&scratch, linked.path(), &development);
    assert!(
        verdict.contains("/a/acme-servicechecks-app (backend healthy: No targets configured yet")
            && success,
        "{verdict}"
    );

    // Loaded, but no provisioning enables the app: Grafana answers 404 to its health
    // (checkAppEnabled), and dev names the fix.
    let nowhere = tempfile::tempdir().unwrap();
    let unprovisioned = [
        development[0],
        ("GF_PATHS_PROVISIONING", nowhere.path().to_str().unwrap()),
    ];
    let (verdict, success) = attach_verdict(&scratch, linked.path(), &unprovisioned);
    assert!(
        verdict.contains(&format!("Grafana loaded {id} but the app is not enabled"))
            && verdict.contains("provisioning/plugins/")
            && !success,
        "{verdict}"
    );

    // No anonymous access and no token: Grafana's 401, and the fix.
    let signed_out = [development[0], ("GF_AUTH_ANONYMOUS_ENABLED", "false")];
    let (verdict, success) = attach_verdict(&scratch, linked.path(), &signed_out);
    assert!(
        verdict.contains("Grafana answered 401") && verdict.contains("GRAFANA_TOKEN") && !success,
        "{verdict}"
    );

    // Not allowed unsigned: provisioning names a plugin Grafana did not load, so Grafana
    // would not start; without provisioning it answers with the load error.
    let (verdict, success) = attach_verdict(
        &scratch,
        linked.path(),
        &[("GF_PATHS_PROVISIONING", nowhere.path().to_str().unwrap())],
    );
    assert!(
        verdict.starts_with("error: the plugin is not serving: Grafana refused the unsigned plugin (signatureMissing)")
            && verdict.contains("GF_DEFAULT_APP_MODE=development")
            && verdict.contains(&format!("GF_PLUGINS_ALLOW_LOADING_UNSIGNED_PLUGINS={id}")),
        "{verdict}"
    );
    assert!(!success, "not serving, nothing to watch: exit non-zero");

    // A backend that exits 1 at start (an ELF for this machine that does just that): the
    // file is there and right, so the pointer is its own output in Grafana's log.
    let crashing = tempfile::tempdir().unwrap();
    let plugin = crashing.path().join(id);
    std::fs::create_dir_all(&plugin).unwrap();
    let manifest = std::fs::read_to_string(dist.join("plugin.json"))
        .unwrap()
        .replace("\"gpx_service_checks\"", "\"gpx_crashing\"");
    std::fs::write(plugin.join("plugin.json"), manifest).unwrap();
    let crashing_binary = plugin
        .join(crate::scratch::host_binary_name().replace("gpx_service_checks", "gpx_crashing"));
    std::fs::copy(which("false"), &crashing_binary).unwrap();
    let (verdict, success) = attach_verdict(&scratch, crashing.path(), &development);
    assert!(
        verdict.contains("could not start its backend (failedBackendStart)")
            && verdict.contains(&format!(
                "dist/{} is there (an ELF (Linux) executable",
                crate::scratch::host_binary_name()
            ))
            && verdict.contains(&format!(
                "Grafana's log (the lines with logger=plugin.{id})"
            ))
            && !verdict.contains("cargo xtask build"),
        "{verdict}"
    );
    assert!(!success);

    let empty = tempfile::tempdir().unwrap();
    let (verdict, _) = attach_verdict(&scratch, empty.path(), &unprovisioned);
    assert!(
        verdict.contains(&format!(
            "Grafana has not loaded {id}: it is not in Grafana's plugins directory"
        )),
        "{verdict}"
    );

    // Something else answers on the port: never "Serving".
    for body in ["<!doctype html><title>Home</title>", "{not json[[["] {
        let port = not_grafana(body);
        let (verdict, success) = attach(&scratch, port);
        assert!(
            verdict.starts_with(&format!(
                "error: the plugin is not serving: the server at http://localhost:{port} is not Grafana"
            )) && !success,
            "{verdict}"
        );
    }
}

/// The path of a program on PATH.
fn which(program: &str) -> PathBuf {
    std::env::var_os("PATH")
        .and_then(|path| {
            std::env::split_paths(&path)
                .map(|dir| dir.join(program))
                .find(|candidate| candidate.is_file())
        })
        .unwrap_or_else(|| panic!("{program} is not on PATH"))
}
