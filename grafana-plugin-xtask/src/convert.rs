//! `init --type datasource` on this template (an app): the data source's backend, tests,
//! frontend, plugin.json and provisioning in place of the app's. Computed whole before
//! anything is written, as `init`'s renames are.
use std::path::{Path, PathBuf};

use anyhow::{Result, bail};

use crate::{layout::Layout, templates, util};

/// What a plugin is called, in the three forms the files spell.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Identity {
    pub id: String,
    pub name: String,
    pub executable: String,
}

/// Files to write (path, contents) and files to remove, under the repository root.
#[derive(Debug, Default)]
pub struct Conversion {
    pub write: Vec<(PathBuf, Vec<u8>)>,
    pub remove: Vec<PathBuf>,
}

impl Conversion {
    /// Whether `path` is written or removed here (the renames leave it alone).
    pub fn touches(&self, path: &Path) -> bool {
        self.write.iter().any(|(written, _)| written == path)
            || self.remove.iter().any(|r| r == path)
    }
}

/// Directories of the app whose every file is the app's: replaced whole.
const APP_DIRS: [&str; 3] = ["plugin/src", "plugin/tests", "xtask/tests"];

/// The app's files outside those, replaced or removed.
const APP_FILES: [&str; 2] = ["provisioning/plugins/apps.yaml", "static/README.md"];

/// The conversion of the template app at `root` into a data source named `new`.
pub fn app_to_datasource(root: &Path, layout: Layout, new: &Identity) -> Result<Conversion> {
    if layout != Layout::Template {
        bail!(
            "init --type datasource converts this template (root plugin.json, static/); a \
             create-plugin project keeps its frontend: run `cargo xtask adopt` from this \
             template in it instead"
        );
    }
    let fill = |text: &str| {
        text.replace("%PLUGIN_ID%", &new.id)
            .replace("%EXECUTABLE%", &new.executable)
            .replace(
                "%NAME%",
                &serde_json::Value::from(new.name.as_str()).to_string(),
            )
            .replace("%TITLE%", &new.name)
            .into_bytes()
    };
    let mut conversion = Conversion::default();
    for dir in APP_DIRS {
        let dir = root.join(dir);
        if dir.is_dir() {
            for entry in util::walk(&dir)?.into_iter().filter(|entry| !entry.is_dir) {
                // Its build information is the same for every kind of plugin.
                if entry.relative != "build_info.rs" {
                    conversion.remove.push(entry.path);
                }
            }
        }
    }
    conversion.remove.extend(
        APP_FILES
            .iter()
            .map(|file| root.join(file))
            .filter(|p| p.exists()),
    );
    for (name, text) in templates::DATASOURCE {
        conversion
            .write
            .push((root.join("plugin/src").join(name), text.as_bytes().to_vec()));
    }
    for (file, text) in templates::DATASOURCE_PROJECT {
        conversion.write.push((root.join(file), fill(text)));
    }
    conversion
        .remove
        .retain(|path| !conversion.write.iter().any(|(w, _)| w == path));
    Ok(conversion)
}

/// Writes and removes what `conversion` says: each file staged beside its place and renamed
/// over it, then the app's files removed.
pub fn apply(conversion: &Conversion) -> Result<()> {
    for (path, contents) in &conversion.write {
        util::write_atomic(path, contents)?;
    }
    for path in &conversion.remove {
        std::fs::remove_file(path)
            .map_err(|error| anyhow::anyhow!("cannot remove {}: {error}", path.display()))?;
    }
    Ok(())
}
