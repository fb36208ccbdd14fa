//! The built data source, driven as Grafana drives it: the go-plugin handshake, then
//! CheckHealth, QueryData and CallResource per data-source instance, then `Shutdown`.
use std::path::Path;

use harness::{
    PluginProcess, data_query, datasource_context, frames,
    pluginv2::check_health_response::HealthStatus,
};
use serde_json::json;

const PLUGIN_ID: &str = "%PLUGIN_ID%";

fn executable() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_plugin"))
}

/// Two data sources of this type, as two admins configured them.
const CELSIUS: &[u8] = br#"{"path": "/rooms", "unit": "celsius"}"#;
const PLAIN: &[u8] = b"{}";

#[tokio::test]
async fn each_instance_answers_health_queries_and_resources_with_its_own_settings() {
    let plugin = PluginProcess::launch(executable()).await.unwrap();
    let rooms =
        |role| datasource_context(PLUGIN_ID, "rooms", role, CELSIUS, &[("apiKey", "k1")], 1);
    let plain = |role| datasource_context(PLUGIN_ID, "plain", role, PLAIN, &[], 1);

    // "Save & test": the first instance is complete, the second lacks its API key.
    let health = plugin.check_health(rooms(Some("Admin"))).await.unwrap();
    assert_eq!(health.status, HealthStatus::Ok as i32, "{health:?}");
    assert_eq!(health.message, "Data source is working");
    let health = plugin.check_health(plain(Some("Admin"))).await.unwrap();
    assert_eq!(health.status, HealthStatus::Error as i32, "{health:?}");
    assert_eq!(health.message, "API key is missing");

    // One request, two queries: A answers frames, B (the wrong shape) its own error.
    let queries = vec![
        data_query(
            "A",
            1_700_000_000_000,
            1_700_000_060_000,
            r#"{"refId": "A", "constant": 21.5, "queryText": "kitchen"}"#,
        ),
        data_query(
            "B",
            1_700_000_000_000,
            1_700_000_060_000,
            r#"{"refId": "B", "constant": "six"}"#,
        ),
    ];
    let answer = plugin
        .query_data(rooms(Some("Viewer")), queries)
        .await
        .unwrap();
    let a = &answer.responses["A"];
    assert_eq!(a.error, "", "{a:?}");
    let frame = frames::decode(&a.frames[0]).unwrap();
    assert_eq!(frame["name"], "response");
    assert_eq!(frame["refId"], "A");
    assert_eq!(frame["meta"]["executedQueryString"], "/rooms constant=21.5");
    let (time, values) = (&frame["fields"][0], &frame["fields"][1]);
    assert_eq!(
        (&time["name"], &time["type"]),
        (&json!("time"), &json!("time"))
    );
    assert_eq!(time["values"][0], 1_700_000_000_000_i64);
    assert_eq!(
        time["values"].as_array().unwrap().last().unwrap(),
        1_700_000_060_000_i64
    );
    assert_eq!(values["type"], "number");
    assert!(
        values["values"]
            .as_array()
            .unwrap()
            .iter()
            .all(|v| v == 21.5),
        "{values}"
    );
    assert_eq!(
        values["config"],
        json!({ "unit": "celsius", "displayNameFromDS": "kitchen" })
    );
    let b = &answer.responses["B"];
    assert!(b.frames.is_empty());
    assert!(
        b.error.starts_with("query B: invalid type: string \"six\""),
        "{b:?}"
    );

    // Each instance keeps its own state: the queries above counted for "rooms" only.
    let stats = |context| plugin.call_resource("GET", "stats", context, &[], b"");
    let rooms_stats = stats(rooms(Some("Viewer"))).await.unwrap();
    assert_eq!(rooms_stats.status, 200);
    assert_eq!(
        rooms_stats.json().unwrap(),
        json!({ "uid": "rooms", "queries": 2 })
    );
    let plain_stats = stats(plain(Some("Viewer"))).await.unwrap();
    assert_eq!(
        plain_stats.json().unwrap(),
        json!({ "uid": "plain", "queries": 0 })
    );
    // A call without a signed-in user is refused by the plugin itself.
    assert_eq!(stats(rooms(None)).await.unwrap().status, 401);
    let metrics = plugin
        .call_resource("GET", "metrics", rooms(None), &[], b"")
        .await
        .unwrap();
    assert_eq!(metrics.json().unwrap(), json!({ "metrics": ["constant"] }));

    let stopped = plugin.shutdown().await.unwrap();
    assert!(stopped.status.success(), "{stopped:?}");
    // The API key never reaches the log.
    assert!(!stopped.stderr.contains("k1"), "{}", stopped.stderr);
}

#[tokio::test]
async fn new_settings_make_a_new_instance() {
    let plugin = PluginProcess::launch(executable()).await.unwrap();
    let context = |json: &[u8], updated| {
        datasource_context(
            PLUGIN_ID,
            "rooms",
            Some("Viewer"),
            json,
            &[("apiKey", "k1")],
            updated,
        )
    };
    let query = || vec![data_query("A", 0, 60_000, r#"{"constant": 1}"#)];
    plugin
        .query_data(context(CELSIUS, 1), query())
        .await
        .unwrap();
    let stats = plugin
        .call_resource("GET", "stats", context(CELSIUS, 1), &[], b"")
        .await
        .unwrap();
    assert_eq!(stats.json().unwrap()["queries"], 1);
    // The admin saved the settings again: Grafana sends a new update time.
    let answer = plugin.query_data(context(PLAIN, 2), query()).await.unwrap();
    let frame = frames::decode(&answer.responses["A"].frames[0]).unwrap();
    assert_eq!(frame["fields"][1]["config"], json!({}), "no unit any more");
    let stats = plugin
        .call_resource("GET", "stats", context(PLAIN, 2), &[], b"")
        .await
        .unwrap();
    assert_eq!(
        stats.json().unwrap()["queries"],
        1,
        "a new instance counts afresh"
    );
    plugin.shutdown().await.unwrap();
}
