//! The service-checks app through the real binary, handshake and gRPC: authorization per
//! route and role (including Grafana's role "None" and calls without a user), settings of
//! every shape, the hook token, and secrets that must never reach the log.
use std::path::Path;

use harness::{PluginProcess, app_context, pluginv2::check_health_response::HealthStatus};

const PLUGIN_ID: &str = "acme-servicechecks-app";

/// The server's allow-list as grafana.ini's `[plugin.<id>] allowed_targets` reaches the
/// plugin: the tests' targets are all on loopback.
const LOOPBACK: &[(&str, &str)] = &[("GF_PLUGIN_ALLOWED_TARGETS", "127.0.0.0/8:*")];

fn executable() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_plugin"))
}

/// A local TCP service that greets like SMTP, and settings that point at it.
async fn smtp_like_service() -> (tokio::task::JoinHandle<()>, Vec<u8>) {
    use tokio::io::AsyncWriteExt;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    let server = tokio::spawn(async move {
        while let Ok((mut socket, _)) = listener.accept().await {
            let _ = socket.write_all(b"220 test ESMTP\r\n").await;
        }
    });
    let json_data = serde_json::to_vec(&serde_json::json!({
        "targets": [
            { "name": "mail", "address": address.to_string(), "expectBanner": "220" },
            { "name": "backup", "passive": true },
        ]
    }))
    .unwrap();
    (server, json_data)
}

#[tokio::test]
async fn each_route_answers_each_role_as_documented() {
    let (_server, json_data) = smtp_like_service().await;
    let plugin = PluginProcess::launch_with(executable(), LOOPBACK)
        .await
        .unwrap();
    // (method, url, role, expected status); role None means no user in the context.
    let cases = [
        ("GET", "ping", None, 200),
        ("GET", "ping", Some("None"), 200),
        ("GET", "checks", Some("Admin"), 200),
        ("GET", "checks", Some("Editor"), 200),
        ("GET", "checks", Some("Viewer"), 200),
        ("GET", "checks", Some("None"), 403),
        ("GET", "checks", None, 401),
        ("POST", "checks/run", Some("Admin"), 200),
        ("POST", "checks/run", Some("Editor"), 200),
        ("POST", "checks/run", Some("Viewer"), 403),
        ("POST", "checks/run", Some("None"), 403),
        ("POST", "checks/run", None, 401),
        ("POST", "hooks/report", Some("Admin"), 401),
        ("POST", "hooks/report", None, 401),
        ("GET", "nowhere", Some("Admin"), 404),
        ("DELETE", "checks", Some("Admin"), 405),
    ];
    for (method, url, role, expected) in cases {
        let context = app_context(PLUGIN_ID, role, &json_data, &[]);
        let answer = plugin
            .call_resource(method, url, context, &[], b"")
            .await
            .unwrap();
        let body = answer.json().unwrap();
        assert_eq!(
            answer.status, expected,
            "{method} {url} as {role:?}: {body}"
        );
        if expected >= 400 {
            assert!(body["error"].is_string(), "{body}");
        }
    }
    let context = app_context(PLUGIN_ID, Some("Editor"), &json_data, &[]);
    let run = plugin
        .call_resource("POST", "checks/run", context, &[], b"")
        .await
        .unwrap();
    let result = &run.json().unwrap()["checks"][0];
    assert_eq!(result["status"], "up", "{result}");
    assert_eq!(result["banner"], "220 test ESMTP");
    assert!(plugin.shutdown().await.unwrap().status.success());
}

#[tokio::test]
async fn settings_of_any_shape_never_become_grpc_errors() {
    let plugin = PluginProcess::launch(executable()).await.unwrap();
    for (json_data, checks_status, health_ok) in [
        (&b"null"[..], 200, true),
        (b"", 200, true),
        (b"{}", 200, true),
        (
            b"{\"targets\": [], \"unknown\": {\"deep\": [1, 2]}}",
            200,
            true,
        ),
        (
            b"{\"targets\": [{\"name\": \"db\", \"address\": \"db.internal\"}]}",
            409,
            false,
        ),
        (b"{\"targets\": \"everything\"}", 409, false),
        (b"[\"not\", \"an\", \"object\"]", 409, false),
        (b"{not json", 409, false),
    ] {
        // A new lastUpdatedMS each time, as Grafana sends after every settings change.
        let mut context = app_context(PLUGIN_ID, Some("Viewer"), json_data, &[]);
        context
            .app_instance_settings
            .as_mut()
            .unwrap()
            .last_updated_ms = rand_version();
        let shown = String::from_utf8_lossy(json_data);
        let answer = plugin
            .call_resource("GET", "checks", context.clone(), &[], b"")
            .await
            .unwrap_or_else(|e| panic!("{shown}: gRPC error {e:#}"));
        assert_eq!(
            answer.status,
            checks_status,
            "{shown}: {}",
            answer.json().unwrap()
        );
        let health = plugin.check_health(context).await.unwrap();
        let expected = if health_ok {
            HealthStatus::Ok
        } else {
            HealthStatus::Error
        };
        assert_eq!(
            health.status, expected as i32,
            "{shown}: {}",
            health.message
        );
    }
    let mut broken = app_context(
        PLUGIN_ID,
        Some("Admin"),
        br#"{"targets": [{"name": "db", "address": "db.internal"}]}"#,
        &[],
    );
    broken
        .app_instance_settings
        .as_mut()
        .unwrap()
        .last_updated_ms = rand_version();
    let health = plugin.check_health(broken).await.unwrap();
    assert_eq!(
        health.message,
        "Invalid settings: jsonData.targets[0].address: \"db.internal\" has no port; write host:port, e.g. \"db.internal:5432\""
    );
    assert!(plugin.shutdown().await.unwrap().status.success());
}

/// Strictly increasing versions across the test binary's threads.
fn rand_version() -> i64 {
    use std::sync::atomic::{AtomicI64, Ordering};
    static NEXT: AtomicI64 = AtomicI64::new(1_000);
    NEXT.fetch_add(1, Ordering::Relaxed)
}

#[tokio::test]
async fn the_hook_token_opens_hooks_report_for_machine_callers() {
    let (_server, json_data) = smtp_like_service().await;
    let plugin = PluginProcess::launch(executable()).await.unwrap();
    let secure = [("hookToken", "hook-token-value")];
    let report = br#"{"name": "backup", "status": "down", "message": "disk full"}"#;
    let context = || app_context(PLUGIN_ID, None, &json_data, &secure);
    for (headers, expected) in [
        (vec![("X-Hook-Token", "hook-token-value")], 200),
        (vec![("X-Hook-Token", "hook-token-valuf")], 401),
        (vec![("Authorization", "Bearer hook-token-value")], 401),
        (vec![], 401),
    ] {
        let answer = plugin
            .call_resource("POST", "hooks/report", context(), &headers, report)
            .await
            .unwrap();
        assert_eq!(
            answer.status,
            expected,
            "{headers:?}: {}",
            answer.json().unwrap()
        );
    }
    let answer = plugin
        .call_resource(
            "POST",
            "hooks/report",
            context(),
            &[("x-hook-token", "hook-token-value")],
            b"{oops",
        )
        .await
        .unwrap();
    assert_eq!(answer.status, 400);
    let viewer = app_context(PLUGIN_ID, Some("Viewer"), &json_data, &secure);
    let checks = plugin
        .call_resource("GET", "checks", viewer, &[], b"")
        .await
        .unwrap();
    let result = &checks.json().unwrap()["checks"][1];
    assert_eq!(result["name"], "backup");
    assert_eq!(
        (result["status"].as_str(), result["source"].as_str()),
        (Some("down"), Some("report"))
    );
    assert_eq!(result["error"], "disk full");
    assert!(plugin.shutdown().await.unwrap().status.success());
}

#[tokio::test]
async fn secrets_never_reach_the_log_even_at_trace_level() {
    const CANARY: &str = "canary-7f3a9c-secret";
    let plugin = PluginProcess::launch_with(executable(), &[("RUST_LOG", "trace")])
        .await
        .unwrap();
    let secure = [("hookToken", CANARY), ("apiKey", CANARY)];
    for json_data in [
        &br#"{"targets": [{"name": "x", "address": "127.0.0.1:1"}]}"#[..],
        b"null",
        b"{bad",
    ] {
        let mut context = app_context(PLUGIN_ID, Some("None"), json_data, &secure);
        context
            .app_instance_settings
            .as_mut()
            .unwrap()
            .last_updated_ms = rand_version();
        for (method, url) in [
            ("GET", "ping"),
            ("GET", "checks"),
            ("POST", "checks/run"),
            ("POST", "hooks/report"),
            ("GET", "nope"),
        ] {
            let answer = plugin
                .call_resource(
                    method,
                    url,
                    context.clone(),
                    &[("x-hook-token", "wrong")],
                    CANARY.as_bytes(),
                )
                .await
                .unwrap();
            assert!(
                !String::from_utf8_lossy(&answer.body).contains(CANARY),
                "{url} answered the secret"
            );
        }
        let health = plugin.check_health(context).await.unwrap();
        assert!(
            !health.message.contains(CANARY)
                && !String::from_utf8_lossy(&health.json_details).contains(CANARY)
        );
    }
    let stopped = plugin.shutdown().await.unwrap();
    assert!(
        stopped.stderr.lines().count() > 10,
        "trace logging produced little: {}",
        stopped.stderr
    );
    assert!(
        !stopped.stderr.contains(CANARY),
        "the secret is in the log:\n{}",
        stopped.stderr
    );
}
