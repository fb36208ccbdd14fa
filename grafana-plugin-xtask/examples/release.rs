//! A plugin's `xtask/src/main.rs` adding `cargo xtask release`: build every platform with
//! the `dist` profile (what ships: fat LTO, one codegen unit), package and validate the archive, then the plugin's own step (an
//! upload). Compiled by the library's tests.
use std::process::ExitCode;

use grafana_plugin_xtask::{
    Context,
    anyhow::Result,
    api::{self, BuildRequest, Profile},
    clap,
};

#[derive(Debug, clap::Subcommand)]
enum Own {
    /// Build all six platforms, package, validate, and upload the archive.
    Release {
        /// Where the archive goes.
        #[arg(long, default_value = "https://plugins.example.com/upload")]
        to: String,
    },
}

fn main() -> ExitCode {
    grafana_plugin_xtask::main_with(|command: Own, context: &Context| match command {
        Own::Release { to } => release(context, &to),
    })
}

fn release(context: &Context, to: &str) -> Result<()> {
    let built = api::build(context, &BuildRequest::all().profile(Profile::Dist))?;
    let packaged = api::package(context, &built)?;
    api::validate(context, &packaged)?;
    // The plugin's own step: an upload with its own client, say.
    context.status(
        "Uploading",
        format!("{} to {to}", packaged.archive.display()),
    );
    Ok(())
}
