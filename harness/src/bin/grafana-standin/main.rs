//! A stand-in for Grafana, for tests of `cargo xtask dev` where no Grafana can be installed.
//! Run as Grafana is (`grafana-standin server`, with GF_PATHS_PLUGINS, GF_PATHS_DATA and
//! GF_SERVER_HTTP_PORT): it loads a backend plugin from the plugins directory by Grafana's
//! rules (an unsigned plugin only in development mode or when allow-listed), starts
//! `<executable>_<os>_<arch>[.exe]` with Grafana's environment, calls CheckHealth every
//! 100 ms, and restarts the plugin within a second whenever it exits (keepPluginAlive). It
//! provisions apps from `$GF_PATHS_PROVISIONING/plugins` as Grafana does at start-up
//! (`provisioning.rs`), and its HTTP API follows Grafana's handlers for the calls the tool
//! makes (`api.rs`: settings, errors, health and resources behind `checkAppEnabled`, the admin
//! API), with Grafana's users: the admin of GF_SECURITY_ADMIN_USER/PASSWORD (admin/admin),
//! users it creates (Viewers), Basic credentials, anonymous access when enabled. The
//! plugin's stderr lines are logged as Grafana logs them, after `logger=plugin.<id>`. It
//! reports what is serving in `$GF_PATHS_DATA/standin-status.json`: `{"pid", "starts",
//! "health"}`. For tests, STANDIN_REFUSE=<errorCode> makes it refuse the plugin as Grafana
//! would, and STANDIN_FAIL_SETTINGS_UPDATE=1 makes its settings store refuse writes.
mod api;
mod datasources;
mod forward;
mod provisioning;
mod state;

use std::{
    path::{Path, PathBuf},
    time::Duration,
};

use anyhow::{Context, Result};
use harness::PluginProcess;
use state::{AppSetting, Loaded, Shared, User};

/// A plugin found in the plugins directory, and whether Grafana's rules let it load.
struct Found {
    id: String,
    executable: PathBuf,
    /// plugin.json's `type`.
    kind: String,
    /// Grafana's error code when it refuses the plugin (`signatureMissing`).
    refused: Option<String>,
}

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
        api.users.push(User {
            login: env("GF_SECURITY_ADMIN_USER", "admin"),
            password: env("GF_SECURITY_ADMIN_PASSWORD", "admin"),
            role: "Admin",
            server_admin: true,
        });
        api.fail_settings_update = env("STANDIN_FAIL_SETTINGS_UPDATE", "") == "1";
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
        let app =
            api::router(api.clone()).into_make_service_with_connect_info::<std::net::SocketAddr>();
        tokio::spawn(axum::serve(listener, app).into_future());
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
        provision(&api, None)?;
        return stop.await;
    };
    if let Some(code) = found.refused.clone() {
        println!(
            "logger=plugin.loader level=error msg=\"Plugin not loaded\" pluginId={} error={code}",
            found.id
        );
        api.lock().unwrap().errors.push((found.id.clone(), code));
        provision(&api, None)?;
        return stop.await;
    }
    api.lock().unwrap().plugin = Some(Loaded {
        id: found.id.clone(),
        kind: found.kind.clone(),
    });
    provision(&api, Some(&found.id))?;
    println!(
        "standin: serving plugin {} from {}",
        found.id,
        found.executable.display()
    );
    keep_plugin_alive(&found, &data.join("standin-status.json"), &api, stop).await
}

/// Grafana's app provisioning, once the plugins are loaded: each app's setting per org. An
/// app that is not loaded (`loaded`), or a file Grafana cannot read, stops Grafana's start
/// (pkg/services/provisioning/plugins/config_reader.go: "plugin not installed").
fn provision(api: &Shared, loaded: Option<&str>) -> Result<()> {
    let Some(dir) = std::env::var_os("GF_PATHS_PROVISIONING") else {
        return Ok(());
    };
    let apps = provisioning::read(Path::new(&dir), |name| std::env::var(name).ok())
        .context("Failed to provision plugins")?;
    let datasources =
        provisioning::read_datasources(Path::new(&dir), |name| std::env::var(name).ok())
            .context("Failed to provision data sources")?;
    let mut api = api.lock().unwrap();
    for (index, ds) in datasources.into_iter().enumerate() {
        api.datasources.push(state::DataSource {
            id: index as i64 + 1,
            uid: ds.uid,
            name: ds.name,
            kind: ds.kind,
            url: ds.url,
            json_data: ds.json_data,
            secure_json_data: ds.secure_json_data,
            updated_ms: state::now_ms(),
        });
    }
    for app in apps {
        if Some(app.plugin_id.as_str()) != loaded {
            anyhow::bail!(
                "Failed to provision plugins: plugin not installed: {:?}",
                app.plugin_id
            );
        }
        let setting = AppSetting {
            enabled: app.enabled,
            pinned: false,
            json_data: app.json_data,
            secure_json_data: app.secure_json_data,
            updated_ms: state::now_ms(),
        };
        api.settings.insert(app.org_id, setting);
    }
    Ok(())
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
            // The stand-in's own probe, with the org's setting as Grafana would send it.
            let context = datasources::probe_context(&api.lock().unwrap(), &found.id);
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
            kind: json["type"].as_str().unwrap_or("app").to_owned(),
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
