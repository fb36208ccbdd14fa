//! A stand-in for Grafana, for tests of `cargo xtask dev` where no Grafana can be installed.
//! Run as Grafana is (`grafana-standin server`, with GF_PATHS_PLUGINS, GF_PATHS_DATA and
//! GF_SERVER_HTTP_PORT): it loads a backend plugin from the plugins directory by Grafana's
//! rules (an unsigned plugin only in development mode or when allow-listed), starts
//! `<executable>_<os>_<arch>[.exe]` with Grafana's environment, calls CheckHealth every
//! 100 ms, and restarts the plugin within a second whenever it exits (keepPluginAlive). Its
//! HTTP API answers `GET /api/plugins/<id>/settings`, `/api/plugins/errors` and
//! `/api/plugins/<id>/health` in Grafana's shapes, and `/api/health`, `POST /api/admin/users`
//! and `/api/plugins/<id>/resources/*` with Grafana's users: the admin of
//! GF_SECURITY_ADMIN_USER/PASSWORD (admin/admin), users it creates (Viewers), Basic
//! credentials, each call forwarded to the backend with the caller's role. The plugin's
//! stderr lines are logged as Grafana logs them, after `logger=plugin.<id>`. It reports what
//! is serving in `$GF_PATHS_DATA/standin-status.json`: `{"pid", "starts", "health"}`. For
//! tests, STANDIN_REFUSE=<errorCode> makes it refuse the plugin as Grafana would.
use std::{
    path::{Path, PathBuf},
    sync::{Arc, Mutex},
    time::Duration,
};

use anyhow::{Context, Result};
use axum::{
    Router,
    body::Bytes,
    extract::{Path as UrlPath, State},
    http::{HeaderMap, Method, StatusCode},
    routing::{any, get, post},
};
use base64::Engine as _;
use harness::{PluginProcess, app_context, pluginv2};
use tonic::transport::Channel;

/// A plugin found in the plugins directory, and whether Grafana's rules let it load.
struct Found {
    id: String,
    executable: PathBuf,
    /// Grafana's error code when it refuses the plugin (`signatureMissing`).
    refused: Option<String>,
}

/// What the HTTP API reports.
#[derive(Default)]
struct Api {
    plugin: Option<String>,
    errors: Vec<(String, String)>,
    /// The connection to the running backend, for health checks through "Grafana".
    backend: Option<Channel>,
    /// (login, password, role): the admin first, then the users created.
    users: Vec<(String, String, &'static str)>,
    /// The role of a caller without credentials, when anonymous access is on.
    anonymous: Option<&'static str>,
}

type Shared = Arc<Mutex<Api>>;

#[tokio::main]
async fn main() -> Result<()> {
    let plugins =
        PathBuf::from(std::env::var_os("GF_PATHS_PLUGINS").context("GF_PATHS_PLUGINS is not set")?);
    let data =
        PathBuf::from(std::env::var_os("GF_PATHS_DATA").context("GF_PATHS_DATA is not set")?);
    std::fs::create_dir_all(&data)?;
    let api = Shared::default();
    {
        let env =
            |name: &str, default: &str| std::env::var(name).unwrap_or_else(|_| default.to_owned());
        let mut api = api.lock().unwrap();
        api.users.push((
            env("GF_SECURITY_ADMIN_USER", "admin"),
            env("GF_SECURITY_ADMIN_PASSWORD", "admin"),
            "Admin",
        ));
        if env("GF_AUTH_ANONYMOUS_ENABLED", "false") == "true" {
            api.anonymous = Some(match env("GF_AUTH_ANONYMOUS_ORG_ROLE", "Viewer").as_str() {
                "Admin" => "Admin",
                "Editor" => "Editor",
                _ => "Viewer",
            });
        }
    }
    if let Ok(port) = std::env::var("GF_SERVER_HTTP_PORT") {
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", port.parse::<u16>()?)).await?;
        tokio::spawn(axum::serve(listener, router(api.clone())).into_future());
    }
    let stop = async {
        #[cfg(unix)]
        {
            let mut terminate =
                tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
            tokio::select! { _ = terminate.recv() => {}, _ = tokio::signal::ctrl_c() => {} }
        }
        #[cfg(not(unix))]
        tokio::signal::ctrl_c().await?;
        Ok::<_, anyhow::Error>(())
    };
    tokio::pin!(stop);

    let Some(found) = find_backend_plugin(&plugins)? else {
        println!("standin: no backend plugin in {}", plugins.display());
        return stop.await;
    };
    if let Some(code) = found.refused.clone() {
        println!(
            "logger=plugin.loader level=error msg=\"Plugin not loaded\" pluginId={} error={code}",
            found.id
        );
        api.lock().unwrap().errors.push((found.id.clone(), code));
        return stop.await;
    }
    api.lock().unwrap().plugin = Some(found.id.clone());
    println!(
        "standin: serving plugin {} from {}",
        found.id,
        found.executable.display()
    );
    keep_plugin_alive(&found, &data.join("standin-status.json"), &api, stop).await
}

/// keepPluginAlive: a missing or dead plugin is looked at again every second.
async fn keep_plugin_alive(
    found: &Found,
    status_file: &Path,
    api: &Shared,
    mut stop: std::pin::Pin<&mut impl std::future::Future<Output = Result<()>>>,
) -> Result<()> {
    let mut starts = 0u32;
    loop {
        let mut plugin = match PluginProcess::launch(&found.executable).await {
            Ok(plugin) => plugin,
            Err(error) => {
                // As Grafana logs it: its logger for the plugin, the reason on one line.
                println!(
                    "logger=plugin.{} level=error msg=\"Could not start plugin backend\" error={:?}",
                    found.id,
                    format!("{error:#}")
                );
                {
                    let mut api = api.lock().unwrap();
                    if api.errors.is_empty() {
                        api.errors
                            .push((found.id.clone(), "failedBackendStart".to_owned()));
                    }
                }
                tokio::select! {
                    _ = &mut stop => return Ok(()),
                    _ = tokio::time::sleep(Duration::from_secs(1)) => continue,
                }
            }
        };
        starts += 1;
        {
            let mut api = api.lock().unwrap();
            api.errors.clear();
            api.backend = Some(plugin.channel());
        }
        println!("standin: plugin started, pid {}", plugin.id());
        let mut logged = 0;
        loop {
            // The plugin's stderr, line by line, as Grafana logs it.
            let stderr = plugin.stderr();
            if let Some(end) = stderr.get(logged..).and_then(|rest| rest.rfind('\n')) {
                for line in stderr[logged..logged + end].lines() {
                    println!("logger=plugin.{} {line}", found.id);
                }
                logged += end + 1;
            }
            let context = app_context(&found.id, Some("Admin"), b"{}", &[]);
            if let Ok(health) = plugin.check_health(context).await {
                let status = serde_json::json!({ "pid": plugin.id(), "starts": starts, "health": health.message });
                write_atomically(status_file, &status.to_string())?;
            }
            tokio::select! {
                result = &mut stop => {
                    result?;
                    let _ = plugin.shutdown().await;
                    println!("standin: stopped");
                    return Ok(());
                }
                _ = tokio::time::sleep(Duration::from_millis(100)) => {}
            }
            if plugin.exited() {
                api.lock().unwrap().backend = None;
                println!("standin: plugin exited; restarting it within a second");
                tokio::time::sleep(Duration::from_millis(500)).await;
                break;
            }
        }
    }
}

fn router(api: Shared) -> Router {
    Router::new()
        .route("/api/plugins/errors", get(errors))
        .route("/api/plugins/:id/settings", get(settings))
        .route("/api/plugins/:id/health", get(health))
        .route("/api/plugins/:id/resources/*path", any(resource))
        .route("/api/health", get(api_health))
        .route("/api/admin/users", post(create_user))
        .with_state(api)
}

fn json(
    status: StatusCode,
    body: serde_json::Value,
) -> (StatusCode, [(&'static str, &'static str); 1], String) {
    (
        status,
        [("content-type", "application/json")],
        body.to_string(),
    )
}

async fn errors(State(api): State<Shared>) -> impl axum::response::IntoResponse {
    let errors: Vec<_> = api
        .lock()
        .unwrap()
        .errors
        .iter()
        .map(|(id, code)| serde_json::json!({ "pluginId": id, "errorCode": code }))
        .collect();
    json(StatusCode::OK, errors.into())
}

async fn settings(
    State(api): State<Shared>,
    UrlPath(id): UrlPath<String>,
) -> impl axum::response::IntoResponse {
    if api.lock().unwrap().plugin.as_deref() == Some(id.as_str()) {
        json(
            StatusCode::OK,
            serde_json::json!({ "id": id, "type": "app", "enabled": true }),
        )
    } else {
        json(
            StatusCode::NOT_FOUND,
            serde_json::json!({ "message": "Plugin not found, no installed plugin with that id" }),
        )
    }
}

async fn health(
    State(api): State<Shared>,
    UrlPath(id): UrlPath<String>,
) -> impl axum::response::IntoResponse {
    let (plugin, backend) = {
        let api = api.lock().unwrap();
        (api.plugin.clone(), api.backend.clone())
    };
    if plugin.as_deref() != Some(id.as_str()) {
        return json(
            StatusCode::NOT_FOUND,
            serde_json::json!({ "message": "Plugin not found" }),
        );
    }
    let Some(channel) = backend else {
        return json(
            StatusCode::SERVICE_UNAVAILABLE,
            serde_json::json!({ "message": "Plugin unavailable" }),
        );
    };
    let request = pluginv2::CheckHealthRequest {
        plugin_context: Some(app_context(&id, Some("Admin"), b"{}", &[])),
        headers: Default::default(),
    };
    let mut client = pluginv2::diagnostics_client::DiagnosticsClient::new(channel);
    match client.check_health(request).await {
        Ok(response) => {
            let response = response.into_inner();
            let ok = response.status == pluginv2::check_health_response::HealthStatus::Ok as i32;
            let body = serde_json::json!({
                "status": if ok { "OK" } else { "ERROR" },
                "message": response.message,
            });
            json(
                if ok {
                    StatusCode::OK
                } else {
                    StatusCode::BAD_REQUEST
                },
                body,
            )
        }
        Err(_) => json(
            StatusCode::INTERNAL_SERVER_ERROR,
            serde_json::json!({ "message": "Plugin request failed" }),
        ),
    }
}

async fn api_health() -> impl axum::response::IntoResponse {
    json(
        StatusCode::OK,
        serde_json::json!({ "database": "ok", "version": "standin" }),
    )
}

/// The caller's role: Basic credentials of a known user, else anonymous when it is on.
fn role(api: &Api, headers: &HeaderMap) -> Option<&'static str> {
    let Some(value) = headers.get("authorization").and_then(|v| v.to_str().ok()) else {
        return api.anonymous;
    };
    let encoded = value.strip_prefix("Basic ")?;
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(encoded)
        .ok()?;
    let decoded = String::from_utf8(decoded).ok()?;
    let (login, password) = decoded.split_once(':')?;
    api.users
        .iter()
        .find(|(l, p, _)| l == login && p == password)
        .map(|(_, _, role)| *role)
}

fn unauthorized() -> (StatusCode, [(&'static str, &'static str); 1], String) {
    json(
        StatusCode::UNAUTHORIZED,
        serde_json::json!({ "message": "Unauthorized" }),
    )
}

/// `POST /api/admin/users` (Grafana's admin API): a new user, a Viewer of the main org.
async fn create_user(
    State(api): State<Shared>,
    headers: HeaderMap,
    body: Bytes,
) -> impl axum::response::IntoResponse {
    let mut api = api.lock().unwrap();
    match role(&api, &headers) {
        None => return unauthorized(),
        Some("Admin") => {}
        Some(_) => {
            return json(
                StatusCode::FORBIDDEN,
                serde_json::json!({ "message": "Permission denied" }),
            );
        }
    }
    let user: serde_json::Value = serde_json::from_slice(&body).unwrap_or_default();
    let (Some(login), Some(password)) = (user["login"].as_str(), user["password"].as_str()) else {
        return json(
            StatusCode::BAD_REQUEST,
            serde_json::json!({ "message": "bad request data" }),
        );
    };
    if api.users.iter().any(|(l, _, _)| l == login) {
        return json(
            StatusCode::PRECONDITION_FAILED,
            serde_json::json!({ "message": "User with same login already exists" }),
        );
    }
    api.users
        .push((login.to_owned(), password.to_owned(), "Viewer"));
    let id = api.users.len();
    json(
        StatusCode::OK,
        serde_json::json!({ "id": id, "message": "User created" }),
    )
}

/// `/api/plugins/<id>/resources/<path>`: CallResource with the caller's role, the answer
/// passed back as Grafana passes it.
async fn resource(
    State(api): State<Shared>,
    UrlPath((id, path)): UrlPath<(String, String)>,
    method: Method,
    headers: HeaderMap,
    body: Bytes,
) -> axum::response::Response {
    use axum::response::IntoResponse;
    let (plugin, backend, caller) = {
        let api = api.lock().unwrap();
        (
            api.plugin.clone(),
            api.backend.clone(),
            role(&api, &headers),
        )
    };
    let Some(caller) = caller else {
        return unauthorized().into_response();
    };
    if plugin.as_deref() != Some(id.as_str()) {
        return json(
            StatusCode::NOT_FOUND,
            serde_json::json!({ "message": "Plugin not found" }),
        )
        .into_response();
    }
    let Some(channel) = backend else {
        return json(
            StatusCode::SERVICE_UNAVAILABLE,
            serde_json::json!({ "message": "Plugin unavailable" }),
        )
        .into_response();
    };
    let request = pluginv2::CallResourceRequest {
        plugin_context: Some(app_context(&id, Some(caller), b"{}", &[])),
        path: path.clone(),
        method: method.to_string(),
        url: path,
        headers: Default::default(),
        body: body.to_vec().into(),
    };
    let client = pluginv2::resource_client::ResourceClient::new(channel);
    match harness::call_resource(client, request).await {
        Ok(answer) => (
            StatusCode::from_u16(u16::try_from(answer.status).unwrap_or(500))
                .unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
            [("content-type", "application/json")],
            answer.body,
        )
            .into_response(),
        Err(_) => json(
            StatusCode::INTERNAL_SERVER_ERROR,
            serde_json::json!({ "message": "Plugin request failed" }),
        )
        .into_response(),
    }
}

/// The first directory below `plugins` whose plugin.json declares a backend, and whether
/// Grafana would load it: unsigned (no MANIFEST.txt) only in development mode or when its
/// id is in GF_PLUGINS_ALLOW_LOADING_UNSIGNED_PLUGINS.
fn find_backend_plugin(plugins: &Path) -> Result<Option<Found>> {
    let development = std::env::var("GF_DEFAULT_APP_MODE").is_ok_and(|mode| mode == "development");
    let allowed = std::env::var("GF_PLUGINS_ALLOW_LOADING_UNSIGNED_PLUGINS").unwrap_or_default();
    let Ok(entries) = std::fs::read_dir(plugins) else {
        return Ok(None);
    };
    for entry in entries {
        let dir = entry?.path();
        let Ok(text) = std::fs::read_to_string(dir.join("plugin.json")) else {
            continue;
        };
        let json: serde_json::Value = serde_json::from_str(&text)?;
        if json["backend"] != true {
            continue;
        }
        let (Some(id), Some(executable)) = (json["id"].as_str(), json["executable"].as_str())
        else {
            continue;
        };
        let signed = dir.join("MANIFEST.txt").is_file();
        let allowed = development || allowed.split(',').any(|allowed| allowed.trim() == id);
        let refused = match std::env::var("STANDIN_REFUSE") {
            Ok(code) if !code.is_empty() => Some(code),
            _ => (!signed && !allowed).then(|| "signatureMissing".to_owned()),
        };
        return Ok(Some(Found {
            id: id.to_owned(),
            executable: dir.join(harness::host_executable_name(executable)),
            refused,
        }));
    }
    Ok(None)
}

fn write_atomically(path: &Path, text: &str) -> Result<()> {
    let temporary = path.with_extension("json.partial");
    std::fs::write(&temporary, text)?;
    std::fs::rename(&temporary, path)?;
    Ok(())
}
