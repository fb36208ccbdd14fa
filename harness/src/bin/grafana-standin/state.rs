//! What the stand-in knows (its plugin store, plugin settings, users, data sources) and what
//! every route shares: the signed-in caller (`reqSignedIn`), Grafana's error and JSON bodies,
//! the PluginContext of an app call. Below the routes (`api.rs`, `datasources.rs`) and the
//! calls to the plugin (`forward.rs`).
use std::{
    collections::BTreeMap,
    sync::{Arc, Mutex},
    time::{SystemTime, UNIX_EPOCH},
};

use axum::{
    http::{HeaderMap, StatusCode},
    response::{IntoResponse, Response},
};
use base64::Engine as _;
use harness::pluginv2;
use serde_json::{Value, json};
use tonic::transport::Channel;

/// The plugin Grafana loaded (its plugin store holds it).
pub struct Loaded {
    pub id: String,
    /// plugin.json's `type`: `app`, `datasource`, `panel`.
    pub kind: String,
}

/// An org's plugin setting (the `plugin_setting` row) as provisioning or
/// `POST /api/plugins/<id>/settings` wrote it.
#[derive(Clone, Debug, Default)]
pub struct AppSetting {
    pub enabled: bool,
    pub pinned: bool,
    pub json_data: Value,
    pub secure_json_data: BTreeMap<String, String>,
    /// `updated`, sent to the plugin as `lastUpdatedMS`.
    pub updated_ms: i64,
}

/// A user of the main org (org 1): the admin of GF_SECURITY_ADMIN_USER/PASSWORD, then the
/// users created through the admin API (Viewers: `auto_assign_org_role`).
pub struct User {
    pub login: String,
    pub password: String,
    pub role: &'static str,
    /// A Grafana server admin (the first admin is one).
    pub server_admin: bool,
}

/// What the HTTP API knows.
#[derive(Default)]
pub struct Api {
    pub plugin: Option<Loaded>,
    pub errors: Vec<(String, String)>,
    /// The connection to the running backend.
    pub backend: Option<Channel>,
    pub users: Vec<User>,
    /// The role of a caller without credentials, when anonymous access is on.
    pub anonymous: Option<&'static str>,
    /// The app's setting per org id.
    pub settings: BTreeMap<i64, AppSetting>,
    /// The provisioned data sources (of any type), with their settings.
    pub datasources: Vec<DataSource>,
    /// STANDIN_FAIL_SETTINGS_UPDATE: the settings store refuses writes, as a Grafana whose
    /// database does (UpdatePluginSetting answers 500). For tests of a failed enabling.
    pub fail_settings_update: bool,
}

pub type Shared = Arc<Mutex<Api>>;

/// The signed-in caller: always of the main org.
#[derive(Clone)]
pub struct Caller {
    pub login: String,
    pub role: &'static str,
    pub server_admin: bool,
}

impl Caller {
    /// The admin, for the stand-in's own calls.
    pub fn admin() -> Caller {
        Caller {
            login: "admin".to_owned(),
            role: "Admin",
            server_admin: true,
        }
    }
}

pub fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |since| since.as_millis() as i64)
}

/// A data source of the org (the `data_source` row).
#[derive(Clone, Debug, PartialEq)]
pub struct DataSource {
    pub id: i64,
    pub uid: String,
    pub name: String,
    /// The plugin id.
    pub kind: String,
    pub url: String,
    pub json_data: Value,
    pub secure_json_data: BTreeMap<String, String>,
    pub updated_ms: i64,
}

pub fn json_response(status: StatusCode, body: Value) -> Response {
    (
        status,
        [("content-type", "application/json")],
        body.to_string(),
    )
        .into_response()
}

/// `response.Error(status, message, …)`: `{"message": …}`.
pub fn error(status: StatusCode, message: &str) -> Response {
    json_response(status, json!({ "message": message }))
}

/// `reqSignedIn` (pkg/middleware/auth.go) on the `/api` group: Basic credentials of a known
/// user, else the anonymous role when anonymous access is on, else 401.
pub fn signed_in(api: &Api, headers: &HeaderMap) -> Result<Caller, Box<Response>> {
    let unauthorized = || Box::new(error(StatusCode::UNAUTHORIZED, "Unauthorized"));
    let Some(value) = headers.get("authorization").and_then(|v| v.to_str().ok()) else {
        return api
            .anonymous
            .map(|role| Caller {
                login: String::new(),
                role,
                server_admin: false,
            })
            .ok_or_else(unauthorized);
    };
    let decoded = value
        .strip_prefix("Basic ")
        .and_then(|encoded| {
            base64::engine::general_purpose::STANDARD
                .decode(encoded)
                .ok()
        })
        .and_then(|bytes| String::from_utf8(bytes).ok());
    let Some((login, password)) = decoded.as_deref().and_then(|d| d.split_once(':')) else {
        return Err(unauthorized());
    };
    api.users
        .iter()
        .find(|user| user.login == login && user.password == password)
        .map(|user| Caller {
            login: user.login.clone(),
            role: user.role,
            server_admin: user.server_admin,
        })
        .ok_or_else(unauthorized)
}

/// The PluginContext Grafana sends for an app (pkg/services/pluginsintegration/plugincontext):
/// the caller, and the org's setting (empty when there is none).
pub fn plugin_context(api: &Api, id: &str, login: &str, role: &str) -> pluginv2::PluginContext {
    let setting = api.settings.get(&1).cloned().unwrap_or_default();
    let json_data = match &setting.json_data {
        Value::Null => Vec::new(),
        value => value.to_string().into_bytes(),
    };
    pluginv2::PluginContext {
        org_id: 1,
        plugin_id: id.to_owned(),
        user: Some(pluginv2::User {
            login: login.to_owned(),
            name: login.to_owned(),
            email: String::new(),
            role: role.to_owned(),
        }),
        app_instance_settings: Some(pluginv2::AppInstanceSettings {
            json_data,
            decrypted_secure_json_data: setting.secure_json_data.into_iter().collect(),
            last_updated_ms: setting.updated_ms,
        }),
        data_source_instance_settings: None,
    }
}

/// A `secureJsonData` object of an API call as stored: each value a string (another JSON
/// value as its text); nothing for anything but an object.
pub fn secure_values(value: &Value) -> BTreeMap<String, String> {
    let Value::Object(map) = value else {
        return BTreeMap::new();
    };
    map.iter()
        .map(|(key, value)| {
            let text = value
                .as_str()
                .map_or_else(|| value.to_string(), str::to_owned);
            (key.clone(), text)
        })
        .collect()
}
