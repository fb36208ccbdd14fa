//! The Grafana `dev` runs the plugin in: docker compose (the repository's
//! docker-compose.yaml), a local Grafana as a child process, or one started elsewhere
//! (attach). Starting, restarting after a plugin.json change, stopping, and asking its HTTP
//! API whether it loaded the plugin.
use std::{
    path::{Path, PathBuf},
    process::{Child, Stdio},
    time::Duration,
};

use anyhow::{Context, Result};
use xshell::Shell;

use super::{
    Mode,
    compose::Compose,
    grafana_api::{self, Endpoint, Verdict},
    process,
};
use crate::ui::Ui;

/// How long Grafana gets to shut down.
const GRAFANA_GRACE: Duration = Duration::from_secs(10);

/// The Grafana this command runs (or the one it attached to).
pub struct Grafana {
    mode: Mode,
    compose: Option<Compose>,
    child: Option<Child>,
    command: Option<LocalCommand>,
    /// Where its HTTP API answers, and what to ask it about: the plugin id and the file
    /// name of the backend Grafana starts.
    api: Option<(Endpoint, String, String)>,
}

/// How a local Grafana is started (again, after a plugin.json change).
struct LocalCommand {
    binary: PathBuf,
    args: Vec<String>,
    env: Vec<(String, String)>,
    log: PathBuf,
}

impl Grafana {
    pub fn start(
        sh: &Shell,
        ui: &Ui,
        mode: &Mode,
        compose: Option<Compose>,
        root: &Path,
        plugin_id: &str,
        port: u16,
    ) -> Result<Grafana> {
        let mut grafana = Grafana {
            mode: mode.clone(),
            compose,
            child: None,
            command: None,
            api: None,
        };
        match mode {
            Mode::Attach => ui.status(
                "Attached",
                "to a Grafana started elsewhere, which must load dist/: this command rebuilds and \
                 restarts the plugin, and does not start, restart or stop Grafana",
            ),
            Mode::Compose => {
                let compose = grafana.compose()?;
                // Recreated so the container mounts the dist/ the first build just swapped in;
                // built when the file says how (create-plugin's extends a Dockerfile build).
                compose
                    .command(sh, &["up", "--detach", "--force-recreate", "--build"])
                    .env("GRAFANA_PORT", port.to_string())
                    .run()
                    .with_context(|| format!("{} could not start Grafana", compose.name()))?;
            }
            Mode::Local { binary, home } => {
                let dev = root.join("target").join("dev");
                let plugins = dev.join("plugins");
                link_plugin(&plugins.join(plugin_id), &root.join("dist"))?;
                let mut args = vec!["server".to_owned()];
                if let Some(home) = home {
                    args.extend(["--homepath".to_owned(), home.display().to_string()]);
                }
                let env = vec![
                    ("GF_PATHS_PLUGINS".to_owned(), plugins.display().to_string()),
                    (
                        "GF_PATHS_DATA".to_owned(),
                        dev.join("data").display().to_string(),
                    ),
                    (
                        "GF_PATHS_PROVISIONING".to_owned(),
                        root.join("provisioning").display().to_string(),
                    ),
                    ("GF_SERVER_HTTP_PORT".to_owned(), port.to_string()),
                    ("GF_DEFAULT_APP_MODE".to_owned(), "development".to_owned()),
                    (
                        "GF_PLUGINS_ALLOW_LOADING_UNSIGNED_PLUGINS".to_owned(),
                        plugin_id.to_owned(),
                    ),
                    (
                        "GF_LOG_FILTERS".to_owned(),
                        format!("plugin.{plugin_id}:debug"),
                    ),
                    // Grafana 12.4+ passes its environment (the developer's RUST_LOG) only
                    // to the plugins listed here.
                    (
                        "GF_PLUGINS_FORWARD_HOST_ENV_VARS".to_owned(),
                        plugin_id.to_owned(),
                    ),
                    ("GF_AUTH_ANONYMOUS_ENABLED".to_owned(), "true".to_owned()),
                    ("GF_AUTH_ANONYMOUS_ORG_ROLE".to_owned(), "Admin".to_owned()),
                ];
                let log = dev.join("grafana.log");
                grafana.command = Some(LocalCommand {
                    binary: binary.clone(),
                    args,
                    env,
                    log,
                });
                grafana.spawn(ui)?;
            }
        }
        Ok(grafana)
    }

    fn compose(&self) -> Result<&Compose> {
        self.compose
            .as_ref()
            .context("compose mode without a Compose command")
    }

    pub fn watch_over(&mut self, endpoint: Endpoint, plugin_id: &str, executable: &str) {
        self.api = Some((endpoint, plugin_id.to_owned(), executable.to_owned()));
    }

    /// Asks Grafana whether it loaded the plugin and reaches its backend, and prints the
    /// app's URL only when it does, else the reason and its fix.
    pub fn report(&self, ui: &Ui) {
        let Some((endpoint, plugin_id, executable)) = &self.api else {
            return;
        };
        // Time for Grafana to start: a container or a local server, not one attached to.
        let wait = match self.mode {
            Mode::Attach => Duration::from_secs(2),
            Mode::Compose => Duration::from_secs(180),
            Mode::Local { .. } => Duration::from_secs(60),
        };
        let app = format!("{}/a/{plugin_id}", endpoint.url());
        match grafana_api::check(endpoint, plugin_id, executable, wait) {
            Verdict::Serving(health) => {
                ui.status("Serving", format!("{app} (backend healthy: {health})"))
            }
            Verdict::Unhealthy(health) => {
                ui.status("Serving", &app);
                ui.warning(format!("the backend's health check reports: {health}"));
            }
            Verdict::NotServing(reason) => ui.error(format!("the plugin is not serving: {reason}")),
        }
    }

    fn spawn(&mut self, ui: &Ui) -> Result<()> {
        let Some(LocalCommand {
            binary,
            args,
            env,
            log,
        }) = &self.command
        else {
            return Ok(());
        };
        let log_file = std::fs::File::create(log)
            .with_context(|| format!("cannot create {}", log.display()))?;
        let child = crate::spawn::command(binary)
            .args(args)
            .envs(env.iter().map(|(k, v)| (k, v)))
            .stdin(Stdio::null())
            .stdout(log_file.try_clone()?)
            .stderr(log_file)
            .spawn()
            .with_context(|| format!("cannot start {}", binary.display()))?;
        ui.status(
            "Started",
            format!("Grafana (pid {}), log in {}", child.id(), log.display()),
        );
        self.child = Some(child);
        Ok(())
    }

    pub fn restart(&mut self, sh: &Shell, ui: &Ui) -> Result<()> {
        match self.mode {
            Mode::Compose => {
                let compose = self.compose()?;
                compose
                    .command(sh, &["restart", "grafana"])
                    .quiet()
                    .run()
                    .with_context(|| format!("{} could not restart Grafana", compose.name()))?
            }
            Mode::Attach => ui.warning("plugin.json changed: restart your Grafana to load it"),
            Mode::Local { .. } => {
                self.stop(sh)?;
                self.spawn(ui)?;
            }
        }
        if self.mode != Mode::Attach {
            self.report(ui);
        }
        Ok(())
    }

    pub fn stop(&mut self, sh: &Shell) -> Result<()> {
        if self.mode == Mode::Compose {
            let compose = self.compose()?;
            compose
                .command(sh, &["down"])
                .quiet()
                .run()
                .with_context(|| format!("{} could not stop Grafana", compose.name()))?;
        }
        if let Some(mut child) = self.child.take() {
            process::stop(&[child.id()], GRAFANA_GRACE);
            let _ = child.kill();
            let _ = child.wait();
        }
        Ok(())
    }
}

/// `<plugins>/<id>` → dist/, so the local Grafana loads the dist/ the loop updates.
fn link_plugin(link: &Path, dist: &Path) -> Result<()> {
    if let Some(parent) = link.parent() {
        std::fs::create_dir_all(parent)
            .with_context(|| format!("cannot create {}", parent.display()))?;
    }
    if std::fs::symlink_metadata(link).is_ok() {
        return Ok(());
    }
    #[cfg(unix)]
    std::os::unix::fs::symlink(dist, link)
        .with_context(|| format!("cannot link {} to {}", link.display(), dist.display()))?;
    #[cfg(windows)]
    std::os::windows::fs::symlink_dir(dist, link).with_context(|| {
        format!(
            "cannot link {} to {} (enable Developer Mode for symbolic links)",
            link.display(),
            dist.display()
        )
    })?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_compose_file_mounts_dist_as_the_plugin_in_development_mode() {
        let compose = include_str!("../../../docker-compose.yaml");
        let plugin: serde_json::Value =
            serde_json::from_str(include_str!("../../../plugin.json")).unwrap();
        let id = plugin["id"].as_str().unwrap();
        // Each line docker-compose.yaml needs for plugin.json's id; a rename must reach it.
        for line in [
            format!("- ./dist:/var/lib/grafana/plugins/{id}\n"),
            format!("GF_PLUGINS_ALLOW_LOADING_UNSIGNED_PLUGINS: {id}\n"),
            format!("GF_LOG_FILTERS: plugin.{id}:debug\n"),
            format!("GF_PLUGINS_FORWARD_HOST_ENV_VARS: {id}\n"),
            "GF_DEFAULT_APP_MODE: development\n".to_owned(),
            "- ./provisioning:/etc/grafana/provisioning\n".to_owned(),
        ] {
            assert!(
                compose.contains(&line),
                "docker-compose.yaml lacks `{}` for plugin.json's id {id:?}; fix docker-compose.yaml",
                line.trim()
            );
        }
        assert!(compose.contains("${GRAFANA_IMAGE:-grafana/grafana}:${GRAFANA_VERSION:-"));
        for glue in ["command:", "entrypoint:", "sh -c", "bash"] {
            assert!(
                !compose.contains(glue),
                "no shell glue in the compose file: {glue}"
            );
        }
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
        // (program, how to ask its version, how to check the file). Absent or unusable
        // (docker without its compose plugin) is not the file's fault, hence the version first.
        let attempts: [(&str, &[&str], &[&str]); 2] = [
            ("docker-compose", &["version"], &["config", "--quiet"]),
            (
                "docker",
                &["compose", "version"],
                &["compose", "config", "--quiet"],
            ),
        ];
        for (program, version, check) in attempts {
            let usable = crate::spawn::command(program)
                .args(version)
                .output()
                .is_ok_and(|output| output.status.success());
            if !usable {
                continue;
            }
            let output = crate::spawn::command(program)
                .args(check)
                .current_dir(root)
                .output()
                .unwrap();
            assert!(
                output.status.success(),
                "`{program} {}` rejects docker-compose.yaml: {}",
                check.join(" "),
                String::from_utf8_lossy(&output.stderr)
            );
            return;
        }
        use std::io::Write as _;
        let _ = writeln!(
            std::io::stderr(),
            "SKIPPED compose config check: neither docker-compose nor docker compose is installed (Debian: apt install docker-compose)"
        );
    }
}
