//! A stand-in for Grafana's plugin process manager, for tests of `cargo xtask dev` where no
//! Grafana can be installed. Run as Grafana is (`grafana-standin server`, with
//! GF_PATHS_PLUGINS and GF_PATHS_DATA): it finds the backend plugin in the plugins
//! directory, starts `<executable>_<os>_<arch>[.exe]` with Grafana's environment, performs
//! the handshake, calls CheckHealth every 100 ms, and restarts the plugin within a second
//! whenever it exits (Grafana's keepPluginAlive). It reports what is serving in
//! `$GF_PATHS_DATA/standin-status.json`: `{"pid", "starts", "health"}`.
use std::{
    path::{Path, PathBuf},
    time::Duration,
};

use anyhow::{Context, Result, bail};
use harness::{PluginProcess, app_context};

#[tokio::main]
async fn main() -> Result<()> {
    let plugins =
        PathBuf::from(std::env::var_os("GF_PATHS_PLUGINS").context("GF_PATHS_PLUGINS is not set")?);
    let data =
        PathBuf::from(std::env::var_os("GF_PATHS_DATA").context("GF_PATHS_DATA is not set")?);
    std::fs::create_dir_all(&data)?;
    let (plugin_id, executable) = find_backend_plugin(&plugins)?;
    println!(
        "standin: serving plugin {plugin_id} from {}",
        executable.display()
    );
    let status_file = data.join("standin-status.json");

    let mut starts = 0u32;
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
    loop {
        // keepPluginAlive: a missing or dead plugin is looked at again every second.
        let mut plugin = match PluginProcess::launch(&executable).await {
            Ok(plugin) => plugin,
            Err(error) => {
                println!("standin: cannot start the plugin: {error:#}");
                tokio::select! {
                    _ = &mut stop => return Ok(()),
                    _ = tokio::time::sleep(Duration::from_secs(1)) => continue,
                }
            }
        };
        starts += 1;
        println!("standin: plugin started, pid {}", plugin.id());
        loop {
            let context = app_context(&plugin_id, Some("Admin"), b"{}", &[]);
            if let Ok(health) = plugin.check_health(context).await {
                let status = serde_json::json!({ "pid": plugin.id(), "starts": starts, "health": health.message });
                write_atomically(&status_file, &status.to_string())?;
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
                println!("standin: plugin exited; restarting it within a second");
                tokio::time::sleep(Duration::from_millis(500)).await;
                break;
            }
        }
    }
}

/// The first directory below `plugins` whose plugin.json declares a backend.
fn find_backend_plugin(plugins: &Path) -> Result<(String, PathBuf)> {
    for entry in
        std::fs::read_dir(plugins).with_context(|| format!("cannot read {}", plugins.display()))?
    {
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
        let file = harness::host_executable_name(executable);
        return Ok((id.to_owned(), dir.join(file)));
    }
    bail!("no backend plugin in {}", plugins.display())
}

fn write_atomically(path: &Path, text: &str) -> Result<()> {
    let temporary = path.with_extension("json.partial");
    std::fs::write(&temporary, text)?;
    std::fs::rename(&temporary, path)?;
    Ok(())
}
