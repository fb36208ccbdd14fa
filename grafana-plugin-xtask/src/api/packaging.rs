//! `package` as a building block: typed options, and each archive written as data.
use std::path::PathBuf;

use anyhow::{Context as _, Result};

use super::{Built, Finding};
use crate::{context::Context, flags, package, validate};

/// How to package: `cargo xtask package`'s options.
///
/// ```
/// use grafana_plugin_xtask::api::PackageOptions;
///
/// let options = PackageOptions::new()
///     .out_dir("target/release-archives")
///     .per_platform(true)
///     .root_urls("https://grafana.example.com/");
/// assert!(options.per_platform && !options.sign);
/// ```
#[derive(Clone, Debug, Default)]
#[non_exhaustive]
pub struct PackageOptions {
    /// Where the archives go; `target/package/` unless set.
    pub out_dir: Option<PathBuf>,
    /// Also one archive per platform, each signed for exactly its files.
    pub per_platform: bool,
    /// Fail unless signed (`GRAFANA_ACCESS_POLICY_TOKEN`); with the token, signing happens
    /// anyway.
    pub sign: bool,
    /// The Grafana root URLs of a private signature (comma-separated).
    pub root_urls: Option<String>,
}

impl PackageOptions {
    /// The defaults: one archive in `target/package/`, signed when the token is set.
    pub fn new() -> PackageOptions {
        PackageOptions::default()
    }

    /// Writes the archives to `dir`.
    pub fn out_dir(mut self, dir: impl Into<PathBuf>) -> PackageOptions {
        self.out_dir = Some(dir.into());
        self
    }

    /// Also one archive per platform.
    pub fn per_platform(mut self, per_platform: bool) -> PackageOptions {
        self.per_platform = per_platform;
        self
    }

    /// Requires a signature.
    pub fn sign(mut self, sign: bool) -> PackageOptions {
        self.sign = sign;
        self
    }

    /// A private signature for these Grafana root URLs (comma-separated).
    pub fn root_urls(mut self, urls: impl Into<String>) -> PackageOptions {
        self.root_urls = Some(urls.into());
        self
    }
}

/// One archive written, with its size and digests.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct Archive {
    /// `<id>-<version>.zip`, or `<id>-<version>.<os>_<arch>.zip` for one platform.
    pub path: PathBuf,
    /// The platform of a per-platform archive; `None` for the release archive.
    pub platform: Option<String>,
    /// Its size in bytes.
    pub size: u64,
    /// Its SHA-1 (hex), as Grafana's submission form and plugin-actions use.
    pub sha1: String,
    /// Its SHA-256 (hex).
    pub sha256: String,
    /// `<archive>.sha1` and `<archive>.sha256` beside it.
    pub checksum_files: Vec<PathBuf>,
    /// Signed through Grafana's signing service.
    pub signed: bool,
    /// The validator's warnings (an error stops `package`).
    pub warnings: Vec<Finding>,
}

/// What [`package`] wrote.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct Packaged {
    /// The release archive first, then one per platform when asked.
    pub archives: Vec<Archive>,
}

impl Packaged {
    /// The release archive (every platform built).
    pub fn release(&self) -> &Archive {
        &self.archives[0]
    }
}

/// Packages what `built` wrote (no second build): the binaries its plan named, checked,
/// archived and validated as `cargo xtask package --no-build --target …` does (signed when
/// GRAFANA_ACCESS_POLICY_TOKEN is set), with its checksums.
///
/// ```no_run
/// # use grafana_plugin_xtask::{Context, anyhow::Result, api};
/// fn archive_here(context: &Context) -> Result<()> {
///     let built = api::build(context, &api::BuildRequest::shippable())?;
///     let packaged = api::package(context, &built, &api::PackageOptions::new())?;
///     let archive = packaged.release();
///     println!("{} {} bytes sha256:{}", archive.path.display(), archive.size, archive.sha256);
///     Ok(())
/// }
/// ```
pub fn package(context: &Context, built: &Built, options: &PackageOptions) -> Result<Packaged> {
    context.enter_root()?;
    if built.for_host {
        refuse_host_build(context, built)?;
    }
    let flags = flags::PackageFlags {
        targets: built.binaries.iter().map(|(p, _)| p.clone()).collect(),
        no_build: true,
        out_dir: options.out_dir.clone(),
        per_platform: options.per_platform,
        sign: options.sign,
        root_urls: options.root_urls.clone(),
    };
    let token = package::token();
    if options.sign && token.is_none() {
        anyhow::bail!(
            "PackageOptions::sign needs a Grafana access policy token in {}",
            crate::spawn::TOKEN_VARIABLE
        );
    }
    let contents = package::Contents {
        binaries: built.planned.clone(),
        narrowed: true,
    };
    let written = package::write(context, &flags, token.as_deref(), &contents)?;
    Ok(Packaged {
        archives: written
            .into_iter()
            .map(|written| Archive {
                path: written.path,
                platform: written.platform,
                size: written.size,
                sha1: written.checksums.sha1,
                sha256: written.checksums.sha256,
                checksum_files: written.checksums.files.to_vec(),
                signed: written.signed,
                warnings: written.warnings,
            })
            .collect(),
    })
}

/// A [`BuildRequest::host`] build that Grafana could not load from an archive (a glibc
/// binary on Linux) is refused with the request to use instead.
fn refuse_host_build(context: &Context, built: &Built) -> Result<()> {
    let executable = &context.project()?.plugin.executable;
    for (_, binary) in &built.binaries {
        let name = binary.file_name().unwrap_or_default().to_string_lossy();
        let data =
            std::fs::read(binary).with_context(|| format!("cannot read {}", binary.display()))?;
        if let Some(problem) = validate::binary_problems(executable, &name, &data).first() {
            let problem = problem.split("; build it with").next().unwrap_or(problem);
            anyhow::bail!(
                "api::package: a BuildRequest::host() build is for this machine, and {problem}; \
                 package a BuildRequest::shippable() build (this machine's platform as Grafana \
                 loads it)"
            );
        }
    }
    Ok(())
}
