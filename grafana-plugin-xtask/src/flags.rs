//! The whole command line of `cargo xtask`, in one place. Doc comments are the help text.
use clap::{Args, Parser, Subcommand, ValueEnum};

use crate::toolchain::Backend;

/// Build, run and ship the Grafana backend plugin in this repository.
#[derive(Debug, Parser)]
#[command(name = "cargo xtask", bin_name = "cargo xtask", version)]
pub struct Xtask<C: Subcommand> {
    /// Print only errors (also passed to cargo).
    #[arg(short, long, global = true)]
    pub quiet: bool,

    #[command(subcommand)]
    pub command: Command<C>,
}

/// The built-in commands, then the repository's own (`C`).
#[derive(Debug, Subcommand)]
pub enum Command<C: Subcommand> {
    /// Build the backend and assemble dist/.
    ///
    /// Reads id, executable and type from plugin.json and the version from Cargo.toml,
    /// builds `<executable>_<os>_<arch>[.exe]` (plugin.json's `executable` as written) for this
    /// machine (or the given targets) and
    /// fills %VERSION%, %TODAY% and %PLUGIN_ID% in dist/plugin.json and dist/README.md.
    /// dist/ is replaced in one step: a failed build leaves the previous dist/ as it was,
    /// and the binaries that built land together.
    Build(BuildFlags),

    /// Run the plugin in Grafana (development mode); with --watch, rebuild on save.
    ///
    /// Builds the backend for the platform Grafana runs on (static musl Linux for the
    /// container, this machine for a local Grafana), assembles dist/, starts Grafana with
    /// docker compose (when an engine answers) or the local Grafana given by --grafana or
    /// GRAFANA_HOME, and prints the app's URL. --watch rebuilds when plugin/, static/,
    /// plugin.json or the Cargo files change, swaps the binary and hands it over to the
    /// running plugin process (same process, no failed call), or stops a plugin without
    /// the runtime's handover, which Grafana then starts again from the new binary.
    Dev(DevFlags),

    /// Build every platform and write the release archive `<id>-<version>.zip`.
    ///
    /// One root directory named after the plugin id, entries sorted, backend binaries 0755
    /// (made on Unix), fixed timestamps (SOURCE_DATE_EPOCH or the last commit), deflate -9;
    /// with `.sha1` and `.sha256` beside it. Signed with @grafana/sign-plugin when
    /// GRAFANA_ACCESS_POLICY_TOKEN is set. The archive is validated when written.
    Package(PackageFlags),

    /// Check an archive against the offline rules of Grafana's plugin validator.
    ///
    /// In a project, Cargo.lock is audited too (see `audit`), when an advisory database is at
    /// hand.
    Validate(ValidateFlags),

    /// Check Cargo.lock against the RustSec advisory database.
    ///
    /// Each advisory that applies to a locked version: its id, crate, version, kind
    /// (vulnerability, unsound, unmaintained) and the chain of crates that pulls it in, from
    /// the plugin's crate or another workspace member. A vulnerability fails unless deny.toml
    /// accepts it with a reason (`[advisories] ignore = [{ id, reason }]`, cargo-deny's
    /// format). The database is a local copy: --advisory-db DIR or GRAFANA_PLUGIN_ADVISORY_DB
    /// (a checkout of github.com/rustsec/advisory-db); without one the check says it did not
    /// run. `validate` and `package` run it too.
    Audit(AuditFlags),

    /// Remove what this tool wrote: dist/, the plugin's archives in target/package/,
    /// target/xtask/, target/e2e/.
    ///
    /// Cargo's builds stay (`cargo clean`), and so do `cargo package`'s crates and
    /// target/dev/, the development Grafana's data.
    Clean,

    /// Run the workspace's tests: `cargo test --workspace [ARGS…] [-- TEST ARGS…]`.
    Test(PassThrough),

    /// Measure the tests' coverage with `cargo llvm-cov --workspace [ARGS…] [-- TEST ARGS…]`
    /// (installed separately: `cargo install cargo-llvm-cov`).
    Coverage(PassThrough),

    /// Print the version (from Cargo.toml), or check a release tag against it.
    Version(VersionFlags),

    /// Print the CI build matrix (JSON for `fromJSON`) from the platform table.
    CiMatrix,

    /// Print the release notes: the top section of CHANGELOG.md.
    ReleaseNotes,

    /// Make this repository a new plugin: rename its id, name and executable everywhere.
    ///
    /// Rewrites every text file (outside target/, dist/, .git/ and node_modules/) that spells
    /// the current id, executable or name: plugin.json, docker-compose.yaml, provisioning/,
    /// the READMEs and the tests' expectations.
    Init(InitFlags),

    /// Give an app made with create-plugin this repository's Rust backend and `cargo xtask`.
    ///
    /// Writes Cargo.toml (members plugin and xtask, the app's version, this library by a
    /// path relative to the app), Cargo.lock (unless the app has one), the xtask alias in
    /// .cargo/config.toml (added to an existing one), /target in .gitignore, a thin xtask/
    /// and plugin/; touches nothing of the frontend. The id and executable come from the app's src/plugin.json. A file of the
    /// app's that would change is listed and nothing is written, unless --force.
    Adopt(AdoptFlags),

    /// Check the packaged plugin in a real Grafana, through Grafana's HTTP API.
    ///
    /// Packages the backend for the platform Grafana runs on, unzips the archive into a
    /// plugins folder (unsigned allowed by id, production mode), starts Grafana (the
    /// grafana/grafana image, or --grafana), and checks /api/health, the plugin's settings,
    /// load errors and health, each resource route as a Viewer and an Admin, and Grafana's
    /// log. Stops what it started; exits non-zero naming each failed check.
    E2e(E2eFlags),

    #[command(flatten)]
    Custom(C),
}

/// Arguments handed on as `cargo test` takes them: cargo's own, then after `--` the test
/// binaries'.
#[derive(Debug, Args)]
pub struct PassThrough {
    /// Given to cargo (e.g. `-p plugin`, a test name).
    #[arg(allow_hyphen_values = true)]
    pub args: Vec<String>,
    /// After `--`: given to the test binaries (e.g. `--nocapture`).
    #[arg(last = true)]
    pub test_args: Vec<String>,
}

impl PassThrough {
    /// As cargo takes them: cargo's, then `--` and the test binaries' when there are any.
    pub fn cargo_args(&self) -> Vec<String> {
        let mut args = self.args.clone();
        if !self.test_args.is_empty() {
            args.push("--".to_owned());
            args.extend(self.test_args.iter().cloned());
        }
        args
    }
}

#[derive(Debug, Args)]
pub struct DevFlags {
    /// Rebuild and reload when files change.
    #[arg(long)]
    pub watch: bool,

    /// A local Grafana: its `grafana` binary or its home directory. Default: GRAFANA_HOME.
    #[arg(long, value_name = "PATH", conflicts_with = "attach")]
    pub grafana: Option<std::path::PathBuf>,

    /// Start no Grafana: rebuild and restart the plugin of a Grafana started elsewhere that
    /// loads dist/.
    #[arg(long)]
    pub attach: bool,

    /// The port of the local Grafana.
    #[arg(long, default_value_t = 3000)]
    pub port: u16,

    /// Leave Grafana (and the compose services) running when the watcher stops.
    #[arg(long)]
    pub keep_running: bool,
}

#[derive(Debug, Args)]
pub struct PackageFlags {
    /// Platform to package, repeatable (as for `build`). Default: all six.
    #[arg(long = "target", value_name = "TARGET")]
    pub targets: Vec<String>,

    /// Package the existing dist/ without building.
    #[arg(long)]
    pub no_build: bool,

    /// Where to write the archives. Default: target/package/.
    #[arg(long, value_name = "DIR")]
    pub out_dir: Option<std::path::PathBuf>,

    /// Also write one archive per platform, `<id>-<version>.<os>_<arch>.zip`.
    #[arg(long)]
    pub per_platform: bool,

    /// Sign (fails without GRAFANA_ACCESS_POLICY_TOKEN); signing is automatic with a token.
    #[arg(long)]
    pub sign: bool,

    /// Root URLs of the Grafana instances a private signature is for (comma-separated).
    #[arg(long, value_name = "URLS")]
    pub root_urls: Option<String>,
}

#[derive(Debug, Args)]
pub struct ValidateFlags {
    /// The archive. Default: target/package/<id>-<version>.zip.
    pub archive: Option<std::path::PathBuf>,
}

#[derive(Debug, Args)]
pub struct AuditFlags {
    /// The advisory database: a checkout of github.com/rustsec/advisory-db. Default: the
    /// directory GRAFANA_PLUGIN_ADVISORY_DB names.
    #[arg(long, value_name = "DIR")]
    pub advisory_db: Option<std::path::PathBuf>,
}

#[derive(Debug, Args)]
pub struct AdoptFlags {
    /// The app's directory (where its package.json and src/plugin.json are).
    pub app: std::path::PathBuf,

    /// Write over the app's files that differ from what adopt writes, keeping each beside
    /// it as <file>.before-adopt. Without it, adopt lists them and writes nothing.
    #[arg(long)]
    pub force: bool,
}

#[derive(Debug, Args)]
pub struct E2eFlags {
    /// The grafana/grafana image tag. Default: the oldest Grafana plugin.json's
    /// grafanaDependency allows; `latest` for the newest.
    #[arg(long, value_name = "VERSION", conflicts_with = "grafana")]
    pub grafana_version: Option<String>,

    /// A local Grafana (its `grafana` binary or home directory) instead of the image.
    #[arg(long, value_name = "PATH")]
    pub grafana: Option<std::path::PathBuf>,

    /// Package what is in dist/ instead of building (`package --no-build`).
    #[arg(long)]
    pub no_build: bool,

    /// The port Grafana listens on (127.0.0.1 only).
    #[arg(long, default_value_t = 3300)]
    pub port: u16,
}

#[derive(Debug, Args)]
pub struct InitFlags {
    /// The new plugin id, by Grafana's rule for its type: <org>-<name>-app or
    /// <org>-<name>-datasource, lower case.
    #[arg(long)]
    pub id: String,

    /// The kind of plugin: app (this template) or datasource (this template's app replaced
    /// by a data source: backend, tests, frontend, plugin.json, provisioning). Default: what
    /// the id ends with.
    #[arg(long = "type", value_name = "TYPE", value_parser = ["app", "datasource"])]
    pub plugin_type: Option<String>,

    /// The new display name.
    #[arg(long)]
    pub name: String,

    /// The new executable name. Default: gpx_<name part of the id>.
    #[arg(long)]
    pub executable: Option<String>,
}

#[derive(Debug, Args)]
pub struct VersionFlags {
    /// Fail unless this tag (v1.2.3 or refs/tags/v1.2.3) is `v` and the version.
    #[arg(long, value_name = "TAG")]
    pub check_tag: Option<String>,
}

#[derive(Debug, Args)]
pub struct BuildFlags {
    /// Platform to build, repeatable: a Grafana name (linux/arm64), a Rust target of the
    /// table (aarch64-unknown-linux-musl), or TRIPLE=OS/ARCH for any other target.
    /// Default: this machine.
    #[arg(long = "target", value_name = "TARGET")]
    pub targets: Vec<String>,

    /// Build the six platforms of a Grafana release (linux amd64/arm64/arm, darwin
    /// amd64/arm64, windows amd64).
    #[arg(long, conflicts_with = "targets")]
    pub all: bool,

    /// Use this back end for every target instead of choosing per target.
    #[arg(long, value_enum)]
    pub backend: Option<Backend>,

    /// Type-check the targets with `cargo check` instead of building them (e.g. a target
    /// this machine cannot link). dist/ is not touched.
    #[arg(long)]
    pub check_only: bool,

    /// Build no backend: assemble dist/ (plugin.json, static files) around the binaries
    /// already in it, e.g. after CI gathered them from per-platform jobs.
    #[arg(long, conflicts_with_all = ["targets", "all", "check_only", "clean"])]
    pub no_backend: bool,

    /// In an app made with create-plugin: build only the frontend (its `build` script) and
    /// assemble dist/ around the binaries already there.
    #[arg(long, conflicts_with_all = ["targets", "all", "check_only", "no_backend", "backend_only"])]
    pub frontend_only: bool,

    /// In an app made with create-plugin: build only the backend, keeping the frontend files
    /// already in dist/.
    #[arg(long)]
    pub backend_only: bool,

    /// Build with the debug profile (same as --profile debug): fastest to compile, larger
    /// and slower binary.
    #[arg(long, conflicts_with = "profile")]
    pub debug: bool,

    /// The cargo profile: `release` (optimized, quick to rebuild), `dist` (what `package`
    /// ships: fat LTO, one codegen unit, smallest; slow to rebuild) or `debug`.
    #[arg(long, value_enum, default_value_t = crate::build::Profile::Release)]
    pub profile: crate::build::Profile,

    /// Drop binaries of other platforms that earlier builds left in dist/.
    #[arg(long)]
    pub clean: bool,

    /// Print the plan (target, back end, command, output) and do nothing.
    #[arg(long)]
    pub dry_run: bool,

    /// How --dry-run prints the plan and how the per-target summary is reported.
    #[arg(long, value_enum, default_value_t = MessageFormat::Human)]
    pub message_format: MessageFormat,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum MessageFormat {
    /// Text for people.
    Human,
    /// JSON on stdout: one document for --dry-run, one line per target after a build.
    Json,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn passed_on(args: &[&str]) -> Vec<String> {
        let parsed =
            Xtask::<crate::NoCommands>::try_parse_from(["xtask"].iter().chain(args)).unwrap();
        match parsed.command {
            Command::Test(pass) | Command::Coverage(pass) => pass.cargo_args(),
            other => panic!("{other:?}"),
        }
    }

    /// `cargo xtask test` takes what `cargo test` takes, as written: cargo's own flags, then
    /// `--` and the test binaries' flags.
    #[test]
    fn test_and_coverage_hand_their_arguments_on_as_written() {
        assert!(passed_on(&["test"]).is_empty());
        assert_eq!(passed_on(&["test", "-p", "plugin"]), ["-p", "plugin"]);
        assert_eq!(
            passed_on(&["test", "-p", "plugin", "--", "--nocapture"]),
            ["-p", "plugin", "--", "--nocapture"]
        );
        assert_eq!(
            passed_on(&["coverage", "--", "--nocapture"]),
            ["--", "--nocapture"]
        );
    }
}
