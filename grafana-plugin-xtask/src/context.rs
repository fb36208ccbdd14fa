//! What every command works with: one shell, the output rules (`--quiet`, colour), the
//! project (plugin.json and `cargo metadata`, loaded once, on first use) and the hooks the
//! plugin's own xtask registered. Loading the project changes nothing: commands that run
//! tools at the workspace root say so ([`Context::enter_root`]).
use std::{cell::OnceCell, path::Path};

use anyhow::Result;
use xshell::Shell;

use crate::{project, spawn::cmd, ui::Ui, util};

/// What a build hook is told: the build about to run (or just done).
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct BuildEvent {
    /// The workspace root (plugin.json, `dist/`).
    pub root: std::path::PathBuf,
    /// The Grafana platforms built (`linux/amd64`, …).
    pub platforms: Vec<String>,
    /// The profile: `release`, `dist` or `dev`.
    pub profile: String,
    /// The command that builds: `build`, `package` or `dev` (each cycle of the loop).
    pub command: &'static str,
}

/// A closure run around each build of the backend.
pub type Hook = Box<dyn Fn(&BuildEvent) -> Result<()>>;

/// The hooks of the plugin's own xtask ([`crate::Xtask::before_build`]).
#[derive(Default)]
pub(crate) struct Hooks {
    pub before_build: Vec<Hook>,
    pub after_build: Vec<Hook>,
}

/// What every command works with; handed to the plugin's own commands too.
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

    /// Runs the cargo that runs us with `args`, at the workspace root.
    pub fn cargo(&self, args: &[&str]) -> Result<()> {
        let root = self.root()?;
        let cargo = util::cargo();
        let _dir = self.sh.push_dir(root);
        cmd!(self.sh, "{cargo} {args...}").run()?;
        Ok(())
    }

    /// Runs the before-build hooks, in the order they were registered; the first error
    /// stops the build.
    pub(crate) fn before_build(&self, event: &BuildEvent) -> Result<()> {
        for hook in &self.hooks.before_build {
            hook(event)?;
        }
        Ok(())
    }

    /// Runs the after-build hooks (the backend built and dist/ assembled).
    pub(crate) fn after_build(&self, event: &BuildEvent) -> Result<()> {
        for hook in &self.hooks.after_build {
            hook(event)?;
        }
        Ok(())
    }
}
