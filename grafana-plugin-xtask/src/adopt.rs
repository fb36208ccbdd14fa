//! `cargo xtask adopt APP`: gives an app made with create-plugin this repository's Rust
//! backend and `cargo xtask`, without touching its frontend: a workspace `Cargo.toml` (the
//! app's version), this `Cargo.lock` (unless the app has one), the `xtask` alias in
//! `.cargo/config.toml` (merged into an existing one), a thin `xtask/` that depends on this
//! library by path, and the backend crate `plugin/`, which depends on the plugin runtime
//! (`grafana-plugin-runtime`) by path. Its identity comes from the app's
//! `src/plugin.json`, never from this repository. Every file is computed first; a file of
//! the app's that would change is never overwritten unless `--force`, which keeps it beside.
use std::{fs, path::Path};

use anyhow::{Context as _, Result, bail};

use crate::{
    context::Context,
    flags::AdoptFlags,
    layout::{self, Layout},
    project, templates, util,
};

/// The thin binary an adopting app gets, as a Magefile imports the Go SDK's build package.
const XTASK_MAIN: &str = "//! `cargo xtask` for this plugin: the commands of grafana-plugin-xtask.
fn main() -> std::process::ExitCode {
    grafana_plugin_xtask::main()
}
";

/// The crates of this repository an adopted app depends on by path: the build library
/// (xtask's) and the plugin runtime (plugin/'s).
const LIBRARIES: [&str; 2] = ["grafana-plugin-xtask", "grafana-plugin-runtime"];

/// What `--force` adds to the name of an app's file before writing over it.
const KEPT_SUFFIX: &str = "before-adopt";

pub fn run(context: &Context, flags: &AdoptFlags) -> Result<()> {
    let here = context.root()?.to_owned();
    let app = crate::util::canonical(&flags.app)
        .with_context(|| format!("{}: no such directory", flags.app.display()))?;
    let files = plan(&here, &app)?;
    let backend = if files
        .iter()
        .any(|f| f.relative == "plugin/src/datasource.rs")
    {
        "a data-source backend: QueryData, CheckHealth, resources"
    } else {
        "an app backend"
    };
    let mut writes = Vec::new();
    let (mut unchanged, mut merged, mut conflicts) = (Vec::new(), Vec::new(), Vec::new());
    for file in files {
        match decide(&app, file)? {
            Decision::Unchanged(relative) => unchanged.push(relative),
            Decision::Write(file, Existing::None) => writes.push(file),
            Decision::Write(file, Existing::Merged) => {
                merged.push(file.relative.clone());
                writes.push(file);
            }
            Decision::Write(file, Existing::Differs) => {
                conflicts.push(file.relative.clone());
                writes.push(file);
            }
        }
    }
    if !conflicts.is_empty() && !flags.force {
        bail!(
            "{}: adopt would overwrite {} file(s) of the app that differ from what it writes: \
             {}; nothing was written. Move them away, or run again with --force (each is kept \
             as <file>.{KEPT_SUFFIX})",
            app.display(),
            conflicts.len(),
            conflicts.join(", ")
        );
    }
    for file in &writes {
        let path = app.join(&file.relative);
        if conflicts.contains(&file.relative) {
            let kept = kept_path(&path);
            fs::copy(&path, &kept)
                .with_context(|| format!("cannot keep {} as {}", path.display(), kept.display()))?;
            context.status("Kept", format!("{} as {}", file.relative, kept.display()));
        }
        util::write_atomic(&path, &file.contents)?;
    }
    if writes.is_empty() {
        context.status(
            "Fresh",
            format!(
                "{}: every file is already as adopt writes it; nothing was written",
                app.display()
            ),
        );
    } else {
        let mut note = String::new();
        if !merged.is_empty() {
            note.push_str(&format!("; merged into {}", merged.join(", ")));
        }
        if !unchanged.is_empty() {
            note.push_str(&format!(
                "; {} already as adopt writes them",
                unchanged.len()
            ));
        }
        context.status(
            "Adopted",
            format!(
                "{}: {} files written (Cargo.toml, .cargo/, xtask/, plugin/ with {backend}){note}; \
                 run `cargo xtask build` there",
                app.display(),
                writes.len()
            ),
        );
    }
    say_what_remains(context, &here, &app);
    Ok(())
}

/// Where the libraries are named from, the Go backend the app still has, and the workflows
/// that build a backend only through mage.
fn say_what_remains(context: &Context, here: &Path, app: &Path) {
    context.status(
        "Depends",
        format!(
            "on grafana-plugin-xtask and grafana-plugin-runtime by the relative paths {} and {} \
             (xtask's and plugin/'s dependencies, in the app's Cargo.toml): they work where this \
             checkout sits at the same place beside the app, for teammates and CI too; to share \
             them otherwise use a git tag (README)",
            library_path(app, &here.join(LIBRARIES[0])).display(),
            library_path(app, &here.join(LIBRARIES[1])).display()
        ),
    );
    let go: Vec<&str> = ["Magefile.go", "go.mod", "go.sum", "pkg"]
        .into_iter()
        .filter(|name| app.join(name).exists())
        .collect();
    if !go.is_empty() {
        context.status(
            "Note",
            format!(
                "the Go backend is still there: delete {} once the Rust one replaces it \
                 (create-plugin's CI runs mage only while Magefile.go exists)",
                go.join(", ")
            ),
        );
    }
    for (workflow, advice) in crate::mage_workflows::mage_only_workflows(app) {
        context.status("Note", format!("{workflow} {advice}"));
    }
}

/// A file adopt writes into the app, `relative` to it with `/` separators.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AppFile {
    pub relative: String,
    pub contents: Vec<u8>,
    pub existing: WhenPresent,
}

/// What to do when the app already has the file.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WhenPresent {
    /// Leave the app's own (its Cargo.lock: cargo updates it as needed).
    Keep,
    /// Add the `xtask` alias to the app's .cargo/config.toml, keeping everything else.
    MergeAlias,
    /// Add `/target` (cargo's build output, about a gigabyte) to the app's .gitignore.
    MergeIgnore,
    /// Ours is needed as it is: a difference is a conflict.
    Replace,
}

enum Existing {
    None,
    Merged,
    Differs,
}

enum Decision {
    Unchanged(String),
    Write(AppFile, Existing),
}

/// Compares a planned file with what the app has (read, never followed through a link).
fn decide(app: &Path, file: AppFile) -> Result<Decision> {
    let path = app.join(&file.relative);
    util::refuse_link(&path)?;
    let current = match fs::read(&path) {
        Ok(current) => current,
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => {
            return Ok(Decision::Write(file, Existing::None));
        }
        Err(error) => return Err(error).with_context(|| format!("cannot read {}", path.display())),
    };
    match file.existing {
        WhenPresent::Keep => Ok(Decision::Unchanged(file.relative)),
        WhenPresent::Replace if current == file.contents => Ok(Decision::Unchanged(file.relative)),
        WhenPresent::Replace => Ok(Decision::Write(file, Existing::Differs)),
        WhenPresent::MergeIgnore | WhenPresent::MergeAlias => {
            let merged = if file.existing == WhenPresent::MergeIgnore {
                ignore_target(&String::from_utf8_lossy(&current))
            } else {
                let text = String::from_utf8(current)
                    .with_context(|| format!("{}: not UTF-8 text", path.display()))?;
                let ours = String::from_utf8_lossy(&file.contents).into_owned();
                merge_alias(&text, &ours)
                    .with_context(|| format!("{}: cannot add the xtask alias", path.display()))?
            };
            match merged {
                None => Ok(Decision::Unchanged(file.relative)),
                Some(merged) => Ok(Decision::Write(
                    AppFile {
                        contents: merged.into_bytes(),
                        ..file
                    },
                    Existing::Merged,
                )),
            }
        }
    }
}

/// The app's .gitignore with `/target` added; `None` when it already ignores target/.
pub fn ignore_target(theirs: &str) -> Option<String> {
    let ignored = theirs
        .lines()
        .map(str::trim)
        .any(|line| matches!(line, "target" | "target/" | "/target" | "/target/"));
    if ignored {
        return None;
    }
    let mut merged = theirs.to_owned();
    if !merged.is_empty() && !merged.ends_with('\n') {
        merged.push('\n');
    }
    merged.push_str("\n# Rust build output (cargo xtask adopt)\n/target\n");
    Some(merged)
}

/// The app's cargo configuration with our `[alias] xtask` added, every other table and
/// comment kept; `None` when it already has that alias. Another `xtask` alias is an error.
pub fn merge_alias(theirs: &str, ours: &str) -> Result<Option<String>> {
    let ours: toml_edit::DocumentMut = ours.parse().context("our .cargo/config.toml")?;
    let alias = ours["alias"]["xtask"]
        .as_str()
        .context("our .cargo/config.toml has no alias.xtask")?;
    let mut document: toml_edit::DocumentMut =
        theirs.parse().context("not valid TOML; fix it first")?;
    let table = document
        .entry("alias")
        .or_insert_with(|| toml_edit::Item::Table(toml_edit::Table::new()))
        .as_table_like_mut()
        .context("`alias` is not a table; make it one")?;
    match table.get("xtask") {
        Some(existing) if existing.as_str() == Some(alias) => return Ok(None),
        Some(existing) => bail!(
            "alias.xtask is already {}; remove it or set it to {alias:?}",
            existing.to_string().trim()
        ),
        None => {
            table.insert("xtask", toml_edit::value(alias));
        }
    }
    Ok(Some(document.to_string()))
}

/// Where `--force` keeps the app's `path`: `<file>.before-adopt`, or `.before-adopt.2`, …
/// when an earlier forced adopt kept one already (never written over).
fn kept_path(path: &Path) -> std::path::PathBuf {
    let name = path.file_name().unwrap_or_default().to_string_lossy();
    (1..)
        .map(|n| match n {
            1 => path.with_file_name(format!("{name}.{KEPT_SUFFIX}")),
            n => path.with_file_name(format!("{name}.{KEPT_SUFFIX}.{n}")),
        })
        .find(|candidate| fs::symlink_metadata(candidate).is_err())
        .expect("some number is free")
}

/// Every file to write into `app`, with its contents.
/// The app's plugin.json and package.json version, checked as every build will check them;
/// an error saying what makes a create-plugin app when it is not one.
fn read_app(app: &Path) -> Result<(project::PluginJson, String)> {
    let package_path = app.join("package.json");
    let not_an_app = |why: &str| {
        anyhow::anyhow!(
            "{}: not a create-plugin app ({why}); adopt needs one made by `npx \
             @grafana/create-plugin`: a package.json with a `build` script and src/plugin.json",
            app.display()
        )
    };
    if !package_path.is_file() {
        return Err(not_an_app("no package.json"));
    }
    let package: serde_json::Value = serde_json::from_str(&project::read_text(&package_path)?)
        .with_context(|| format!("{}: not valid JSON", package_path.display()))?;
    if !package["scripts"]["build"].is_string() {
        return Err(not_an_app("package.json has no `build` script"));
    }
    if !app.join("src/plugin.json").is_file() {
        return Err(not_an_app("no src/plugin.json"));
    }
    let found = layout::detect(app, None, |p| app.join(p).is_file(), Some(&package))?;
    if !matches!(found, Layout::CreatePlugin(_)) {
        return Err(not_an_app("its files say this template's layout"));
    }
    // The app's identity, checked as every build will check it.
    let manifest = app.join(found.plugin_json());
    let plugin = project::parse_plugin_json(&manifest, &project::read_text(&manifest)?)
        .with_context(|| {
            "adopting needs a backend: set \"backend\": true and \"executable\": \"gpx_<name>\" in src/plugin.json"
        })?;
    let version = package["version"].as_str().unwrap_or_default();
    project::check_version(&package_path, "version", version)?;
    Ok((plugin, version.to_owned()))
}

fn plan(here: &Path, app: &Path) -> Result<Vec<AppFile>> {
    let (plugin, version) = read_app(app)?;
    let version = version.as_str();
    let libraries: Vec<(&str, std::path::PathBuf)> = LIBRARIES
        .iter()
        .map(|name| (*name, library_path(app, &here.join(name))))
        .collect();
    let file = |relative: &str, contents: Vec<u8>, existing| AppFile {
        relative: relative.to_owned(),
        contents,
        existing,
    };
    let mut files = vec![
        file(
            "Cargo.toml",
            workspace_manifest(
                &project::read_text(&here.join("Cargo.toml"))?,
                version,
                &libraries,
            )?
            .into_bytes(),
            WhenPresent::Replace,
        ),
        file(
            "Cargo.lock",
            read(&here.join("Cargo.lock"))?,
            WhenPresent::Keep,
        ),
        file(
            ".cargo/config.toml",
            read(&here.join(".cargo/config.toml"))?,
            WhenPresent::MergeAlias,
        ),
        file(
            ".gitignore",
            b"# Rust build output (cargo xtask adopt)\n/target\n".to_vec(),
            WhenPresent::MergeIgnore,
        ),
        file(
            "xtask/Cargo.toml",
            xtask_manifest(&project::read_text(&here.join("xtask/Cargo.toml"))?).into_bytes(),
            WhenPresent::Replace,
        ),
        file(
            "xtask/src/main.rs",
            XTASK_MAIN.as_bytes().to_vec(),
            WhenPresent::Replace,
        ),
        file(
            "plugin/Cargo.toml",
            without_section(
                &project::read_text(&here.join("plugin/Cargo.toml"))?,
                "[dev-dependencies]",
            )
            .into_bytes(),
            WhenPresent::Replace,
        ),
        file(
            "plugin/build.rs",
            read(&here.join("plugin/build.rs"))?,
            WhenPresent::Replace,
        ),
    ];
    // The backend for the app's type: a data source gets the data-source backend, answering
    // as create-plugin's Go backend does (its frontend and e2e tests expect that).
    let sources = templates::backend_sources(plugin.plugin_type, &here.join("plugin/src"))?;
    for (name, contents) in templates::as_go_scaffold(sources) {
        files.push(file(
            &format!("plugin/src/{name}"),
            contents,
            WhenPresent::Replace,
        ));
    }
    Ok(files)
}

/// The library as the app's Cargo.toml names it: relative to the app (`../service-checks/
/// grafana-plugin-xtask`, with `/`), which works for every checkout laid out the same way,
/// teammates' and CI's; absolute only when the two share no ancestor (Windows drives).
pub fn library_path(app: &Path, library: &Path) -> std::path::PathBuf {
    let from: Vec<_> = app.components().collect();
    let to: Vec<_> = library.components().collect();
    let common = from.iter().zip(&to).take_while(|(a, b)| a == b).count();
    if common == 0 {
        return library.to_owned();
    }
    let mut parts: Vec<String> = vec!["..".to_owned(); from.len() - common];
    parts.extend(
        to[common..]
            .iter()
            .map(|part| part.as_os_str().to_string_lossy().into_owned()),
    );
    std::path::PathBuf::from(parts.join("/"))
}

fn read(path: &Path) -> Result<Vec<u8>> {
    fs::read(path).with_context(|| format!("cannot read {}", path.display()))
}

/// This workspace's Cargo.toml for the app: members `plugin` and `xtask`, the app's version,
/// each of `libraries` (name, path) by path, no test harness. Edited as TOML, so any path is
/// escaped correctly.
pub fn workspace_manifest(
    ours: &str,
    version: &str,
    libraries: &[(&str, std::path::PathBuf)],
) -> Result<String> {
    let mut document: toml_edit::DocumentMut =
        ours.parse().context("this repository's Cargo.toml")?;
    let workspace = document["workspace"]
        .as_table_mut()
        .context("this repository's Cargo.toml has no [workspace]")?;
    let mut members = toml_edit::Array::new();
    members.extend(["plugin", "xtask"]);
    workspace.insert("members", toml_edit::value(members));
    workspace.remove("default-members");
    document["workspace"]["package"]["version"] = toml_edit::value(version);
    if let Some(dependencies) = document["workspace"]["dependencies"].as_table_like_mut() {
        dependencies.remove("harness");
        for (name, library) in libraries {
            let library = library.to_str().with_context(|| {
                format!(
                    "{}: not UTF-8; Cargo.toml cannot name it",
                    library.display()
                )
            })?;
            let mut path = toml_edit::InlineTable::new();
            path.insert("path", library.into());
            dependencies.insert(
                name,
                toml_edit::Item::Value(toml_edit::Value::InlineTable(path)),
            );
        }
    }
    Ok(document.to_string())
}

/// The thin xtask's manifest without its test-only dependencies.
fn xtask_manifest(ours: &str) -> String {
    without_section(ours, "[dev-dependencies]")
}

/// `text` without the TOML section that starts with the line `header`.
fn without_section(text: &str, header: &str) -> String {
    let mut out = String::new();
    let mut skipping = false;
    for line in text.lines() {
        if line.starts_with('[') {
            skipping = line.trim() == header;
        }
        if !skipping {
            out.push_str(line);
            out.push('\n');
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_workspace_manifest_has_the_apps_version_and_the_library_by_path() {
        let ours = "[workspace]\nmembers = [\"plugin\", \"grafana-plugin-runtime\", \"grafana-plugin-xtask\", \"xtask\", \"harness\"]\ndefault-members = [\"plugin\"]\n\n[workspace.package]\n# The one version.\nversion = \"0.1.0\"\n\n[workspace.dependencies]\nharness = { path = \"harness\" }\ngrafana-plugin-xtask = { path = \"grafana-plugin-xtask\" }\ngrafana-plugin-runtime = { path = \"grafana-plugin-runtime\" }\n";
        let libraries = [
            (
                "grafana-plugin-xtask",
                "/src/repo/grafana-plugin-xtask".into(),
            ),
            (
                "grafana-plugin-runtime",
                "/src/repo/grafana-plugin-runtime".into(),
            ),
        ];
        let manifest = workspace_manifest(ours, "1.0.0", &libraries).unwrap();
        assert_eq!(
            manifest,
            "[workspace]\nmembers = [\"plugin\", \"xtask\"]\n\n[workspace.package]\n# The one version.\nversion = \"1.0.0\"\n\n[workspace.dependencies]\ngrafana-plugin-xtask = { path = \"/src/repo/grafana-plugin-xtask\" }\ngrafana-plugin-runtime = { path = \"/src/repo/grafana-plugin-runtime\" }\n"
        );
        // A path TOML must escape (a combining accent, a quote, a backslash) stays that path.
        let odd = "/src/Rene\u{301}'s \"repo\"\\x/grafana-plugin-xtask";
        let manifest =
            workspace_manifest(ours, "1.0.0", &[("grafana-plugin-xtask", odd.into())]).unwrap();
        let parsed: toml_edit::DocumentMut = manifest.parse().unwrap();
        assert_eq!(
            parsed["workspace"]["dependencies"]["grafana-plugin-xtask"]["path"].as_str(),
            Some(odd)
        );
    }

    #[test]
    fn the_library_is_named_relative_to_the_app() {
        assert_eq!(
            library_path(
                Path::new("/home/ann/apps/my-app"),
                Path::new("/home/ann/src/service-checks/grafana-plugin-xtask")
            ),
            Path::new("../../src/service-checks/grafana-plugin-xtask")
        );
        assert_eq!(
            library_path(
                Path::new("/w/my-app"),
                Path::new("/w/service-checks/grafana-plugin-xtask")
            ),
            Path::new("../service-checks/grafana-plugin-xtask")
        );
        // No common ancestor (another drive): the absolute path is all there is.
        assert_eq!(
            library_path(Path::new("a/app"), Path::new("/w/lib")),
            Path::new("/w/lib")
        );
    }

    #[test]
    fn target_joins_the_apps_gitignore_once() {
        let theirs = "node_modules/\ndist/";
        let merged = ignore_target(theirs).unwrap();
        assert_eq!(
            merged,
            "node_modules/\ndist/\n\n# Rust build output (cargo xtask adopt)\n/target\n"
        );
        assert_eq!(ignore_target(&merged), None);
        for already in ["target\n", "/target/\n", "x\n  target/  \n"] {
            assert_eq!(ignore_target(already), None, "{already:?}");
        }
        assert!(ignore_target("target-other\n").is_some());
    }

    #[test]
    fn a_section_is_left_out_whole() {
        let text = "[package]\nname = \"x\"\n\n[dev-dependencies]\nharness.workspace = true\n\n[target.'cfg(unix)'.dependencies]\nlibc = \"0.2\"\n";
        assert_eq!(
            without_section(text, "[dev-dependencies]"),
            "[package]\nname = \"x\"\n\n[target.'cfg(unix)'.dependencies]\nlibc = \"0.2\"\n"
        );
    }

    const OURS: &str = "[alias]\nxtask = \"run --quiet --package xtask --\"\n";

    #[test]
    fn the_alias_joins_an_existing_cargo_config_keeping_the_rest() {
        let theirs = "# Our registry.\n[registries.acme]\nindex = \"sparse+https://cargo.acme.example/\"\n\n[build]\ntarget-dir = \"/ssd/target\"\n";
        let merged = merge_alias(theirs, OURS).unwrap().unwrap();
        assert!(merged.starts_with(theirs), "{merged}");
        assert!(
            merged.ends_with("[alias]\nxtask = \"run --quiet --package xtask --\"\n"),
            "{merged}"
        );
        // Their other aliases stay; ours joins them.
        let with_aliases = "[alias]\nb = \"build\"\n";
        assert_eq!(
            merge_alias(with_aliases, OURS).unwrap().unwrap(),
            "[alias]\nb = \"build\"\nxtask = \"run --quiet --package xtask --\"\n"
        );
        assert_eq!(merge_alias(OURS, OURS).unwrap(), None);
        let error = merge_alias("[alias]\nxtask = \"run -p tools\"\n", OURS).unwrap_err();
        assert!(
            error
                .to_string()
                .contains("alias.xtask is already \"run -p tools\"; remove it"),
            "{error}"
        );
        assert!(merge_alias("not = [toml", OURS).is_err());
    }

    #[test]
    fn a_kept_file_is_never_written_over_by_a_later_force() {
        let dir = tempfile::tempdir().unwrap();
        let main = dir.path().join("main.rs");
        fs::write(&main, "mine").unwrap();
        assert_eq!(kept_path(&main), dir.path().join("main.rs.before-adopt"));
        fs::write(dir.path().join("main.rs.before-adopt"), "first").unwrap();
        assert_eq!(kept_path(&main), dir.path().join("main.rs.before-adopt.2"));
    }
}
