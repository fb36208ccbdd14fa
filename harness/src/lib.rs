//! Grafana's side of the backend-plugin contract, for tests: start a plugin executable with
//! Grafana's environment, read the go-plugin handshake from its first stdout line, talk
//! `pluginv2` gRPC to it, and stop it as Grafana does (`GRPCController/Shutdown`, then kill).
use std::{
    collections::HashMap,
    ffi::OsString,
    io::{BufRead, BufReader, Read},
    path::Path,
    process::{Child, Command, ExitStatus, Stdio},
    sync::{Arc, Mutex, mpsc},
    thread,
    time::{Duration, Instant},
};

use anyhow::{Context, Result, bail, ensure};
pub use contexts::{app_context, data_query, datasource_context, slow_service};
pub use grafana_plugin_sdk::pluginv2;
pub use handshake::Handshake;

pub mod binaries;
mod contexts;
pub mod frames;
pub mod go_client;
mod handshake;
mod spawning;
use pluginv2::{diagnostics_client::DiagnosticsClient, resource_client::ResourceClient};
use tonic::transport::{Channel, Endpoint};

/// How long Grafana waits for the handshake line.
pub const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(60);
/// How long Grafana waits after `Shutdown` before it kills the process.
pub const SHUTDOWN_TIMEOUT: Duration = Duration::from_secs(2);

/// The file Grafana starts for `executable` on this machine: `<executable>_<os>_<arch>`
/// with Go's names, plus `.exe` on Windows (Grafana's `ExecutablePath`), from the build
/// tool's platform table.
pub fn host_executable_name(executable: &str) -> String {
    let platform = grafana_plugin_xtask::api::Platform::host()
        .expect("this machine is a platform Grafana runs backend plugins on");
    format!(
        "{executable}_{}_{}{}",
        platform.os,
        platform.arch,
        std::env::consts::EXE_SUFFIX
    )
}

/// The environment a backend plugin gets from Grafana 12.4 and later: Grafana's own
/// variables and go-plugin's, and nothing of Grafana's host environment (a test adds what
/// `[plugin.<id>]` or `GF_PLUGINS_FORWARD_HOST_ENV_VARS` would pass through `extra_env`).
pub fn grafana_environment() -> Vec<(&'static str, &'static str)> {
    vec![
        // go-plugin's magic cookie; Grafana uses this value for every plugin type.
        ("grafana_plugin_type", "datasource"),
        ("PLUGIN_PROTOCOL_VERSIONS", "2"),
        ("PLUGIN_MIN_PORT", "10000"),
        ("PLUGIN_MAX_PORT", "25000"),
        ("GF_VERSION", "13.1.0"),
        ("GF_EDITION", "oss"),
    ]
}

/// Host variables Grafana 12.4+ still forwards to every plugin (its `allowedHostEnvVarNames`).
const FORWARDED_HOST_VARIABLES: &[&str] = &[
    "HTTP_PROXY",
    "http_proxy",
    "HTTPS_PROXY",
    "https_proxy",
    "NO_PROXY",
    "no_proxy",
    // Go's os/exec adds it on Windows to any explicit environment; programs fail without it.
    "SYSTEMROOT",
];

/// What an emulator running the plugin needs of the host environment for itself.
const RUNNER_VARIABLES: &[&str] = &[
    "PATH",
    "HOME",
    "WINEPREFIX",
    "WINEDEBUG",
    "WINEDLLOVERRIDES",
    "QEMU_LD_PREFIX",
];

/// A running plugin process, started as Grafana starts it.
pub struct PluginProcess {
    child: Child,
    pub handshake: Handshake,
    channel: Channel,
    stdout: Arc<Mutex<Vec<String>>>,
    stderr: Arc<Mutex<Vec<u8>>>,
    stderr_reader: Option<thread::JoinHandle<()>>,
}

/// A plugin process that has exited, with everything it wrote to stderr.
#[derive(Debug)]
pub struct Stopped {
    pub status: ExitStatus,
    pub stderr: String,
}

impl PluginProcess {
    pub async fn launch(executable: &Path) -> Result<PluginProcess> {
        PluginProcess::launch_with(executable, &[]).await
    }

    /// Starts `executable` with Grafana's environment plus `extra_env`, waits for the
    /// handshake and connects gRPC.
    pub async fn launch_with(
        executable: &Path,
        extra_env: &[(&str, &str)],
    ) -> Result<PluginProcess> {
        PluginProcess::launch_under(None, executable, extra_env).await
    }

    /// Like [`PluginProcess::launch_with`], through `runner` when given (an emulator such
    /// as `qemu-aarch64` or `wine` for a binary of another platform).
    pub async fn launch_under(
        runner: Option<&Path>,
        executable: &Path,
        extra_env: &[(&str, &str)],
    ) -> Result<PluginProcess> {
        // Absolute, because the child runs in the executable's directory (as under Grafana)
        // and a relative program path would be resolved from there.
        let executable = &std::path::absolute(executable)
            .with_context(|| format!("cannot resolve {}", executable.display()))?;
        let mut command = match runner {
            Some(runner) => {
                let mut command = Command::new(runner);
                command.arg(executable);
                command
            }
            None => Command::new(executable),
        };
        let host_variables = FORWARDED_HOST_VARIABLES
            .iter()
            .chain(runner.map_or(&[][..], |_| RUNNER_VARIABLES))
            .filter_map(|name| Some((*name, std::env::var_os(name)?)));
        command
            .env_clear()
            .envs(host_variables)
            .envs(grafana_environment())
            .envs(extra_env.iter().copied())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        if let Some(dir) = executable.parent() {
            command.current_dir(dir);
        }
        spawning::die_with_parent(&mut command);
        let mut child = spawning::spawn(&mut command)
            .with_context(|| format!("cannot start {}", executable.display()))?;

        let stderr = Arc::new(Mutex::new(Vec::new()));
        let mut stderr_pipe = child.stderr.take().expect("stderr is piped");
        let stderr_sink = stderr.clone();
        let stderr_reader = thread::spawn(move || {
            let mut buffer = [0u8; 4096];
            while let Ok(read @ 1..) = stderr_pipe.read(&mut buffer) {
                stderr_sink
                    .lock()
                    .unwrap()
                    .extend_from_slice(&buffer[..read]);
            }
        });

        let stdout = Arc::new(Mutex::new(Vec::new()));
        let stdout_sink = stdout.clone();
        let (first_line, first_line_received) = mpsc::channel();
        let stdout_pipe = child.stdout.take().expect("stdout is piped");
        thread::spawn(move || {
            let mut lines = BufReader::new(stdout_pipe).lines();
            if let Some(Ok(line)) = lines.next() {
                let _ = first_line.send(line);
            }
            for line in lines.map_while(Result::ok) {
                stdout_sink.lock().unwrap().push(line);
            }
        });

        let line = match first_line_received.recv_timeout(HANDSHAKE_TIMEOUT) {
            Ok(line) => line,
            Err(_) => {
                let _ = child.kill();
                let status = child.wait().ok();
                bail!(
                    "{} printed no handshake line (exit: {status:?}); stderr:\n{}",
                    executable.display(),
                    String::from_utf8_lossy(&stderr.lock().unwrap())
                );
            }
        };
        let handshake = match Handshake::parse(&line) {
            Ok(handshake) => handshake,
            Err(error) => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(error.context(format!(
                    "first stdout line of {} is not a go-plugin handshake",
                    executable.display()
                )));
            }
        };
        let channel = Endpoint::from_shared(format!("http://{}", handshake.address))?
            .connect_timeout(Duration::from_secs(10))
            .connect()
            .await
            .with_context(|| format!("cannot connect to the plugin at {}", handshake.address))?;
        Ok(PluginProcess {
            child,
            handshake,
            channel,
            stdout,
            stderr,
            stderr_reader: Some(stderr_reader),
        })
    }

    /// The gRPC connection to the plugin, for clients of other services.
    pub fn channel(&self) -> Channel {
        self.channel.clone()
    }

    pub fn diagnostics(&self) -> DiagnosticsClient<Channel> {
        DiagnosticsClient::new(self.channel.clone())
    }

    pub fn resource(&self) -> ResourceClient<Channel> {
        ResourceClient::new(self.channel.clone())
    }

    pub async fn check_health(
        &self,
        plugin_context: pluginv2::PluginContext,
    ) -> Result<pluginv2::CheckHealthResponse> {
        let request = pluginv2::CheckHealthRequest {
            plugin_context: Some(plugin_context),
            headers: HashMap::new(),
        };
        Ok(self.diagnostics().check_health(request).await?.into_inner())
    }

    /// Calls a resource as Grafana forwards `/api/plugins/<id>/resources/<url>`:
    /// `url` without a leading slash, query string included.
    pub async fn call_resource(
        &self,
        method: &str,
        url: &str,
        plugin_context: pluginv2::PluginContext,
        headers: &[(&str, &str)],
        body: &[u8],
    ) -> Result<ResourceAnswer> {
        let path = url.split_once('?').map_or(url, |(path, _)| path);
        let request = pluginv2::CallResourceRequest {
            plugin_context: Some(plugin_context),
            path: path.to_owned(),
            method: method.to_owned(),
            url: url.to_owned(),
            headers: headers
                .iter()
                .map(|(name, value)| {
                    let values = vec![(*value).to_owned()];
                    ((*name).to_owned(), pluginv2::StringList { values })
                })
                .collect(),
            body: body.to_vec().into(),
        };
        call_resource(self.resource(), request).await
    }

    /// go-plugin's `Ping`: `grpc.health.v1.Health/Check` for `service` (go-plugin asks for
    /// `"plugin"`). The serving status, or the gRPC error.
    pub async fn ping(
        &self,
        service: &str,
    ) -> std::result::Result<tonic_health::pb::health_check_response::ServingStatus, tonic::Status>
    {
        let mut client = tonic_health::pb::health_client::HealthClient::new(self.channel.clone());
        let request = tonic_health::pb::HealthCheckRequest {
            service: service.to_owned(),
        };
        let response = client.check(request).await?.into_inner();
        Ok(response.status())
    }

    /// Opens go-plugin's `plugin.GRPCStdio/StreamStdio`, as go-plugin's client (1.4+) does
    /// right after the handshake: the stream (messages left undecoded), or the gRPC error.
    pub async fn stream_stdio(
        &self,
    ) -> std::result::Result<tonic::Streaming<Vec<u8>>, tonic::Status> {
        let mut grpc = tonic::client::Grpc::new(self.channel.clone());
        grpc.ready()
            .await
            .map_err(|error| tonic::Status::unavailable(error.to_string()))?;
        let path =
            tonic::codegen::http::uri::PathAndQuery::from_static("/plugin.GRPCStdio/StreamStdio");
        let codec = tonic::codec::ProstCodec::<(), Vec<u8>>::default();
        Ok(grpc
            .server_streaming(tonic::Request::new(()), path, codec)
            .await?
            .into_inner())
    }

    /// Stops the plugin as Grafana does: `plugin.GRPCController/Shutdown`, then waits up to
    /// [`SHUTDOWN_TIMEOUT`] for the process to exit. Errors if it had to be killed.
    pub async fn shutdown(self) -> Result<Stopped> {
        self.ask_to_shut_down().await?;
        self.wait_for_exit(SHUTDOWN_TIMEOUT).await
    }

    /// `plugin.GRPCController/Shutdown` alone, without waiting for the process.
    pub async fn ask_to_shut_down(&self) -> Result<()> {
        let mut grpc = tonic::client::Grpc::new(self.channel.clone());
        grpc.ready().await?;
        let codec = tonic::codec::ProstCodec::<(), ()>::default();
        let path =
            tonic::codegen::http::uri::PathAndQuery::from_static("/plugin.GRPCController/Shutdown");
        grpc.unary(tonic::Request::new(()), path, codec)
            .await
            .context("GRPCController/Shutdown failed")?;
        Ok(())
    }

    /// Waits up to `timeout` for the process to exit by itself; kills it and errors after that.
    pub async fn wait_for_exit(mut self, timeout: Duration) -> Result<Stopped> {
        let deadline = Instant::now() + timeout;
        let status = loop {
            if let Some(status) = self.child.try_wait()? {
                break status;
            }
            if Instant::now() >= deadline {
                let _ = self.child.kill();
                let _ = self.child.wait();
                bail!(
                    "plugin still running {timeout:?} after it was told to stop; killed it. stderr:\n{}",
                    self.stderr()
                );
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        };
        // The pipe closes with the process: the reader thread ends after the last byte.
        if let Some(reader) = self.stderr_reader.take() {
            let _ = reader.join();
        }
        Ok(Stopped {
            status,
            stderr: self.stderr(),
        })
    }

    /// Everything the plugin wrote to stderr so far (its log).
    pub fn stderr(&self) -> String {
        String::from_utf8_lossy(&self.stderr.lock().unwrap()).into_owned()
    }

    /// Stdout lines after the handshake line.
    pub fn stdout_after_handshake(&self) -> Vec<String> {
        self.stdout.lock().unwrap().clone()
    }

    pub fn id(&self) -> u32 {
        self.child.id()
    }

    /// Has the process exited (by itself or killed)?
    pub fn exited(&mut self) -> bool {
        !matches!(self.child.try_wait(), Ok(None))
    }
}

impl Drop for PluginProcess {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// CallResource on `client`: the first message's status and headers, every message's body.
pub async fn call_resource(
    mut client: ResourceClient<Channel>,
    request: pluginv2::CallResourceRequest,
) -> Result<ResourceAnswer> {
    let mut stream = client.call_resource(request).await?.into_inner();
    let first = stream
        .message()
        .await?
        .context("CallResource returned an empty stream")?;
    let mut body = first.body.to_vec();
    while let Some(more) = stream.message().await? {
        body.extend_from_slice(&more.body);
    }
    Ok(ResourceAnswer {
        status: first.code,
        headers: first.headers,
        body,
    })
}

/// A CallResource answer: status, headers and the body of all streamed messages.
#[derive(Debug)]
pub struct ResourceAnswer {
    pub status: i32,
    pub headers: HashMap<String, pluginv2::StringList>,
    pub body: Vec<u8>,
}

impl ResourceAnswer {
    pub fn json(&self) -> Result<serde_json::Value> {
        serde_json::from_slice(&self.body)
            .with_context(|| format!("body is not JSON: {}", String::from_utf8_lossy(&self.body)))
    }
}

/// Launches `executable` (through `runner` when given) as Grafana does and checks that it
/// serves: CheckHealth answers OK, `GET ping` answers 200, and it stops on `Shutdown`.
pub async fn assert_serves(
    runner: Option<&Path>,
    executable: &Path,
    plugin_id: &str,
) -> Result<()> {
    assert_serves_with(runner, executable, plugin_id, &[]).await
}

/// [`assert_serves`] with variables for the runner (e.g. Wine's `WINEPREFIX`).
pub async fn assert_serves_with(
    runner: Option<&Path>,
    executable: &Path,
    plugin_id: &str,
    runner_env: &[(&str, &str)],
) -> Result<()> {
    use pluginv2::check_health_response::HealthStatus;
    let plugin = PluginProcess::launch_under(runner, executable, runner_env).await?;
    let health = plugin
        .check_health(app_context(plugin_id, Some("Admin"), b"{}", &[]))
        .await?;
    ensure!(
        health.status == HealthStatus::Ok as i32,
        "CheckHealth answered {health:?}"
    );
    let ping = plugin
        .call_resource(
            "GET",
            "ping",
            app_context(plugin_id, Some("Viewer"), b"{}", &[]),
            &[],
            b"",
        )
        .await?;
    ensure!(ping.status == 200, "GET ping answered {}", ping.status);
    let stopped = plugin.shutdown().await?;
    ensure!(
        stopped.status.success(),
        "the plugin exited with {:?}",
        stopped.status
    );
    Ok(())
}

/// Reports a test that cannot run here, and why, where `cargo test` shows it: written to
/// the stderr handle directly, which libtest does not capture (it captures `eprintln!`).
pub fn skip(test: &str, reason: &str) {
    use std::io::Write;
    let _ = writeln!(std::io::stderr(), "SKIPPED {test}: {reason}");
}

/// Runs `executable ARGS` to completion (for `--version` and friends).
pub fn run_to_end(executable: &Path, args: &[&str]) -> Result<(ExitStatus, String, String)> {
    let output = Command::new(executable)
        .args(args.iter().map(OsString::from))
        .output()
        .with_context(|| format!("cannot run {}", executable.display()))?;
    Ok((
        output.status,
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    ))
}
