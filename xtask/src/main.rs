//! `cargo xtask`: builds, runs and ships the Grafana plugin in this repository.
//! Parse flags, make one shell, dispatch; each command lives in its own module.
mod build;
mod dist;
mod flags;
mod project;
mod targets;
mod toolchain;
mod ui;

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let flags = flags::Xtask::parse();
    let ui = ui::Ui::from_env(flags.quiet);
    match run(flags, &ui) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            // The whole chain on one line: what failed, where, and the fix.
            ui.error(format!("{error:#}"));
            ExitCode::FAILURE
        }
    }
}

fn run(flags: flags::Xtask, ui: &ui::Ui) -> anyhow::Result<()> {
    let sh = xshell::Shell::new()?;
    match flags.command {
        flags::Command::Build(build) => build::run(&sh, ui, &build),
    }
}
