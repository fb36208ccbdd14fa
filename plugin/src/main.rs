//! Entry point of the backend binary Grafana starts: flags, logging, the go-plugin handshake
//! and the gRPC server. SDK wiring only; behaviour lives in the other modules.
mod auth;
mod build_info;
mod checker;
mod context;
mod controller;
mod go_plugin;
mod grpc;
mod health;
mod resources;
mod secret;
mod settings;
mod worker;

use std::{process::ExitCode, sync::Arc, time::Duration};

use grafana_plugin_sdk::{
    backend,
    pluginv2::{diagnostics_server::DiagnosticsServer, resource_server::ResourceServer},
};
use tokio::sync::watch;
use tracing_subscriber::{EnvFilter, layer::SubscriberExt, util::SubscriberInitExt};

/// How long in-flight requests may run after a shutdown request. Grafana kills the process
/// 2 s after asking it to stop, so finish before that.
const SHUTDOWN_GRACE: Duration = Duration::from_millis(1500);

/// The log filter without RUST_LOG: this crate's debug lines (Grafana filters them), only
/// warnings and errors of the libraries under it.
const DEFAULT_LOG_FILTER: &str = "warn,plugin=debug";

fn main() -> ExitCode {
    // Grafana starts the binary without arguments. Anything printed to stdout before the
    // handshake line breaks loading, so flags print only when asked for and then exit.
    let argument = std::env::args_os().nth(1);
    if let Some(argument) = argument {
        return match argument.to_str() {
            Some("--version" | "-version") => {
                println!("{}", build_info::version_line());
                ExitCode::SUCCESS
            }
            Some("--buildinfo" | "-buildinfo") => {
                println!("{}", build_info::as_json());
                ExitCode::SUCCESS
            }
            _ => {
                eprintln!(
                    "error: unexpected argument {argument:?}: Grafana starts this binary without \
                     arguments; use --version or --buildinfo to see what it is"
                );
                ExitCode::from(2)
            }
        };
    }
    // go-plugin's servers refuse to run without the host's magic cookie, with this text.
    if !go_plugin::started_by_host(std::env::var_os(go_plugin::MAGIC_COOKIE_KEY)) {
        eprint!("{}", go_plugin::NOT_STARTED_BY_GRAFANA);
        return ExitCode::FAILURE;
    }
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_name("plugin-worker")
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("error: cannot start the async runtime: {error}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(serve()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            tracing::error!(%error, "plugin stopped with an error");
            ExitCode::FAILURE
        }
    }
}

async fn serve() -> Result<(), Box<dyn std::error::Error>> {
    // Logs go to stderr as hclog JSON lines, which Grafana parses into its own log and
    // filters with its own level for `plugin.<id>` ([log] level, filters). Grafana tells a
    // plugin no level, so like the Go SDK this logs its own debug lines and lets Grafana
    // choose; a non-empty, valid RUST_LOG overrides when it reaches the plugin (Grafana 12.4+
    // passes it only with GF_PLUGINS_FORWARD_HOST_ENV_VARS=<id>).
    tracing_subscriber::registry()
        .with(backend::layer())
        .with(
            std::env::var("RUST_LOG")
                .ok()
                .filter(|filter| !filter.trim().is_empty())
                .and_then(|filter| EnvFilter::try_new(filter).ok())
                .unwrap_or_else(|| EnvFilter::new(DEFAULT_LOG_FILTER)),
        )
        .init();

    let (stop, mut stopping) = watch::channel(false);
    let stop = Arc::new(stop);
    tokio::spawn(stop_on_signal(stop.clone()));

    let ports = go_plugin::port_range(
        std::env::var("PLUGIN_MIN_PORT").ok().as_deref(),
        std::env::var("PLUGIN_MAX_PORT").ok().as_deref(),
    )?;
    let listener = go_plugin::listen(ports).await?;
    // The first line on stdout; Grafana reads the address from it.
    println!("{}", go_plugin::handshake_line(&listener)?);
    let checks = Arc::new(worker::Checks::new(checker::Timeouts::default()));
    let worker = tokio::spawn(checks.clone().run(stopping.clone()));
    let app = Arc::new(grpc::App::new(checks));
    tracing::info!(version = build_info::VERSION, "plugin started");

    // go-plugin's Ping asks for service "plugin"; "" is the server as a whole.
    let (mut health, health_service) = tonic_health::server::health_reporter();
    for service in ["", "plugin"] {
        health
            .set_service_status(service, tonic_health::ServingStatus::Serving)
            .await;
    }

    let mut server_stopping = stopping.clone();
    let server = tonic::transport::Server::builder()
        .add_service(DiagnosticsServer::from_arc(app.clone()))
        .add_service(ResourceServer::from_arc(app))
        .add_service(controller::GrpcControllerServer::new(stop))
        .add_service(controller::GrpcStdioServer::new(stopping.clone()))
        .add_service(health_service)
        .serve_with_incoming_shutdown(go_plugin::incoming(listener), async move {
            let _ = server_stopping.wait_for(|stop| *stop).await;
        });
    tokio::select! {
        result = server => result?,
        _ = async {
            let _ = stopping.wait_for(|stop| *stop).await;
            tokio::time::sleep(SHUTDOWN_GRACE).await;
        } => tracing::warn!("requests still running {SHUTDOWN_GRACE:?} after shutdown; exiting anyway"),
    }
    // The worker saw the same stop signal; its tasks end at their next await point.
    let _ = tokio::time::timeout(SHUTDOWN_GRACE, worker).await;
    tracing::info!("plugin stopped");
    Ok(())
}

/// SIGTERM or Ctrl-C (SIGINT, or the console event on Windows) stop the plugin gracefully.
async fn stop_on_signal(stop: Arc<watch::Sender<bool>>) {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut terminate) => {
                tokio::select! {
                    _ = terminate.recv() => {}
                    _ = tokio::signal::ctrl_c() => {}
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    let _ = tokio::signal::ctrl_c().await;
    tracing::info!("signal received, shutting down");
    stop.send_replace(true);
}
