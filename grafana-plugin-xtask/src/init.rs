//! `cargo xtask init --id ID --name NAME`: makes this template a new plugin, renaming its id,
//! name and executable everywhere they are written (plugin.json, docker-compose.yaml,
//! provisioning/, the READMEs, the tests' expectations), so the build, the development
//! Grafana and the test suite agree on the new identity. Every new text is computed before
//! any file is written; each file is replaced by a rename.
use std::{fs, path::Path};

use anyhow::{Context as _, Result, bail};

use crate::{
    context::Context,
    convert,
    flags::InitFlags,
    project::{self, PluginType},
};

pub use crate::convert::Identity;

/// Directories never rewritten: build output, dependencies, history, and the libraries (the
/// build tool and the plugin runtime, versioned apart from any plugin: their own tests'
/// example ids are theirs).
const SKIPPED_DIRS: [&str; 6] = [
    ".git",
    "target",
    "dist",
    "node_modules",
    "grafana-plugin-xtask",
    "grafana-plugin-runtime",
];

pub fn run(context: &Context, flags: &InitFlags) -> Result<()> {
    let project = context.project()?;
    let root = &project.cargo.workspace_root;
    let manifest = project::read_text(&root.join(project.layout.plugin_json()))?;
    let json: serde_json::Value = serde_json::from_str(&manifest)?;
    let old = Identity {
        id: project.plugin.id.clone(),
        name: json["name"].as_str().unwrap_or_default().to_owned(),
        executable: project.plugin.executable.clone(),
    };
    let current = project.plugin.plugin_type;
    let kind = wanted_type(flags, current);
    let new = new_identity(flags, kind.as_str())?;
    let conversion = match (current, kind) {
        _ if kind == current => None,
        (PluginType::App, PluginType::Datasource) => {
            Some(convert::app_to_datasource(root, project.layout, &new)?)
        }
        _ => bail!(
            "--type {}: this is a {} plugin; init turns this template's app into an app or a \
             data source, nothing else",
            kind.as_str(),
            current.as_str()
        ),
    };
    let mut changed = Vec::new();
    for entry in walkdir::WalkDir::new(root)
        .into_iter()
        .filter_entry(|e| !SKIPPED_DIRS.contains(&e.file_name().to_str().unwrap_or_default()))
    {
        let entry = entry.with_context(|| format!("cannot list {}", root.display()))?;
        if !entry.file_type().is_file()
            || conversion.as_ref().is_some_and(|c| c.touches(entry.path()))
        {
            continue;
        }
        // Text only: images and other binary files keep their bytes.
        let Ok(text) = fs::read_to_string(entry.path()) else {
            continue;
        };
        let file_name = entry.file_name().to_string_lossy();
        if let Some(rewritten) = rewrite(&text, &replacements(&old, &new, &file_name)) {
            check_still_parses(entry.path(), &text, &rewritten)?;
            changed.push((entry.path().to_owned(), rewritten));
        }
    }
    for (path, text) in &changed {
        replace_file(path, text)?;
    }
    if let Some(conversion) = &conversion {
        convert::apply(conversion)?;
        context.status(
            "Converted",
            format!(
                "the app into a data source: {} files written ({}), {} of the app's removed \
                 (its backend, its tests and the template's tests of it: plugin/tests, \
                 xtask/tests)",
                conversion.write.len(),
                relative_list(
                    root,
                    conversion.write.iter().map(|(path, _)| path.as_path())
                ),
                conversion.remove.len()
            ),
        );
    }
    context.status(
        "Renamed",
        format!(
            "{} → {}, {} → {}, {:?} → {:?} in {} files: {}",
            old.id,
            new.id,
            old.executable,
            new.executable,
            old.name,
            new.name,
            changed.len(),
            relative_list(root, changed.iter().map(|(path, _)| path.as_path()))
        ),
    );
    Ok(())
}

/// `paths` relative to `root`, with forward slashes, comma-separated.
fn relative_list<'a>(root: &Path, paths: impl Iterator<Item = &'a Path>) -> String {
    paths
        .map(|path| {
            path.strip_prefix(root)
                .unwrap_or(path)
                .display()
                .to_string()
                .replace('\\', "/")
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// The kind of plugin asked for: `--type`, else what the id ends with, else the current.
pub fn wanted_type(flags: &InitFlags, current: PluginType) -> PluginType {
    match flags.plugin_type.as_deref() {
        Some("datasource") => PluginType::Datasource,
        Some(_) => PluginType::App,
        None if flags.id.trim().ends_with("-datasource") => PluginType::Datasource,
        None if flags.id.trim().ends_with("-app") => PluginType::App,
        None => current,
    }
}

/// The new identity from the flags: Grafana's id rule for the plugin's type, a name, and an
/// executable (`gpx_<name part of the id>` unless given).
pub fn new_identity(flags: &InitFlags, plugin_type: &str) -> Result<Identity> {
    let id = flags.id.trim();
    for other in ["panel", "datasource"] {
        if plugin_type != other && id.ends_with(&format!("-{other}")) {
            let why = match other {
                "panel" => "panels have no backend".to_owned(),
                _ => format!("--type {plugin_type} was asked for"),
            };
            bail!(
                "--id {id:?}: a -{other} id, but the plugin is to be a {plugin_type} ({why}); \
                 give an id ending in -{plugin_type}, e.g. \"myorg-myplugin-{plugin_type}\""
            );
        }
    }
    if !project::is_valid_plugin_id(id) || !id.ends_with(&format!("-{plugin_type}")) {
        bail!(
            "--id {id:?}: Grafana accepts <org>-<name>-{plugin_type} in lower-case letters and \
             digits (^[0-9a-z]+-([0-9a-z]+-)?{plugin_type}$), e.g. \"myorg-myplugin-{plugin_type}\""
        );
    }
    let name = flags.name.trim();
    if name.is_empty() || name == id {
        bail!("--name {name:?}: give the plugin's display name, e.g. \"My Plugin\", not its id");
    }
    if name.chars().any(char::is_control) {
        bail!(
            "--name {name:?}: a display name is one line of text without control characters, \
             e.g. \"My Plugin\""
        );
    }
    let executable = match &flags.executable {
        Some(executable) => executable.clone(),
        None => {
            let parts: Vec<&str> = id.split('-').collect();
            format!("gpx_{}", parts[parts.len().saturating_sub(2)])
        }
    };
    if let Some(problem) = project::executable_problem(&executable) {
        bail!("--executable {problem}");
    }
    Ok(Identity {
        id: id.to_owned(),
        name: name.to_owned(),
        executable,
    })
}

/// Where a replacement may match.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Boundary {
    /// The plugin id: not inside a longer id-like token (`-` may follow: `<id>-1.0.0.zip`).
    Id,
    /// The executable and the names derived from it (`<executable>_linux_amd64`): not
    /// inside a longer identifier on the left, not followed by a letter or digit.
    Executable,
    /// The display name in Markdown: whole words only, never part of a path such as
    /// `worker::Checks` or a code span; a one-word name (which may be an ordinary word, as
    /// in "Checks TCP services") only in headings.
    Word,
    /// A complete JSON string token, quotes included.
    Token,
}

/// One text to replace.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Replacement {
    pub from: String,
    pub to: String,
    pub boundary: Boundary,
}

/// The replacements for a file, by its kind, longest first. The id and the executable are
/// restricted to characters that mean nothing in JSON, TOML, YAML, Markdown or Rust strings,
/// so they are replaced wherever they stand as whole tokens. The display name is free text:
/// it is replaced only as a whole JSON string (`"name": "…"`, escaped by serde_json) in
/// `.json` files and as whole words in Markdown, never in code or configuration.
pub fn replacements(old: &Identity, new: &Identity, file_name: &str) -> Vec<Replacement> {
    let mut pairs = vec![
        Replacement {
            from: old.id.clone(),
            to: new.id.clone(),
            boundary: Boundary::Id,
        },
        Replacement {
            from: old.executable.clone(),
            to: new.executable.clone(),
            boundary: Boundary::Executable,
        },
    ];
    if file_name.ends_with(".json") {
        pairs.push(Replacement {
            from: serde_json::to_string(&old.name).expect("a string serializes"),
            to: serde_json::to_string(&new.name).expect("a string serializes"),
            boundary: Boundary::Token,
        });
    } else if file_name.ends_with(".md") {
        pairs.push(Replacement {
            from: old.name.clone(),
            to: new.name.clone(),
            boundary: Boundary::Word,
        });
    }
    pairs.retain(|r| !r.from.is_empty() && r.from != r.to);
    pairs.sort_by_key(|r| std::cmp::Reverse(r.from.len()));
    pairs
}

fn is_word(c: char) -> bool {
    c.is_alphanumeric() || c == '_'
}

/// Whether `from`, found between `before` and `after`, stands alone as its boundary asks.
fn stands_alone(boundary: Boundary, from: &str, before: &str, after: &str) -> bool {
    let previous = before.chars().next_back();
    let next = after.chars().next();
    let in_heading = || {
        before
            .rsplit('\n')
            .next()
            .is_some_and(|line| line.trim_start().starts_with('#'))
    };
    match boundary {
        Boundary::Token => true,
        Boundary::Id => {
            !previous.is_some_and(|c| is_word(c) || c == '-') && !next.is_some_and(is_word)
        }
        Boundary::Executable => {
            !previous.is_some_and(|c| is_word(c) || c == '-' || c == '.')
                && !next.is_some_and(char::is_alphanumeric)
        }
        Boundary::Word => {
            !previous.is_some_and(|c| is_word(c) || matches!(c, ':' | '`' | '.' | '/'))
                && !next.is_some_and(|c| is_word(c) || c == '`')
                && !after.starts_with("::")
                && (from.contains(char::is_whitespace) || in_heading())
        }
    }
}

/// The text with every replacement made, or `None` when nothing changes. One pass over the
/// text: at each position the longest replacement that stands alone there wins.
pub fn rewrite(text: &str, replacements: &[Replacement]) -> Option<String> {
    if !replacements.iter().any(|r| text.contains(r.from.as_str())) {
        return None;
    }
    let mut out = String::with_capacity(text.len());
    let mut position = 0;
    let mut changed = false;
    'outer: while position < text.len() {
        let (before, rest) = text.split_at(position);
        for replacement in replacements {
            if let Some(after) = rest.strip_prefix(replacement.from.as_str())
                && stands_alone(replacement.boundary, &replacement.from, before, after)
            {
                out.push_str(&replacement.to);
                position += replacement.from.len();
                changed = true;
                continue 'outer;
            }
        }
        let next = rest.chars().next().expect("not at the end");
        out.push(next);
        position += next.len_utf8();
    }
    changed.then_some(out)
}

/// A JSON file that parsed before the rename parses after it (nothing is written otherwise).
fn check_still_parses(path: &Path, before: &str, after: &str) -> Result<()> {
    let is_json = path.extension().is_some_and(|e| e == "json");
    if is_json
        && serde_json::from_str::<serde_json::Value>(before).is_ok()
        && let Err(error) = serde_json::from_str::<serde_json::Value>(after)
    {
        bail!(
            "{}: would not be valid JSON after the rename ({error}); nothing was changed",
            path.display()
        );
    }
    Ok(())
}

/// Writes `text` beside `path` and renames it over, keeping the file's permissions.
fn replace_file(path: &Path, text: &str) -> Result<()> {
    let permissions = fs::metadata(path)
        .with_context(|| format!("cannot read {}", path.display()))?
        .permissions();
    crate::util::write_atomically(
        path,
        |file| {
            std::io::Write::write_all(file, text.as_bytes())
                .with_context(|| format!("cannot write beside {}", path.display()))
        },
        |written| {
            fs::set_permissions(written, permissions)
                .with_context(|| format!("cannot set the mode of {}", written.display()))
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn flags(id: &str, name: &str) -> InitFlags {
        InitFlags {
            id: id.into(),
            name: name.into(),
            executable: None,
            plugin_type: None,
        }
    }

    #[test]
    fn the_type_is_asked_for_or_read_from_the_id() {
        let app = PluginType::App;
        assert_eq!(
            wanted_type(&flags("acme-x-datasource", "X"), app),
            PluginType::Datasource
        );
        assert_eq!(wanted_type(&flags("acme-x-app", "X"), app), app);
        assert_eq!(wanted_type(&flags("acme-x", "X"), app), app);
        let mut typed = flags("acme-x-app", "X");
        typed.plugin_type = Some("datasource".into());
        assert_eq!(wanted_type(&typed, app), PluginType::Datasource);
        // The id must then follow the type.
        let error = new_identity(&typed, "datasource").unwrap_err().to_string();
        assert!(error.contains("-datasource"), "{error}");
    }

    #[test]
    fn the_new_identity_follows_grafanas_rules() {
        assert_eq!(
            new_identity(&flags("myorg-foo-app", "Foo"), "app").unwrap(),
            Identity {
                id: "myorg-foo-app".into(),
                name: "Foo".into(),
                executable: "gpx_foo".into()
            }
        );
        let panel = new_identity(&flags("myorg-foo-panel", "Foo"), "app")
            .unwrap_err()
            .to_string();
        assert!(panel.contains("panels have no backend"), "{panel}");
        for bad in ["MyOrg-Foo-app", "foo", "myorg-foo-bar-baz-app"] {
            let error = new_identity(&flags(bad, "Foo"), "app")
                .unwrap_err()
                .to_string();
            assert!(
                error.contains("Grafana accepts <org>-<name>-app"),
                "{bad}: {error}"
            );
        }
        assert!(new_identity(&flags("myorg-foo-app", "myorg-foo-app"), "app").is_err());
    }

    fn identity(id: &str, name: &str, executable: &str) -> Identity {
        Identity {
            id: id.into(),
            name: name.into(),
            executable: executable.into(),
        }
    }

    /// Renames a small tree of (file name, text) as `run` does, file by file.
    fn rename(files: &mut [(&str, String)], old: &Identity, new: &Identity) {
        for (file_name, text) in files.iter_mut() {
            if let Some(rewritten) = rewrite(text, &replacements(old, new, file_name)) {
                check_still_parses(Path::new(file_name), text, &rewritten).unwrap();
                *text = rewritten;
            }
        }
    }

    #[test]
    fn every_spelling_is_replaced_and_nothing_else() {
        let old = identity("acme-widgets-app", "Widget Board", "gpx_widgets");
        let new = identity("myorg-foo-app", "Foo", "gpx_foo");
        let yaml = "- ./dist:/var/lib/grafana/plugins/acme-widgets-app\nGF_LOG_FILTERS: plugin.acme-widgets-app:debug\n# Widget Board\nx: acme-widgets-apps gpx_widgetsx\n";
        assert_eq!(
            rewrite(yaml, &replacements(&old, &new, "docker-compose.yaml")).unwrap(),
            "- ./dist:/var/lib/grafana/plugins/myorg-foo-app\nGF_LOG_FILTERS: plugin.myorg-foo-app:debug\n# Widget Board\nx: acme-widgets-apps gpx_widgetsx\n"
        );
        let markdown = "# Widget Board\n\nWidget Board, widget board, Widget Boards; dist/gpx_widgets_linux_amd64, acme-widgets-app-1.0.0.zip, `Widget Board`, ui::Widget Board\n";
        assert_eq!(
            rewrite(markdown, &replacements(&old, &new, "README.md")).unwrap(),
            "# Foo\n\nFoo, widget board, Widget Boards; dist/gpx_foo_linux_amd64, myorg-foo-app-1.0.0.zip, `Widget Board`, ui::Widget Board\n"
        );
        assert_eq!(
            rewrite("nothing to do", &replacements(&old, &new, "a.md")),
            None
        );
    }

    #[test]
    fn renaming_again_and_again_never_touches_code_and_keeps_json_valid() {
        let plugin_json = r#"{
  "type": "app",
  "name": "Service Checks",
  "id": "acme-servicechecks-app",
  "executable": "gpx_service_checks",
  "info": { "description": "Checks TCP services.", "keywords": ["service checks"] }
}
"#;
        let rust = "use crate::worker::Checks;\nstruct Checks;\nconst ID: &str = \"acme-servicechecks-app\";\nconst BIN: &str = \"gpx_service_checks\";\n";
        let mut files = vec![
            ("plugin.json", plugin_json.to_owned()),
            ("worker.rs", rust.to_owned()),
            (
                "README.md",
                "# Service Checks\n\nChecks TCP services.\n".to_owned(),
            ),
        ];
        let names = [
            identity(
                "acme-servicechecks-app",
                "Service Checks",
                "gpx_service_checks",
            ),
            identity("acme-checks-app", "Checks", "gpx_checks"),
            identity("acme-monitor-app", "Service Monitor", "gpx_monitor"),
            identity("acme-odd-app", r#"Odd "Quoted" \ Name"#, "gpx_odd"),
            identity("acme-last-app", "Checks", "gpx_last"),
        ];
        for pair in names.windows(2) {
            rename(&mut files, &pair[0], &pair[1]);
            let json: serde_json::Value = serde_json::from_str(&files[0].1).unwrap();
            assert_eq!(json["name"], pair[1].name.as_str());
            assert_eq!(json["id"], pair[1].id.as_str());
            assert_eq!(json["executable"], pair[1].executable.as_str());
            assert_eq!(json["info"]["description"], "Checks TCP services.");
            assert!(
                files[1]
                    .1
                    .starts_with("use crate::worker::Checks;\nstruct Checks;\n")
            );
            assert!(files[1].1.contains(&format!("\"{}\"", pair[1].id)));
            assert!(files[1].1.contains(&format!("\"{}\"", pair[1].executable)));
            assert_eq!(
                files[2].1,
                format!("# {}\n\nChecks TCP services.\n", pair[1].name)
            );
        }
    }

    #[test]
    fn a_name_with_control_characters_is_refused() {
        for bad in ["Foo\nBar", "Foo\u{0}", "Tab\there"] {
            let error = new_identity(&flags("myorg-foo-app", bad), "app")
                .unwrap_err()
                .to_string();
            assert!(error.contains("without control characters"), "{error}");
        }
        assert!(new_identity(&flags("myorg-foo-app", r#"Foo\Bar "x""#), "app").is_ok());
    }
}
