//! The building blocks of the built-in commands, for a plugin's own `xtask` commands: the
//! project as loaded, a build and what it wrote, the archive made from it, its validation.
//! The built-in `build`, `package` and `validate` run the same functions.
//!
//! ```no_run
//! use grafana_plugin_xtask::{Context, anyhow::Result, api};
//!
//! /// `cargo xtask release`: every platform, the archive, then the plugin's own upload.
//! fn release(context: &Context) -> Result<()> {
//!     let built = api::build(context, &api::BuildRequest::all().profile(api::Profile::Dist))?;
//!     let packaged = api::package(context, &built)?;
//!     api::validate(context, &packaged)?;
//!     context.status("Uploading", packaged.archive.display());
//!     Ok(())
//! }
//! ```
use std::path::PathBuf;

use anyhow::{Context as _, Result};

pub use crate::{
    binary::{Cpu, Format},
    build::Profile,
    targets::{Linker, PLATFORMS, Platform, Runner},
};
use crate::{
    build, context::Context, flags, layout, package, project::Project as Loaded, targets, validate,
};

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
pub fn project(context: &Context) -> Result<Project> {
    Ok(Project::of(context.project()?))
}

/// What to build: the platforms (`linux/amd64`, or `TRIPLE=os/arch`) and the profile.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct BuildRequest {
    /// Grafana platforms; empty means this machine.
    pub platforms: Vec<String>,
    /// `Release` unless set.
    pub profile: Profile,
}

impl BuildRequest {
    /// This machine's platform, as `cargo xtask build` builds it.
    pub fn host() -> BuildRequest {
        BuildRequest {
            platforms: Vec::new(),
            profile: Profile::Release,
        }
    }

    /// The six platforms of a release (`--all`).
    pub fn all() -> BuildRequest {
        BuildRequest {
            platforms: targets::PLATFORMS.iter().map(|p| p.name()).collect(),
            profile: Profile::Release,
        }
    }

    /// The given platforms (`--target`).
    pub fn platforms(platforms: &[&str]) -> BuildRequest {
        BuildRequest {
            platforms: platforms.iter().map(|p| (*p).to_owned()).collect(),
            profile: Profile::Release,
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
}

/// Builds the backend for the request's platforms and assembles `dist/` (a create-plugin
/// app's frontend too), running the before- and after-build hooks, as `cargo xtask build`
/// does; all or nothing: a platform this machine cannot build refuses the whole request.
pub fn build(context: &Context, request: &BuildRequest) -> Result<Built> {
    context.enter_root()?;
    let targets = if request.platforms.is_empty() {
        vec![targets::host()?]
    } else {
        build::requested_targets(&request.platforms)?
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
    })
}

/// The archive and its checksums.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct Packaged {
    /// `<id>-<version>.zip`.
    pub archive: PathBuf,
    /// The archive's `.sha1` and `.sha256` beside it.
    pub checksums: Vec<PathBuf>,
}

/// Packages what `built` wrote (no second build): the binaries its plan named, checked and
/// archived as `cargo xtask package --no-build --target …` does (signed when
/// GRAFANA_ACCESS_POLICY_TOKEN is set).
pub fn package(context: &Context, built: &Built) -> Result<Packaged> {
    context.enter_root()?;
    let flags = flags::PackageFlags {
        targets: built.binaries.iter().map(|(p, _)| p.clone()).collect(),
        no_build: true,
        out_dir: None,
        per_platform: false,
        sign: false,
        root_urls: None,
    };
    let token = package::token();
    let contents = package::Contents {
        binaries: built.planned.clone(),
        narrowed: true,
    };
    let archive = package::write(context, &flags, token.as_deref(), &contents)?;
    let checksums = crate::archive::checksum_paths(&archive).to_vec();
    Ok(Packaged { archive, checksums })
}

/// Checks the archive against the offline rules of Grafana's plugin validator, as
/// `cargo xtask validate` does; an error names every failed rule.
pub fn validate(context: &Context, packaged: &Packaged) -> Result<()> {
    validate::run_command(
        context,
        &flags::ValidateFlags {
            archive: Some(packaged.archive.clone()),
        },
    )
    .with_context(|| format!("{} is not valid", packaged.archive.display()))
}
