//! What every command works with: one shell, the output rules (`--quiet`, colour), the
//! project (plugin.json and `cargo metadata`, loaded once, on first use) and the hooks the
//! plugin's own xtask registered. Loading the project changes nothing: commands that run
//! tools at the workspace root say so ([`Context::enter_root`]).
use std::{cell::OnceCell, path::Path};

use anyhow::Result;
use xshell::Shell;

use crate::{project, spawn::cmd, ui::Ui, util};

/// What a build hook is told: the build about to run (or just done), and what a
/// before-build hook changes about it.
///
/// ```
/// use grafana_plugin_xtask::{BuildEvent, Context};
///
/// fn hook(context: &Context, event: &mut BuildEvent) -> grafana_plugin_xtask::anyhow::Result<()> {
///     context.status("Stamping", format!("{} for {}", event.profile, event.platforms.join(", ")));
///     event.changes.env("PLUGIN_BUILD_CHANNEL", "nightly").feature("nightly");
///     Ok(())
/// }
/// # let _ = hook;
/// ```
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct BuildEvent {
    /// The workspace root (plugin.json, `dist/`).
    pub root: std::path::PathBuf,
    /// Cargo's target directory (where generated files can go).
    pub target_dir: std::path::PathBuf,
    /// The Grafana platforms built (`linux/amd64`, …).
    pub platforms: Vec<String>,
    /// The profile: `release`, `dist` or `dev`.
    pub profile: String,
    /// The command that builds: `build`, `package` or `dev` (each cycle of the loop).
    pub command: &'static str,
    /// What the before-build hooks change about this build (empty for them to fill; read
    /// only after it).
    pub changes: BuildChanges,
}

/// What a before-build hook can change about the build it precedes, as the Go SDK's
/// before-build callback returns a changed `Config`: the environment of cargo (and so of
/// build scripts and rustc), the plugin crate's features, more cargo arguments and rustc
/// flags. They apply to that build only.
///
/// ```
/// use grafana_plugin_xtask::BuildChanges;
///
/// let mut changes = BuildChanges::default();
/// changes
///     .env("PROTOC", "/usr/bin/protoc")
///     .feature("otel")
///     .cargo_arg("--locked")
///     .rustflag("-Cforce-frame-pointers=yes");
/// assert_eq!(changes.features, ["otel"]);
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct BuildChanges {
    /// Set in cargo's environment (with the `cross` back end, only what cross passes into
    /// its container reaches the build).
    pub env: Vec<(String, String)>,
    /// Features of the plugin crate to enable (`--features`).
    pub features: Vec<String>,
    /// Arguments added to cargo's command line.
    pub cargo_args: Vec<String>,
    /// Flags for rustc, added to the ones the configuration gives every target
    /// (`--config target.'cfg(all())'.rustflags`); a `RUSTFLAGS` in the environment
    /// overrides them, as it overrides every configured flag.
    pub rustflags: Vec<String>,
}

impl BuildChanges {
    /// Sets `name` in cargo's environment.
    pub fn env(&mut self, name: impl Into<String>, value: impl Into<String>) -> &mut Self {
        self.env.push((name.into(), value.into()));
        self
    }

    /// Enables a feature of the plugin crate.
    pub fn feature(&mut self, feature: impl Into<String>) -> &mut Self {
        self.features.push(feature.into());
        self
    }

    /// Adds an argument to cargo's command line.
    pub fn cargo_arg(&mut self, arg: impl Into<String>) -> &mut Self {
        self.cargo_args.push(arg.into());
        self
    }

    /// Adds a flag for rustc.
    pub fn rustflag(&mut self, flag: impl Into<String>) -> &mut Self {
        self.rustflags.push(flag.into());
        self
    }
}

/// A closure run before each build of the backend: it gets the [`Context`] and may change
/// the build through [`BuildEvent::changes`].
pub type BeforeHook = Box<dyn Fn(&Context, &mut BuildEvent) -> Result<()>>;

/// A closure run after each build of the backend that assembled `dist/`.
pub type AfterHook = Box<dyn Fn(&Context, &BuildEvent) -> Result<()>>;

/// The hooks of the plugin's own xtask ([`crate::Xtask::before_build`]).
#[derive(Default)]
pub(crate) struct Hooks {
    pub before_build: Vec<BeforeHook>,
    pub after_build: Vec<AfterHook>,
}

/// What every command works with; handed to the plugin's own commands and to hooks: the
/// project, cargo-style output that honours `--quiet`, cargo at the workspace root.
///
/// ```no_run
/// use grafana_plugin_xtask::{Context, anyhow::Result};
///
/// fn lint(context: &Context) -> Result<()> {
///     context.cargo(&["clippy", "--workspace", "--", "-D", "warnings"])?;
///     context.status(
///         "Finished",
///         format!("{} in {} is lint-free", context.plugin_id()?, context.root()?.display()),
///     );
///     Ok(())
/// }
/// ```
pub struct Context {
    pub(crate) sh: Shell,
    pub(crate) ui: Ui,
    project: OnceCell<project::Project>,
    pub(crate) hooks: Hooks,
    scratch_lock: crate::lock::ScratchLock,
}

impl Context {
    pub(crate) fn new(sh: Shell, ui: Ui, hooks: Hooks) -> Context {
        Context {
            sh,
            ui,
            project: OnceCell::new(),
            hooks,
            scratch_lock: Default::default(),
        }
    }

    /// Holds the project's `target/xtask/` for `command` until the guard is dropped, waiting
    /// for another run that holds it; taken again while held, it does not wait for itself.
    pub(crate) fn hold_scratch(&self, command: &str) -> Result<crate::lock::Held<'_>> {
        let root = &self.project()?.cargo.workspace_root;
        self.scratch_lock
            .hold(&self.ui, &crate::dist::scratch_dir(root), command)
    }

    /// The project; the first call runs `cargo metadata` and reads plugin.json.
    pub(crate) fn project(&self) -> Result<&project::Project> {
        if let Some(project) = self.project.get() {
            return Ok(project);
        }
        let project = project::Project::load(&self.sh, &util::cargo())?;
        Ok(self.project.get_or_init(|| project))
    }

    /// Makes the workspace root the shell's directory, where every built-in command runs
    /// its tools (cargo, npm, docker compose).
    pub(crate) fn enter_root(&self) -> Result<()> {
        let root = self.project()?.cargo.workspace_root.clone();
        self.sh.change_dir(root);
        Ok(())
    }

    /// The workspace root (where plugin.json and dist/ are).
    pub fn root(&self) -> Result<&Path> {
        Ok(&self.project()?.cargo.workspace_root)
    }

    /// The plugin's id from plugin.json.
    pub fn plugin_id(&self) -> Result<&str> {
        Ok(&self.project()?.plugin.id)
    }

    /// Prints a cargo-style status line (`   Finished …`), unless `--quiet`.
    pub fn status(&self, verb: &str, message: impl std::fmt::Display) {
        self.ui.status(verb, message);
    }

    /// Runs the cargo that runs us with `args`, at the workspace root (its output goes to the
    /// terminal; a failure is an error naming the command).
    pub fn cargo(&self, args: &[&str]) -> Result<()> {
        let root = self.root()?;
        let cargo = util::cargo();
        let _dir = self.sh.push_dir(root);
        cmd!(self.sh, "{cargo} {args...}").run()?;
        Ok(())
    }

    /// Runs the before-build hooks, in the order they were registered; the first error
    /// stops the build.
    pub(crate) fn before_build(&self, event: &mut BuildEvent) -> Result<()> {
        for hook in &self.hooks.before_build {
            hook(self, event)?;
        }
        Ok(())
    }

    /// Whether the plugin's xtask registered a before-build hook.
    pub(crate) fn has_before_build(&self) -> bool {
        !self.hooks.before_build.is_empty()
    }

    /// Runs the after-build hooks (the backend built and dist/ assembled).
    pub(crate) fn after_build(&self, event: &BuildEvent) -> Result<()> {
        for hook in &self.hooks.after_build {
            hook(self, event)?;
        }
        Ok(())
    }
}
