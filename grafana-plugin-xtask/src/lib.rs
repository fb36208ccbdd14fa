//! The build tool for Grafana backend plugins written in Rust: what Mage and the Go SDK's
//! `build` package are to a Go plugin. A plugin repository keeps a thin `xtask` binary that
//! calls [`main`] (or [`main_with`] to add its own subcommands, as a `Magefile.go` adds
//! targets beside the imported ones) and a cargo alias `xtask = "run --package xtask --"`;
//! upgrading is a version bump of this crate.
//!
//! ```no_run
//! fn main() -> std::process::ExitCode {
//!     grafana_plugin_xtask::main()
//! }
//! ```
//!
//! Commands: `build` (cross-compiles the backend to `<executable>_<os>_<arch>[.exe]` and
//! assembles `dist/`), `dev` (Grafana in development mode, rebuild and reload on save),
//! `package` (the release archive with checksums), `e2e` (the archive in a real Grafana),
//! `validate`, `version`, `ci-matrix`, `release-notes`. See the repository's README.
use std::{cell::OnceCell, path::Path, process::ExitCode};

use anyhow::Result;
use clap::{FromArgMatches, Parser, Subcommand};
use xshell::Shell;

use crate::spawn::cmd;

pub use anyhow;
pub use clap;

mod adopt;
mod archive;
mod binary;
mod build;
mod ci;
mod dev;
mod dist;
mod e2e;
mod flags;
mod http;
mod init;
mod layout;
mod macho;
mod package;
mod project;
mod spawn;
mod targets;
mod toolchain;
mod ui;
mod util;
mod validate;
mod version;

use flags::{Command, Xtask};

/// Runs `cargo xtask` with the built-in commands.
pub fn main() -> ExitCode {
    main_with(|command: NoCommands, _| match command {})
}

/// Runs `cargo xtask` with the built-in commands and the caller's own, declared as a clap
/// [`Subcommand`] enum and run by `custom`.
pub fn main_with<C: Subcommand + std::fmt::Debug>(
    custom: impl FnOnce(C, &Context) -> Result<()>,
) -> ExitCode {
    let flags = Xtask::<C>::parse();
    let context = match Shell::new() {
        Ok(sh) => Context {
            sh,
            ui: ui::Ui::from_env(flags.quiet),
            project: OnceCell::new(),
        },
        Err(error) => {
            ui::Ui::from_env(false).error(format!("cannot start a shell: {error}"));
            return ExitCode::FAILURE;
        }
    };
    let result = match flags.command {
        Command::Build(flags) => build::Request::from_flags(&flags)
            .and_then(|request| build::run(&context, &request).map(drop)),
        Command::Dev(flags) => dev::run(&context, &flags),
        Command::Package(flags) => package::run(&context, &flags),
        Command::Validate(flags) => validate::run_command(&context, &flags),
        Command::Version(flags) => version::run(&context, &flags),
        Command::CiMatrix => ci::print_matrix(&context),
        Command::ReleaseNotes => ci::print_release_notes(&context),
        Command::Init(flags) => init::run(&context, &flags),
        Command::Adopt(flags) => adopt::run(&context, &flags),
        Command::E2e(flags) => e2e::run(&context, &flags),
        Command::Custom(command) => custom(command, &context),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            // The whole chain on one line: what failed, where, and the fix.
            context.ui.error(format!("{error:#}"));
            ExitCode::FAILURE
        }
    }
}

/// No commands of the caller's own: [`main`]'s.
#[derive(Debug)]
pub enum NoCommands {}

impl FromArgMatches for NoCommands {
    fn from_arg_matches(_: &clap::ArgMatches) -> Result<Self, clap::Error> {
        Err(clap::Error::new(clap::error::ErrorKind::InvalidSubcommand))
    }
    fn update_from_arg_matches(&mut self, _: &clap::ArgMatches) -> Result<(), clap::Error> {
        match *self {}
    }
}

impl Subcommand for NoCommands {
    fn augment_subcommands(command: clap::Command) -> clap::Command {
        command
    }
    fn augment_subcommands_for_update(command: clap::Command) -> clap::Command {
        command
    }
    fn has_subcommand(_: &str) -> bool {
        false
    }
}

/// What every command works with: one shell, the output rules (`--quiet`, colour), and the
/// project (plugin.json and `cargo metadata`), loaded once, on first use.
pub struct Context {
    sh: Shell,
    ui: ui::Ui,
    project: OnceCell<project::Project>,
}

impl Context {
    /// The project; the first call runs `cargo metadata`, reads plugin.json and moves the
    /// shell to the workspace root.
    fn project(&self) -> Result<&project::Project> {
        if let Some(project) = self.project.get() {
            return Ok(project);
        }
        let project = project::Project::load(&self.sh, &util::cargo())?;
        self.sh.change_dir(&project.cargo.workspace_root);
        Ok(self.project.get_or_init(|| project))
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
        self.project()?;
        let cargo = util::cargo();
        cmd!(self.sh, "{cargo} {args...}").run()?;
        Ok(())
    }
}
