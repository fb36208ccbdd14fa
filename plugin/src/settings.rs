//! The app's settings as admins write them in `jsonData`: declared with serde and read by the
//! runtime's `parse_json_data`, so a wrong type names its path (`targets[1].address`), then
//! checked for what serde cannot say (ranges, ports, unique names). No shape of input
//! (empty, `null`, wrong types, unknown fields) can fail a request: it is an error to show.
use std::{collections::BTreeMap, collections::HashSet, time::Duration};

use grafana_plugin_runtime::settings::parse_json_data;
use serde::{Deserialize, de::IgnoredAny};

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

/// jsonData as written.
#[derive(Deserialize, Default)]
#[serde(expecting = "an object")]
struct Written {
    #[serde(default)]
    targets: Option<Vec<WrittenTarget>>,
}

/// One target as written; every field optional here, so that what is missing gets a
/// message of its own.
#[derive(Deserialize)]
#[serde(
    rename_all = "camelCase",
    expecting = "an object with name and address"
)]
struct WrittenTarget {
    name: Option<String>,
    passive: Option<bool>,
    address: Option<String>,
    send: Option<String>,
    expect_banner: Option<String>,
    interval_seconds: Option<serde_json::Number>,
}

/// Top-level fields this version reads.
const KNOWN_FIELDS: &[&str] = &["targets"];

/// Parses the app's jsonData. Empty input, `null` and `{}` are a fresh install: no targets.
pub fn parse(json_data: &[u8]) -> Result<Settings, SettingsError> {
    // An object first (a derived struct would also take a list), whose keys tell the
    // unknown fields.
    let fields: BTreeMap<String, IgnoredAny> = parse_json_data(json_data)?;
    let unknown_fields = fields
        .into_keys()
        .filter(|key| !KNOWN_FIELDS.contains(&key.as_str()))
        .collect();
    let written: Written = parse_json_data(json_data)?;
    let targets = written.targets.unwrap_or_default();
    if targets.len() > MAX_TARGETS {
        return Err(SettingsError::new(
            "targets",
            format!(
                "has {} targets; at most {MAX_TARGETS} are checked",
                targets.len()
            ),
        ));
    }
    let mut names = HashSet::new();
    let mut settings = Settings::default();
    for (index, written) in targets.into_iter().enumerate() {
        let target = check_target(written, |field| format!("targets[{index}].{field}"))?;
        if !names.insert(target.name.clone()) {
            return Err(SettingsError::new(
                format!("targets[{index}].name"),
                format!("\"{}\" is used twice; names must be unique", target.name),
            ));
        }
        settings.targets.push(target);
    }
    settings.unknown_fields = unknown_fields;
    Ok(settings)
}

/// What serde cannot say about a target; `at` names a field's path.
fn check_target(
    written: WrittenTarget,
    at: impl Fn(&str) -> String,
) -> Result<Target, SettingsError> {
    let name = written.name.unwrap_or_default().trim().to_owned();
    if name.is_empty() || name.len() > MAX_NAME_LEN || name.chars().any(char::is_control) {
        return Err(SettingsError::new(
            at("name"),
            format!("is required: 1 to {MAX_NAME_LEN} printable characters"),
        ));
    }
    let passive = written.passive.unwrap_or(false);
    let expect_banner = written.expect_banner.filter(|banner| !banner.is_empty());
    if passive {
        let probes = [
            ("address", written.address.is_some()),
            ("send", written.send.is_some()),
            ("expectBanner", expect_banner.is_some()),
        ];
        if let Some((field, _)) = probes.iter().find(|(_, set)| *set) {
            return Err(SettingsError::new(
                at(field),
                "is not used by a passive target (its state comes from hooks/report); remove it or set passive to false",
            ));
        }
    }
    let address = match written.address {
        Some(address) => address,
        None if passive => String::new(),
        None => {
            return Err(SettingsError::new(
                at("address"),
                "is required: host:port, e.g. \"db.internal:5432\" (or set \"passive\": true for a target that reports itself)",
            ));
        }
    };
    if !passive {
        check_address(&address)
            .map_err(|why| SettingsError::new(at("address"), format!("\"{address}\" {why}")))?;
    }
    for (field, text) in [("send", &written.send), ("expectBanner", &expect_banner)] {
        if text.as_ref().is_some_and(|t| t.len() > MAX_PROBE_LEN) {
            return Err(SettingsError::new(
                at(field),
                format!("is longer than {MAX_PROBE_LEN} bytes"),
            ));
        }
    }
    let interval = check_interval(written.interval_seconds)
        .map_err(|why| SettingsError::new(at("intervalSeconds"), why))?;
    Ok(Target {
        name,
        passive,
        address,
        send: written.send,
        expect_banner,
        interval,
    })
}

/// `intervalSeconds`: absent means the default; otherwise whole seconds within the range.
fn check_interval(seconds: Option<serde_json::Number>) -> Result<Duration, String> {
    let Some(number) = seconds else {
        return Ok(DEFAULT_INTERVAL);
    };
    let range = MIN_INTERVAL.as_secs()..=MAX_INTERVAL.as_secs();
    match number.as_u64().filter(|seconds| range.contains(seconds)) {
        Some(seconds) => Ok(Duration::from_secs(seconds)),
        None => Err(format!(
            "is {number}; use a whole number of seconds from {} to {}",
            range.start(),
            range.end()
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
            "jsonData.targets[0].passive: invalid type: string \"yes\", expected a boolean"
        );
    }

    #[test]
    fn each_bad_shape_has_a_precise_message() {
        let cases = [
            (
                "[1]",
                "jsonData.(document): invalid type: sequence, expected a map",
            ),
            (
                "\"x\"",
                "jsonData.(document): invalid type: string \"x\", expected a map",
            ),
            (
                "{",
                "jsonData.(document): not valid JSON (EOF while parsing an object",
            ),
            (
                "{\"targets\": {}}",
                "jsonData.targets: invalid type: map, expected a sequence",
            ),
            (
                "{\"targets\": [3]}",
                "jsonData.targets[0]: invalid type: integer `3`, expected an object with name and address",
            ),
            (
                "{\"targets\": [{\"address\": \"a:1\"}]}",
                "jsonData.targets[0].name: is required",
            ),
            (
                "{\"targets\": [{\"name\": 5, \"address\": \"a:1\"}]}",
                "jsonData.targets[0].name: invalid type: integer `5`, expected a string",
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
                "jsonData.targets[0].intervalSeconds: invalid type: string \"30\", expected a JSON number",
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
                "jsonData.targets[0].expectBanner: invalid type: boolean `true`, expected a string",
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
