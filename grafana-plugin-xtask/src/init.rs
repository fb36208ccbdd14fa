//! `cargo xtask init --id ID --name NAME`: makes this template a new plugin, renaming its id,
//! name and executable everywhere they are written (plugin.json, docker-compose.yaml,
//! provisioning/, the READMEs, the tests' expectations), so the build, the development
//! Grafana and the test suite agree on the new identity. Every new text is computed before
//! any file is written; each file is replaced by a rename.
use std::{fs, path::Path};

use anyhow::{Context as _, Result, bail};

use crate::{Context, flags::InitFlags, project};

/// What a plugin is called, in the three forms the files spell.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Identity {
    pub id: String,
    pub name: String,
    pub executable: String,
}

/// Directories never rewritten: build output, dependencies, history.
const SKIPPED_DIRS: [&str; 4] = [".git", "target", "dist", "node_modules"];

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
    let new = new_identity(flags, project.plugin.plugin_type.as_str())?;
    let replacements = replacements(&old, &new);
    let mut changed = Vec::new();
    for entry in walkdir::WalkDir::new(root)
        .into_iter()
        .filter_entry(|e| !SKIPPED_DIRS.contains(&e.file_name().to_str().unwrap_or_default()))
    {
        let entry = entry.with_context(|| format!("cannot list {}", root.display()))?;
        if !entry.file_type().is_file() {
            continue;
        }
        // Text only: images and other binary files keep their bytes.
        let Ok(text) = fs::read_to_string(entry.path()) else {
            continue;
        };
        if let Some(rewritten) = rewrite(&text, &replacements) {
            changed.push((entry.path().to_owned(), rewritten));
        }
    }
    for (path, text) in &changed {
        replace_file(path, text)?;
    }
    context.status(
        "Renamed",
        format!(
            "{} → {}, {} → {}, {:?} → {:?} in {} files",
            old.id,
            new.id,
            old.executable,
            new.executable,
            old.name,
            new.name,
            changed.len()
        ),
    );
    Ok(())
}

/// The new identity from the flags: Grafana's id rule for the plugin's type, a name, and an
/// executable (`gpx_<name part of the id>` unless given).
pub fn new_identity(flags: &InitFlags, plugin_type: &str) -> Result<Identity> {
    let id = flags.id.trim();
    if !project::is_valid_plugin_id(id) || !id.ends_with(&format!("-{plugin_type}")) {
        bail!(
            "--id {id:?}: Grafana accepts <org>-<name>-{plugin_type} in lower-case letters and \
             digits (^[0-9a-z]+-([0-9a-z]+-)?{plugin_type}$), e.g. \"myorg-myplugin-{plugin_type}\""
        );
    }
    let name = flags.name.trim();
    if name.is_empty() || name == id || name.contains(['"', '\n']) {
        bail!("--name {name:?}: give the plugin's display name, e.g. \"My Plugin\", not its id");
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

/// The texts to replace, longest first so no replacement eats part of a longer one.
pub fn replacements(old: &Identity, new: &Identity) -> Vec<(String, String)> {
    let mut pairs = vec![
        (old.id.clone(), new.id.clone()),
        (old.executable.clone(), new.executable.clone()),
        (old.name.clone(), new.name.clone()),
    ];
    pairs.retain(|(from, to)| !from.is_empty() && from != to);
    pairs.sort_by_key(|(from, _)| std::cmp::Reverse(from.len()));
    pairs
}

/// The text with every replacement made, or `None` when nothing changes.
pub fn rewrite(text: &str, replacements: &[(String, String)]) -> Option<String> {
    if !replacements
        .iter()
        .any(|(from, _)| text.contains(from.as_str()))
    {
        return None;
    }
    // One pass over the text: at each position the longest match wins.
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    'outer: while !rest.is_empty() {
        for (from, to) in replacements {
            if let Some(after) = rest.strip_prefix(from.as_str()) {
                out.push_str(to);
                rest = after;
                continue 'outer;
            }
        }
        let next = rest.chars().next().expect("not empty");
        out.push(next);
        rest = &rest[next.len_utf8()..];
    }
    Some(out)
}

/// Writes `text` beside `path` and renames it over, keeping the file's permissions.
fn replace_file(path: &Path, text: &str) -> Result<()> {
    let permissions = fs::metadata(path)
        .with_context(|| format!("cannot read {}", path.display()))?
        .permissions();
    let partial = path.with_extension("init.partial");
    fs::write(&partial, text).with_context(|| format!("cannot write {}", partial.display()))?;
    fs::set_permissions(&partial, permissions)
        .with_context(|| format!("cannot set the mode of {}", partial.display()))?;
    fs::rename(&partial, path).with_context(|| format!("cannot replace {}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn flags(id: &str, name: &str) -> InitFlags {
        InitFlags {
            id: id.into(),
            name: name.into(),
            executable: None,
        }
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
        for bad in [
            "MyOrg-Foo-app",
            "myorg-foo-panel",
            "foo",
            "myorg-foo-bar-baz-app",
        ] {
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

    #[test]
    fn every_spelling_is_replaced_and_nothing_else() {
        let old = Identity {
            id: "acme-widgets-app".into(),
            name: "Widget Board".into(),
            executable: "gpx_widgets".into(),
        };
        let new = Identity {
            id: "myorg-foo-app".into(),
            name: "Foo".into(),
            executable: "gpx_foo".into(),
        };
        let pairs = replacements(&old, &new);
        let text = "- ./dist:/var/lib/grafana/plugins/acme-widgets-app\n\"executable\": \"gpx_widgets\", dist/gpx_widgets_linux_amd64, # Widget Board, widget board";
        assert_eq!(
            rewrite(text, &pairs).unwrap(),
            "- ./dist:/var/lib/grafana/plugins/myorg-foo-app\n\"executable\": \"gpx_foo\", dist/gpx_foo_linux_amd64, # Foo, widget board"
        );
        assert_eq!(rewrite("nothing to do", &pairs), None);
    }
}
