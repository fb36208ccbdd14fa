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
//!
//! A plugin's own commands build on [`api`] (the project, `build`, `package`, `validate`)
//! and hooks run around every build of the backend ([`Xtask::before_build`]).
#![warn(missing_docs)]
use std::process::ExitCode;

use anyhow::Result;
use clap::{FromArgMatches, Parser, Subcommand};
use xshell::Shell;

pub use anyhow;
pub use clap;

mod adopt;
pub mod api;
mod archive;
mod audit;
mod binary;
mod build;
mod chores;
mod ci;
mod context;
mod convert;
mod dev;
mod dist;
mod e2e;
#[cfg(any(test, feature = "fixtures"))]
pub mod fixtures;
mod flags;
mod http;
mod init;
mod interrupt;
mod layout;
mod local_grafana;
mod lock;
mod macho;
mod mage_workflows;
mod package;
mod project;
mod spawn;
mod targets;
mod templates;
mod toolchain;
mod ui;
mod util;
mod validate;
mod version;

use flags::{Command, Xtask as Flags};

pub use context::{AfterHook, BeforeHook, BuildChanges, BuildEvent, Context};

/// Runs `cargo xtask` with the built-in commands.
pub fn main() -> ExitCode {
    Xtask::new().run()
}

/// Runs `cargo xtask` with the built-in commands and the caller's own, declared as an enum
/// deriving [`clap::Subcommand`] and run by `custom`. A command of one's own named like a
/// built-in one is refused at start with one error line naming it (rename it with
/// `#[command(name = "…")]`).
///
/// ```no_run
/// use grafana_plugin_xtask::{Context, anyhow::Result, clap};
///
/// #[derive(Debug, clap::Subcommand)]
/// enum Own {
///     /// Regenerate the API client.
///     Codegen,
/// }
///
/// fn main() -> std::process::ExitCode {
///     grafana_plugin_xtask::main_with(|command: Own, context: &Context| -> Result<()> {
///         match command {
///             Own::Codegen => context.cargo(&["run", "--package", "codegen"]),
///         }
///     })
/// }
/// ```
pub fn main_with<C: Subcommand + std::fmt::Debug>(
    custom: impl FnOnce(C, &Context) -> Result<()>,
) -> ExitCode {
    Xtask::new().run_with(custom)
}

/// `cargo xtask` with hooks: what [`main`] and [`main_with`] run, with closures of the
/// plugin's own around every build of the backend (`build`, `package`, each `dev` cycle; not
/// `--dry-run`, which builds nothing, nor `--check` or `--no-backend`).
///
/// ```no_run
/// use grafana_plugin_xtask::{BuildEvent, Context, Xtask};
///
/// fn main() -> std::process::ExitCode {
///     Xtask::new()
///         .before_build(|context: &Context, event: &mut BuildEvent| {
///             // e.g. generate code the plugin includes, for every build: a file written
///             // under static/ is part of this very build's dist/.
///             let out = event.target_dir.join("generated");
///             std::fs::create_dir_all(&out)?;
///             std::fs::write(out.join("stamp.txt"), event.command)?;
///             context.status("Generated", out.display());
///             event.changes.env("GENERATED_DIR", out.display().to_string());
///             Ok(())
///         })
///         .run()
/// }
/// ```
#[derive(Default)]
#[must_use]
pub struct Xtask {
    hooks: context::Hooks,
}

impl Xtask {
    /// The built-in commands, no hooks yet.
    pub fn new() -> Xtask {
        Xtask::default()
    }

    /// Runs `hook` before each build of the backend, after the build is planned and before
    /// cargo starts: it may change the build through [`BuildEvent::changes`], and files it
    /// writes under `static/` are copied into that build's `dist/`. An error stops that
    /// build. Hooks run in the order they were added.
    pub fn before_build(
        mut self,
        hook: impl Fn(&Context, &mut BuildEvent) -> Result<()> + 'static,
    ) -> Xtask {
        self.hooks.before_build.push(Box::new(hook));
        self
    }

    /// Runs `hook` after each build of the backend that assembled dist/.
    pub fn after_build(
        mut self,
        hook: impl Fn(&Context, &BuildEvent) -> Result<()> + 'static,
    ) -> Xtask {
        self.hooks.after_build.push(Box::new(hook));
        self
    }

    /// The built-in commands.
    pub fn run(self) -> ExitCode {
        self.run_with(|command: NoCommands, _| match command {})
    }

    /// The built-in commands and the caller's own ([`main_with`]).
    pub fn run_with<C: Subcommand + std::fmt::Debug>(
        self,
        custom: impl FnOnce(C, &Context) -> Result<()>,
    ) -> ExitCode {
        if let Some(clash) = name_clash::<C>() {
            ui::Ui::from_env(false).error(clash);
            return ExitCode::FAILURE;
        }
        let flags = Flags::<C>::parse();
        let context = match Shell::new() {
            Ok(sh) => Context::new(sh, ui::Ui::from_env(flags.quiet), self.hooks),
            Err(error) => {
                ui::Ui::from_env(false).error(format!("cannot start a shell: {error}"));
                return ExitCode::FAILURE;
            }
        };
        let result = match flags.command {
            Command::Custom(command) => custom(command, &context),
            command => context
                .enter_root()
                .and_then(|()| run_builtin(&context, command)),
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
}

/// A command of the caller's own named like a built-in one (or like another of its own):
/// clap would panic on it at start, for every command. One line naming it and the fix.
fn name_clash<C: Subcommand>() -> Option<String> {
    let command = <Flags<C> as clap::CommandFactory>::command();
    let mut seen = std::collections::HashSet::new();
    for subcommand in command.get_subcommands() {
        for name in std::iter::once(subcommand.get_name()).chain(subcommand.get_all_aliases()) {
            if !seen.insert(name.to_owned()) {
                return Some(format!(
                    "xtask/src/main.rs: the command `{name}` is declared twice (a command of your \
                     own named like a built-in one, or two of yours); rename yours, e.g. \
                     #[command(name = \"my-{name}\")]"
                ));
            }
        }
    }
    None
}

/// One built-in command, at the workspace root.
fn run_builtin<C: Subcommand>(context: &Context, command: Command<C>) -> Result<()> {
    match command {
        Command::Build(flags) => build::Request::from_flags(&flags)
            .and_then(|request| build::run(context, &request).map(drop)),
        Command::Dev(flags) => dev::run(context, &flags),
        Command::Package(flags) => package::run(context, &flags).map(drop),
        Command::Validate(flags) => validate::run_command(context, &flags),
        Command::Audit(flags) => audit::run_command(context, &flags),
        Command::Clean => chores::run_clean(context),
        Command::Test(pass) => chores::run_test(context, &pass.cargo_args()),
        Command::Coverage(pass) => chores::run_coverage(context, &pass.cargo_args()),
        Command::Version(flags) => version::run(context, &flags),
        Command::CiMatrix => ci::print_matrix(context),
        Command::ReleaseNotes => ci::print_release_notes(context),
        Command::Init(flags) => init::run(context, &flags),
        Command::Adopt(flags) => adopt::run(context, &flags),
        Command::E2e(flags) => e2e::run(context, &flags),
        Command::Custom(_) => unreachable!("custom commands are run by the caller's closure"),
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

#[cfg(test)]
mod tests {
    /// The README's Rust snippets are the compiled examples' code, verbatim (a block with
    /// `…` is an outline, not code).
    #[test]
    fn the_readme_shows_the_examples_as_they_compile() {
        let crate_dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
        let readme = std::fs::read_to_string(crate_dir.join("../README.md")).unwrap();
        let examples: Vec<String> = ["own_command", "release", "codegen", "e2e_dist"]
            .iter()
            .map(|name| {
                std::fs::read_to_string(crate_dir.join(format!("examples/{name}.rs"))).unwrap()
            })
            .collect();
        let blocks: Vec<&str> = readme
            .split("```rust\n")
            .skip(1)
            .filter_map(|rest| rest.split_once("```").map(|(block, _)| block))
            .filter(|block| !block.contains('…'))
            .collect();
        assert!(blocks.len() >= 2, "{blocks:?}");
        for block in blocks {
            assert!(
                examples.iter().any(|example| example.contains(block)),
                "README.md shows code that no example compiles:\n{block}"
            );
        }
    }

    use super::*;

    #[derive(Debug, clap::Subcommand)]
    enum Clashing {
        /// Ours, named like the built-in.
        ReleaseNotes,
    }

    #[derive(Debug, clap::Subcommand)]
    enum Distinct {
        /// Ours alone.
        Lint,
    }

    #[test]
    fn a_command_named_like_a_built_in_is_named_instead_of_panicking() {
        let said = name_clash::<Clashing>().unwrap();
        assert!(
            said.contains("`release-notes` is declared twice")
                && said.contains("#[command(name = \"my-release-notes\")]"),
            "{said}"
        );
        assert_eq!(name_clash::<Distinct>(), None);
        assert_eq!(name_clash::<NoCommands>(), None);
    }
}
