//! The plugin contexts Grafana sends with each call, QueryData as Grafana calls it, and a
//! slow service for calls that must stay in flight.
use anyhow::Result;

use crate::{PluginProcess, pluginv2};

fn user(role: Option<&str>) -> Option<pluginv2::User> {
    role.map(|role| pluginv2::User {
        login: format!("{}-user", role.to_ascii_lowercase()),
        name: format!("{role} User"),
        email: format!("{}@example.com", role.to_ascii_lowercase()),
        role: role.to_owned(),
    })
}

fn secure_map(secure: &[(&str, &str)]) -> std::collections::HashMap<String, String> {
    secure
        .iter()
        .map(|(key, value)| ((*key).to_owned(), (*value).to_owned()))
        .collect()
}

/// The plugin context Grafana sends for an app: org 1, the given user role (`None` for no
/// user), and app settings with `json_data` bytes and decrypted secure values.
pub fn app_context(
    plugin_id: &str,
    role: Option<&str>,
    json_data: &[u8],
    secure: &[(&str, &str)],
) -> pluginv2::PluginContext {
    pluginv2::PluginContext {
        org_id: 1,
        plugin_id: plugin_id.to_owned(),
        user: user(role),
        app_instance_settings: Some(pluginv2::AppInstanceSettings {
            json_data: json_data.to_vec(),
            decrypted_secure_json_data: secure_map(secure),
            last_updated_ms: 1,
        }),
        data_source_instance_settings: None,
    }
}

/// The plugin context Grafana sends for a data source instance of org 1: its `uid`, the
/// user's role (`None` for no user), `json_data` bytes, decrypted secure values and the
/// settings' last update (a new time makes a plugin replace the instance).
pub fn datasource_context(
    plugin_id: &str,
    uid: &str,
    role: Option<&str>,
    json_data: &[u8],
    secure: &[(&str, &str)],
    last_updated_ms: i64,
) -> pluginv2::PluginContext {
    pluginv2::PluginContext {
        org_id: 1,
        plugin_id: plugin_id.to_owned(),
        user: user(role),
        app_instance_settings: None,
        data_source_instance_settings: Some(pluginv2::DataSourceInstanceSettings {
            id: 1,
            uid: uid.to_owned(),
            name: format!("{uid} (test)"),
            json_data: json_data.to_vec(),
            decrypted_secure_json_data: secure_map(secure),
            last_updated_ms,
            ..Default::default()
        }),
    }
}

/// One query as a panel sends it: its refId, the time range in Unix milliseconds, the
/// panel's maxDataPoints and interval, and the query model's JSON.
pub fn data_query(ref_id: &str, from_ms: i64, to_ms: i64, json: &str) -> pluginv2::DataQuery {
    pluginv2::DataQuery {
        ref_id: ref_id.to_owned(),
        max_data_points: 100,
        interval_ms: 1_000,
        time_range: Some(pluginv2::TimeRange {
            from_epoch_ms: from_ms,
            to_epoch_ms: to_ms,
        }),
        json: json.as_bytes().to_vec(),
        query_type: String::new(),
    }
}

impl PluginProcess {
    /// QueryData as Grafana's `/api/ds/query` calls it: every query of one request.
    pub async fn query_data(
        &self,
        plugin_context: pluginv2::PluginContext,
        queries: Vec<pluginv2::DataQuery>,
    ) -> Result<pluginv2::QueryDataResponse> {
        let mut client = pluginv2::data_client::DataClient::new(self.channel());
        let request = pluginv2::QueryDataRequest {
            plugin_context: Some(plugin_context),
            headers: Default::default(),
            queries,
        };
        Ok(client.query_data(request).await?.into_inner())
    }
}

/// A loopback service that greets each connection with `OK` after `delay`: a check of it
/// (and so the app's `checks/run`) takes that long.
pub fn slow_service(delay: std::time::Duration) -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let address = listener.local_addr().unwrap().to_string();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            std::thread::spawn(move || {
                std::thread::sleep(delay);
                let _ = std::io::Write::write_all(&mut stream, b"OK\r\n");
            });
        }
    });
    address
}
