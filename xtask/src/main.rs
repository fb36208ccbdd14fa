//! `cargo xtask` for this repository: the commands of `grafana-plugin-xtask`, plus one of
//! its own, as a `Magefile.go` imports the Go SDK's build targets and adds its own.
use std::process::ExitCode;

use grafana_plugin_xtask::{Context, anyhow::Result, clap};

/// This repository's own commands, beside the built-in ones.
#[derive(Debug, clap::Subcommand)]
enum Own {
    /// Check formatting and lints as CI does: `cargo fmt --check`, clippy with -D warnings.
    Lint,
}

fn main() -> ExitCode {
    grafana_plugin_xtask::main_with(run)
}

fn run(command: Own, context: &Context) -> Result<()> {
    match command {
        Own::Lint => {
            context.cargo(&["fmt", "--all", "--", "--check"])?;
            context.cargo(&[
                "clippy",
                "--workspace",
                "--all-targets",
                "--",
                "-D",
                "warnings",
            ])?;
            context.status("Finished", "formatting and lints are clean");
            Ok(())
        }
    }
}
