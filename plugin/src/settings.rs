//! The app's settings as admins write them in `jsonData`, parsed by hand from untrusted bytes
//! so every problem has a precise message with its path (`targets[1].address`), and so that
//! no shape of input (empty, `null`, wrong types, unknown fields) can fail a request.
use std::{collections::HashSet, time::Duration};

use serde_json::Value;

pub const DEFAULT_INTERVAL: Duration = Duration::from_secs(30);
pub const MIN_INTERVAL: Duration = Duration::from_secs(5);
pub const MAX_INTERVAL: Duration = Duration::from_secs(3600);
pub const MAX_TARGETS: usize = 100;
const MAX_NAME_LEN: usize = 64;
const MAX_PROBE_LEN: usize = 256;

/// A TCP service to check, or a passive target whose state machines push.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Target {
    pub name: String,
    /// Passive targets are never connected to: their state comes only from `hooks/report`
    /// (a batch job, a host behind a firewall). They have no address, probe or banner.
    pub passive: bool,
    /// `host:port`, as written (`[::1]:22` for IPv6); empty for passive targets.
    pub address: String,
    /// Bytes to send after connecting, e.g. `PING\r\n` for Redis.
    pub send: Option<String>,
    /// The greeting must start with this, e.g. `220` (SMTP) or `SSH-` (SSH).
    pub expect_banner: Option<String>,
    pub interval: Duration,
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Settings {
    pub targets: Vec<Target>,
    /// Top-level fields this version does not know; ignored, reported by CheckHealth.
    pub unknown_fields: Vec<String>,
}

/// Why settings were rejected (the runtime's: the field's path and the problem, never a
/// secure value, which is not here).
pub use grafana_plugin_runtime::settings::SettingsError;

fn problem(path: impl Into<String>, problem: impl Into<String>) -> SettingsError {
    SettingsError::new(path, problem)
}

/// Parses the app's jsonData. Empty input, `null` and `{}` are a fresh install: no targets.
pub fn parse(json_data: &[u8]) -> Result<Settings, SettingsError> {
    if json_data.iter().all(u8::is_ascii_whitespace) {
        return Ok(Settings::default());
    }
    let value: Value = serde_json::from_slice(json_data)
        .map_err(|error| problem("(document)", format!("not valid JSON ({error})")))?;
    let object = match value {
        Value::Null => return Ok(Settings::default()),
        Value::Object(object) => object,
        other => {
            return Err(problem(
                "(document)",
                format!("must be an object, found {}", kind(&other)),
            ));
        }
    };
    let mut settings = Settings::default();
    for (key, value) in object {
        match key.as_str() {
            "targets" => settings.targets = parse_targets(&value)?,
            _ => settings.unknown_fields.push(key),
        }
    }
    Ok(settings)
}

fn parse_targets(value: &Value) -> Result<Vec<Target>, SettingsError> {
    let items = match value {
        Value::Null => return Ok(Vec::new()),
        Value::Array(items) => items,
        other => {
            return Err(problem(
                "targets",
                format!("must be a list of targets, found {}", kind(other)),
            ));
        }
    };
    if items.len() > MAX_TARGETS {
        return Err(problem(
            "targets",
            format!(
                "has {} targets; at most {MAX_TARGETS} are checked",
                items.len()
            ),
        ));
    }
    let mut names = HashSet::new();
    let mut targets = Vec::with_capacity(items.len());
    for (index, item) in items.iter().enumerate() {
        let target = parse_target(index, item)?;
        if !names.insert(target.name.clone()) {
            return Err(problem(
                format!("targets[{index}].name"),
                format!("\"{}\" is used twice; names must be unique", target.name),
            ));
        }
        targets.push(target);
    }
    Ok(targets)
}

fn parse_target(index: usize, value: &Value) -> Result<Target, SettingsError> {
    let at = |field: &str| format!("targets[{index}].{field}");
    let Value::Object(object) = value else {
        return Err(problem(
            format!("targets[{index}]"),
            format!(
                "must be an object with name and address, found {}",
                kind(value)
            ),
        ));
    };
    let string = |field: &str| -> Result<Option<String>, SettingsError> {
        match object.get(field) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(text)) => Ok(Some(text.clone())),
            Some(other) => Err(problem(
                at(field),
                format!("must be a string, found {}", kind(other)),
            )),
        }
    };
    let name = string("name")?.unwrap_or_default();
    let name = name.trim().to_owned();
    if name.is_empty() || name.len() > MAX_NAME_LEN || name.chars().any(char::is_control) {
        return Err(problem(
            at("name"),
            format!("is required: 1 to {MAX_NAME_LEN} printable characters"),
        ));
    }
    let passive = match object.get("passive") {
        None | Some(Value::Null) | Some(Value::Bool(false)) => false,
        Some(Value::Bool(true)) => true,
        Some(other) => {
            return Err(problem(
                at("passive"),
                format!("must be true or false, found {}", kind(other)),
            ));
        }
    };
    let send = string("send")?;
    let expect_banner = string("expectBanner")?.filter(|banner| !banner.is_empty());
    if passive {
        for field in ["address", "send", "expectBanner"] {
            if !matches!(object.get(field), None | Some(Value::Null)) {
                return Err(problem(
                    at(field),
                    "is not used by a passive target (its state comes from hooks/report); remove it or set passive to false",
                ));
            }
        }
    }
    let address = match string("address")? {
        Some(address) => address,
        None if passive => String::new(),
        None => {
            return Err(problem(
                at("address"),
                "is required: host:port, e.g. \"db.internal:5432\" (or set \"passive\": true for a target that reports itself)",
            ));
        }
    };
    if !passive {
        check_address(&address)
            .map_err(|why| problem(at("address"), format!("\"{address}\" {why}")))?;
    }
    for (field, text) in [("send", &send), ("expectBanner", &expect_banner)] {
        if text.as_ref().is_some_and(|t| t.len() > MAX_PROBE_LEN) {
            return Err(problem(
                at(field),
                format!("is longer than {MAX_PROBE_LEN} bytes"),
            ));
        }
    }
    let interval = parse_interval(object.get("intervalSeconds"), || at("intervalSeconds"))?;
    Ok(Target {
        name,
        passive,
        address,
        send,
        expect_banner,
        interval,
    })
}

/// `intervalSeconds`: absent means the default; otherwise whole seconds within the range.
fn parse_interval(
    value: Option<&Value>,
    at: impl Fn() -> String,
) -> Result<Duration, SettingsError> {
    let number = match value {
        None | Some(Value::Null) => return Ok(DEFAULT_INTERVAL),
        Some(Value::Number(number)) => number,
        Some(other) => {
            return Err(problem(
                at(),
                format!("must be a number of seconds, found {}", kind(other)),
            ));
        }
    };
    let range = MIN_INTERVAL.as_secs()..=MAX_INTERVAL.as_secs();
    match number.as_u64().filter(|seconds| range.contains(seconds)) {
        Some(seconds) => Ok(Duration::from_secs(seconds)),
        None => Err(problem(
            at(),
            format!(
                "is {number}; use a whole number of seconds from {} to {}",
                range.start(),
                range.end()
            ),
        )),
    }
}

/// `host:port` with a port from 1 to 65535; IPv6 literals in brackets.
fn check_address(address: &str) -> Result<(), &'static str> {
    let Some((host, port)) = address.rsplit_once(':') else {
        return Err("has no port; write host:port, e.g. \"db.internal:5432\"");
    };
    if host.is_empty() || host == "[]" {
        return Err("has no host; write host:port");
    }
    if host.contains(':') && !(host.starts_with('[') && host.ends_with(']')) {
        return Err("is an IPv6 address without brackets; write [address]:port");
    }
    if host
        .chars()
        .any(|c| c.is_whitespace() || c.is_control() || c == '/')
    {
        return Err("has characters a host name cannot have");
    }
    match port.parse::<u16>() {
        Ok(1..) => Ok(()),
        _ => Err("has no valid port (1 to 65535)"),
    }
}

fn kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "an object",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn error(json: &str) -> String {
        parse(json.as_bytes()).unwrap_err().to_string()
    }

    #[test]
    fn empty_null_and_empty_object_are_a_fresh_install() {
        for json in [
            "",
            "  \n",
            "null",
            "{}",
            "{\"targets\": null}",
            "{\"targets\": []}",
        ] {
            assert_eq!(
                parse(json.as_bytes()).unwrap(),
                Settings::default(),
                "{json:?}"
            );
        }
    }

    #[test]
    fn a_full_target_parses_with_defaults_filled_in() {
        let settings = parse(br#"{"targets": [
            {"name": "smtp", "address": "mail.internal:25", "expectBanner": "220", "intervalSeconds": 10},
            {"name": " redis ", "address": "[::1]:6379", "send": "PING\r\n", "expectBanner": "+PONG"}
        ], "theme": "dark"}"#)
        .unwrap();
        assert_eq!(settings.targets.len(), 2);
        assert_eq!(settings.targets[0].interval, Duration::from_secs(10));
        assert_eq!(settings.targets[0].expect_banner.as_deref(), Some("220"));
        assert_eq!(settings.targets[1].name, "redis");
        assert_eq!(settings.targets[1].send.as_deref(), Some("PING\r\n"));
        assert_eq!(settings.targets[1].interval, DEFAULT_INTERVAL);
        assert_eq!(settings.unknown_fields, ["theme"]);
        assert!(!settings.targets[0].passive);
    }

    #[test]
    fn passive_targets_have_no_address_or_probe() {
        let settings = parse(br#"{"targets": [{"name": "backup", "passive": true}]}"#).unwrap();
        assert!(settings.targets[0].passive);
        assert_eq!(settings.targets[0].address, "");
        let message =
            error(r#"{"targets": [{"name": "backup", "passive": true, "address": "a:1"}]}"#);
        assert!(
            message.starts_with("jsonData.targets[0].address: is not used by a passive target"),
            "{message}"
        );
        let message = error(r#"{"targets": [{"name": "backup", "passive": "yes"}]}"#);
        assert_eq!(
            message,
            "jsonData.targets[0].passive: must be true or false, found a string"
        );
    }

    #[test]
    fn each_bad_shape_has_a_precise_message() {
        let cases = [
            (
                "[1]",
                "jsonData.(document): must be an object, found a list",
            ),
            (
                "\"x\"",
                "jsonData.(document): must be an object, found a string",
            ),
            ("{", "jsonData.(document): not valid JSON"),
            (
                "{\"targets\": {}}",
                "jsonData.targets: must be a list of targets, found an object",
            ),
            (
                "{\"targets\": [3]}",
                "jsonData.targets[0]: must be an object with name and address, found a number",
            ),
            (
                "{\"targets\": [{\"address\": \"a:1\"}]}",
                "jsonData.targets[0].name: is required",
            ),
            (
                "{\"targets\": [{\"name\": 5, \"address\": \"a:1\"}]}",
                "jsonData.targets[0].name: must be a string, found a number",
            ),
            (
                "{\"targets\": [{\"name\": \"db\"}]}",
                "jsonData.targets[0].address: is required: host:port",
            ),
            (
                "{\"targets\": [{\"name\": \"db\", \"address\": \"db.internal\"}]}",
                "jsonData.targets[0].address: \"db.internal\" has no port",
            ),
            (
                "{\"targets\": [{\"name\": \"db\", \"address\": \"db:0\"}]}",
                "has no valid port (1 to 65535)",
            ),
            (
                "{\"targets\": [{\"name\": \"db\", \"address\": \"db:99999\"}]}",
                "has no valid port",
            ),
            (
                "{\"targets\": [{\"name\": \"db\", \"address\": \":22\"}]}",
                "has no host",
            ),
            (
                "{\"targets\": [{\"name\": \"db\", \"address\": \"::1:22\"}]}",
                "IPv6 address without brackets",
            ),
            (
                "{\"targets\": [{\"name\": \"db\", \"address\": \"a:1\", \"intervalSeconds\": \"30\"}]}",
                "jsonData.targets[0].intervalSeconds: must be a number of seconds, found a string",
            ),
            (
                "{\"targets\": [{\"name\": \"db\", \"address\": \"a:1\", \"intervalSeconds\": 1}]}",
                "jsonData.targets[0].intervalSeconds: is 1; use a whole number of seconds from 5 to 3600",
            ),
            (
                "{\"targets\": [{\"name\": \"db\", \"address\": \"a:1\", \"intervalSeconds\": 7.5}]}",
                "is 7.5",
            ),
            (
                "{\"targets\": [{\"name\": \"db\", \"address\": \"a:1\", \"expectBanner\": true}]}",
                "jsonData.targets[0].expectBanner: must be a string, found a boolean",
            ),
            (
                "{\"targets\": [{\"name\": \"a\", \"address\": \"a:1\"}, {\"name\": \"a\", \"address\": \"b:2\"}]}",
                "jsonData.targets[1].name: \"a\" is used twice",
            ),
        ];
        for (json, expected) in cases {
            let message = error(json);
            assert!(
                message.contains(expected),
                "{json}\n  got: {message}\n  expected: {expected}"
            );
        }
        let many = format!(
            "{{\"targets\": [{}]}}",
            vec!["{\"name\":\"x\"}"; MAX_TARGETS + 1].join(",")
        );
        assert!(error(&many).contains("at most 100"));
    }
}
