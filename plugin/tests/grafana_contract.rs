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
