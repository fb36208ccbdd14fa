//! The built backend, driven exactly as Grafana drives it: Grafana's environment, the
//! go-plugin handshake on stdout, `pluginv2` gRPC calls, and `GRPCController/Shutdown`.
//! Cargo builds the binary once for the whole test run.
use std::path::Path;

use harness::{PluginProcess, app_context, pluginv2::check_health_response::HealthStatus};

const PLUGIN_ID: &str = "acme-servicechecks-app";

fn executable() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_plugin"))
}

#[tokio::test]
async fn health_ping_and_shutdown_through_the_go_plugin_contract() {
    let plugin = PluginProcess::launch(executable()).await.unwrap();
    assert!(plugin.handshake.address.ip().is_loopback());

    let health = plugin
        .check_health(app_context(PLUGIN_ID, Some("Admin"), b"{}", &[]))
        .await
        .unwrap();
    assert_eq!(health.status, HealthStatus::Ok as i32, "{health:?}");
    assert!(
        health.message.starts_with("No targets configured yet"),
        "{}",
        health.message
    );
    let details: serde_json::Value = serde_json::from_slice(&health.json_details).unwrap();
    assert_eq!(details["plugin"]["pluginID"], PLUGIN_ID);

    let ping = plugin
        .call_resource(
            "GET",
            "ping",
            app_context(PLUGIN_ID, Some("Viewer"), b"{}", &[]),
            &[],
            b"",
        )
        .await
        .unwrap();
    assert_eq!(ping.status, 200);
    assert_eq!(ping.json().unwrap()["message"], "pong");
    assert_eq!(
        ping.headers["content-type"].values,
        vec!["application/json".to_owned()]
    );

    let missing = plugin
        .call_resource(
            "GET",
            "nope?x=1",
            app_context(PLUGIN_ID, None, b"{}", &[]),
            &[],
            b"",
        )
        .await
        .unwrap();
    assert_eq!(missing.status, 404);
    assert!(missing.json().unwrap()["error"].is_string());

    assert!(plugin.stdout_after_handshake().is_empty());
    let stopped = plugin.shutdown().await.unwrap();
    assert!(stopped.status.success(), "{stopped:?}");
}

#[tokio::test]
async fn logs_are_hclog_json_lines_on_stderr() {
    let plugin = PluginProcess::launch(executable()).await.unwrap();
    let stopped = plugin.shutdown().await.unwrap();
    let lines: Vec<serde_json::Value> = stopped
        .stderr
        .lines()
        .map(|line| serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {line:?}")))
        .collect();
    // Grafana's hclog parser keys on these fields.
    let messages: Vec<&str> = lines
        .iter()
        .filter_map(|l| l["@message"].as_str())
        .collect();
    assert!(messages.contains(&"plugin started"), "{lines:?}");
    assert!(
        messages.contains(&"Grafana asked the plugin to shut down"),
        "{lines:?}"
    );
    assert!(messages.contains(&"plugin stopped"), "{lines:?}");
    assert!(
        lines
            .iter()
            .all(|l| l["@level"].is_string() && l["@timestamp"].is_string())
    );
}

#[test]
fn version_flag_prints_build_info_and_nothing_else_runs() {
    let (status, stdout, _) = harness::run_to_end(executable(), &["--version"]).unwrap();
    assert!(status.success());
    assert!(
        stdout.starts_with(&format!(
            "{PLUGIN_ID} {} (built ",
            env!("CARGO_PKG_VERSION")
        )),
        "{stdout}"
    );
    let (status, stdout, _) = harness::run_to_end(executable(), &["--buildinfo"]).unwrap();
    assert!(status.success());
    let info: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(info["pluginID"], PLUGIN_ID);
    assert_eq!(info["version"], env!("CARGO_PKG_VERSION"));

    let (status, stdout, stderr) = harness::run_to_end(executable(), &["--serve"]).unwrap();
    assert_eq!(status.code(), Some(2));
    assert!(stdout.is_empty(), "{stdout}");
    assert!(stderr.starts_with("error: unexpected argument"), "{stderr}");
}

#[cfg(unix)]
#[tokio::test]
async fn sigterm_stops_the_plugin_gracefully() {
    let plugin = PluginProcess::launch(executable()).await.unwrap();
    let status = std::process::Command::new("kill")
        .args(["-TERM", &plugin.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let stopped = plugin
        .wait_for_exit(harness::SHUTDOWN_TIMEOUT)
        .await
        .unwrap();
    assert!(stopped.status.success(), "{stopped:?}");
    assert!(
        stopped.stderr.contains("signal received"),
        "{}",
        stopped.stderr
    );
}

#[tokio::test]
async fn go_plugin_ping_answers_serving_for_the_plugin_and_the_server() {
    use tonic_health::pb::health_check_response::ServingStatus;
    let plugin = PluginProcess::launch(executable()).await.unwrap();
    assert_eq!(plugin.ping("plugin").await.unwrap(), ServingStatus::Serving);
    assert_eq!(plugin.ping("").await.unwrap(), ServingStatus::Serving);
    let unknown = plugin.ping("no.such.Service").await.unwrap_err();
    assert_eq!(unknown.code(), tonic::Code::NotFound, "{unknown:?}");
    plugin.shutdown().await.unwrap();
}

#[tokio::test]
async fn the_stdio_stream_go_plugin_opens_is_served_and_ends_on_shutdown() {
    let plugin = PluginProcess::launch(executable()).await.unwrap();
    // go-plugin's client logs "stdio service not available" when this is UNIMPLEMENTED.
    let mut stdio = plugin.stream_stdio().await.unwrap();
    let stopped = plugin.shutdown().await.unwrap();
    assert!(stopped.status.success(), "{stopped:?}");
    // Ended with status OK (go-plugin's client takes that as EOF) and no data on the way.
    match stdio.message().await {
        Ok(None) => {}
        // The connection may close before the trailers arrive; never data, never an error
        // status from the plugin.
        Err(status) => assert_eq!(status.code(), tonic::Code::Unknown, "{status:?}"),
        Ok(Some(data)) => panic!("unexpected stdio data {data:?}"),
    }
}

#[test]
fn started_by_hand_it_explains_like_a_go_plugin_and_exits_1() {
    let (status, stdout, stderr) = harness::run_to_end(executable(), &[]).unwrap();
    assert_eq!(status.code(), Some(1));
    assert!(
        stdout.is_empty(),
        "nothing may look like a handshake: {stdout}"
    );
    assert!(
        stderr.starts_with("This binary is a plugin. These are not meant to be executed directly."),
        "{stderr}"
    );
}

#[tokio::test]
async fn it_listens_inside_the_port_range_grafana_gives() {
    // A free port, then a range starting there (a port taken meanwhile moves it up).
    let first = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
        .min(65535 - 20);
    let (min, max) = (first.to_string(), (first + 20).to_string());
    let plugin = PluginProcess::launch_with(
        executable(),
        &[("PLUGIN_MIN_PORT", &min), ("PLUGIN_MAX_PORT", &max)],
    )
    .await
    .unwrap();
    let port = plugin.handshake.address.port();
    assert!(
        (first..=first + 20).contains(&port),
        "{port} not in {min}..={max}"
    );
    plugin.shutdown().await.unwrap();
}

#[tokio::test]
async fn without_rust_log_it_logs_its_own_debug_lines_for_grafana_to_filter() {
    // Grafana 12.4+ passes no host environment, so no RUST_LOG: Grafana's filter for
    // plugin.<id> decides what is shown, as for a Go plugin.
    let plugin = PluginProcess::launch(executable()).await.unwrap();
    let context = app_context(PLUGIN_ID, Some("Viewer"), b"{}", &[]);
    let ping = plugin
        .call_resource("GET", "ping", context, &[], b"")
        .await
        .unwrap();
    assert_eq!(ping.status, 200);
    let stopped = plugin.shutdown().await.unwrap();
    let lines: Vec<serde_json::Value> = stopped
        .stderr
        .lines()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect();
    let level = |line: &serde_json::Value| line["@level"].as_str().unwrap().to_lowercase();
    assert!(
        lines
            .iter()
            .any(|l| level(l) == "debug" && l["@message"] == "resource call"),
        "{lines:?}"
    );
    // The libraries under the plugin (h2, hyper, tonic) stay at warnings and errors.
    assert!(lines.iter().all(|l| level(l) != "trace"), "{lines:?}");
}

#[cfg(unix)]
#[tokio::test]
async fn a_handover_prints_no_second_handshake_and_the_same_channel_serves_again() {
    let dir = tempfile::tempdir().unwrap();
    let copy = dir.path().join("gpx_service_checks_linux_amd64");
    std::fs::copy(executable(), &copy).unwrap();
    let plugin = PluginProcess::launch(&copy).await.unwrap();
    let context = || app_context(PLUGIN_ID, Some("Admin"), b"{}", &[]);
    assert_eq!(
        plugin.check_health(context()).await.unwrap().status,
        HealthStatus::Ok as i32
    );
    let sent = std::process::Command::new("kill")
        .args(["-USR1", &plugin.id().to_string()])
        .status()
        .unwrap();
    assert!(sent.success());
    // The same gRPC channel (Grafana's one connection) reconnects to the new image.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let stderr = plugin.stderr();
        if stderr.contains("plugin handed over: the new build serves") {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no handover: {stderr}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    let health = plugin.check_health(context()).await.unwrap();
    assert_eq!(health.status, HealthStatus::Ok as i32, "{health:?}");
    assert!(
        plugin.stdout_after_handshake().is_empty(),
        "a second handshake line"
    );
    let stopped = plugin.shutdown().await.unwrap();
    assert!(stopped.status.success(), "{stopped:?}");
}

/// The state letter of a process from `/proc` (`Z`: exited, not yet waited for).
#[cfg(target_os = "linux")]
fn process_state(pid: u32) -> String {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|stat| Some(stat.rsplit_once(") ")?.1.chars().next()?.to_string()))
        .unwrap_or_else(|| "gone".to_owned())
}

/// Open files, threads and resident memory of a process (Linux).
#[cfg(target_os = "linux")]
fn footprint(pid: u32) -> (usize, u64, u64) {
    let files = std::fs::read_dir(format!("/proc/{pid}/fd"))
        .unwrap()
        .count();
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let field = |name: &str| -> u64 {
        status
            .lines()
            .find_map(|line| line.strip_prefix(name))
            .and_then(|rest| rest.split_whitespace().next()?.parse().ok())
            .unwrap()
    };
    (files, field("Threads:"), field("VmRSS:"))
}

#[cfg(target_os = "linux")]
#[tokio::test]
async fn a_hundred_handovers_leak_no_file_thread_or_memory() {
    let dir = tempfile::tempdir().unwrap();
    let copy = dir.path().join("gpx_service_checks_linux_amd64");
    std::fs::copy(executable(), &copy).unwrap();
    let plugin = PluginProcess::launch(&copy).await.unwrap();
    let pid = plugin.id();
    let context = || app_context(PLUGIN_ID, Some("Admin"), b"{}", &[]);
    let handovers = |count: usize| {
        let plugin = &plugin;
        async move {
            for _ in 0..count {
                let before = plugin.stderr().matches("plugin handed over").count();
                let sent = std::process::Command::new("kill")
                    .args(["-USR1", &pid.to_string()])
                    .status()
                    .unwrap();
                assert!(sent.success());
                let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
                while plugin.stderr().matches("plugin handed over").count() == before {
                    assert!(
                        std::time::Instant::now() < deadline,
                        "handover {} did not finish in 10 s (process state {}); stderr:\n{}",
                        before + 1,
                        process_state(pid),
                        plugin.stderr()
                    );
                    tokio::time::sleep(std::time::Duration::from_millis(5)).await;
                }
                let health = plugin.check_health(context()).await.unwrap();
                assert_eq!(health.status, HealthStatus::Ok as i32);
            }
        }
    };
    // Compared after a first handover, so both sides are images started the same way.
    handovers(1).await;
    let (files, threads, memory) = footprint(pid);
    handovers(100).await;
    let (files_after, threads_after, memory_after) = footprint(pid);
    assert_eq!(files_after, files, "open files");
    assert_eq!(threads_after, threads, "threads");
    assert!(
        memory_after * 10 <= memory * 11,
        "resident memory grew from {memory} kB to {memory_after} kB"
    );
    assert_eq!(plugin.id(), pid);
    plugin.shutdown().await.unwrap();
}

/// `dev` may ask again while the new image starts (two saves in a row). The request must
/// wait for the new image, not kill it: SIGUSR1's default action is to terminate, so the
/// signal stays blocked from the old image's exec until the new one listens for it.
#[cfg(unix)]
#[tokio::test]
async fn a_reload_asked_for_while_the_new_image_starts_does_not_kill_it() {
    let dir = tempfile::tempdir().unwrap();
    let copy = dir.path().join("gpx_service_checks_linux_amd64");
    std::fs::copy(executable(), &copy).unwrap();
    let mut plugin = PluginProcess::launch(&copy).await.unwrap();
    let pid = plugin.id().to_string();
    let context = || app_context(PLUGIN_ID, Some("Admin"), b"{}", &[]);
    // A burst of requests, 1 ms apart: many land between an exec and the new image's
    // signal handler.
    let started = std::time::Instant::now();
    while started.elapsed() < std::time::Duration::from_millis(600) && !plugin.exited() {
        let _ = std::process::Command::new("kill")
            .args(["-USR1", &pid])
            .status();
        tokio::time::sleep(std::time::Duration::from_millis(1)).await;
    }
    // Let the last handover end, then the process must still be the one Grafana started.
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    assert!(
        !plugin.exited(),
        "the plugin died of a reload request: {}",
        plugin.stderr()
    );
    let health = plugin.check_health(context()).await.unwrap();
    assert_eq!(health.status, HealthStatus::Ok as i32, "{health:?}");
    assert!(
        plugin.stderr().matches("plugin handed over").count() >= 1,
        "{}",
        plugin.stderr()
    );
    plugin.shutdown().await.unwrap();
}

/// Grafana's `Shutdown` outranks a reload asked for while the plugin drains its calls: the
/// process exits, rather than start the new build that Grafana would kill 2 s later.
#[cfg(unix)]
#[tokio::test]
async fn grafanas_shutdown_outranks_a_reload_asked_for_while_calls_drain() {
    let dir = tempfile::tempdir().unwrap();
    let copy = dir.path().join("gpx_service_checks_linux_amd64");
    std::fs::copy(executable(), &copy).unwrap();
    let loopback = [("GF_PLUGIN_ALLOWED_TARGETS", "127.0.0.0/8:*")];
    let plugin = PluginProcess::launch_with(&copy, &loopback).await.unwrap();
    let pid = plugin.id().to_string();
    let slow = harness::slow_service(std::time::Duration::from_millis(1000));
    let settings = serde_json::json!({ "targets": [
        { "name": "slow", "address": slow, "expectBanner": "OK", "intervalSeconds": 3600 },
    ]})
    .to_string();
    let context = app_context(PLUGIN_ID, Some("Editor"), settings.as_bytes(), &[]);
    // Shutdown while a call takes a second, then SIGUSR1 while that call drains.
    let in_flight = plugin.call_resource("POST", "checks/run", context, &[], b"");
    let stop_then_reload = async {
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
        plugin.ask_to_shut_down().await.unwrap();
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        let sent = std::process::Command::new("kill")
            .args(["-USR1", &pid])
            .status()
            .unwrap();
        assert!(sent.success(), "the plugin exited before its call ended");
    };
    let (answer, ()) = tokio::join!(in_flight, stop_then_reload);
    assert_eq!(answer.unwrap().status, 200, "the call in flight completed");
    let stopped = plugin
        .wait_for_exit(harness::SHUTDOWN_TIMEOUT)
        .await
        .unwrap();
    assert!(
        !stopped.stderr.contains("plugin handed over"),
        "{}",
        stopped.stderr
    );
}
