//! An archive audited without its source: the dependency list cargo-auditable embeds in each
//! backend binary (a zlib-compressed JSON in a `.dep-v0` section; what `cargo audit bin`,
//! trivy, syft and osv-scanner read), read back with bounded sizes and audited as Cargo.lock
//! is.
use std::{collections::BTreeMap, path::Path, str::FromStr};

use anyhow::{Context as _, Result};
use rustsec::{
    Lockfile, SourceId,
    cargo_lock::{Dependency, Patch, ResolveVersion},
    package::{Name, Package},
};

use super::{Finding, Outcome, Ships, findings, open_database};
use crate::archive::ReadEntry;

/// The largest dependency list read (decompressed): cargo-auditable's own readers' limit.
const LIST_CAP: usize = 8 * 1024 * 1024;

/// What one binary of the archive says about its dependencies.
pub enum Listed {
    /// The list, as a lockfile, and the root package's name.
    Deps(Box<Lockfile>, String),
    /// Built without cargo-auditable.
    Missing,
}

/// The dependency list of every backend binary among `entries` (by name).
pub fn lists(entries: &[ReadEntry]) -> Result<Vec<(String, Listed)>> {
    let mut lists = Vec::new();
    for entry in entries {
        if entry.is_dir || entry.is_symlink() || crate::binary::inspect(&entry.data).is_err() {
            continue;
        }
        let listed = match auditable_info::audit_info_from_slice(&entry.data, LIST_CAP) {
            Ok(info) => {
                let (lockfile, root) = lockfile_of(&info)
                    .with_context(|| format!("{}: its dependency list is not valid", entry.path))?;
                Listed::Deps(Box::new(lockfile), root)
            }
            Err(auditable_info::Error::NoAuditData) => Listed::Missing,
            Err(error) => {
                return Err(anyhow::anyhow!(
                    "{}: its dependency list cannot be read ({error})",
                    entry.path
                ));
            }
        };
        lists.push((entry.path.clone(), listed));
    }
    Ok(lists)
}

/// The advisories that apply to what the binaries carry, each once (the six binaries of a
/// release carry one list); `accepted` from the project's deny.toml, if any.
pub fn audit(
    database: &Path,
    lists: &[(String, Listed)],
    accepted: &BTreeMap<String, String>,
) -> Result<Outcome> {
    let db = open_database(database)?;
    let mut all: Vec<Finding> = Vec::new();
    for (_, listed) in lists {
        let Listed::Deps(lockfile, root) = listed else {
            continue;
        };
        for finding in findings(&db, lockfile, accepted, Ships::All, root) {
            let seen = all.iter().any(|f| {
                (&f.id, &f.package, &f.version) == (&finding.id, &finding.package, &finding.version)
            });
            if !seen {
                all.push(finding);
            }
        }
    }
    all.sort_by(|a, b| (a.kind, &a.id, &a.version).cmp(&(b.kind, &b.id, &b.version)));
    Ok(Outcome::Checked(all))
}

/// cargo-auditable's list as a lockfile (crates.io packages with their registry, others
/// without a source, as rustsec's own reader does), and the root package's name.
pub(super) fn lockfile_of(info: &auditable_serde::VersionInfo) -> Result<(Lockfile, String)> {
    let source = |source: &auditable_serde::Source| match source {
        auditable_serde::Source::CratesIo => {
            SourceId::from_url("registry+https://github.com/rust-lang/crates.io-index").ok()
        }
        _ => None,
    };
    let mut packages = Vec::with_capacity(info.packages.len());
    let mut root = None;
    for package in &info.packages {
        let mut dependencies = Vec::new();
        for &index in &package.dependencies {
            let dependency = info
                .packages
                .get(index)
                .with_context(|| format!("no package {index} for {}", package.name))?;
            dependencies.push(Dependency {
                name: Name::from_str(&dependency.name)?,
                version: dependency.version.clone(),
                source: source(&dependency.source),
            });
        }
        if package.root {
            root = Some(package.name.clone());
        }
        packages.push(Package {
            name: Name::from_str(&package.name)?,
            version: package.version.clone(),
            source: source(&package.source),
            checksum: None,
            dependencies,
            replace: None,
        });
    }
    let lockfile = Lockfile {
        version: ResolveVersion::V2,
        packages,
        root: None,
        metadata: BTreeMap::new(),
        patch: Patch { unused: Vec::new() },
    };
    Ok((lockfile, root.context("no root package")?))
}
