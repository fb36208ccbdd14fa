//! `dev` and `e2e` as building blocks: the built-in commands run with typed options.
use std::path::PathBuf;

use anyhow::Result;

use crate::{context::Context, flags};

/// `cargo xtask dev`'s options.
///
/// ```
/// use grafana_plugin_xtask::api::DevOptions;
///
/// let options = DevOptions::new().watch(true).grafana("/opt/grafana-12.4").port(3001);
/// assert!(options.watch && options.port == 3001);
/// ```
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct DevOptions {
    /// Rebuild and reload on save (`--watch`).
    pub watch: bool,
    /// A local Grafana, its binary or home (`--grafana`); else GRAFANA_HOME, else compose.
    pub grafana: Option<PathBuf>,
    /// A Grafana started elsewhere that loads `dist/` (`--attach`).
    pub attach: bool,
    /// The port of the Grafana it starts (3000).
    pub port: u16,
    /// Leave Grafana running at the end (`--keep-running`).
    pub keep_running: bool,
}

impl Default for DevOptions {
    fn default() -> DevOptions {
        DevOptions {
            watch: false,
            grafana: None,
            attach: false,
            port: 3000,
            keep_running: false,
        }
    }
}

impl DevOptions {
    /// `cargo xtask dev`: build once, start Grafana, report, run until Ctrl-C.
    pub fn new() -> DevOptions {
        DevOptions::default()
    }

    /// Rebuilds and reloads on save.
    pub fn watch(mut self, watch: bool) -> DevOptions {
        self.watch = watch;
        self
    }

    /// Runs this local Grafana (its binary or home directory).
    pub fn grafana(mut self, path: impl Into<PathBuf>) -> DevOptions {
        self.grafana = Some(path.into());
        self
    }

    /// Starts no Grafana: one started elsewhere loads `dist/`.
    pub fn attach(mut self, attach: bool) -> DevOptions {
        self.attach = attach;
        self
    }

    /// The port of the Grafana it starts.
    pub fn port(mut self, port: u16) -> DevOptions {
        self.port = port;
        self
    }

    /// Leaves Grafana running at the end.
    pub fn keep_running(mut self, keep: bool) -> DevOptions {
        self.keep_running = keep;
        self
    }
}

/// Runs the built-in `cargo xtask dev` with these options (until Ctrl-C with `watch`).
///
/// ```no_run
/// # use grafana_plugin_xtask::{Context, anyhow::Result, api};
/// fn dev_on_12_4(context: &Context) -> Result<()> {
///     api::dev(context, &api::DevOptions::new().watch(true).grafana("/opt/grafana-12.4"))
/// }
/// ```
pub fn dev(context: &Context, options: &DevOptions) -> Result<()> {
    context.enter_root()?;
    crate::dev::run(
        context,
        &flags::DevFlags {
            watch: options.watch,
            grafana: options.grafana.clone(),
            attach: options.attach,
            port: options.port,
            keep_running: options.keep_running,
        },
    )
}

/// `cargo xtask e2e`'s options.
///
/// ```
/// use grafana_plugin_xtask::api::E2eOptions;
///
/// let options = E2eOptions::new().grafana_version("latest").no_build(true);
/// assert_eq!(options.grafana_version.as_deref(), Some("latest"));
/// ```
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct E2eOptions {
    /// The grafana/grafana image tag; the oldest plugin.json allows unless set.
    pub grafana_version: Option<String>,
    /// A local Grafana (binary or home) instead of the image.
    pub grafana: Option<PathBuf>,
    /// Package what `dist/` holds instead of building.
    pub no_build: bool,
    /// The port Grafana listens on, on 127.0.0.1 (3300).
    pub port: u16,
}

impl Default for E2eOptions {
    fn default() -> E2eOptions {
        E2eOptions {
            grafana_version: None,
            grafana: None,
            no_build: false,
            port: 3300,
        }
    }
}

impl E2eOptions {
    /// The defaults: build, package, the image of the oldest Grafana plugin.json allows.
    pub fn new() -> E2eOptions {
        E2eOptions::default()
    }

    /// This grafana/grafana image tag (`latest` for the newest).
    pub fn grafana_version(mut self, version: impl Into<String>) -> E2eOptions {
        self.grafana_version = Some(version.into());
        self
    }

    /// This local Grafana instead of the image.
    pub fn grafana(mut self, path: impl Into<PathBuf>) -> E2eOptions {
        self.grafana = Some(path.into());
        self
    }

    /// Packages what `dist/` holds instead of building.
    pub fn no_build(mut self, no_build: bool) -> E2eOptions {
        self.no_build = no_build;
        self
    }

    /// The port Grafana listens on.
    pub fn port(mut self, port: u16) -> E2eOptions {
        self.port = port;
        self
    }
}

/// Runs the built-in `cargo xtask e2e` with these options: the archive in a real Grafana,
/// every check through its HTTP API; an error names each failed check.
///
/// ```no_run
/// # use grafana_plugin_xtask::{Context, anyhow::Result, api};
/// fn e2e_oldest_and_latest(context: &Context) -> Result<()> {
///     api::e2e(context, &api::E2eOptions::new())?;
///     api::e2e(context, &api::E2eOptions::new().grafana_version("latest").no_build(true))
/// }
/// ```
pub fn e2e(context: &Context, options: &E2eOptions) -> Result<()> {
    context.enter_root()?;
    crate::e2e::run(
        context,
        &flags::E2eFlags {
            grafana_version: options.grafana_version.clone(),
            grafana: options.grafana.clone(),
            no_build: options.no_build,
            port: options.port,
        },
    )
}
