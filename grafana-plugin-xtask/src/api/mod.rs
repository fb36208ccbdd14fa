//! The building blocks of the built-in commands, for a plugin's own `xtask` commands: the
//! project as loaded, a build and what it wrote, the archives made from it (paths, sizes,
//! digests), the validation of any archive (findings as data), cleaning. The built-in
//! `build`, `package`, `validate` and `clean` run the same functions.
//!
//! ```no_run
//! use grafana_plugin_xtask::{Context, anyhow::Result, api};
//!
//! /// `cargo xtask release`: every platform, the archive (validated as it is written), then
//! /// the plugin's own upload.
//! fn release(context: &Context) -> Result<()> {
//!     let built = api::build(context, &api::BuildRequest::all().profile(api::Profile::Dist))?;
//!     let packaged = api::package(context, &built, &api::PackageOptions::new())?;
//!     for archive in &packaged.archives {
//!         context.status(
//!             "Uploading",
//!             format!("{} ({} bytes, sha256 {})", archive.path.display(), archive.size, archive.sha256),
//!         );
//!     }
//!     Ok(())
//! }
//! ```
use std::path::{Path, PathBuf};

use anyhow::{Context as _, Result};

pub use crate::{
    binary::{Cpu, Format},
    build::Profile,
    targets::{Linker, PLATFORMS, Platform, Runner},
    validate::{Finding, Severity},
};
use crate::{
    build, context::Context, layout, package, project::Project as Loaded, targets, validate,
};

mod builtins;
mod packaging;

pub use builtins::{DevOptions, E2eOptions, dev, e2e};
pub use packaging::{Archive, PackageOptions, Packaged, package};

/// Where a plugin's frontend comes from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Layout {
    /// A root `plugin.json` and the frontend's files in `static/` (this template's).
    Template,
    /// `src/plugin.json` and a `package.json` whose `build` script writes `dist/` (an app
    /// made with create-plugin).
    CreatePlugin,
}

/// The project as loaded: plugin.json's identity, Cargo's version, and where things go.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct Project {
    /// plugin.json's `id`.
    pub id: String,
    /// plugin.json's `executable`: binaries are `<executable>_<os>_<arch>[.exe]`.
    pub executable: String,
    /// The workspace version, written into dist/plugin.json.
    pub version: String,
    /// Where the manifest and the frontend come from.
    pub layout: Layout,
    /// The workspace root.
    pub root: PathBuf,
    /// `dist/`: what Grafana loads, and what the archive holds.
    pub dist_dir: PathBuf,
    /// Where `package` writes the archive and its checksums (`target/package/`).
    pub package_dir: PathBuf,
    /// Cargo's target directory.
    pub target_dir: PathBuf,
}

impl Project {
    fn of(loaded: &Loaded) -> Project {
        let root = loaded.cargo.workspace_root.clone();
        Project {
            id: loaded.plugin.id.clone(),
            executable: loaded.plugin.executable.clone(),
            version: loaded.cargo.version.clone(),
            layout: match loaded.layout {
                layout::Layout::Template => Layout::Template,
                layout::Layout::CreatePlugin(_) => Layout::CreatePlugin,
            },
            dist_dir: crate::dist::dist_dir(&root),
            package_dir: package::out_dir(&root),
            target_dir: loaded.cargo.target_dir.clone(),
            root,
        }
    }

    /// The archive `package` writes: `target/package/<id>-<version>.zip`.
    pub fn archive(&self) -> PathBuf {
        self.package_dir
            .join(package::archive_name(&self.id, &self.version, None))
    }
}

/// The project (plugin.json and `cargo metadata`, read once per run).
///
/// ```no_run
/// # use grafana_plugin_xtask::{Context, anyhow::Result, api};
/// fn describe(context: &Context) -> Result<()> {
///     let project = api::project(context)?;
///     println!("{} {} ships {}", project.id, project.version, project.archive().display());
///     Ok(())
/// }
/// ```
pub fn project(context: &Context) -> Result<Project> {
    Ok(Project::of(context.project()?))
}

/// What to build: the platforms (`linux/amd64`, or `TRIPLE=os/arch`) and the profile.
///
/// ```
/// use grafana_plugin_xtask::api::{BuildRequest, Profile};
///
/// let everyday = BuildRequest::host();
/// let to_ship = BuildRequest::shippable().profile(Profile::Dist);
/// let release = BuildRequest::all().profile(Profile::Dist);
/// let two = BuildRequest::platforms(&["linux/amd64", "linux/arm64"]);
/// assert!(everyday.platforms.is_empty() && to_ship.platforms.is_empty());
/// assert_eq!(release.platforms.len(), 6);
/// assert_eq!(two.profile, Profile::Release);
/// ```
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct BuildRequest {
    /// Grafana platforms; empty means this machine.
    pub platforms: Vec<String>,
    /// `Release` unless set.
    pub profile: Profile,
    /// With no platforms: this machine's platform as Grafana loads it from an archive.
    shippable: bool,
}

impl BuildRequest {
    /// This machine, as `cargo xtask build` builds it: for running here (on Linux linked
    /// against the system's glibc, which Grafana's Alpine image lacks: not for an archive;
    /// see [`BuildRequest::shippable`]).
    pub fn host() -> BuildRequest {
        BuildRequest {
            platforms: Vec::new(),
            profile: Profile::Release,
            shippable: false,
        }
    }

    /// This machine's Grafana platform built as it ships (on Linux a static musl binary),
    /// what [`package`] accepts; `cargo xtask build --target <this machine's os/arch>`.
    pub fn shippable() -> BuildRequest {
        BuildRequest {
            shippable: true,
            ..BuildRequest::host()
        }
    }

    /// The six platforms of a release (`--all`).
    pub fn all() -> BuildRequest {
        BuildRequest {
            platforms: targets::PLATFORMS.iter().map(|p| p.name()).collect(),
            ..BuildRequest::host()
        }
    }

    /// The given platforms (`--target`).
    pub fn platforms(platforms: &[&str]) -> BuildRequest {
        BuildRequest {
            platforms: platforms.iter().map(|p| (*p).to_owned()).collect(),
            ..BuildRequest::host()
        }
    }

    /// With another profile (`Dist` for what ships).
    pub fn profile(mut self, profile: Profile) -> BuildRequest {
        self.profile = profile;
        self
    }
}

/// What a build wrote.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct Built {
    /// `dist/`, assembled.
    pub dist_dir: PathBuf,
    /// The platforms built, each binary's path in `dist/`.
    pub binaries: Vec<(String, PathBuf)>,
    /// The profile they were built with.
    pub profile: Profile,
    /// The build plan's targets and their binaries' names, which `package` archives.
    planned: Vec<(targets::BuildTarget, String)>,
    /// Built by [`BuildRequest::host`]: for this machine, maybe not loadable from an archive.
    for_host: bool,
}

/// Builds the backend for the request's platforms and assembles `dist/` (a create-plugin
/// app's frontend too), running the before- and after-build hooks, as `cargo xtask build`
/// does; all or nothing: a platform this machine cannot build refuses the whole request.
///
/// ```no_run
/// # use grafana_plugin_xtask::{Context, anyhow::Result, api};
/// fn build_here(context: &Context) -> Result<()> {
///     let built = api::build(context, &api::BuildRequest::host())?;
///     for (platform, binary) in &built.binaries {
///         context.status("Built", format!("{platform}: {}", binary.display()));
///     }
///     Ok(())
/// }
/// ```
pub fn build(context: &Context, request: &BuildRequest) -> Result<Built> {
    context.enter_root()?;
    let for_host = request.platforms.is_empty() && !request.shippable;
    let targets = match (request.platforms.is_empty(), request.shippable) {
        (true, false) => vec![targets::host()?],
        (true, true) => {
            let host = targets::Platform::host()
                .context("this machine is none of Grafana's platforms; name one to build")?;
            build::requested_targets(&[host.name()])?
        }
        (false, _) => build::requested_targets(&request.platforms)?,
    };
    let mut build_request = build::Request::of(targets, request.profile);
    build_request.all_or_nothing = true;
    let built = build::run(context, &build_request)?;
    let dist_dir = built.plan.dist_dir.clone();
    Ok(Built {
        binaries: (built.plan.targets.iter())
            .map(|t| (t.target.platform_name(), dist_dir.join(&t.dist_name)))
            .collect(),
        dist_dir,
        profile: request.profile,
        planned: (built.plan.targets.into_iter())
            .map(|t| (t.target, t.dist_name))
            .collect(),
        for_host,
    })
}

/// What validation found in one archive: the offline rules of Grafana's plugin validator.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct Validation {
    /// The archive checked.
    pub archive: PathBuf,
    /// Errors first, then warnings.
    pub findings: Vec<Finding>,
}

impl Validation {
    /// Whether no rule failed (warnings allowed).
    pub fn passed(&self) -> bool {
        self.findings.iter().all(|f| f.severity != Severity::Error)
    }

    /// Prints the findings as `cargo xtask validate` does, and fails when one is an error.
    pub fn report(&self, context: &Context) -> Result<()> {
        validate::report(&context.ui, &self.archive, &self.findings)
    }
}

/// Validates the archive at `archive` (any zip: downloaded, made by CI) and returns what
/// it found, printing nothing; an error only when it cannot be read as a zip. The archive is
/// read as untrusted input: bounded entry and total sizes, links judged as Grafana's
/// installer judges them.
///
/// ```no_run
/// # use grafana_plugin_xtask::{anyhow::Result, api};
/// fn check(path: &std::path::Path) -> Result<bool> {
///     let validation = api::validate(path)?;
///     for finding in &validation.findings {
///         println!("{:?} [{}] {}", finding.severity, finding.rule, finding.message);
///     }
///     Ok(validation.passed())
/// }
/// ```
pub fn validate(archive: &Path) -> Result<Validation> {
    let findings = validate::check_file(archive)
        .with_context(|| format!("cannot validate {}", archive.display()))?;
    Ok(Validation {
        archive: archive.to_owned(),
        findings,
    })
}

/// Removes what the tool wrote (`dist/`, the archives, the staging folders, e2e's Grafana
/// home), as `cargo xtask clean` does, printing nothing; returns what it removed. Cargo's
/// builds, `cargo package`'s crates and the development Grafana's data stay.
///
/// ```no_run
/// # use grafana_plugin_xtask::{Context, anyhow::Result, api};
/// fn fresh(context: &Context) -> Result<()> {
///     for path in api::clean(context)? {
///         context.status("Removed", path.display());
///     }
///     Ok(())
/// }
/// ```
pub fn clean(context: &Context) -> Result<Vec<PathBuf>> {
    crate::chores::clean(context)
}

/// Builds a create-plugin app's frontend (its `build` script, skipped when its inputs are
/// unchanged) and assembles `dist/` around the backend binaries already there, as `cargo
/// xtask build --frontend-only` does. In this template's layout (static files, no webpack)
/// it assembles `dist/`.
///
/// ```no_run
/// # use grafana_plugin_xtask::{Context, anyhow::Result, api};
/// fn frontend(context: &Context) -> Result<()> {
///     api::frontend(context)?;
///     context.status("Finished", "the frontend");
///     Ok(())
/// }
/// ```
pub fn frontend(context: &Context) -> Result<()> {
    context.enter_root()?;
    let request = build::Request::of(Vec::new(), Profile::Release);
    build::run(context, &request).map(drop)
}
