//! A plugin's `xtask/src/main.rs` adding `cargo xtask smoke`: build for this machine, then
//! run a program of the plugin's own against what `dist/` holds. Compiled by the library's
//! tests.
use std::process::{Command, ExitCode};

use grafana_plugin_xtask::{
    Context,
    anyhow::{Result, ensure},
    api::{self, BuildRequest},
    clap,
};

#[derive(Debug, clap::Subcommand)]
enum Own {
    /// Build for this machine, then start the binary once with `--version`-like arguments.
    Smoke,
}

fn main() -> ExitCode {
    grafana_plugin_xtask::main_with(|command: Own, context: &Context| match command {
        Own::Smoke => smoke(context),
    })
}

fn smoke(context: &Context) -> Result<()> {
    let project = api::project(context)?;
    let built = api::build(context, &BuildRequest::host())?;
    for (platform, binary) in &built.binaries {
        // Grafana starts the binary without arguments and without the magic cookie, it
        // must refuse to serve and exit non-zero.
        let status = Command::new(binary).status()?;
        ensure!(
            !status.success(),
            "{platform}: {} served without Grafana's handshake",
            binary.display()
        );
    }
    context.status(
        "Checked",
        format!("{} in {}", project.id, built.dist_dir.display()),
    );
    Ok(())
}
