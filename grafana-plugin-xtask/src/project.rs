//! The project as the tool sees it: the plugin's identity from `plugin.json`, its package,
//! binary and version from Cargo. Each reader has an I/O half (`Project::load`) and a pure
//! half that turns text into a typed value or one error line naming the file, field and fix.
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use serde_json::Value;
use xshell::Shell;

use crate::{
    layout::{self, Layout},
    spawn::cmd,
};

/// The plugin manifest, at the repository root.
pub const PLUGIN_JSON: &str = "plugin.json";
/// The directory of the backend crate, relative to the workspace root.
pub const PLUGIN_CRATE_DIR: &str = "plugin";

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PluginType {
    App,
    Datasource,
    Panel,
}

impl PluginType {
    const ALL: [PluginType; 3] = [PluginType::App, PluginType::Datasource, PluginType::Panel];

    pub fn as_str(self) -> &'static str {
        match self {
            PluginType::App => "app",
            PluginType::Datasource => "datasource",
            PluginType::Panel => "panel",
        }
    }
}

/// What the build needs from plugin.json.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PluginJson {
    pub id: String,
    pub executable: String,
    pub plugin_type: PluginType,
}

/// What the build needs from Cargo.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CargoProject {
    pub workspace_root: PathBuf,
    pub target_dir: PathBuf,
    pub package: String,
    pub bin_name: String,
    pub version: String,
    /// `[workspace.metadata.grafana-plugin] layout`, when set.
    pub layout_setting: Option<String>,
}

#[derive(Clone, Debug)]
pub struct Project {
    pub cargo: CargoProject,
    pub plugin: PluginJson,
    pub layout: Layout,
}

impl Project {
    /// Reads the workspace around the current directory.
    pub fn load(sh: &Shell, cargo: &str) -> Result<Project> {
        let metadata = match cmd!(sh, "{cargo} metadata --no-deps --format-version 1")
            .quiet()
            .read()
        {
            Ok(metadata) => metadata,
            // cargo's own parse error says nothing of Grafana's X.Y.Z; say it when that is it.
            Err(error) => {
                return Err(
                    manifest_version_problem(&sh.current_dir()).unwrap_or_else(|| {
                        anyhow::Error::new(error)
                            .context("cannot read the workspace with `cargo metadata`")
                    }),
                );
            }
        };
        let cargo = parse_cargo_metadata(&metadata)?;

        let plugin_manifest = cargo
            .workspace_root
            .join(PLUGIN_CRATE_DIR)
            .join("Cargo.toml");
        let plugin_manifest_text = read_text(&plugin_manifest)?;
        let version_field = if inherits_workspace_version(&plugin_manifest_text) {
            (
                cargo.workspace_root.join("Cargo.toml"),
                "workspace.package.version",
            )
        } else {
            (plugin_manifest, "package.version")
        };
        check_version(&version_field.0, version_field.1, &cargo.version)?;

        let root = &cargo.workspace_root;
        let package_json_path = root.join("package.json");
        let package_json = match std::fs::read_to_string(&package_json_path) {
            Ok(text) => Some(
                serde_json::from_str::<Value>(&text)
                    .with_context(|| format!("{}: not valid JSON", package_json_path.display()))?,
            ),
            Err(_) => None,
        };
        let layout = layout::detect(
            root,
            cargo.layout_setting.as_deref(),
            |relative| root.join(relative).is_file(),
            package_json.as_ref(),
        )?;
        if let (Layout::CreatePlugin(_), Some(package)) = (layout, &package_json) {
            check_same_version(
                &package_json_path,
                package,
                &version_field.0,
                &cargo.version,
            )?;
        }
        let plugin_json_path = root.join(layout.plugin_json());
        let plugin_json_text = read_text(&plugin_json_path)?;
        let plugin = parse_plugin_json(&plugin_json_path, &plugin_json_text)?;
        Ok(Project {
            cargo,
            plugin,
            layout,
        })
    }
}

pub fn read_text(path: &Path) -> Result<String> {
    std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))
}

/// Checks plugin.json for what Grafana and this tool rely on. `path` is only for messages.
pub fn parse_plugin_json(path: &Path, text: &str) -> Result<PluginJson> {
    let file = path.display();
    let json: Value = serde_json::from_str(text).map_err(|error| {
        let message = error.to_string();
        let message = message.split(" at line ").next().unwrap_or(&message);
        anyhow::anyhow!(
            "{file}:{}:{}: invalid JSON: {message}",
            error.line(),
            error.column()
        )
    })?;
    let Some(object) = json.as_object() else {
        bail!(
            "{file}: must be a JSON object {{ … }}, found {}",
            kind(&json)
        );
    };
    let string_field = |field: &str, example: &str| -> Result<String> {
        match object.get(field) {
            Some(Value::String(value)) => Ok(value.clone()),
            None => bail!("{file}: field `{field}` is missing; add \"{field}\": \"{example}\""),
            Some(other) => bail!(
                "{file}: field `{field}` must be a string, found {}; write \"{field}\": \"{example}\"",
                kind(other)
            ),
        }
    };

    let type_name = string_field("type", "app")?;
    let Some(plugin_type) = PluginType::ALL
        .into_iter()
        .find(|t| t.as_str() == type_name)
    else {
        bail!(
            "{file}: field `type` is \"{type_name}\"; use one of \"app\", \"datasource\", \"panel\""
        );
    };

    if plugin_type == PluginType::Panel {
        bail!(
            "{file}: field `type` is \"panel\", but panels cannot have a backend (Grafana starts \
             backends for apps and data sources only); use \"app\" or \"datasource\", with an id \
             ending in -app or -datasource"
        );
    }
    let id = string_field("id", "myorg-myplugin-app")?;
    if !is_valid_plugin_id(&id) {
        bail!(
            "{file}: field `id` is \"{id}\", which Grafana rejects; use <org>-<name>-{} in \
             lower-case letters and digits, e.g. \"myorg-myplugin-{}\"",
            plugin_type.as_str(),
            plugin_type.as_str()
        );
    }
    if !id.ends_with(&format!("-{}", plugin_type.as_str())) {
        bail!(
            "{file}: field `id` is \"{id}\" but `type` is \"{}\"; the id must end in \"-{}\"",
            plugin_type.as_str(),
            plugin_type.as_str()
        );
    }

    match object.get("backend") {
        Some(Value::Bool(true)) => {}
        None => bail!(
            "{file}: field `backend` is missing; add \"backend\": true (this tool builds the backend executable)"
        ),
        Some(other) => bail!(
            "{file}: field `backend` is {other}; set \"backend\": true (this tool builds the backend executable)"
        ),
    }

    // The example is the name `init` derives from the id: gpx_<name part>.
    let suggested = object
        .get("id")
        .and_then(Value::as_str)
        .and_then(|id| {
            let parts: Vec<&str> = id.split('-').collect();
            (parts.len() >= 3).then(|| format!("gpx_{}", parts[parts.len() - 2]))
        })
        .filter(|name| executable_problem(name).is_none())
        .unwrap_or_else(|| "gpx_my_plugin".to_owned());
    let executable = string_field("executable", &suggested)?;
    if let Some(problem) = executable_problem(&executable) {
        bail!("{file}: field `executable` {problem}");
    }
    Ok(PluginJson {
        id,
        executable,
        plugin_type,
    })
}

/// The longest `executable` accepted: its derived names (`.<executable>_windows_amd64.exe.<pid>.partial`
/// in dist/, `<id>/<executable>_…` in an archive) stay far below file-name limits.
pub const EXECUTABLE_MAX_LEN: usize = 100;

/// Why `executable` cannot name the backend, as the rest of a sentence that starts with the
/// field, or `None`. Grafana joins the value to the plugin directory unchecked (and the
/// validator accepts a path); this tool requires a portable plain file name, since the value
/// becomes file names on every OS, an archive entry and a process match in the container.
pub fn executable_problem(executable: &str) -> Option<String> {
    let shown: String = executable.chars().take(40).collect();
    let shown = if shown.len() < executable.len() {
        format!("{shown:?}… ({} characters)", executable.chars().count())
    } else {
        format!("{shown:?}")
    };
    let starts_well = executable
        .bytes()
        .next()
        .is_some_and(|b| b.is_ascii_alphanumeric());
    let plain = executable
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.'));
    if starts_well && plain && executable.len() <= EXECUTABLE_MAX_LEN {
        return None;
    }
    Some(format!(
        "is {shown}; Grafana runs <plugin dir>/<executable>_<os>_<arch>, so use a plain file \
         name of 1 to {EXECUTABLE_MAX_LEN} ASCII letters, digits, '_', '-' or '.', beginning \
         with a letter or digit, e.g. \"gpx_my_plugin\""
    ))
}

/// Grafana's `^[0-9a-z]+\-([0-9a-z]+\-)?(app|panel|datasource)$`.
pub fn is_valid_plugin_id(id: &str) -> bool {
    let parts: Vec<&str> = id.split('-').collect();
    let word = |part: &&str| {
        !part.is_empty()
            && part
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
    };
    (parts.len() == 2 || parts.len() == 3)
        && parts.iter().all(word)
        && matches!(parts[parts.len() - 1], "app" | "panel" | "datasource")
}

/// How an error message names a JSON value's type.
pub fn kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// Grafana's `info.version` is `X.Y.Z`: no pre-release or build suffix.
pub fn check_version(manifest: &Path, field: &str, version: &str) -> Result<()> {
    let parts: Vec<&str> = version.split('.').collect();
    let numeric = parts.len() == 3
        && parts
            .iter()
            .all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()));
    if !numeric {
        bail!(
            "{}: field `{field}` is \"{version}\"; Grafana needs X.Y.Z, e.g. \"1.2.0\"",
            manifest.display()
        );
    }
    Ok(())
}

/// A create-plugin app has two versions, package.json's (webpack fills plugin.json with it)
/// and Cargo.toml's (the binary's build info, the archive's name): they must be one.
fn check_same_version(
    package_json: &Path,
    package: &Value,
    manifest: &Path,
    version: &str,
) -> Result<()> {
    let declared = package["version"].as_str().unwrap_or_default();
    if declared != version {
        bail!(
            "{}: field `version` is \"{declared}\" but {} says \"{version}\"; make them equal \
             (webpack fills plugin.json from package.json, the backend and the archive use \
             Cargo.toml)",
            package_json.display(),
            manifest.display()
        );
    }
    Ok(())
}

/// A version Grafana would refuse in the nearest Cargo.toml at or above `dir`
/// (`[workspace.package]` or `[package]`), as the error to report.
fn manifest_version_problem(dir: &Path) -> Option<anyhow::Error> {
    let manifest = dir
        .ancestors()
        .map(|dir| dir.join("Cargo.toml"))
        .find(|path| path.is_file())?;
    let text = std::fs::read_to_string(&manifest).ok()?;
    let (field, version) = declared_version(&text)?;
    check_version(&manifest, field, &version).err()
}

/// The literal `version = "…"` of `[workspace.package]` or `[package]`, with its field name.
fn declared_version(manifest_text: &str) -> Option<(&'static str, String)> {
    let mut section = "";
    for line in manifest_text.lines().map(str::trim) {
        if line.starts_with('[') {
            section = line;
            continue;
        }
        let field = match section {
            "[workspace.package]" => "workspace.package.version",
            "[package]" => "package.version",
            _ => continue,
        };
        if let Some((key, value)) = line.split_once('=')
            && key.trim() == "version"
            && let Some(version) = value
                .trim()
                .strip_prefix('"')
                .and_then(|v| v.split('"').next())
        {
            return Some((field, version.to_owned()));
        }
    }
    None
}

/// Tokens of `text` that are Grafana plugin ids other than `id`, with their line numbers
/// (1-based): a file still naming the plugin's old id after a rename.
pub fn other_plugin_ids(text: &str, id: &str) -> Vec<(usize, String)> {
    let mut found = Vec::new();
    for (index, line) in text.lines().enumerate() {
        for token in line.split(|c: char| !(c.is_ascii_alphanumeric() || c == '-')) {
            if token != id && is_valid_plugin_id(token) {
                found.push((index + 1, token.to_owned()));
            }
        }
    }
    found
}

fn inherits_workspace_version(manifest_text: &str) -> bool {
    manifest_text.lines().any(|line| {
        let line: String = line.split_whitespace().collect();
        line.starts_with("version.workspace=true") || line.starts_with("version={workspace=true")
    })
}

/// Finds the plugin crate (the member in `plugin/`) and its one binary in
/// `cargo metadata --no-deps --format-version 1` output.
pub fn parse_cargo_metadata(json: &str) -> Result<CargoProject> {
    let metadata: Value = serde_json::from_str(json)
        .context("`cargo metadata` printed something that is not JSON")?;
    let path = |key: &str| -> Result<PathBuf> {
        metadata[key]
            .as_str()
            .map(PathBuf::from)
            .with_context(|| format!("`cargo metadata` output has no `{key}`"))
    };
    let workspace_root = path("workspace_root")?;
    let target_dir = path("target_directory")?;
    let manifest = workspace_root.join(PLUGIN_CRATE_DIR).join("Cargo.toml");
    let package = metadata["packages"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|package| package["manifest_path"].as_str().map(Path::new) == Some(&manifest))
        .with_context(|| {
            format!(
                "{}: no workspace member here; the backend crate must live in `{PLUGIN_CRATE_DIR}/` \
                 and be listed in the root Cargo.toml's `workspace.members`",
                manifest.display()
            )
        })?;
    let bins: Vec<&str> = package["targets"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|target| {
            target["kind"]
                .as_array()
                .is_some_and(|kinds| kinds.iter().any(|k| k == "bin"))
        })
        .filter_map(|target| target["name"].as_str())
        .collect();
    let [bin_name] = bins[..] else {
        bail!(
            "{}: the backend crate must have exactly one binary target, found {}",
            manifest.display(),
            bins.len()
        );
    };
    Ok(CargoProject {
        workspace_root,
        target_dir,
        package: package["name"].as_str().unwrap_or_default().to_owned(),
        bin_name: bin_name.to_owned(),
        version: package["version"].as_str().unwrap_or_default().to_owned(),
        layout_setting: metadata["metadata"]["grafana-plugin"]["layout"]
            .as_str()
            .map(str::to_owned),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = r#"{
  "type": "app",
  "name": "Service Checks",
  "id": "acme-servicechecks-app",
  "backend": true,
  "executable": "gpx_service_checks",
  "info": { "version": "%VERSION%", "updated": "%TODAY%" }
}"#;

    fn error(text: &str) -> String {
        parse_plugin_json(Path::new("/repo/plugin.json"), text)
            .unwrap_err()
            .to_string()
    }

    fn with(field: &str, value: &str) -> String {
        let mut json: serde_json::Map<String, Value> = serde_json::from_str(GOOD).unwrap();
        if value.is_empty() {
            json.remove(field);
        } else {
            json.insert(field.to_owned(), serde_json::from_str(value).unwrap());
        }
        serde_json::to_string_pretty(&json).unwrap()
    }

    #[test]
    fn good_plugin_json_parses() {
        let plugin = parse_plugin_json(Path::new("plugin.json"), GOOD).unwrap();
        assert_eq!(
            plugin,
            PluginJson {
                id: "acme-servicechecks-app".into(),
                executable: "gpx_service_checks".into(),
                plugin_type: PluginType::App,
            }
        );
    }

    #[test]
    fn the_repositorys_own_plugin_json_parses() {
        let text = include_str!("../../plugin.json");
        let plugin = parse_plugin_json(Path::new("plugin.json"), text).unwrap();
        // An app, or the data source `init --type datasource` makes of it.
        assert!(matches!(
            plugin.plugin_type,
            PluginType::App | PluginType::Datasource
        ));
        assert!(plugin.executable.starts_with("gpx_"));
    }

    #[test]
    fn invalid_json_reports_line_and_column() {
        let message = error("{\n  \"id\": \"a-app\"\n  \"type\": \"app\"\n}");
        assert_eq!(
            message,
            "/repo/plugin.json:3:3: invalid JSON: expected `,` or `}`"
        );
        assert!(error("[1, 2]").contains("must be a JSON object { … }, found an array"));
    }

    #[test]
    fn every_bad_field_names_the_file_the_field_and_the_fix() {
        let cases = [
            (
                with("id", ""),
                "field `id` is missing; add \"id\": \"myorg-myplugin-app\"",
            ),
            (
                with("id", "42"),
                "field `id` must be a string, found a number",
            ),
            (
                with("id", "\"MyPlugin\""),
                "field `id` is \"MyPlugin\", which Grafana rejects",
            ),
            (
                with("id", "\"acme-foo-bar-baz-app\""),
                "which Grafana rejects",
            ),
            (
                with("id", "\"acme-checks-panel\""),
                "but `type` is \"app\"; the id must end in \"-app\"",
            ),
            (
                with("type", "\"panel\""),
                "field `type` is \"panel\", but panels cannot have a backend",
            ),
            (
                with("executable", ""),
                "field `executable` is missing; add \"executable\": \"gpx_servicechecks\"",
            ),
            (
                with("executable", "null"),
                "field `executable` must be a string, found null",
            ),
            (with("executable", "\"../gpx_x\""), "use a plain file"),
            (with("executable", "\"\""), "is \"\"; Grafana runs"),
            (
                with("executable", "\"gpx\\u0000x\""),
                "is \"gpx\\0x\"; Grafana runs",
            ),
            (
                with("executable", "\"gpx\\nx\""),
                "is \"gpx\\nx\"; Grafana runs",
            ),
            (with("executable", "\"gpx x\""), "use a plain file"),
            (with("executable", "\"gpx_*\""), "use a plain file"),
            (with("executable", "\"gpx|x\""), "use a plain file"),
            (
                with("executable", "\"-gpx\""),
                "beginning with a letter or digit",
            ),
            (
                with("executable", &format!("\"{}\"", "g".repeat(300))),
                "… (300 characters); Grafana runs",
            ),
            (
                with("backend", ""),
                "field `backend` is missing; add \"backend\": true",
            ),
            (
                with("backend", "false"),
                "field `backend` is false; set \"backend\": true",
            ),
            (
                with("backend", "\"true\""),
                "field `backend` is \"true\"; set \"backend\": true",
            ),
            (
                with("type", "\"frontend\""),
                "field `type` is \"frontend\"; use one of \"app\", \"datasource\", \"panel\"",
            ),
            (
                with("type", "[]"),
                "field `type` must be a string, found an array",
            ),
        ];
        for (text, expected) in cases {
            let message = error(&text);
            assert!(message.starts_with("/repo/plugin.json: "), "{message}");
            assert!(
                message.contains(expected),
                "{message}\n  expected: {expected}"
            );
            assert!(!message.contains('\n'), "one line: {message}");
        }
    }

    #[test]
    fn plugin_id_follows_grafanas_pattern() {
        for good in ["acme-app", "acme-checks-app", "a1-b2-datasource", "x-panel"] {
            assert!(is_valid_plugin_id(good), "{good}");
        }
        for bad in [
            "app",
            "-app",
            "acme--app",
            "Acme-app",
            "acme-checks-plugin",
            "a-b-c-app",
            "acme_checks-app",
        ] {
            assert!(!is_valid_plugin_id(bad), "{bad}");
        }
    }

    #[test]
    fn version_must_be_x_y_z() {
        let manifest = Path::new("/repo/Cargo.toml");
        check_version(manifest, "workspace.package.version", "1.22.0").unwrap();
        for bad in ["1.0.0-beta.1", "1.0.0+build5", "1.0", "v1.0.0"] {
            let message = check_version(manifest, "workspace.package.version", bad)
                .unwrap_err()
                .to_string();
            assert_eq!(
                message,
                format!(
                    "/repo/Cargo.toml: field `workspace.package.version` is \"{bad}\"; Grafana needs X.Y.Z, e.g. \"1.2.0\""
                )
            );
        }
    }

    #[test]
    fn workspace_version_inheritance_is_recognised() {
        assert!(inherits_workspace_version(
            "[package]\nversion.workspace = true\n"
        ));
        assert!(inherits_workspace_version("version = { workspace = true }"));
        assert!(!inherits_workspace_version("version = \"1.0.0\""));
    }

    fn metadata(root: &str, packages: Value) -> String {
        serde_json::json!({
            "workspace_root": root,
            "target_directory": format!("{root}/target"),
            "packages": packages,
        })
        .to_string()
    }

    #[test]
    fn cargo_metadata_yields_the_plugin_package_binary_and_version() {
        let json = metadata(
            "/repo",
            serde_json::json!([
                { "name": "xtask", "version": "0.1.0", "manifest_path": "/repo/xtask/Cargo.toml",
                  "targets": [{ "name": "xtask", "kind": ["bin"] }] },
                { "name": "plugin", "version": "1.2.3", "manifest_path": "/repo/plugin/Cargo.toml",
                  "targets": [{ "name": "plugin", "kind": ["bin"] },
                              { "name": "build-script-build", "kind": ["custom-build"] },
                              { "name": "grafana_contract", "kind": ["test"] }] },
            ]),
        );
        let project = parse_cargo_metadata(&json).unwrap();
        assert_eq!(
            project,
            CargoProject {
                workspace_root: "/repo".into(),
                target_dir: "/repo/target".into(),
                package: "plugin".into(),
                bin_name: "plugin".into(),
                version: "1.2.3".into(),
                layout_setting: None,
            }
        );
    }

    #[test]
    fn cargo_metadata_without_a_plugin_crate_says_where_it_must_be() {
        let message = parse_cargo_metadata(&metadata("/repo", serde_json::json!([])))
            .unwrap_err()
            .to_string();
        let manifest = Path::new("/repo").join("plugin").join("Cargo.toml");
        assert!(
            message.starts_with(&format!("{}: no workspace member here", manifest.display())),
            "{message}"
        );
        let two_bins = metadata(
            "/repo",
            serde_json::json!([{ "name": "plugin", "version": "1.0.0",
                "manifest_path": "/repo/plugin/Cargo.toml",
                "targets": [{ "name": "a", "kind": ["bin"] }, { "name": "b", "kind": ["bin"] }] }]),
        );
        let message = parse_cargo_metadata(&two_bins).unwrap_err().to_string();
        assert!(
            message.contains("exactly one binary target, found 2"),
            "{message}"
        );
    }

    #[test]
    fn a_cargo_version_grafana_refuses_is_named_before_cargo_metadata_runs() {
        let dir = tempfile::tempdir().unwrap();
        let manifest = dir.path().join("Cargo.toml");
        std::fs::write(
            &manifest,
            "[workspace]\nmembers = []\n\n[workspace.package]\nversion = \"1.0\"\nedition = \"2024\"\n",
        )
        .unwrap();
        let error = manifest_version_problem(&dir.path().join("plugin"))
            .unwrap()
            .to_string();
        assert_eq!(
            error,
            format!(
                "{}: field `workspace.package.version` is \"1.0\"; Grafana needs X.Y.Z, e.g. \"1.2.0\"",
                manifest.display()
            )
        );
        std::fs::write(&manifest, "[package]\nname = \"x\"\nversion = \"1.2.3\"\n").unwrap();
        assert!(manifest_version_problem(dir.path()).is_none());
    }

    #[test]
    fn other_plugin_ids_are_found_with_their_lines() {
        let compose = "services:\n  grafana:\n    volumes:\n      - ./dist:/var/lib/grafana/plugins/acme-oldname-app\n      - ./x:/y\n    environment:\n      GF_PLUGINS_ALLOW_LOADING_UNSIGNED_PLUGINS: acme-newname-app\n    image: grafana/grafana-enterprise\n";
        assert_eq!(
            other_plugin_ids(compose, "acme-newname-app"),
            vec![(4, "acme-oldname-app".to_owned())]
        );
        assert!(other_plugin_ids(compose, "acme-oldname-app").len() == 1);
    }
}
