//! `cargo xtask validate`: the offline rules of Grafana's plugin validator that apply to an
//! app with a backend, run on the archive itself. The reading is I/O (`run`); the rules
//! (`check`) are pure and tested on archives made wrong on purpose.
use std::{collections::BTreeSet, path::Path};

use anyhow::{Result, bail};
use serde_json::Value;

use crate::{
    archive::{self, ReadEntry},
    schema,
    ui::Ui,
};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Severity {
    Error,
    Warning,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Finding {
    pub severity: Severity,
    pub rule: &'static str,
    pub message: String,
}

/// Why a signed Rust plugin still cannot go to Grafana's catalog.
pub const CATALOG_NOTE: &str = "Grafana's plugin catalog currently rejects backends not written in Go: its validator \
requires Go build information in the linux/amd64 binary and, with source, a go.mod using the Go SDK. Use this archive \
for private or self-hosted installs, signed privately (--root-urls) or loaded unsigned.";

pub fn run(ui: &Ui, archive_path: &Path) -> Result<()> {
    let entries = archive::read(archive_path)?;
    let findings = check(&entries);
    report(ui, archive_path, &findings)
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

pub fn check(entries: &[ReadEntry]) -> Vec<Finding> {
    let mut findings = Vec::new();
    let mut error = |rule, message: String| {
        findings.push(Finding {
            severity: Severity::Error,
            rule,
            message,
        })
    };

    // Paths first: nothing else is trustworthy if an entry escapes the root.
    for entry in entries {
        if escapes(&entry.path) {
            error(
                "zip-slip",
                format!(
                    "entry {:?} escapes the archive's root; remove it",
                    entry.path
                ),
            );
        }
    }
    let roots: BTreeSet<&str> = entries
        .iter()
        .map(|e| e.path.split('/').next().unwrap_or_default())
        .collect();
    let loose: Vec<&str> = entries
        .iter()
        .filter(|e| !e.path.contains('/'))
        .map(|e| e.path.as_str())
        .collect();
    if roots.contains("__MACOSX") {
        error(
            "archive-root",
            "the archive contains __MACOSX/ (a macOS Finder artefact); remove it".into(),
        );
    }
    if roots.len() != 1 || !loose.is_empty() {
        error(
            "archive-root",
            format!(
                "the archive must hold exactly one directory named after the plugin id, found {:?}",
                roots
            ),
        );
        return findings;
    }
    let root = *roots.iter().next().unwrap_or(&"");
    let file = |name: &str| {
        entries
            .iter()
            .find(|e| e.path == format!("{root}/{name}") && !e.is_dir)
    };
    let exists = |name: &str| file(name).is_some();

    if entries
        .iter()
        .any(|e| e.path.starts_with(&format!("{root}/dist/")))
    {
        error(
            "no-dist-dir",
            format!(
                "{root}/dist/ is inside the archive; package the contents of dist/, not dist/ itself"
            ),
        );
    }

    let Some(plugin_json) = file("plugin.json") else {
        error("plugin-json", format!("{root}/plugin.json is missing"));
        return findings;
    };
    let json: Value = match serde_json::from_slice(&plugin_json.data) {
        Ok(json) => json,
        Err(parse) => {
            error(
                "plugin-json",
                format!("{root}/plugin.json is not valid JSON: {parse}"),
            );
            return findings;
        }
    };
    let schema: Value =
        serde_json::from_str(schema::PLUGIN_SCHEMA).expect("the embedded schema is JSON");
    for violation in schema::violations(&json, &schema) {
        error("plugin-json-schema", violation);
    }
    let text = |pointer: &str| {
        json.pointer(pointer)
            .and_then(Value::as_str)
            .unwrap_or_default()
    };
    let (id, plugin_type) = (text("/id"), text("/type"));
    if !crate::project::is_valid_plugin_id(id) || !id.ends_with(&format!("-{plugin_type}")) {
        error(
            "plugin-id",
            format!(
                "id {id:?} must be <org>-<name>-<type> in lower case, ending in -{plugin_type}"
            ),
        );
    }
    if id != root {
        error(
            "archive-root-name",
            format!(
                "the root directory is {root:?} but the plugin id is {id:?}; they must be equal"
            ),
        );
    }
    if text("/name").is_empty() || text("/name") == id {
        error(
            "plugin-name",
            format!(
                "name {:?} must be set and differ from the id",
                text("/name")
            ),
        );
    }
    if crate::project::check_version(
        Path::new("plugin.json"),
        "info.version",
        text("/info/version"),
    )
    .is_err()
    {
        error(
            "version",
            format!("info.version {:?} must be X.Y.Z", text("/info/version")),
        );
    }
    if text("/info/updated").is_empty() {
        error(
            "updated",
            "info.updated must be the build date (YYYY-MM-DD)".into(),
        );
    }
    if json
        .pointer("/info/keywords")
        .and_then(Value::as_array)
        .is_none_or(Vec::is_empty)
    {
        error(
            "keywords",
            "info.keywords needs at least one keyword".into(),
        );
    }
    if text("/dependencies/grafanaDependency").is_empty() {
        error("grafana-dependency", "dependencies.grafanaDependency must say which Grafana versions work, e.g. \">=10.4.0\"".into());
    }
    for size in ["small", "large"] {
        let logo = text(&format!("/info/logos/{size}"));
        if logo.is_empty() {
            error("logos", format!("info.logos.{size} is missing"));
        } else if escapes(logo) || !exists(logo.trim_start_matches("./")) {
            error(
                "logos",
                format!("info.logos.{size} names {logo:?}, which is not in the archive"),
            );
        }
    }
    if !exists("module.js") {
        error(
            "module-js",
            format!("{root}/module.js is missing; Grafana loads the plugin's frontend from it"),
        );
    }

    if json.get("backend") == Some(&Value::Bool(true)) {
        let executable = text("/executable");
        if executable.is_empty() {
            error(
                "executable",
                "backend is true but executable is not set".into(),
            );
        } else {
            let prefix = format!("{root}/{executable}");
            let binaries: Vec<&ReadEntry> = entries
                .iter()
                .filter(|e| !e.is_dir && e.path.starts_with(&prefix))
                .collect();
            if binaries.is_empty() {
                error(
                    "executable",
                    format!("no file starts with {prefix}; build the backend into the archive"),
                );
            }
            for binary in binaries.iter().filter(|b| !b.path.ends_with(".exe")) {
                let mode = binary.unix_mode.map(|m| m & 0o777);
                if !binary.made_on_unix || mode != Some(0o755) {
                    error(
                        "binary-permissions",
                        format!(
                            "{} must extract with mode 0755 (stored {}, {}); Grafana cannot start it otherwise",
                            binary.path,
                            mode.map_or("without a mode".to_owned(), |m| format!("{m:o}")),
                            if binary.made_on_unix {
                                "made on Unix"
                            } else {
                                "made on FAT/NTFS"
                            }
                        ),
                    );
                }
            }
        }
    }

    match file("README.md") {
        None => error("readme", format!("{root}/README.md is missing")),
        Some(readme) => {
            let readme = String::from_utf8_lossy(&readme.data);
            if readme.trim().is_empty() {
                error("readme", "README.md is empty".into());
            }
            for link in relative_links(&readme) {
                error(
                    "readme",
                    format!(
                        "README.md links to {link:?}, a relative path the catalog cannot resolve; use a full URL"
                    ),
                );
            }
            if readme
                .lines()
                .next()
                .is_some_and(|title| title.contains("Grafana app plugin template"))
            {
                error("readme", "README.md still has the template's title".into());
            }
        }
    }
    match file("LICENSE") {
        None => error("license", format!("{root}/LICENSE is missing")),
        Some(license) if !is_accepted_license(&String::from_utf8_lossy(&license.data)) => {
            error("license", "LICENSE is not a license the validator accepts (Apache-2.0, MIT, BSD, GPL, AGPL, LGPL, MPL)".into());
        }
        Some(_) => {}
    }
    for entry in entries {
        let name = entry
            .path
            .rsplit('/')
            .find(|part| !part.is_empty())
            .unwrap_or_default();
        if matches!(name, "standalone.txt" | "pid.txt") {
            error(
                "unwanted-files",
                format!("{} is a development leftover; remove it", entry.path),
            );
        }
        if name.ends_with(".pdb")
            || name.ends_with(".dSYM")
            || name.ends_with(".debug")
            || entry.path.contains(".dSYM/")
        {
            error(
                "debug-files",
                format!(
                    "{} is debug information; ship release binaries only",
                    entry.path
                ),
            );
        }
    }
    let mut warnings = Vec::new();
    if !exists("CHANGELOG.md") {
        warnings.push((
            "changelog",
            format!("{root}/CHANGELOG.md is missing (recommended)"),
        ));
    }
    match file("MANIFEST.txt") {
        None => warnings.push(("unsigned", "the plugin is unsigned (no MANIFEST.txt); Grafana loads it only when allowed unsigned or in development mode".into())),
        Some(manifest) => {
            if let Err(problem) = check_manifest(&String::from_utf8_lossy(&manifest.data), root, id, text("/info/version"), entries) {
                error("manifest", problem);
            }
        }
    }
    findings.extend(warnings.into_iter().map(|(rule, message)| Finding {
        severity: Severity::Warning,
        rule,
        message,
    }));
    findings
}

/// `..`, absolute paths, drive letters and backslashes all escape or confuse extraction.
fn escapes(path: &str) -> bool {
    path.starts_with('/')
        || path.contains('\\')
        || path.split('/').any(|part| part == "..")
        || path.as_bytes().get(1) == Some(&b':')
}

/// Markdown links and images whose target is neither a URL nor an anchor.
fn relative_links(markdown: &str) -> Vec<String> {
    let mut links = Vec::new();
    let mut rest = markdown;
    while let Some(start) = rest.find("](") {
        let after = &rest[start + 2..];
        let end = after.find(')').unwrap_or(after.len());
        let target = after[..end].split_whitespace().next().unwrap_or_default();
        let absolute = ["http://", "https://", "mailto:", "#"]
            .iter()
            .any(|p| target.starts_with(p));
        if !target.is_empty() && !absolute {
            links.push(target.to_owned());
        }
        rest = &after[end..];
    }
    links
}

fn is_accepted_license(text: &str) -> bool {
    [
        "Apache License",
        "MIT License",
        "Permission is hereby granted, free of charge",
        "Redistribution and use in source and binary forms",
        "GNU GENERAL PUBLIC LICENSE",
        "GNU AFFERO GENERAL PUBLIC LICENSE",
        "GNU LESSER GENERAL PUBLIC LICENSE",
        "Mozilla Public License",
    ]
    .iter()
    .any(|marker| text.contains(marker))
}

/// A signed manifest is a PGP clear-signed JSON document naming the plugin, its version and
/// the SHA-256 of every file. Checks its shape and the digests (not the signature).
fn check_manifest(
    manifest: &str,
    root: &str,
    id: &str,
    version: &str,
    entries: &[ReadEntry],
) -> Result<(), String> {
    let body = manifest
        .strip_prefix("-----BEGIN PGP SIGNED MESSAGE-----")
        .and_then(|rest| rest.split_once("\n\n").map(|(_, body)| body))
        .and_then(|body| {
            body.split_once("-----BEGIN PGP SIGNATURE-----")
                .map(|(json, _)| json)
        })
        .ok_or(
            "MANIFEST.txt is not a PGP-signed message; sign with @grafana/sign-plugin or remove it",
        )?;
    let json: Value = serde_json::from_str(body.trim())
        .map_err(|e| format!("MANIFEST.txt does not hold JSON: {e}"))?;
    if json["plugin"] != id || json["version"] != version {
        return Err(format!(
            "MANIFEST.txt is for {} {}, not {id} {version}",
            json["plugin"], json["version"]
        ));
    }
    let files = json["files"]
        .as_object()
        .ok_or("MANIFEST.txt lists no files")?;
    for entry in entries
        .iter()
        .filter(|e| !e.is_dir && !e.path.ends_with("/MANIFEST.txt"))
    {
        let relative = entry
            .path
            .strip_prefix(&format!("{root}/"))
            .unwrap_or(&entry.path);
        let digest = archive::sha256_hex(&entry.data);
        if files.get(relative).and_then(Value::as_str) != Some(digest.as_str()) {
            return Err(format!(
                "MANIFEST.txt does not match {relative}; sign again after the last change"
            ));
        }
    }
    Ok(())
}

/// The archive to validate when none is named: the newest `<id>-<version>.zip` in `dir`.
pub fn default_archive(dir: &Path, id: &str, version: &str) -> Result<std::path::PathBuf> {
    let path = dir.join(format!("{id}-{version}.zip"));
    if !path.is_file() {
        bail!(
            "{}: no archive; run `cargo xtask package` first or name one",
            path.display()
        );
    }
    Ok(path)
}

#[cfg(test)]
mod tests;
