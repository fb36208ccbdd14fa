//! Settings read with serde: a plugin declares its jsonData as a `#[derive(Deserialize)]`
//! struct, and a mismatch is an error that names the field's path
//! (`jsonData.targets[1].address`), never a failed call. Empty jsonData and `null` are a
//! fresh install: the type's `Default`.
use std::fmt;

use serde::de::DeserializeOwned;

/// Why jsonData was not accepted: the field's path and what is wrong (serde's words, which
/// may quote the offending value: jsonData is not secret, and secureJsonData never comes
/// here).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SettingsError {
    /// The field's path inside jsonData (`targets[1].address`), or `(document)`.
    pub path: String,
    /// What is wrong there.
    pub problem: String,
}

impl fmt::Display for SettingsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "jsonData.{}: {}", self.path, self.problem)
    }
}

impl std::error::Error for SettingsError {}

impl SettingsError {
    /// A problem at `path`, for checks serde cannot express (a range, a unique name).
    pub fn new(path: impl Into<String>, problem: impl Into<String>) -> SettingsError {
        SettingsError {
            path: path.into(),
            problem: problem.into(),
        }
    }
}

/// Parses jsonData into `T`.
///
/// ```
/// use grafana_plugin_runtime::settings::parse_json_data;
/// #[derive(serde::Deserialize, Default, Debug)]
/// struct Settings { #[serde(default)] targets: Vec<Target> }
/// #[derive(serde::Deserialize, Debug)]
/// struct Target { name: String, address: String }
///
/// let error = parse_json_data::<Settings>(br#"{"targets": [{"name": "a", "address": 5}]}"#)
///     .unwrap_err();
/// assert_eq!(error.path, "targets[0].address");
/// assert!(parse_json_data::<Settings>(b"null").unwrap().targets.is_empty());
/// ```
pub fn parse_json_data<T: DeserializeOwned + Default>(
    json_data: &[u8],
) -> Result<T, SettingsError> {
    if json_data.iter().all(u8::is_ascii_whitespace) || json_data == b"null" {
        return Ok(T::default());
    }
    let mut deserializer = serde_json::Deserializer::from_slice(json_data);
    let parsed: T = serde_path_to_error::deserialize(&mut deserializer).map_err(|error| {
        // Broken JSON has no field to name: its line and column say where.
        if error.inner().is_syntax() || error.inner().is_eof() {
            return SettingsError {
                path: "(document)".into(),
                problem: format!("not valid JSON ({})", error.inner()),
            };
        }
        let path = error.path().to_string();
        let path = if path == "." {
            "(document)".to_owned()
        } else {
            path
        };
        // serde_json's message names the line and column; the path says where.
        let problem = error.inner().to_string();
        let problem = problem
            .rsplit_once(" at line ")
            .map_or(problem.as_str(), |(message, _)| message)
            .to_owned();
        SettingsError { path, problem }
    })?;
    deserializer.end().map_err(|error| SettingsError {
        path: "(document)".into(),
        problem: format!("not valid JSON ({error})"),
    })?;
    Ok(parsed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(serde::Deserialize, Default, Debug, PartialEq)]
    #[serde(deny_unknown_fields)]
    struct Settings {
        #[serde(default)]
        targets: Vec<Target>,
    }

    #[derive(serde::Deserialize, Debug, PartialEq)]
    struct Target {
        name: String,
    }

    #[test]
    fn errors_name_the_fields_path() {
        let error = parse_json_data::<Settings>(br#"{"targets": [{"name": "a"}, {"name": 7}]}"#)
            .unwrap_err();
        assert_eq!(error.path, "targets[1].name");
        assert!(error.problem.contains("expected a string"), "{error}");
        assert!(error.to_string().starts_with("jsonData.targets[1].name: "));
        let error = parse_json_data::<Settings>(b"\"text\"").unwrap_err();
        assert_eq!(error.path, "(document)");
        let error = parse_json_data::<Settings>(b"{\"targets\": []} x").unwrap_err();
        assert!(error.problem.contains("not valid JSON"), "{error}");
        let error = parse_json_data::<Settings>(b"{\"targets\": [{\"name\": ").unwrap_err();
        assert_eq!(error.path, "(document)");
        assert!(
            error
                .problem
                .starts_with("not valid JSON (EOF while parsing"),
            "{error}"
        );
    }

    #[test]
    fn empty_and_null_are_a_fresh_install() {
        for fresh in [&b""[..], b"  ", b"null", b"{}"] {
            assert_eq!(
                parse_json_data::<Settings>(fresh).unwrap(),
                Settings::default()
            );
        }
    }
}
