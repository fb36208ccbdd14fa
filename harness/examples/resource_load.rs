//! Load on the plugin's resource path over real gRPC, as Grafana forwards browser calls:
//! N concurrent callers on one HTTP/2 connection for a fixed time, latency percentiles,
//! throughput, and the plugin's resident memory idle and under load (Linux /proc).
//! `cargo run --release -p harness --example resource_load -- PLUGIN_BINARY [CALLERS] [SECONDS]`
//! Traffic goes only to 127.0.0.1; every loop is bounded in time.
use std::{
    path::PathBuf,
    sync::Arc,
    time::{Duration, Instant},
};

use anyhow::{Context, Result};
use harness::{PluginProcess, app_context};

const PLUGIN_ID: &str = "acme-servicechecks-app";
const TARGETS: usize = 10;

#[tokio::main]
async fn main() -> Result<()> {
    let mut args = std::env::args().skip(1);
    let binary = PathBuf::from(
        args.next()
            .context("usage: resource_load PLUGIN_BINARY [CALLERS] [SECONDS]")?,
    );
    let callers: usize = args.next().map_or(Ok(100), |a| a.parse())?;
    let seconds: u64 = args.next().map_or(Ok(10), |a| a.parse())?;

    // Ten local services for the settings, so `checks` returns ten results.
    let mut targets = Vec::new();
    let mut listeners = Vec::new();
    for index in 0..TARGETS {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        targets.push(serde_json::json!({ "name": format!("service-{index}"), "address": listener.local_addr()?.to_string() }));
        listeners.push(listener);
    }
    let json_data = serde_json::to_vec(&serde_json::json!({ "targets": targets }))?;

    let plugin = Arc::new(PluginProcess::launch(&binary).await?);
    let context = app_context(PLUGIN_ID, Some("Viewer"), &json_data, &[("hookToken", "t")]);
    // Prime: settings observed, first background checks done.
    plugin
        .call_resource(
            "POST",
            "checks/run",
            app_context(PLUGIN_ID, Some("Editor"), &json_data, &[]),
            &[],
            b"",
        )
        .await?;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let idle_kib = resident_kib(plugin.id());

    println!("| route | callers | requests | req/s | p50 ms | p99 ms | max ms | peak RSS KiB |");
    println!("| --- | --- | --- | --- | --- | --- | --- | --- |");
    for route in ["ping", "checks"] {
        let deadline = Instant::now() + Duration::from_secs(seconds);
        let started = Instant::now();
        let mut tasks = Vec::new();
        for _ in 0..callers {
            let plugin = plugin.clone();
            let context = context.clone();
            tasks.push(tokio::spawn(async move {
                let mut latencies = Vec::new();
                while Instant::now() < deadline {
                    let sent = Instant::now();
                    let answer = plugin
                        .call_resource("GET", route, context.clone(), &[], b"")
                        .await?;
                    anyhow::ensure!(answer.status == 200, "{route}: HTTP {}", answer.status);
                    latencies.push(sent.elapsed());
                }
                Ok::<_, anyhow::Error>(latencies)
            }));
        }
        let sampler = {
            let pid = plugin.id();
            tokio::spawn(async move {
                let mut peak = 0;
                while Instant::now() < deadline {
                    peak = peak.max(resident_kib(pid).unwrap_or(0));
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
                peak
            })
        };
        let mut latencies = Vec::new();
        for task in tasks {
            latencies.extend(task.await??);
        }
        let elapsed = started.elapsed().as_secs_f64();
        let peak = sampler.await?;
        latencies.sort();
        let at = |q: f64| {
            latencies[((latencies.len() as f64 * q) as usize).min(latencies.len() - 1)]
                .as_secs_f64()
                * 1000.0
        };
        println!(
            "| GET {route} | {callers} | {} | {:.0} | {:.2} | {:.2} | {:.2} | {peak} |",
            latencies.len(),
            latencies.len() as f64 / elapsed,
            at(0.50),
            at(0.99),
            at(1.0),
        );
    }
    println!();
    match idle_kib {
        Some(kib) => {
            println!("Resident memory idle (settings loaded, {TARGETS} targets): {kib} KiB")
        }
        None => println!("Resident memory: not measured (no /proc on this system)"),
    }
    drop(listeners);
    match Arc::try_unwrap(plugin) {
        Ok(plugin) => anyhow::ensure!(
            plugin.shutdown().await?.status.success(),
            "plugin did not stop cleanly"
        ),
        Err(_) => anyhow::bail!("callers still hold the plugin"),
    }
    Ok(())
}

/// VmRSS of a process, from /proc (Linux).
fn resident_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|line| line.starts_with("VmRSS:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}
