//! The whole command line of `cargo xtask`, in one place. Doc comments are the help text.
use clap::{Args, Parser, Subcommand};

/// Build, run and ship the Grafana backend plugin in this repository.
#[derive(Debug, Parser)]
#[command(name = "cargo xtask", bin_name = "cargo xtask", version)]
pub struct Xtask {
    /// Print only errors (also passed to cargo).
    #[arg(short, long, global = true)]
    pub quiet: bool,

    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Build the backend for this machine's platform and assemble dist/.
    ///
    /// Reads id, executable and type from plugin.json and the version from Cargo.toml,
    /// builds `gpx_<name>_<os>_<arch>[.exe]` and fills %VERSION%, %TODAY% and %PLUGIN_ID%
    /// in dist/plugin.json and dist/README.md. dist/ is replaced in one step: a failed
    /// build leaves the previous dist/ as it was.
    Build(BuildFlags),
}

#[derive(Debug, Args)]
pub struct BuildFlags {
    /// Build with the debug profile: faster to compile, larger and slower binary.
    #[arg(long)]
    pub debug: bool,

    /// Drop binaries of other platforms that earlier builds left in dist/.
    #[arg(long)]
    pub clean: bool,

    /// Print what would be built, copied and kept, and do nothing.
    #[arg(long)]
    pub dry_run: bool,
}
