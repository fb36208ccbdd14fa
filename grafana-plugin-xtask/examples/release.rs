//! A plugin's `xtask/src/main.rs` adding two commands of its own. `cargo xtask release`
//! builds with the `dist` profile (what ships: fat LTO, one codegen unit) for every platform
//! or the ones given, packages (each archive validated as it is written), and then runs the
//! plugin's own step with each archive's size and digest (an upload, say). `cargo xtask
//! check-archive PATH` validates any archive and prints the findings its own way. Compiled
//! and run by the library's tests.
use std::{path::PathBuf, process::ExitCode};

use grafana_plugin_xtask::{
    Context,
    anyhow::{Result, bail},
    api::{self, BuildRequest, PackageOptions, Profile, Severity},
    clap,
};

#[derive(Debug, clap::Subcommand)]
enum Own {
    /// Build, package and upload the archives.
    Release {
        /// Where the archives go.
        #[arg(long, default_value = "https://plugins.example.com/upload")]
        to: String,
        /// A platform to release (repeatable); all six by default.
        #[arg(long = "target")]
        targets: Vec<String>,
        /// The profile the backend is built with.
        #[arg(long, value_enum, default_value = "dist")]
        profile: Profile,
    },
    /// Validate an archive (downloaded, or made by CI) and list what the rules found.
    CheckArchive {
        /// The zip to check.
        archive: PathBuf,
    },
}

fn main() -> ExitCode {
    grafana_plugin_xtask::main_with(|command: Own, context: &Context| match command {
        Own::Release {
            to,
            targets,
            profile,
        } => release(context, &to, &targets, profile),
        Own::CheckArchive { archive } => check_archive(&archive),
    })
}

fn release(context: &Context, to: &str, targets: &[String], profile: Profile) -> Result<()> {
    let request = match targets.is_empty() {
        true => BuildRequest::all(),
        false => BuildRequest::platforms(&targets.iter().map(String::as_str).collect::<Vec<_>>()),
    };
    let built = api::build(context, &request.profile(profile))?;
    let packaged = api::package(context, &built, &PackageOptions::new())?;
    // The plugin's own step: an upload with its own client, say.
    for archive in &packaged.archives {
        context.status(
            "Uploading",
            format!(
                "{} ({} bytes, sha256 {}) to {to}",
                archive.path.display(),
                archive.size,
                archive.sha256
            ),
        );
    }
    Ok(())
}

fn check_archive(archive: &std::path::Path) -> Result<()> {
    let validation = api::validate(archive)?;
    for finding in &validation.findings {
        let mark = match finding.severity {
            Severity::Error => "FAIL",
            Severity::Warning => "warn",
        };
        println!("{mark} {:<12} {}", finding.rule, finding.message);
    }
    if !validation.passed() {
        bail!("{}: not releasable", archive.display());
    }
    println!("ok   {}", archive.display());
    Ok(())
}
