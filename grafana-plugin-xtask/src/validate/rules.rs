//! The validator's rules, one function per family: the archive's layout, plugin.json, the
//! backend binaries, the documents, development leftovers (the signature: manifest.rs).
//! Pure: they read the entries and add findings.
use std::{collections::BTreeSet, path::Path};

use serde_json::Value;

use super::{Findings, schema};
use crate::{
    archive::ReadEntry,
    binary::{self, Format},
    project, targets,
};

/// An archive whose layout passed: one root directory, nothing escaping it.
pub struct Archive<'a> {
    pub root: &'a str,
    pub entries: &'a [ReadEntry],
}

impl Archive<'_> {
    pub(super) fn file(&self, name: &str) -> Option<&ReadEntry> {
        let path = format!("{}/{name}", self.root);
        self.entries.iter().find(|e| e.path == path && !e.is_dir)
    }

    fn exists(&self, name: &str) -> bool {
        self.file(name).is_some()
    }
}

/// plugin.json, parsed.
pub struct Manifest {
    json: Value,
}

impl Manifest {
    /// The whole document.
    pub fn json(&self) -> &Value {
        &self.json
    }

    pub(super) fn text(&self, pointer: &str) -> &str {
        self.json
            .pointer(pointer)
            .and_then(Value::as_str)
            .unwrap_or_default()
    }
}

/// Paths first: no entry may escape the root, none is too large to read, links stay inside
/// the plugin (Grafana's installer refuses the others: `extractSymlink`,
/// pkg/plugins/storage/fs.go), and there is exactly one root directory.
pub fn layout<'a>(entries: &'a [ReadEntry], findings: &mut Findings) -> Option<Archive<'a>> {
    let oversized: Vec<&ReadEntry> = entries.iter().filter(|e| e.oversized.is_some()).collect();
    for entry in &oversized {
        findings.error(
            "entry-size",
            format!(
                "entry {:?} holds at least {} MiB uncompressed: not read (validate reads at most \
                 {} MiB an entry and {} MiB an archive; no plugin file is that large)",
                entry.path,
                entry.oversized.unwrap_or_default() >> 20,
                crate::archive::ENTRY_CAP >> 20,
                crate::archive::ARCHIVE_CAP >> 20
            ),
        );
    }
    for entry in entries.iter().filter(|e| e.is_symlink()) {
        let target = String::from_utf8_lossy(&entry.data);
        let inside = link_stays_inside(&entry.path, &target);
        let message = format!(
            "entry {:?} is a symbolic link to {target:?}{}; archive the file itself",
            entry.path,
            if inside {
                ""
            } else {
                ": Grafana refuses a link pointing outside the plugin directory when it \
                 installs the archive"
            }
        );
        if inside {
            findings.warning("symlink", message);
        } else {
            findings.error("symlink", message);
        }
    }
    if !oversized.is_empty() {
        return None;
    }
    for entry in entries.iter().filter(|entry| escapes(&entry.path)) {
        findings.error(
            "zip-slip",
            format!(
                "entry {:?} escapes the archive's root; remove it",
                entry.path
            ),
        );
    }
    let roots: BTreeSet<&str> = entries
        .iter()
        .map(|e| e.path.split('/').next().unwrap_or_default())
        .collect();
    let loose = entries.iter().any(|e| !e.path.contains('/'));
    if roots.contains("__MACOSX") {
        findings.error(
            "archive-root",
            "the archive contains __MACOSX/ (a macOS Finder artefact); remove it",
        );
    }
    if roots.len() != 1 || loose {
        findings.error(
            "archive-root",
            format!(
                "the archive must hold exactly one directory named after the plugin id, found {roots:?}"
            ),
        );
        return None;
    }
    let root = *roots.iter().next()?;
    if entries
        .iter()
        .any(|e| e.path.starts_with(&format!("{root}/dist/")))
    {
        findings.error(
            "no-dist-dir",
            format!(
                "{root}/dist/ is inside the archive; package the contents of dist/, not dist/ itself"
            ),
        );
    }
    Some(Archive { root, entries })
}

/// plugin.json against Grafana's schema and the validator's own rules on its fields, and
/// the files it names (logos, module.js).
pub fn plugin_json(archive: &Archive, findings: &mut Findings) -> Option<Manifest> {
    let root = archive.root;
    let Some(file) = archive.file("plugin.json") else {
        findings.error("plugin-json", format!("{root}/plugin.json is missing"));
        return None;
    };
    let json: Value = match serde_json::from_slice(&file.data) {
        Ok(json) => json,
        Err(parse) => {
            findings.error(
                "plugin-json",
                format!("{root}/plugin.json is not valid JSON: {parse}"),
            );
            return None;
        }
    };
    let schema: Value =
        serde_json::from_str(schema::PLUGIN_SCHEMA).expect("the embedded schema is JSON");
    for violation in schema::violations(&json, &schema) {
        findings.error("plugin-json-schema", violation);
    }
    let manifest = Manifest { json };
    identity(archive, &manifest, findings);
    info(&manifest, findings);
    for size in ["small", "large"] {
        let logo = manifest.text(&format!("/info/logos/{size}"));
        if logo.is_empty() {
            findings.error("logos", format!("info.logos.{size} is missing"));
        } else if escapes(logo) || !archive.exists(logo.trim_start_matches("./")) {
            findings.error(
                "logos",
                format!("info.logos.{size} names {logo:?}, which is not in the archive"),
            );
        }
    }
    if !archive.exists("module.js") {
        findings.error(
            "module-js",
            format!("{root}/module.js is missing; Grafana loads the plugin's frontend from it"),
        );
    }
    Some(manifest)
}

/// The id (Grafana's pattern, ending in the type, equal to the root directory) and the name.
fn identity(archive: &Archive, manifest: &Manifest, findings: &mut Findings) {
    let (id, plugin_type) = (manifest.text("/id"), manifest.text("/type"));
    if !project::is_valid_plugin_id(id) || !id.ends_with(&format!("-{plugin_type}")) {
        findings.error(
            "plugin-id",
            format!(
                "id {id:?} must be <org>-<name>-<type> in lower case, ending in -{plugin_type}"
            ),
        );
    } else if id != archive.root {
        // Only for a valid id: an invalid one is reported once, above.
        findings.error(
            "archive-root-name",
            format!(
                "the root directory is {:?} but the plugin id is {id:?}; they must be equal",
                archive.root
            ),
        );
    }
    let name = manifest.text("/name");
    if name.is_empty() || name == id {
        findings.error(
            "plugin-name",
            format!("name {name:?} must be set and differ from the id"),
        );
    }
}

/// `info` (version, date, keywords) and the Grafana dependency.
fn info(manifest: &Manifest, findings: &mut Findings) {
    let version = manifest.text("/info/version");
    if project::check_version(Path::new("plugin.json"), "info.version", version).is_err() {
        findings.error("version", format!("info.version {version:?} must be X.Y.Z"));
    }
    if manifest.text("/info/updated").is_empty() {
        findings.error(
            "updated",
            "info.updated must be the build date (YYYY-MM-DD)",
        );
    }
    if manifest
        .json
        .pointer("/info/keywords")
        .and_then(Value::as_array)
        .is_none_or(Vec::is_empty)
    {
        findings.error("keywords", "info.keywords needs at least one keyword");
    }
    if manifest.text("/dependencies/grafanaDependency").is_empty() {
        findings.error(
            "grafana-dependency",
            "dependencies.grafanaDependency must say which Grafana versions work, e.g. \">=10.4.0\"",
        );
    }
}

/// `backend: true` needs the executable's files, each extracting as 0755.
pub fn backend(archive: &Archive, manifest: &Manifest, findings: &mut Findings) {
    if manifest.json.get("backend") != Some(&Value::Bool(true)) {
        return;
    }
    let executable = manifest.text("/executable");
    if executable.is_empty() {
        findings.error("executable", "backend is true but executable is not set");
        return;
    }
    let prefix = format!("{}/{executable}", archive.root);
    let binaries: Vec<&ReadEntry> = archive
        .entries
        .iter()
        .filter(|e| !e.is_dir && e.path.starts_with(&prefix))
        .collect();
    if binaries.is_empty() {
        findings.error(
            "executable",
            format!("no file starts with {prefix}; build the backend into the archive"),
        );
    }
    for binary in &binaries {
        let name = binary.path.rsplit('/').next().unwrap_or_default();
        for problem in binary_problems(executable, name, &binary.data) {
            findings.error("backend-binary", format!("{}/{problem}", archive.root));
        }
    }
    for binary in binaries.iter().filter(|b| !b.path.ends_with(".exe")) {
        let mode = binary.unix_mode.map(|m| m & 0o777);
        if !binary.made_on_unix || mode != Some(0o755) {
            findings.error(
                "binary-permissions",
                format!(
                    "{} must extract with mode exactly 0755 (stored {}, {}): Grafana's plugin validator refuses any other mode, writable by group or others included, and without the execute bits Grafana cannot start it",
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

/// What keeps Grafana from starting the file `name` on the platform its name says, each with
/// the fix: not an executable, the wrong format or CPU, a Linux binary that needs a dynamic
/// loader (glibc: Grafana's Alpine image has none), debug information (a debug build).
pub fn binary_problems(executable: &str, name: &str, data: &[u8]) -> Vec<String> {
    let Some((os, arch)) = targets::platform_of_file(executable, name) else {
        return Vec::new();
    };
    let fix = format!("build it with `cargo xtask build --target {os}/{arch}`");
    let inspected = match binary::inspect(data) {
        Ok(inspected) => inspected,
        Err(why) => return vec![format!("{name} is {why}; {fix}")],
    };
    let mut problems = Vec::new();
    if let Some((format, cpu)) = targets::expected_binary(&os, &arch) {
        if inspected.format != format {
            problems.push(format!(
                "{name} is {}, but Grafana on {os}/{arch} starts {}; {fix}",
                inspected.format.name(),
                format.name()
            ));
        } else if !inspected.cpus.contains(&cpu) {
            let found: Vec<&str> = inspected.cpus.iter().map(|c| c.name()).collect();
            problems.push(format!(
                "{name} is for {}, but {os}/{arch} is {}; {fix}",
                found.join(" and "),
                cpu.name()
            ));
        }
    }
    if inspected.format == Format::Elf
        && let Some(loader) = &inspected.interpreter
    {
        problems.push(format!(
            "{name} needs the dynamic loader {loader} (a glibc build), which Grafana's Alpine \
             image does not have; {fix} (static musl)"
        ));
    }
    if os == "darwin" && inspected.format == Format::MachO && inspected.cpus.len() == 1 {
        let minimum = crate::macho::Version::parse(targets::MACOSX_DEPLOYMENT_TARGET)
            .expect("the deployment target is a version");
        problems.extend(crate::macho::problems(name, data, arch == "arm64", minimum));
    }
    if inspected.debug_info {
        problems.push(format!(
            "{name} carries debug information (a debug build, e.g. from `cargo xtask dev`); \
             ship a release build: {fix}"
        ));
    }
    problems
}

/// README.md (present, not empty, no relative links, not the template's), LICENSE (one the
/// validator accepts), CHANGELOG.md (recommended).
pub fn docs(archive: &Archive, findings: &mut Findings) {
    let root = archive.root;
    match archive.file("README.md") {
        None => findings.error("readme", format!("{root}/README.md is missing")),
        Some(readme) => {
            let readme = String::from_utf8_lossy(&readme.data);
            if readme.trim().is_empty() {
                findings.error("readme", "README.md is empty");
            }
            for link in relative_links(&readme) {
                findings.error(
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
                findings.error("readme", "README.md still has the template's title");
            }
        }
    }
    match archive.file("LICENSE") {
        None => findings.error("license", format!("{root}/LICENSE is missing")),
        Some(license) if !is_accepted_license(&String::from_utf8_lossy(&license.data)) => {
            findings.error(
                "license",
                "LICENSE is not a license the validator accepts (Apache-2.0, MIT, BSD, GPL, AGPL, LGPL, MPL)",
            );
        }
        Some(_) => {}
    }
    if !archive.exists("CHANGELOG.md") {
        findings.warning(
            "changelog",
            format!("{root}/CHANGELOG.md is missing (recommended)"),
        );
    }
}

/// Files that belong to a developer's machine, not a release.
pub fn leftovers(archive: &Archive, findings: &mut Findings) {
    for entry in archive.entries {
        let name = entry
            .path
            .rsplit('/')
            .find(|part| !part.is_empty())
            .unwrap_or_default();
        if matches!(name, "standalone.txt" | "pid.txt") {
            findings.error(
                "unwanted-files",
                format!("{} is a development leftover; remove it", entry.path),
            );
        }
        if name.ends_with(".pdb")
            || name.ends_with(".dSYM")
            || name.ends_with(".debug")
            || entry.path.contains(".dSYM/")
        {
            findings.error(
                "debug-files",
                format!(
                    "{} is debug information; ship release binaries only",
                    entry.path
                ),
            );
        }
    }
}

/// Whether a link at `path` (inside `<root>/`) pointing at `target` resolves inside `<root>/`.
fn link_stays_inside(path: &str, target: &str) -> bool {
    if target.starts_with('/') || target.contains('\\') || target.as_bytes().get(1) == Some(&b':') {
        return false;
    }
    // The link's directory below the root, then the target's parts.
    let mut depth: Vec<&str> = path.split('/').skip(1).collect();
    depth.pop();
    for part in target.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                if depth.pop().is_none() {
                    return false;
                }
            }
            name => depth.push(name),
        }
    }
    true
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
