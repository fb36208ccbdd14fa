//! The backends the library writes into a plugin, by its type: an app gets this repository's
//! `plugin/src` (the service-checks app), a data source the data-source backend embedded here
//! (`templates/datasource/`: QueryData, CheckHealth and resources on the plugin runtime,
//! answering create-plugin's frontend model). Both share `build_info.rs` and `build.rs`.
use std::path::Path;

use anyhow::{Context as _, Result};

use crate::{project::PluginType, util};

/// The data-source backend's own files (`plugin/src/<name>`).
pub const DATASOURCE: [(&str, &str); 2] = [
    ("main.rs", include_str!("../templates/datasource/main.rs")),
    (
        "datasource.rs",
        include_str!("../templates/datasource/datasource.rs"),
    ),
];

/// The rest of a data-source project that `init --type datasource` writes, by path from the
/// repository root; `%PLUGIN_ID%`, `%EXECUTABLE%`, `%NAME%` (a JSON string) and `%TITLE%`
/// are the new identity.
pub const DATASOURCE_PROJECT: [(&str, &str); 5] = [
    (
        "plugin/tests/datasource.rs",
        include_str!("../templates/datasource/tests/datasource.rs"),
    ),
    (
        "plugin.json",
        include_str!("../templates/datasource/plugin.json"),
    ),
    (
        "static/module.js",
        include_str!("../templates/datasource/module.js"),
    ),
    (
        "static/README.md",
        include_str!("../templates/datasource/README.md"),
    ),
    (
        "provisioning/datasources/datasources.yaml",
        include_str!("../templates/datasource/datasources.yaml"),
    ),
];

/// The files of `plugin/src` for a plugin of `kind`, read from this repository's `plugin/src`
/// (`source`) where they are its: (name under plugin/src, contents).
pub fn backend_sources(kind: PluginType, source: &Path) -> Result<Vec<(String, Vec<u8>)>> {
    match kind {
        PluginType::Datasource => {
            let mut files: Vec<(String, Vec<u8>)> = DATASOURCE
                .iter()
                .map(|(name, text)| ((*name).to_owned(), text.as_bytes().to_vec()))
                .collect();
            let build_info = source.join("build_info.rs");
            files.push(("build_info.rs".to_owned(), read(&build_info)?));
            Ok(files)
        }
        PluginType::App | PluginType::Panel => {
            let mut files = Vec::new();
            for entry in util::walk(source)?.into_iter().filter(|e| !e.is_dir) {
                files.push((entry.relative.clone(), read(&entry.path)?));
            }
            Ok(files)
        }
    }
}

/// The data-source backend's series line, and the one `adopt` writes instead: a create-plugin
/// data source answers as its Go backend did (`Series::GoScaffold` in datasource.rs).
const RANGE_SERIES: &str = "pub const SERIES: Series = Series::Range;";
const GO_SCAFFOLD_SERIES: &str = "pub const SERIES: Series = Series::GoScaffold;";

/// `files` (from [`backend_sources`]) with the data-source backend answering as
/// create-plugin's Go backend does, for `adopt`; other files are left as they are.
pub fn as_go_scaffold(files: Vec<(String, Vec<u8>)>) -> Vec<(String, Vec<u8>)> {
    files
        .into_iter()
        .map(|(name, contents)| {
            if name != "datasource.rs" {
                return (name, contents);
            }
            let text = String::from_utf8_lossy(&contents).replace(RANGE_SERIES, GO_SCAFFOLD_SERIES);
            (name, text.into_bytes())
        })
        .collect()
}

fn read(path: &Path) -> Result<Vec<u8>> {
    std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn adopt_makes_the_data_source_answer_as_the_go_scaffold() {
        let files = vec![
            (
                "datasource.rs".to_owned(),
                DATASOURCE[1].1.as_bytes().to_vec(),
            ),
            ("main.rs".to_owned(), DATASOURCE[0].1.as_bytes().to_vec()),
        ];
        assert_eq!(DATASOURCE[1].1.matches(RANGE_SERIES).count(), 1);
        let adopted = as_go_scaffold(files);
        let text = String::from_utf8(adopted[0].1.clone()).unwrap();
        assert!(text.contains(GO_SCAFFOLD_SERIES) && !text.contains(RANGE_SERIES));
        assert_eq!(adopted[1].1, DATASOURCE[0].1.as_bytes());
    }
}
