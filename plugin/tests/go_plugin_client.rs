//! The built backend driven by Grafana's real client: HashiCorp's go-plugin over grpc-go,
//! built from Debian's Go sources by `bench/go-plugin-build.sh` (REFERENCE §9): its contract,
//! and the app's state kept per org (targets, results, hook token, worker, metrics). SKIPPED with
//! the reason where Go or those sources are missing (the script's exit 2); a build that
//! fails with them present is a failure.
use std::{path::Path, process::Command};

/// Built once per test binary (the tests share it).
fn build_client() -> Result<std::path::PathBuf, String> {
    harness::go_client::build(&Path::new(env!("CARGO_TARGET_TMPDIR")).join("go-plugin"))
}

#[test]
fn grafanas_go_plugin_client_starts_pings_calls_and_stops_the_plugin() {
    let client = match build_client() {
        Ok(client) => client,
        Err(reason) => {
            harness::skip(
                "grafanas_go_plugin_client_starts_pings_calls_and_stops_the_plugin",
                &reason,
            );
            return;
        }
    };
    let output = Command::new(client)
        .args(["check", env!("CARGO_BIN_EXE_plugin")])
        .env("PLUGIN_ID", "acme-servicechecks-app")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stderr}");
    let result: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(result["protocol"], 2, "{result}");
    assert_eq!(result["ping"], "ok", "go-plugin's Ping: {result}");
    assert_eq!(result["healthStatus"], 1, "CheckHealth OK: {result}");
    assert_eq!(result["pingCode"], 200, "GET ping: {result}");
    assert_eq!(result["exited"], true, "{result}");
    // go-plugin logs this when Shutdown did not end the process and it had to kill it.
    assert!(!stderr.contains("failed to exit gracefully"), "{stderr}");
    assert!(!stderr.contains("[ERROR]"), "{stderr}");
}

/// Grafana's client in `script` mode over the built plugin.
struct Grafana;

impl Grafana {
    fn start(client: &Path, env: &[(&str, &str)]) -> harness::go_client::Grafana {
        let executable = Path::new(env!("CARGO_BIN_EXE_plugin"));
        harness::go_client::Grafana::start(client, executable, "acme-servicechecks-app", env)
    }
}

/// An org's app settings: one target at `address`, one passive target, a hook token.
fn org(org: u64, updated: u64, target: &str, address: &str, token: &str) -> serde_json::Value {
    serde_json::json!({
        "org": org,
        "updated": updated,
        "jsonData": serde_json::json!({ "targets": [
            { "name": target, "address": address, "intervalSeconds": 5 },
            { "name": format!("org{org}-job"), "passive": true },
        ]})
        .to_string(),
        "secure": { "hookToken": token },
    })
}

/// A call of `settings`'s org as a user with `role`.
fn call(settings: &serde_json::Value, fields: serde_json::Value) -> serde_json::Value {
    let mut call = settings.clone();
    for (key, value) in fields.as_object().unwrap() {
        call[key] = value.clone();
    }
    call
}

/// A loopback listener that counts the connections the plugin's checks make.
fn counted_service() -> (String, std::sync::Arc<std::sync::atomic::AtomicUsize>) {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let address = listener.local_addr().unwrap().to_string();
    let count = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let counter = count.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            counter.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            drop(stream);
        }
    });
    (address, count)
}

fn count(counter: &std::sync::atomic::AtomicUsize) -> usize {
    counter.load(std::sync::atomic::Ordering::SeqCst)
}

fn wait_until(what: &str, mut done: impl FnMut() -> bool) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while !done() {
        assert!(
            std::time::Instant::now() < deadline,
            "timed out waiting for {what}"
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
}

fn names(answer: &serde_json::Value) -> Vec<String> {
    let body: serde_json::Value = serde_json::from_str(answer["body"].as_str().unwrap()).unwrap();
    body["checks"]
        .as_array()
        .unwrap_or_else(|| panic!("{answer}"))
        .iter()
        .map(|check| check["name"].as_str().unwrap().to_owned())
        .collect()
}

#[test]
fn each_org_has_its_own_targets_results_token_and_worker_through_grafanas_client() {
    const TEST: &str =
        "each_org_has_its_own_targets_results_token_and_worker_through_grafanas_client";
    let client = match build_client() {
        Ok(client) => client,
        Err(reason) => return harness::skip(TEST, &reason),
    };
    let (org1_address, org1_count) = counted_service();
    let (org2_address, org2_count) = counted_service();
    let (new_address, new_count) = counted_service();
    let mut grafana = Grafana::start(&client, &[("GF_PLUGIN_ALLOWED_TARGETS", "127.0.0.0/8:*")]);
    let pid = grafana.call(serde_json::json!({ "call": "pid" }))["pid"].clone();
    let org1 = org(1, 100, "org1-db", &org1_address, "token-1");
    let org2 = org(2, 200, "org2-db", &org2_address, "token-2");
    let checks = serde_json::json!({ "call": "resource", "role": "Viewer", "method": "GET", "path": "checks" });

    // Each org's Viewer sees its own targets only.
    let answer = grafana.call(call(&org1, checks.clone()));
    assert_eq!(names(&answer), ["org1-db", "org1-job"], "{answer}");
    let answer = grafana.call(call(&org2, checks.clone()));
    assert_eq!(names(&answer), ["org2-db", "org2-job"], "{answer}");
    // Each org's worker checks its own target.
    wait_until("both orgs' first checks", || {
        count(&org1_count) >= 1 && count(&org2_count) >= 1
    });

    // A report with org 2's token changes org 2 only; in org 1 that token opens nothing.
    let report = |name: &str, token: &str| {
        serde_json::json!({
            "call": "resource", "method": "POST", "path": "hooks/report",
            "headers": { "X-Hook-Token": [token] },
            "body": serde_json::json!({ "name": name, "status": "up", "message": "done" }).to_string(),
        })
    };
    assert_eq!(
        grafana.call(call(&org2, report("org2-job", "token-2")))["code"],
        200
    );
    assert_eq!(
        grafana.call(call(&org1, report("org1-job", "token-2")))["code"],
        401
    );
    assert_eq!(
        grafana.call(call(&org1, report("org2-job", "token-1")))["code"],
        404
    );
    let body = |answer: serde_json::Value| -> serde_json::Value {
        serde_json::from_str(answer["body"].as_str().unwrap()).unwrap()
    };
    let org1_checks = body(grafana.call(call(&org1, checks.clone())));
    assert_eq!(
        org1_checks["checks"][1]["status"], "pending",
        "{org1_checks}"
    );
    let org2_checks = body(grafana.call(call(&org2, checks.clone())));
    assert_eq!(org2_checks["checks"][1]["status"], "up", "{org2_checks}");

    // CollectMetrics: per-target gauges, each org under its own label.
    let metrics = grafana.call(serde_json::json!({ "call": "metrics" }));
    let text = metrics["prometheus"].as_str().unwrap();
    for series in [
        "service_check_up{org_id=\"1\",target=\"org1-db\"} 1",
        "service_check_up{org_id=\"2\",target=\"org2-db\"} 1",
        "service_check_up{org_id=\"2\",target=\"org2-job\"} 1",
    ] {
        assert!(text.contains(series), "{series} in {text}");
    }
    assert!(
        text.contains("service_check_latency_seconds{org_id=\"1\",target=\"org1-db\"}"),
        "{text}"
    );

    // New settings for org 1 (any change of lastUpdatedMS): its old worker is disposed of,
    // the new one checks the new target, org 2's goes on.
    let org1_new = org(1, 99, "org1-new", &new_address, "token-1");
    let answer = grafana.call(call(&org1_new, checks.clone()));
    assert_eq!(names(&answer), ["org1-new", "org1-job"], "{answer}");
    wait_until("the new worker's first check", || count(&new_count) >= 1);
    let (old_before, org2_before) = (count(&org1_count), count(&org2_count));
    // Past one interval (5 s) of every target: org 2's is checked again, org 1's old one not.
    wait_until("org 2's next check", || count(&org2_count) > org2_before);
    assert_eq!(
        count(&org1_count),
        old_before,
        "org 1's old worker still checks"
    );

    let after = grafana.call(serde_json::json!({ "call": "pid" }));
    assert_eq!(after["pid"], pid, "one process throughout");
    grafana.stop();
}

#[test]
fn an_org_that_stops_calling_has_its_checks_stopped_after_the_idle_time() {
    // Grafana never tells a plugin that an app was disabled in an org; it stops calling.
    const TEST: &str = "an_org_that_stops_calling_has_its_checks_stopped_after_the_idle_time";
    let client = match build_client() {
        Ok(client) => client,
        Err(reason) => return harness::skip(TEST, &reason),
    };
    let (org1_address, org1_count) = counted_service();
    let (org2_address, org2_count) = counted_service();
    let mut grafana = Grafana::start(
        &client,
        &[
            ("GF_PLUGIN_ALLOWED_TARGETS", "127.0.0.0/8:*"),
            ("GF_PLUGIN_INSTANCE_IDLE_TTL", "1s"),
        ],
    );
    let org1 = org(1, 1, "org1-db", &org1_address, "t1");
    let org2 = org(2, 1, "org2-db", &org2_address, "t2");
    let health = serde_json::json!({ "call": "health", "role": "Admin" });
    grafana.call(call(&org2, health.clone()));
    grafana.call(call(&org1, health.clone()));
    wait_until("both orgs' first checks", || {
        count(&org1_count) >= 1 && count(&org2_count) >= 1
    });
    // Org 1 is used (a page open), org 2 no more (disabled): past org 1's next check, 5 s
    // later, org 2's worker has been gone since its idle second ran out.
    let org1_first = count(&org1_count);
    wait_until("org 1's next check", || {
        grafana.call(call(&org1, health.clone()));
        std::thread::sleep(std::time::Duration::from_millis(200));
        count(&org1_count) > org1_first
    });
    assert_eq!(
        count(&org2_count),
        1,
        "org 2's checks went on without calls"
    );
    grafana.stop();
}

/// Puts a copy of `from` at `to` as `dev` does (a new file renamed over the old), then sends
/// SIGUSR1 to `pid`: the handover.
#[cfg(unix)]
fn hand_over(from: &Path, to: &Path, pid: u64) {
    let fresh = to.with_extension("new");
    std::fs::copy(from, &fresh).unwrap();
    std::fs::rename(&fresh, to).unwrap();
    let sent = Command::new("kill")
        .args(["-USR1", &pid.to_string()])
        .status()
        .unwrap();
    assert!(sent.success());
}

#[cfg(unix)]
#[test]
fn handovers_keep_the_pid_and_fail_no_call_of_grafanas_client() {
    const TEST: &str = "handovers_keep_the_pid_and_fail_no_call_of_grafanas_client";
    let client = match build_client() {
        Ok(client) => client,
        Err(reason) => return harness::skip(TEST, &reason),
    };
    // The binary where Grafana would find it, replaceable.
    let dir = tempfile::tempdir().unwrap();
    let built = Path::new(env!("CARGO_BIN_EXE_plugin"));
    let executable = dir.path().join("gpx_service_checks_linux_amd64");
    std::fs::copy(built, &executable).unwrap();
    let mut grafana = harness::go_client::Grafana::start(
        &client,
        &executable,
        "acme-servicechecks-app",
        &[("GF_PLUGIN_ALLOWED_TARGETS", "127.0.0.0/8:*")],
    );
    let pid = grafana.call(serde_json::json!({ "call": "pid" }))["pid"]
        .as_u64()
        .unwrap();
    let settings = serde_json::json!({
        "org": 1, "updated": 1,
        "jsonData": serde_json::json!({ "targets": [
            { "name": "slow", "address": harness::slow_service(std::time::Duration::from_millis(1200)), "expectBanner": "OK", "intervalSeconds": 3600 },
        ]}).to_string(),
    });
    // Twenty handovers while the client calls CheckHealth and a resource continuously, the
    // first while a call that takes over a second (checks/run of a slow target) is in flight.
    let reloads = std::thread::spawn({
        let (built, executable) = (built.to_owned(), executable.clone());
        move || {
            for _ in 0..20 {
                std::thread::sleep(std::time::Duration::from_millis(300));
                hand_over(&built, &executable, pid);
            }
        }
    });
    let mut load = call(
        &settings,
        serde_json::json!({ "call": "load", "seconds": 6.5, "role": "Viewer" }),
    );
    load["slow"] = call(
        &settings,
        serde_json::json!({ "call": "resource", "role": "Editor", "method": "POST", "path": "checks/run" }),
    );
    let result = grafana.call(load);
    reloads.join().unwrap();
    assert_eq!(result["errors"], 0, "{result}");
    assert!(
        result["calls"].as_u64().unwrap() >= 150,
        "at least 50 calls/s: {result}"
    );
    assert_eq!(
        result["slowCode"], 200,
        "the call in flight completed: {result}"
    );
    assert!(result["slowMillis"].as_u64().unwrap() >= 1_000, "{result}");
    // The same process throughout, serving.
    let after = grafana.call(serde_json::json!({ "call": "pid" }));
    assert_eq!(
        (after["pid"].as_u64(), after["exited"].as_bool()),
        (Some(pid), Some(false))
    );
    let health = grafana.call(call(
        &settings,
        serde_json::json!({ "call": "health", "role": "Admin" }),
    ));
    assert_eq!(health["status"], 1, "{health}");
    grafana.stop();
}
