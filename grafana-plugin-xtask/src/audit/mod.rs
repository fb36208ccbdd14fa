//! `cargo xtask audit`, and part of `validate` and `package`: the workspace's Cargo.lock
//! against the RustSec advisory database, as Grafana's plugin validator scans a Go or npm
//! plugin's lockfiles. The database comes from a local copy (`--advisory-db DIR` or
//! [`DB_VARIABLE`]: a checkout of github.com/rustsec/advisory-db); without one the check says
//! it did not run and how to run it, and never passes. Versions are matched with cargo's own
//! semantics (the `rustsec` crate, behind cargo-audit). A project accepts an advisory in
//! `deny.toml`, as cargo-deny reads it: `[advisories] ignore = [{ id = "…", reason = "…" }]`.
use std::{
    collections::BTreeMap,
    path::{Path, PathBuf},
};

use anyhow::{Context as _, Result, bail};
use rustsec::{Database, Lockfile, advisory::Informational, database::Query};

use graph::{Shipped, chain};

use crate::{context::Context, flags::AuditFlags, ui::Ui};

/// Names the advisory database's directory when no `--advisory-db` is given.
pub const DB_VARIABLE: &str = "GRAFANA_PLUGIN_ADVISORY_DB";

/// What an advisory says about a locked crate.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Kind {
    Vulnerability,
    Unsound,
    Unmaintained,
    Notice,
}

impl Kind {
    fn as_str(self) -> &'static str {
        match self {
            Kind::Vulnerability => "vulnerability",
            Kind::Unsound => "unsound",
            Kind::Unmaintained => "unmaintained",
            Kind::Notice => "notice",
        }
    }
}

/// One advisory that applies to a locked version.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Finding {
    pub id: String,
    pub package: String,
    pub version: String,
    pub kind: Kind,
    pub title: String,
    /// From a workspace member down to the crate: `plugin 0.1.0 → … → arrow2 0.18.0`.
    pub chain: Vec<String>,
    /// Whether the chain starts at the plugin's own crate (the binary ships it).
    pub ships: bool,
    /// The reason deny.toml gives, when the project accepted it.
    pub accepted: Option<String>,
}

/// The audit's result.
#[derive(Debug)]
pub enum Outcome {
    /// Not run, and why (with how to run it).
    NotRun(String),
    Checked(Vec<Finding>),
}

/// `cargo xtask audit`.
pub fn run_command(context: &Context, flags: &AuditFlags) -> Result<()> {
    audit_project(context, flags.advisory_db.as_deref())
}

/// The audit `validate` and `package` run in a project: the database from
/// [`DB_VARIABLE`].
pub fn project(context: &Context) -> Result<()> {
    audit_project(context, None)
}

/// The project's Cargo.lock against the database `flag` (else [`DB_VARIABLE`]) names.
fn audit_project(context: &Context, flag: Option<&Path>) -> Result<()> {
    let project = context.project()?;
    let database = database_dir(flag);
    if let Some(dir) = &database {
        say_database(&context.ui, dir, flag);
    }
    let graph = match &database {
        Some(_) => Some(metadata(&context.sh)?),
        None => None,
    };
    let outcome = audit(
        &project.cargo.workspace_root,
        &project.cargo.package,
        database.as_deref(),
        graph.as_ref(),
    )?;
    report(&context.ui, &outcome, "Cargo.lock")
}

/// Where the database is: the flag, else [`DB_VARIABLE`], else the copy cargo-audit or
/// cargo-deny keeps when one of them is installed and has fetched it (said in one line, with
/// the copy's age as the files tell it).
pub fn database_dir(flag: Option<&Path>) -> Option<PathBuf> {
    database_dir_in(flag, std::env::var_os(DB_VARIABLE), cargo_home().as_deref())
}

fn cargo_home() -> Option<PathBuf> {
    std::env::var_os("CARGO_HOME")
        .filter(|home| !home.is_empty())
        .map(PathBuf::from)
        .or_else(|| std::env::home_dir().map(|home| home.join(".cargo")))
}

fn database_dir_in(
    flag: Option<&Path>,
    variable: Option<std::ffi::OsString>,
    cargo_home: Option<&Path>,
) -> Option<PathBuf> {
    if let Some(dir) = flag {
        return Some(dir.to_owned());
    }
    if let Some(dir) = variable.filter(|value| !value.is_empty()) {
        return Some(PathBuf::from(dir));
    }
    let home = cargo_home?;
    let is_database = |dir: &Path| dir.join("crates").is_dir();
    // cargo-audit's copy, then cargo-deny's (one directory per database URL).
    let audit = home.join("advisory-db");
    if is_database(&audit) {
        return Some(audit);
    }
    let mut deny: Vec<PathBuf> = std::fs::read_dir(home.join("advisory-dbs"))
        .ok()?
        .flatten()
        .map(|entry| entry.path())
        .filter(|dir| is_database(dir))
        .collect();
    deny.sort();
    deny.into_iter().next()
}

/// `cargo metadata`'s resolve graph of the workspace at `root` (every call of cargo here
/// goes through the spawn module, scrubbed of secrets).
fn metadata(sh: &xshell::Shell) -> Result<serde_json::Value> {
    let cargo = crate::util::cargo();
    let text = crate::spawn::cmd!(sh, "{cargo} metadata --format-version 1 --locked")
        .quiet()
        .read()
        .context("cannot read the dependency graph with `cargo metadata --locked`")?;
    serde_json::from_str(&text).context("`cargo metadata` printed something that is not JSON")
}

/// Audits `root`'s Cargo.lock; `plugin` is the crate that becomes the binary, `graph` the
/// workspace's `cargo metadata` (which tells the dependencies that ship from the others).
pub fn audit(
    root: &Path,
    plugin: &str,
    database: Option<&Path>,
    graph: Option<&serde_json::Value>,
) -> Result<Outcome> {
    let Some(dir) = database else {
        return Ok(not_run());
    };
    let db = open_database(dir)?;
    let lock_path = root.join("Cargo.lock");
    let lockfile = Lockfile::load(&lock_path).with_context(|| {
        format!(
            "{}: cannot read it; run `cargo generate-lockfile` and commit it",
            lock_path.display()
        )
    })?;
    let accepted = accepted(root)?;
    let shipped = graph.and_then(|graph| Shipped::from_metadata(graph, plugin));
    Ok(Outcome::Checked(findings(
        &db,
        &lockfile,
        &accepted,
        Ships::From(shipped.as_ref()),
        plugin,
    )))
}

/// Says which database is used when it is not the one named by the flag or the variable
/// (cargo-audit's or cargo-deny's copy).
fn say_database(ui: &Ui, dir: &Path, flag: Option<&Path>) {
    let named = flag.is_some() || std::env::var_os(DB_VARIABLE).is_some_and(|v| !v.is_empty());
    if !named {
        ui.note(format!(
            "advisories from {} (the copy cargo-audit or cargo-deny fetched; update it with \
             their `fetch`, or name one with {DB_VARIABLE})",
            dir.display()
        ));
    }
}

/// Without a database: the line that says the check was not run, and how to run it.
fn not_run() -> Outcome {
    Outcome::NotRun(format!(
        "advisories not checked: no advisory database; set {DB_VARIABLE} to a checkout of \
         https://github.com/rustsec/advisory-db (git clone --depth 1 …), pass --advisory-db \
         DIR, or let an installed cargo-audit or cargo-deny fetch its copy"
    ))
}

/// `validate ARCHIVE`: the dependency lists the archive's binaries carry, audited without
/// the source (deny.toml's acceptances apply when run in a project).
pub fn archive(context: &Context, entries: &[crate::archive::ReadEntry]) -> Result<()> {
    let ui = &context.ui;
    let lists = binary::lists(entries)?;
    let missing: Vec<&str> = (lists.iter())
        .filter(|(_, listed)| matches!(listed, binary::Listed::Missing))
        .map(|(name, _)| name.as_str())
        .collect();
    if !missing.is_empty() {
        ui.warning(format!(
            "{}: no dependency list (built without cargo-auditable), so not audited; \
             `cargo install cargo-auditable`, then package again",
            missing.join(", ")
        ));
    }
    if missing.len() == lists.len() {
        return Ok(());
    }
    let Some(dir) = database_dir(None) else {
        return report(ui, &not_run(), "the binaries' dependency lists");
    };
    say_database(ui, &dir, None);
    let accepted = match context.project() {
        Ok(project) => accepted(&project.cargo.workspace_root)?,
        Err(_) => BTreeMap::new(),
    };
    let outcome = binary::audit(&dir, &lists, &accepted)?;
    report(
        ui,
        &outcome,
        "the binaries' dependency lists (cargo-auditable)",
    )
}

/// Opens the database at `dir`, or says what it needs.
fn open_database(dir: &Path) -> Result<Database> {
    Database::open(dir).with_context(|| {
        format!(
            "{}: not a RustSec advisory database (it needs crates/<name>/RUSTSEC-*.md); \
             point --advisory-db or {DB_VARIABLE} at a checkout of \
             https://github.com/rustsec/advisory-db",
            dir.display()
        )
    })
}

/// What of a lockfile ships in the plugin's binary.
enum Ships<'a> {
    /// What the plugin's normal dependencies reach (unknown: `None`, nothing counted).
    From(Option<&'a Shipped>),
    /// Everything: the list came from the binary itself.
    All,
}

/// The advisories that apply to `lockfile`'s versions, each with its chain from `plugin` (or
/// from any member when what ships does not hold it) and the acceptance of it, if any.
fn findings(
    db: &Database,
    lockfile: &Lockfile,
    accepted: &BTreeMap<String, String>,
    ships: Ships<'_>,
    plugin: &str,
) -> Vec<Finding> {
    let (shipped, all_ship) = match ships {
        Ships::From(shipped) => (shipped, false),
        Ships::All => (None, true),
    };
    let query = Query::new()
        .collection(rustsec::Collection::Crates)
        .withdrawn(false);
    let mut findings: Vec<Finding> = db
        .query_vulnerabilities(lockfile, &query)
        .into_iter()
        .map(|found| {
            let label = format!("{} {}", found.package.name, found.package.version);
            let (chain, ships) = match shipped.and_then(|s| s.chain(&label)) {
                Some(chain) => (chain, true),
                // Not in what ships: the chain from another member (or a dev-dependency).
                None => (chain(lockfile, &found.package, plugin).0, all_ship),
            };
            let id = found.advisory.id.to_string();
            Finding {
                kind: match &found.advisory.informational {
                    None => Kind::Vulnerability,
                    Some(Informational::Unsound) => Kind::Unsound,
                    Some(Informational::Unmaintained) => Kind::Unmaintained,
                    Some(_) => Kind::Notice,
                },
                package: found.package.name.to_string(),
                version: found.package.version.to_string(),
                title: found.advisory.title.clone(),
                accepted: accepted.get(&id).cloned(),
                id,
                chain,
                ships,
            }
        })
        .collect();
    findings.sort_by(|a, b| (a.kind, &a.id, &a.version).cmp(&(b.kind, &b.id, &b.version)));
    findings
}

/// deny.toml's accepted advisories, by id, with their reasons (cargo-deny's format).
fn accepted(root: &Path) -> Result<BTreeMap<String, String>> {
    let path = root.join("deny.toml");
    let Ok(text) = std::fs::read_to_string(&path) else {
        return Ok(BTreeMap::new());
    };
    let document: toml_edit::DocumentMut = text
        .parse()
        .with_context(|| format!("{}: not valid TOML", path.display()))?;
    let Some(ignore) = document
        .get("advisories")
        .and_then(|advisories| advisories.get("ignore"))
    else {
        return Ok(BTreeMap::new());
    };
    let entries = ignore.as_array().with_context(|| {
        format!(
            "{}: [advisories] ignore must be a list of {{ id = \"RUSTSEC-…\", reason = \"…\" }}",
            path.display()
        )
    })?;
    let mut accepted = BTreeMap::new();
    for entry in entries {
        let table = entry.as_inline_table();
        let id = table.and_then(|t| t.get("id")).and_then(|v| v.as_str());
        let reason = table.and_then(|t| t.get("reason")).and_then(|v| v.as_str());
        match (id, reason) {
            (Some(id), Some(reason)) if !reason.trim().is_empty() => {
                accepted.insert(id.to_owned(), reason.trim().to_owned());
            }
            _ => bail!(
                "{}: [advisories] ignore entry {} has no reason; write {{ id = \"RUSTSEC-…\", \
                 reason = \"why it does not reach this plugin\" }}",
                path.display(),
                entry.to_string().trim()
            ),
        }
    }
    Ok(accepted)
}

/// Prints the outcome for `what` was audited (Cargo.lock, a binary's list); fails on an
/// advisory of kind vulnerability that is not accepted.
pub fn report(ui: &Ui, outcome: &Outcome, what: &str) -> Result<()> {
    let findings = match outcome {
        Outcome::NotRun(why) => {
            ui.warning(why);
            return Ok(());
        }
        Outcome::Checked(findings) => findings,
    };
    let mut refused = Vec::new();
    for finding in findings {
        let shipped = if finding.ships {
            "in the plugin's binary"
        } else {
            "not in the plugin's binary"
        };
        let line = format!(
            "{} {} {}: {} ({}; {}: {})",
            finding.id,
            finding.package,
            finding.version,
            finding.title,
            finding.kind.as_str(),
            shipped,
            finding.chain.join(" → ")
        );
        match (&finding.accepted, finding.kind) {
            (Some(reason), _) => ui.status("Accepted", format!("{line}; deny.toml: {reason}")),
            (None, Kind::Vulnerability) => {
                ui.error(format!(
                    "{line}; upgrade it (cargo update -p {}), or accept it in deny.toml: \
                     [advisories] ignore = [{{ id = \"{}\", reason = \"…\" }}]",
                    finding.package, finding.id
                ));
                refused.push(finding.id.clone());
            }
            (None, _) => ui.warning(line),
        }
    }
    if !refused.is_empty() {
        bail!(
            "{what} hold{} {} advisor{} of kind vulnerability not accepted: {}",
            if what == "Cargo.lock" { "s" } else { "" },
            refused.len(),
            if refused.len() == 1 { "y" } else { "ies" },
            refused.join(", ")
        );
    }
    ui.status(
        "Audited",
        format!(
            "{what} against the RustSec advisories: {} apply, none unaccepted",
            findings.len()
        ),
    );
    Ok(())
}

pub mod binary;
mod graph;
#[cfg(test)]
mod tests;
