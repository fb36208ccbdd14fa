//! `cargo xtask validate`: the offline rules of Grafana's plugin validator that apply to an
//! app or a data source with a backend, run on the archive itself. The reading is I/O (`run`); the rules
//! (`check`, one call per family in `rules.rs`) are pure and tested on archives made wrong
//! on purpose.
mod kinds;
mod manifest;
mod rules;
mod schema;

pub use rules::binary_problems;
#[cfg(test)]
mod tests;

use std::path::Path;

use anyhow::{Result, bail};

use crate::{
    archive::{self, ReadEntry},
    context::Context,
    flags::ValidateFlags,
    ui::Ui,
};

/// How much a finding weighs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Severity {
    /// Grafana's validator (or Grafana itself) refuses the archive.
    Error,
    /// Allowed, but worth fixing.
    Warning,
}

/// One rule's finding about an archive.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Finding {
    /// Error or warning.
    pub severity: Severity,
    /// The rule, named as Grafana's validator names its analyzer (`archive`, `manifest`, …).
    pub rule: &'static str,
    /// What is wrong and how to fix it.
    pub message: String,
}

/// Why a signed Rust plugin still cannot go to Grafana's catalog.
pub const CATALOG_NOTE: &str = "Grafana's plugin catalog currently rejects backends not written in Go: its validator \
requires Go build information in the linux/amd64 binary and, with source, a go.mod using the Go SDK. Use this archive \
for private or self-hosted installs, signed privately (--root-urls) or loaded unsigned.";

/// `cargo xtask validate [ARCHIVE]`; without one, the archive `package` writes. The
/// advisories: of an archive given, the dependency lists its binaries carry (no source
/// needed); of the project's own archive, the project's Cargo.lock.
pub fn run_command(context: &Context, flags: &ValidateFlags) -> Result<()> {
    let archive = match &flags.archive {
        Some(archive) => archive.clone(),
        None => {
            let project = context.project()?;
            let out = crate::archive::out_dir(&project.cargo.workspace_root);
            default_archive(&out, &project.plugin.id, &project.cargo.version)?
        }
    };
    let entries = archive::read(&archive)?;
    report(&context.ui, &archive, &check(&entries))?;
    if flags.archive.is_some() {
        crate::audit::archive(context, &entries)
    } else {
        crate::audit::project(context)
    }
}

/// Every finding for the archive at `path`; an error only when it cannot be read as a zip.
pub fn check_file(path: &Path) -> Result<Vec<Finding>> {
    Ok(check(&archive::read(path)?))
}

/// Prints the findings and fails when there is an error.
pub fn report(ui: &Ui, archive_path: &Path, findings: &[Finding]) -> Result<()> {
    for finding in findings {
        match finding.severity {
            Severity::Error => ui.error(format!("[{}] {}", finding.rule, finding.message)),
            Severity::Warning => ui.warning(format!("[{}] {}", finding.rule, finding.message)),
        }
    }
    let errors = findings
        .iter()
        .filter(|f| f.severity == Severity::Error)
        .count();
    let warnings = findings.len() - errors;
    ui.note(CATALOG_NOTE);
    if errors > 0 {
        bail!(
            "{}: {errors} error(s), {warnings} warning(s) from the plugin validator's rules",
            archive_path.display()
        );
    }
    ui.status(
        "Validated",
        format!("{} ({warnings} warning(s))", archive_path.display()),
    );
    Ok(())
}

/// Every finding for the archive's entries: errors first, then warnings, each family of
/// rules in the order the validator reports them.
pub fn check(entries: &[ReadEntry]) -> Vec<Finding> {
    let mut findings = Findings::default();
    // Nothing else is trustworthy if an entry escapes the root or the layout is wrong.
    if let Some(archive) = rules::layout(entries, &mut findings)
        && let Some(manifest) = rules::plugin_json(&archive, &mut findings)
    {
        rules::backend(&archive, &manifest, &mut findings);
        kinds::capabilities(manifest.json(), &mut findings);
        rules::docs(&archive, &mut findings);
        rules::leftovers(&archive, &mut findings);
        manifest::signature(&archive, &manifest, &mut findings);
    }
    findings.into_list()
}

/// Findings as the rules add them; warnings are listed after errors.
#[derive(Default)]
pub struct Findings {
    errors: Vec<Finding>,
    warnings: Vec<Finding>,
}

impl Findings {
    pub fn error(&mut self, rule: &'static str, message: impl Into<String>) {
        self.errors.push(Finding {
            severity: Severity::Error,
            rule,
            message: message.into(),
        });
    }

    pub fn warning(&mut self, rule: &'static str, message: impl Into<String>) {
        self.warnings.push(Finding {
            severity: Severity::Warning,
            rule,
            message: message.into(),
        });
    }

    fn into_list(self) -> Vec<Finding> {
        self.errors.into_iter().chain(self.warnings).collect()
    }
}

/// The archive to validate when none is named: the newest `<id>-<version>.zip` in `dir`.
pub fn default_archive(dir: &Path, id: &str, version: &str) -> Result<std::path::PathBuf> {
    let path = dir.join(crate::archive::archive_name(id, version, None));
    if !path.is_file() {
        bail!(
            "{}: no archive; run `cargo xtask package` first or name one",
            path.display()
        );
    }
    Ok(path)
}
