//! The process Grafana starts: flags, the go-plugin handshake and its services, logging, the
//! gRPC server, and a graceful stop within Grafana's 2 s.
use std::{process::ExitCode, sync::Arc, time::Duration};

use grafana_plugin_sdk::{
    backend,
    pluginv2::{
        data_server::DataServer, diagnostics_server::DiagnosticsServer,
        resource_server::ResourceServer,
    },
};
use tracing_subscriber::{EnvFilter, layer::SubscriberExt, util::SubscriberInitExt};

use crate::{
    Plugin, controller, go_plugin,
    grpc::Served,
    handover,
    instances::Instances,
    stop::{self, Stop, Stopper},
};

/// How long calls in flight may run after a shutdown request. Grafana kills the process 2 s
/// after asking it to stop, so finish before that.
const SHUTDOWN_GRACE: Duration = Duration::from_millis(1500);

/// How long the async runtime's own threads (a DNS lookup on a blocking thread, say) may
/// hold up the exit once serving has stopped.
const RUNTIME_GRACE: Duration = Duration::from_millis(300);

/// What the binary says about itself, and how it logs.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct Options {
    /// One line for `--version` (e.g. `gpx_foo 1.2.0 (acme-foo-app, built …)`).
    pub version: String,
    /// JSON for `--buildinfo`.
    pub build_info: String,
    /// The log filter when `RUST_LOG` is not set or not valid. Grafana gives a plugin no log
    /// level and filters its lines by its own (`[log] level`, `filters = plugin.<id>:debug`),
    /// so the Go SDK logs its debug lines and lets Grafana choose; so does this, by default
    /// `warn,<crate>=debug,grafana_plugin_runtime=debug`. `RUST_LOG` reaches the plugin from Grafana 12.4 on only with
    /// `GF_PLUGINS_FORWARD_HOST_ENV_VARS=<id>`.
    pub default_log_filter: String,
    /// An instance no call used for this long is disposed of (its work stops); the next
    /// call makes it again. Grafana never tells a plugin that an app was disabled in an org
    /// or a data source deleted: it stops calling. One hour by default, as the Go SDK's TTL
    /// instance manager; a server operator changes it with `[plugin.<id>] instance_idle_ttl
    /// = 10m` in grafana.ini (`GF_PLUGIN_INSTANCE_IDLE_TTL`: seconds, or `s`, `m`, `h`).
    pub instance_idle_ttl: Duration,
}

/// The variable Grafana sets from `[plugin.<id>] instance_idle_ttl`.
const IDLE_TTL_VARIABLE: &str = "GF_PLUGIN_INSTANCE_IDLE_TTL";

/// `90`, `90s`, `10m`, `1h`.
fn parse_duration(text: &str) -> Option<Duration> {
    let text = text.trim();
    let (number, unit) = match text.find(|c: char| !c.is_ascii_digit()) {
        Some(at) => text.split_at(at),
        None => (text, "s"),
    };
    let number: u64 = number.parse().ok()?;
    let seconds = match unit {
        "s" => number,
        "m" => number.checked_mul(60)?,
        "h" => number.checked_mul(3600)?,
        _ => return None,
    };
    (seconds > 0).then(|| Duration::from_secs(seconds))
}

impl Options {
    /// Options from the build's version line, its JSON and the plugin crate's name.
    pub fn new(
        version: impl Into<String>,
        build_info: impl Into<String>,
        crate_name: &str,
    ) -> Options {
        Options {
            version: version.into(),
            build_info: build_info.into(),
            default_log_filter: format!(
                "warn,{}=debug,grafana_plugin_runtime=debug",
                crate_name.replace('-', "_")
            ),
            instance_idle_ttl: Duration::from_secs(3600),
        }
    }
}

/// The whole `main` of a plugin binary: `--version`/`--buildinfo`, the go-plugin checks
/// (started by Grafana, the port range it gives), logging as hclog JSON on stderr (Grafana
/// parses it into its log), then serving until Grafana asks to stop (go-plugin's `Shutdown`),
/// SIGTERM or Ctrl-C.
///
/// ```no_run
/// use std::sync::Arc;
/// use grafana_plugin_runtime::{Caller, Health, InstanceSettings, Options, Plugin};
///
/// struct Hello;
/// impl Plugin for Hello {
///     type Instance = ();
///     fn new_instance(&self, _settings: InstanceSettings) {}
///     async fn check_health(&self, _instance: Arc<()>, _caller: Caller) -> Health {
///         Health::ok("hello")
///     }
/// }
///
/// fn main() -> std::process::ExitCode {
///     grafana_plugin_runtime::main(Hello, Options::new("gpx_hello 0.1.0", "{}", "hello"))
/// }
/// ```
pub fn main<P: Plugin>(plugin: P, options: Options) -> ExitCode {
    handover::remember_launch_path();
    // Grafana starts the binary without arguments. Anything printed to stdout before the
    // handshake line breaks loading, so flags print only when asked for and then exit.
    if let Some(argument) = std::env::args_os().nth(1) {
        return match argument.to_str() {
            Some("--version" | "-version") => {
                println!("{}", options.version);
                ExitCode::SUCCESS
            }
            Some("--buildinfo" | "-buildinfo") => {
                println!("{}", options.build_info);
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
    let result = runtime.block_on(serve(plugin, &options));
    // Not a plain drop: that waits without limit for blocking tasks (a DNS lookup), past
    // the 2 s after which Grafana kills the process anyway.
    runtime.shutdown_timeout(RUNTIME_GRACE);
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            tracing::error!(%error, "plugin stopped with an error");
            ExitCode::FAILURE
        }
    }
}

/// Logs as hclog JSON lines on stderr, filtered by `RUST_LOG` when valid, else by
/// `options.default_log_filter`.
fn init_logging(options: &Options) {
    let filter = std::env::var("RUST_LOG")
        .ok()
        .filter(|filter| !filter.trim().is_empty())
        .and_then(|filter| EnvFilter::try_new(filter).ok())
        .unwrap_or_else(|| EnvFilter::new(&options.default_log_filter));
    let _ = tracing_subscriber::registry()
        .with(backend::layer())
        .with(filter)
        .try_init();
}

/// Serves the plugin on the go-plugin listener until it is asked to stop.
async fn serve<P: Plugin>(plugin: P, options: &Options) -> Result<(), String> {
    init_logging(options);
    let stop = stop::stopper();
    tokio::spawn(stop_on_signal(stop.clone()));
    handover::on_request(stop.clone());
    let (listener, kept, inherited) = open_listener().await?;
    let plugin = Arc::new(plugin);
    let instances = Arc::new(Instances::<P>::default());
    let served = Arc::new(Served {
        plugin: plugin.clone(),
        instances: instances.clone(),
    });
    if inherited {
        tracing::info!(version = %options.version, "plugin handed over: the new build serves");
    } else {
        tracing::info!(version = %options.version, "plugin started");
    }
    let sweeper = spawn_sweeper(plugin.clone(), instances.clone(), options);

    // go-plugin's Ping asks for service "plugin"; "" is the server as a whole.
    let (mut health, health_service) = tonic_health::server::health_reporter();
    for service in ["", "plugin"] {
        health
            .set_service_status(service, tonic_health::ServingStatus::Serving)
            .await;
    }

    let server = tonic::transport::Server::builder()
        .add_service(DiagnosticsServer::from_arc(served.clone()))
        .add_service(ResourceServer::from_arc(served.clone()))
        .add_service(DataServer::from_arc(served))
        .add_service(controller::GrpcControllerServer::new(stop.clone()))
        .add_service(controller::GrpcStdioServer::new(stop.subscribe()))
        .add_service(health_service)
        .serve_with_incoming_shutdown(go_plugin::incoming(listener), stop::asked(stop.subscribe()));
    tokio::select! {
        result = server => result.map_err(|error| error.to_string())?,
        _ = async {
            stop::asked(stop.subscribe()).await;
            tokio::time::sleep(SHUTDOWN_GRACE).await;
        } => tracing::warn!("calls still running {SHUTDOWN_GRACE:?} after shutdown; exiting anyway"),
    }
    // Each instance's work (tasks, connections) ends with it.
    sweeper.abort();
    instances.dispose_all(&plugin);
    // Read last: Grafana's Shutdown during a handover's drain means exit.
    if *stop.borrow() == Stop::HandOver {
        let Some(path) = handover::launch_path() else {
            return Err("cannot hand over: the binary's path is unknown".to_owned());
        };
        let error = handover::exec(&kept, path);
        // Exiting makes Grafana start the binary again: today's restart.
        return Err(format!("cannot hand over to {}: {error}", path.display()));
    }
    drop(kept);
    tracing::info!("plugin stopped");
    Ok(())
}

/// The listener Grafana talks to, a second handle on it kept open through a handover (the
/// server closes its own when it stops), and whether it was handed over. A new listener's
/// address goes to stdout as the handshake line, once: an image that was handed the
/// listener prints nothing (Grafana already has the address).
async fn open_listener() -> Result<(tokio::net::TcpListener, std::net::TcpListener, bool), String> {
    let text = |error: std::io::Error| error.to_string();
    let (listener, inherited) = match handover::inherited() {
        Some(listener) => (listener, true),
        None => {
            let ports = go_plugin::port_range(
                std::env::var("PLUGIN_MIN_PORT").ok().as_deref(),
                std::env::var("PLUGIN_MAX_PORT").ok().as_deref(),
            )?;
            let listener = go_plugin::listen(ports).await?;
            println!("{}", go_plugin::handshake_line(&listener).map_err(text)?);
            (listener.into_std().map_err(text)?, false)
        }
    };
    let kept = listener.try_clone().map_err(text)?;
    let listener = tokio::net::TcpListener::from_std(listener).map_err(text)?;
    Ok((listener, kept, inherited))
}

/// Disposes of idle instances, every quarter of the idle time (between 0.1 s and 60 s).
fn spawn_sweeper<P: Plugin>(
    plugin: Arc<P>,
    instances: Arc<Instances<P>>,
    options: &Options,
) -> tokio::task::JoinHandle<()> {
    let idle = match std::env::var(IDLE_TTL_VARIABLE) {
        Ok(text) => parse_duration(&text).unwrap_or_else(|| {
            tracing::warn!(
                value = %text,
                "{IDLE_TTL_VARIABLE} is not a duration (90, 90s, 10m, 1h); using {:?}",
                options.instance_idle_ttl
            );
            options.instance_idle_ttl
        }),
        Err(_) => options.instance_idle_ttl,
    };
    tokio::spawn(async move {
        let every = (idle / 4).clamp(Duration::from_millis(100), Duration::from_secs(60));
        let mut ticks = tokio::time::interval(every);
        loop {
            ticks.tick().await;
            instances.dispose_idle(&plugin, idle);
        }
    })
}

/// SIGTERM or Ctrl-C (SIGINT, or the console event on Windows) stop the plugin gracefully.
async fn stop_on_signal(stop: Stopper) {
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
    stop::ask(&stop, Stop::Exit);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn idle_times_read_as_an_operator_writes_them() {
        assert_eq!(parse_duration("90"), Some(Duration::from_secs(90)));
        assert_eq!(parse_duration("90s"), Some(Duration::from_secs(90)));
        assert_eq!(parse_duration("10m"), Some(Duration::from_secs(600)));
        assert_eq!(parse_duration(" 1h "), Some(Duration::from_secs(3600)));
        for bad in ["", "0", "1d", "m", "-5s", "1.5h"] {
            assert_eq!(parse_duration(bad), None, "{bad:?}");
        }
    }
}
