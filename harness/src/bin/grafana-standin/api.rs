//! The stand-in's HTTP API: each route does what Grafana's handler does for the calls the
//! tool and its tests make, and names that handler. Routes and their middleware:
//! pkg/api/api.go (`/api` is `reqSignedIn`; health and resources pass `checkAppEnabled`,
//! pkg/api/plugin_checks.go). Error bodies are `{"message": …}` as `response.Error` and
//! `JsonApiErr` write them.
use std::net::SocketAddr;

use axum::{
    Router,
    body::Bytes,
    extract::{ConnectInfo, Path as UrlPath, RawQuery, State},
    http::{HeaderMap, Method, StatusCode},
    response::Response,
    routing::{any, get, post},
};
use harness::pluginv2;
use serde_json::{Value, json};

use tonic::transport::Channel;

use crate::state::{
    Api, Shared, User, error, json_response, now_ms, plugin_context, secure_values, signed_in,
};

pub fn router(api: Shared) -> Router {
    Router::new()
        .route("/api/plugins/errors", get(errors))
        .route(
            "/api/plugins/:id/settings",
            get(settings).post(update_settings),
        )
        .route("/api/plugins/:id/health", get(health))
        .route("/api/plugins/:id/resources/*path", any(resource))
        .route("/api/health", get(api_health))
        .route("/api/admin/users", post(create_user))
        .merge(crate::datasources::routes())
        .with_state(api)
}

/// `checkAppEnabled` (pkg/api/plugin_checks.go): a plugin not in the store is 404 "Plugin
/// not found"; for an app, no setting in the caller's org is 404 "Plugin setting not found"
/// (the stand-in has no auto-enabled apps), a disabled one 404 "Plugin is not enabled".
fn check_app_enabled(api: &Api, id: &str) -> Result<(), Box<Response>> {
    match app_refusal(api, id) {
        Some(message) => Err(Box::new(error(StatusCode::NOT_FOUND, message))),
        None => Ok(()),
    }
}

/// A call to an app by the signed-in caller, after `checkAppEnabled`: the backend and the
/// PluginContext Grafana would send, or the refusal.
fn app_call(
    api: &Shared,
    headers: &HeaderMap,
    id: &str,
) -> Result<(Option<Channel>, pluginv2::PluginContext), Box<Response>> {
    let api = api.lock().unwrap();
    let caller = signed_in(&api, headers)?;
    check_app_enabled(&api, id)?;
    let context = plugin_context(&api, id, &caller.login, caller.role);
    Ok((api.backend.clone(), context))
}

/// Why `checkAppEnabled` answers 404, if it does.
fn app_refusal(api: &Api, id: &str) -> Option<&'static str> {
    let Some(plugin) = api.plugin.as_ref().filter(|p| p.id == id) else {
        return Some("Plugin not found");
    };
    if plugin.kind != "app" {
        return None;
    }
    match api.settings.get(&1) {
        None => Some("Plugin setting not found"),
        Some(setting) if !setting.enabled => Some("Plugin is not enabled"),
        Some(_) => None,
    }
}

/// `GET /api/plugins/errors` (GetPluginErrorsList, pkg/api/plugins.go).
async fn errors(State(api): State<Shared>, headers: HeaderMap) -> Response {
    let api = api.lock().unwrap();
    if let Err(refused) = signed_in(&api, &headers) {
        return *refused;
    }
    let errors: Vec<_> = (api.errors.iter())
        .map(|(id, code)| json!({ "pluginId": id, "errorCode": code }))
        .collect();
    json_response(StatusCode::OK, errors.into())
}

/// `GET /api/plugins/<id>/settings` (GetPluginSettingByID, pkg/api/plugins.go): 404 when the
/// plugin is not loaded; an app's `enabled` and `jsonData` from the org's setting, `enabled:
/// false` without one.
async fn settings(
    State(api): State<Shared>,
    UrlPath(id): UrlPath<String>,
    headers: HeaderMap,
) -> Response {
    let api = api.lock().unwrap();
    if let Err(refused) = signed_in(&api, &headers) {
        return *refused;
    }
    let Some(plugin) = api.plugin.as_ref().filter(|p| p.id == id) else {
        return error(
            StatusCode::NOT_FOUND,
            "Plugin not found, no installed plugin with that id",
        );
    };
    let setting = api.settings.get(&1);
    json_response(
        StatusCode::OK,
        json!({
            "id": id,
            "type": plugin.kind,
            "enabled": setting.is_some_and(|s| s.enabled),
            "pinned": setting.is_some_and(|s| s.pinned),
            "jsonData": setting.map(|s| s.json_data.clone()),
        }),
    )
}

/// `POST /api/plugins/<id>/settings` (UpdatePluginSetting, pkg/api/plugins.go), behind
/// `authorize(plugins:write)` (pkg/api/api.go), which an org Admin has: 403 otherwise.
/// `jsonData` replaces the old; `secureJsonData` keys are merged into the stored ones
/// (pluginsettings/service).
async fn update_settings(
    State(api): State<Shared>,
    UrlPath(id): UrlPath<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let mut api = api.lock().unwrap();
    let caller = match signed_in(&api, &headers) {
        Ok(caller) => caller,
        Err(refused) => return *refused,
    };
    if caller.role != "Admin" {
        return error(
            StatusCode::FORBIDDEN,
            "You'll need additional permissions to perform this action. Permissions needed: plugins:write",
        );
    }
    let Ok(Value::Object(command)) = serde_json::from_slice::<Value>(&body) else {
        return error(StatusCode::BAD_REQUEST, "bad request data");
    };
    if api.plugin.as_ref().is_none_or(|p| p.id != id) {
        return error(StatusCode::NOT_FOUND, "Plugin not installed");
    }
    if api.fail_settings_update {
        return error(
            StatusCode::INTERNAL_SERVER_ERROR,
            "Failed to update plugin setting",
        );
    }
    let setting = api.settings.entry(1).or_default();
    setting.enabled = command.get("enabled").and_then(Value::as_bool) == Some(true);
    setting.pinned = command.get("pinned").and_then(Value::as_bool) == Some(true);
    setting.json_data = command.get("jsonData").cloned().unwrap_or(Value::Null);
    let secure = secure_values(command.get("secureJsonData").unwrap_or(&Value::Null));
    setting.secure_json_data.extend(secure);
    setting.updated_ms = now_ms();
    json_response(
        StatusCode::OK,
        json!({ "message": "Plugin settings updated" }),
    )
}

/// `GET /api/plugins/<id>/health` (CheckHealth, pkg/api/plugins.go), after `checkAppEnabled`:
/// CheckHealth with the caller and the org's setting; 200 `OK`, 400 otherwise (Grafana 10+);
/// 503 "Plugin unavailable" with no running backend (translatePluginRequestErrorToAPIError).
async fn health(
    State(api): State<Shared>,
    UrlPath(id): UrlPath<String>,
    headers: HeaderMap,
) -> Response {
    let (backend, context) = match app_call(&api, &headers, &id) {
        Ok(call) => call,
        Err(refused) => return *refused,
    };
    crate::forward::check_health(backend, context).await
}

async fn api_health() -> Response {
    json_response(
        StatusCode::OK,
        json!({ "database": "ok", "version": "standin" }),
    )
}

/// `POST /api/admin/users` (AdminCreateUser, pkg/api/admin_users.go), behind
/// `reqGrafanaAdmin`: a login or an email, a password of at least 4 characters, a login not
/// taken; the new user is a Viewer of the main org (`auto_assign_org_role`).
async fn create_user(State(api): State<Shared>, headers: HeaderMap, body: Bytes) -> Response {
    let mut api = api.lock().unwrap();
    match signed_in(&api, &headers) {
        Err(refused) => return *refused,
        Ok(caller) if !caller.server_admin => {
            return error(StatusCode::FORBIDDEN, "Permission denied");
        }
        Ok(_) => {}
    }
    let Ok(form) = serde_json::from_slice::<Value>(&body) else {
        return error(StatusCode::BAD_REQUEST, "bad request data");
    };
    let text = |name: &str| form[name].as_str().unwrap_or_default().trim().to_owned();
    let (email, mut login) = (text("email"), text("login"));
    if login.is_empty() {
        login = email.clone();
        if login.is_empty() {
            return error(
                StatusCode::BAD_REQUEST,
                "Validation error, need specify either username or email",
            );
        }
    }
    let password = form["password"].as_str().unwrap_or_default();
    if password.chars().count() < 4 {
        return error(StatusCode::BAD_REQUEST, "Password is missing or too short");
    }
    if api.users.iter().any(|user| user.login == login) {
        return error(
            StatusCode::PRECONDITION_FAILED,
            &format!("User with email '{email}' or username '{login}' already exists"),
        );
    }
    api.users.push(User {
        login,
        password: password.to_owned(),
        role: "Viewer",
        server_admin: false,
    });
    let id = api.users.len();
    json_response(
        StatusCode::OK,
        json!({ "id": id, "message": "User created" }),
    )
}

/// `/api/plugins/<id>/resources/<path>` (CallResource, pkg/api/plugin_resource.go), after
/// `reqSignedIn`, `authorize(plugins.app:access)` (every org role has it, so the plugin
/// decides by role itself) and `checkAppEnabled`. `path` without the leading slash, `url`
/// with the query string; the reply as httpresponsesender writes it: the plugin's status and
/// headers less `Set-Cookie`, `application/json` when it names no content type.
async fn resource(
    State(api): State<Shared>,
    UrlPath((id, path)): UrlPath<(String, String)>,
    RawQuery(query): RawQuery,
    ConnectInfo(remote): ConnectInfo<SocketAddr>,
    method: Method,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let (backend, context) = match app_call(&api, &headers, &id) {
        Ok(call) => call,
        Err(refused) => return *refused,
    };
    let call = crate::forward::ForwardedCall {
        path,
        query,
        method,
        headers,
        remote,
        body,
    };
    crate::forward::forward_resource(backend, context, call).await
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::state::{AppSetting, Loaded};

    #[test]
    fn an_app_is_served_only_when_enabled_in_the_org() {
        let mut api = Api {
            plugin: Some(Loaded {
                id: "acme-x-app".into(),
                kind: "app".into(),
            }),
            ..Api::default()
        };
        assert_eq!(app_refusal(&api, "other-app"), Some("Plugin not found"));
        assert_eq!(
            app_refusal(&api, "acme-x-app"),
            Some("Plugin setting not found")
        );
        api.settings.insert(1, AppSetting::default());
        assert_eq!(
            app_refusal(&api, "acme-x-app"),
            Some("Plugin is not enabled")
        );
        api.settings.get_mut(&1).unwrap().enabled = true;
        assert_eq!(app_refusal(&api, "acme-x-app"), None);
        // A data source is not an app: its instances are checked elsewhere.
        api.plugin.as_mut().unwrap().kind = "datasource".into();
        api.settings.clear();
        assert_eq!(app_refusal(&api, "acme-x-app"), None);
    }
}
