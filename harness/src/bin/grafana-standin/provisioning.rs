//! App provisioning as Grafana reads it at start-up: every `*.yaml`/`*.yml` in
//! `$GF_PATHS_PROVISIONING/plugins`, `apps: [{type, org_id, org_name, disabled, jsonData,
//! secureJsonData}]` (pkg/services/provisioning/plugins/config_reader.go, types.go), written
//! as the org's plugin setting (plugin_provisioner.go); and every one in `datasources/`,
//! `datasources: [{name, type, uid, url, orgId, jsonData, secureJsonData}]` (apiVersion 1,
//! pkg/services/provisioning/datasources/config_reader.go: a name is required, a missing uid
//! is generated). Strings are expanded from the environment, `$VAR` and `${VAR}`, an unset
//! variable as "" (pkg/services/provisioning/values).
use std::{collections::BTreeMap, path::Path};

use anyhow::{Context, Result, bail};
use serde_json::Value;

/// One `apps:` item, as plugin_provisioner.go applies it.
#[derive(Debug, PartialEq)]
pub struct ProvisionedApp {
    pub plugin_id: String,
    pub org_id: i64,
    /// `!disabled` (types.go: `Enabled: !app.Disabled`).
    pub enabled: bool,
    pub json_data: Value,
    pub secure_json_data: BTreeMap<String, String>,
}

/// The apps provisioned under `provisioning` (the directory GF_PATHS_PROVISIONING names).
/// A missing `plugins/` folder provisions nothing, as in Grafana (config_reader.go logs it);
/// a file Grafana cannot read or parse is an error, which stops Grafana's start.
pub fn read(
    provisioning: &Path,
    env: impl Fn(&str) -> Option<String>,
) -> Result<Vec<ProvisionedApp>> {
    let mut apps = Vec::new();
    for file in yaml_files(&provisioning.join("plugins")) {
        let text = std::fs::read_to_string(&file)
            .with_context(|| format!("cannot read {}", file.display()))?;
        apps.extend(parse(&text, &env).with_context(|| format!("{}", file.display()))?);
    }
    Ok(apps)
}

/// A provisioned data source.
#[derive(Debug, PartialEq)]
pub struct ProvisionedDataSource {
    pub name: String,
    pub kind: String,
    pub uid: String,
    pub url: String,
    pub json_data: Value,
    pub secure_json_data: BTreeMap<String, String>,
}

/// The data sources provisioned under `provisioning`.
pub fn read_datasources(
    provisioning: &Path,
    env: impl Fn(&str) -> Option<String>,
) -> Result<Vec<ProvisionedDataSource>> {
    let mut found = Vec::new();
    for file in yaml_files(&provisioning.join("datasources")) {
        let text = std::fs::read_to_string(&file)
            .with_context(|| format!("cannot read {}", file.display()))?;
        let parsed: Value =
            serde_yaml_ng::from_str(&text).with_context(|| format!("{}", file.display()))?;
        for (index, item) in parsed["datasources"]
            .as_array()
            .into_iter()
            .flatten()
            .enumerate()
        {
            let name = item["name"].as_str().unwrap_or_default();
            if name.is_empty() {
                bail!(
                    "{}: datasource {} should have a name",
                    file.display(),
                    index + 1
                );
            }
            let uid = match item["uid"].as_str() {
                Some(uid) if !uid.is_empty() => uid.to_owned(),
                // util.GenerateShortUID: any short unique id will do.
                _ => format!("standin{}", found.len() + 1),
            };
            found.push(ProvisionedDataSource {
                name: expand(name, &env),
                kind: item["type"].as_str().unwrap_or_default().to_owned(),
                uid,
                url: expand(item["url"].as_str().unwrap_or_default(), &env),
                json_data: expand_strings(item["jsonData"].clone(), &env),
                secure_json_data: secure(&item["secureJsonData"], &env),
            });
        }
    }
    Ok(found)
}

/// The `*.yaml` and `*.yml` files of `dir`, sorted; none when it does not exist.
fn yaml_files(dir: &Path) -> Vec<std::path::PathBuf> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut files: Vec<_> = entries
        .filter_map(|entry| entry.ok().map(|entry| entry.path()))
        .filter(|path| {
            path.extension()
                .is_some_and(|ext| ext == "yaml" || ext == "yml")
        })
        .collect();
    files.sort();
    files
}

/// secureJsonData: every value a string, expanded.
fn secure(value: &Value, env: &impl Fn(&str) -> Option<String>) -> BTreeMap<String, String> {
    match value {
        Value::Object(map) => map
            .iter()
            .map(|(key, value)| {
                let value = match value {
                    Value::String(text) => text.clone(),
                    other => other.to_string(),
                };
                (key.clone(), expand(&value, env))
            })
            .collect(),
        _ => BTreeMap::new(),
    }
}

/// One provisioning file's apps.
fn parse(text: &str, env: &impl Fn(&str) -> Option<String>) -> Result<Vec<ProvisionedApp>> {
    let file: Value = serde_yaml_ng::from_str(text)?;
    let Some(items) = file.get("apps").and_then(Value::as_array) else {
        return Ok(Vec::new());
    };
    let mut apps = Vec::new();
    for (index, item) in items.iter().enumerate() {
        let plugin_id = item["type"].as_str().unwrap_or_default();
        if plugin_id.is_empty() {
            // validateRequiredField, config_reader.go
            bail!(
                "app item {} in configuration doesn't contain required field type",
                index + 1
            );
        }
        // checkOrgIDAndOrgName: no org id and no org name is the main org. The stand-in has
        // only the main org, "Main Org.", as a fresh Grafana has.
        let org_id = match (
            item["org_id"].as_i64().unwrap_or(0),
            item["org_name"].as_str(),
        ) {
            (id, _) if id >= 1 => id,
            (_, None | Some("")) | (_, Some("Main Org.")) => 1,
            (_, Some(name)) => bail!("organization not found: {name:?}"),
        };
        let secure_json_data = secure(&item["secureJsonData"], env);
        apps.push(ProvisionedApp {
            plugin_id: plugin_id.to_owned(),
            org_id,
            enabled: item["disabled"].as_bool() != Some(true),
            json_data: expand_strings(item["jsonData"].clone(), env),
            secure_json_data,
        });
    }
    Ok(apps)
}

/// Every string in `value`, expanded (values.JSONValue walks maps and lists).
fn expand_strings(value: Value, env: &impl Fn(&str) -> Option<String>) -> Value {
    match value {
        Value::String(text) => Value::String(expand(&text, env)),
        Value::Array(items) => {
            Value::Array(items.into_iter().map(|v| expand_strings(v, env)).collect())
        }
        Value::Object(map) => Value::Object(
            map.into_iter()
                .map(|(key, v)| (key, expand_strings(v, env)))
                .collect(),
        ),
        other => other,
    }
}

/// `$NAME` and `${NAME}` replaced by the variable's value, "" when unset (Go's os.Expand,
/// which Grafana's provisioning values use).
fn expand(text: &str, env: &impl Fn(&str) -> Option<String>) -> String {
    let is_name = |c: char| c.is_ascii_alphanumeric() || c == '_';
    let mut out = String::new();
    let mut rest = text;
    while let Some(at) = rest.find('$') {
        out.push_str(&rest[..at]);
        let after = &rest[at + 1..];
        let (name, consumed) = if let Some(braced) = after.strip_prefix('{') {
            match braced.find('}') {
                Some(end) => (&braced[..end], end + 2),
                None => ("", 0),
            }
        } else {
            let end = after.find(|c| !is_name(c)).unwrap_or(after.len());
            (&after[..end], end)
        };
        if consumed == 0 {
            out.push('$');
            rest = after;
            continue;
        }
        out.push_str(&env(name).unwrap_or_default());
        rest = &after[consumed..];
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(name: &str) -> Option<String> {
        (name == "TOKEN").then(|| "s3cret".to_owned())
    }

    #[test]
    fn apps_are_read_as_grafana_provisions_them() {
        let apps = parse(
            "apiVersion: 1\napps:\n  - type: acme-x-app\n    org_id: 1\n    disabled: false\n    jsonData:\n      targets:\n        - name: a\n          address: ${TOKEN}:1\n    secureJsonData:\n      hookToken: $TOKEN\n      unset: x$NOPE\n  - type: acme-y-app\n    disabled: true\n",
            &env,
        )
        .unwrap();
        assert_eq!(apps.len(), 2);
        assert_eq!(apps[0].plugin_id, "acme-x-app");
        assert!(apps[0].enabled);
        assert_eq!(apps[0].json_data["targets"][0]["address"], "s3cret:1");
        assert_eq!(apps[0].secure_json_data["hookToken"], "s3cret");
        assert_eq!(apps[0].secure_json_data["unset"], "x");
        // No org_id: the main org; disabled: true is a setting with enabled false.
        assert_eq!((apps[1].org_id, apps[1].enabled), (1, false));
    }

    #[test]
    fn data_sources_are_read_with_a_uid_each() {
        let dir = tempfile_dir();
        std::fs::create_dir_all(dir.join("datasources")).unwrap();
        std::fs::write(
            dir.join("datasources/ds.yml"),
            "apiVersion: 1\ndatasources:\n  - name: weather\n    type: acme-weather-datasource\n    jsonData:\n      path: /x\n    secureJsonData:\n      apiKey: $TOKEN\n  - name: second\n    uid: two\n    type: acme-weather-datasource\n",
        )
        .unwrap();
        let found = read_datasources(&dir, env).unwrap();
        assert_eq!(found.len(), 2);
        assert_eq!(
            (found[0].name.as_str(), found[0].uid.as_str()),
            ("weather", "standin1")
        );
        assert_eq!(found[0].secure_json_data["apiKey"], "s3cret");
        assert_eq!(found[1].uid, "two");
        std::fs::write(
            dir.join("datasources/ds.yml"),
            "datasources:\n  - type: x\n",
        )
        .unwrap();
        assert!(
            read_datasources(&dir, env)
                .unwrap_err()
                .to_string()
                .contains("should have a name")
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }

    fn tempfile_dir() -> std::path::PathBuf {
        let dir = std::env::temp_dir().join(format!("standin-provisioning-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    #[test]
    fn an_app_without_a_type_is_refused() {
        let error = parse("apps:\n  - org_id: 1\n", &env).unwrap_err();
        assert!(error.to_string().contains("required field type"), "{error}");
    }
}
