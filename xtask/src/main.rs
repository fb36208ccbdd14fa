//! `cargo xtask`: builds, runs and ships the Grafana plugin in this repository.
//! Parse flags, make one shell, dispatch; each command lives in its own module.
mod archive;
mod build;
mod ci;
mod dev;
mod dist;
mod flags;
mod grafana_api;
mod package;
mod process;
mod project;
mod schema;
mod targets;
mod toolchain;
mod ui;
mod validate;
mod version;
mod watch;

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
        flags::Command::Dev(dev) => dev::run(&sh, ui, &dev),
        flags::Command::Package(package) => package::run(&sh, ui, &package),
        flags::Command::Validate(validate) => {
            let archive = match validate.archive {
                Some(archive) => archive,
                None => {
                    let project = project::Project::load(&sh, &cargo())?;
                    let out = project.cargo.workspace_root.join("target").join("package");
                    validate::default_archive(&out, &project.plugin.id, &project.cargo.version)?
                }
            };
            validate::run(ui, &archive)
        }
        flags::Command::Version(version) => version::run(&sh, &version),
        flags::Command::CiMatrix => {
            let project = project::Project::load(&sh, &cargo())?;
            println!("{}", ci::matrix(&project.plugin.executable));
            Ok(())
        }
        flags::Command::ReleaseNotes => {
            let project = project::Project::load(&sh, &cargo())?;
            let changelog = project::read_text(&project.cargo.workspace_root.join("CHANGELOG.md"))?;
            print!("{}", ci::release_notes(&changelog)?);
            Ok(())
        }
    }
}

/// The cargo that runs us (`CARGO`, set by `cargo run`), or the one on PATH.
pub fn cargo() -> String {
    std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned())
}
