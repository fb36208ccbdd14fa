//! Checks plugin.json against Grafana's JSON schema (`plugin.schema.json`, copied from
//! Grafana; unknown fields are errors there). Interprets every keyword that schema uses that
//! constrains: type, enum, pattern, minLength, format, properties, required,
//! additionalProperties, items, additionalItems, minItems. A test fails when the schema gains
//! a keyword that is not among them or the annotations.
use serde_json::Value;

use crate::project::kind;

pub const PLUGIN_SCHEMA: &str = include_str!("plugin.schema.json");

/// The `format`s [`violations`] checks.
pub const FORMATS: [&str; 2] = ["email", "uri"];

/// Every violation, as `path: problem` (`info.version: "1.0" does not match …`).
pub fn violations(value: &Value, schema: &Value) -> Vec<String> {
    let mut found = Vec::new();
    check(value, schema, "plugin.json", &mut found);
    found
}

fn check(value: &Value, schema: &Value, path: &str, found: &mut Vec<String>) {
    let Some(schema) = schema.as_object() else {
        return;
    };
    if let Some(expected) = schema.get("type") {
        let types: Vec<&str> = match expected {
            Value::String(one) => vec![one.as_str()],
            Value::Array(many) => many.iter().filter_map(Value::as_str).collect(),
            _ => vec![],
        };
        if !types.is_empty() && !types.iter().any(|t| has_type(value, t)) {
            found.push(format!(
                "{path}: must be {}, found {}",
                types.join(" or "),
                kind(value)
            ));
            return;
        }
    }
    if let Some(Value::Array(allowed)) = schema.get("enum")
        && !allowed.contains(value)
    {
        let allowed: Vec<String> = allowed.iter().map(Value::to_string).collect();
        found.push(format!(
            "{path}: {value} is not one of {}",
            allowed.join(", ")
        ));
    }
    match value {
        Value::String(text) => check_string(text, value, schema, path, found),
        Value::Object(object) => check_object(object, schema, path, found),
        Value::Array(items) => check_array(items, schema, path, found),
        _ => {}
    }
}

type Schema = serde_json::Map<String, Value>;

fn check_string(text: &str, value: &Value, schema: &Schema, path: &str, found: &mut Vec<String>) {
    if let Some(Value::String(pattern)) = schema.get("pattern") {
        match regex_lite::Regex::new(pattern) {
            Ok(regex) if !regex.is_match(text) => {
                found.push(format!("{path}: {value} does not match {pattern}"));
            }
            Ok(_) => {}
            Err(error) => found.push(format!(
                "{path}: the schema's pattern {pattern} is not understood ({error})"
            )),
        }
    }
    if let Some(Value::String(format)) = schema.get("format")
        && !format_matches(format, text)
    {
        found.push(format!("{path}: {value} is not a valid {format}"));
    }
    if let Some(min) = schema.get("minLength").and_then(Value::as_u64)
        && (text.chars().count() as u64) < min
    {
        found.push(format!("{path}: shorter than {min} characters"));
    }
}

fn check_object(object: &Schema, schema: &Schema, path: &str, found: &mut Vec<String>) {
    let properties = schema.get("properties").and_then(Value::as_object);
    if let Some(Value::Array(required)) = schema.get("required") {
        for name in required.iter().filter_map(Value::as_str) {
            if !object.contains_key(name) {
                found.push(format!("{path}: `{name}` is required"));
            }
        }
    }
    for (name, child) in object {
        let child_path = format!("{path}.{name}");
        match properties.and_then(|p| p.get(name)) {
            Some(child_schema) => check(child, child_schema, &child_path, found),
            None => match schema.get("additionalProperties") {
                Some(Value::Bool(false)) => found.push(format!("{path}: unknown field `{name}`")),
                Some(extra @ Value::Object(_)) => check(child, extra, &child_path, found),
                _ => {}
            },
        }
    }
}

fn check_array(items: &[Value], schema: &Schema, path: &str, found: &mut Vec<String>) {
    if let Some(min) = schema.get("minItems").and_then(Value::as_u64)
        && (items.len() as u64) < min
    {
        found.push(format!("{path}: needs at least {min} item(s)"));
    }
    match schema.get("items") {
        Some(Value::Array(positional)) => {
            for (index, item) in items.iter().enumerate() {
                let item_path = format!("{path}[{index}]");
                match (positional.get(index), schema.get("additionalItems")) {
                    (Some(item_schema), _) => check(item, item_schema, &item_path, found),
                    (None, Some(Value::Bool(false))) => {
                        found.push(format!("{item_path}: no more items are allowed"))
                    }
                    (None, Some(extra @ Value::Object(_))) => check(item, extra, &item_path, found),
                    _ => {}
                }
            }
        }
        Some(item_schema @ Value::Object(_)) => {
            for (index, item) in items.iter().enumerate() {
                check(item, item_schema, &format!("{path}[{index}]"), found);
            }
        }
        _ => {}
    }
}

/// The formats the schema uses, checked as far as a validator does: an e-mail address has a
/// local part and a domain, a URI a scheme; neither has spaces. Others pass.
fn format_matches(format: &str, text: &str) -> bool {
    if text.chars().any(char::is_whitespace) {
        return !FORMATS.contains(&format);
    }
    match format {
        "email" => text
            .split_once('@')
            .is_some_and(|(local, domain)| !local.is_empty() && domain.contains('.')),
        "uri" => text.split_once(':').is_some_and(|(scheme, _)| {
            scheme.starts_with(|c: char| c.is_ascii_alphabetic())
                && scheme
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || "+-.".contains(c))
        }),
        _ => true,
    }
}

fn has_type(value: &Value, name: &str) -> bool {
    match name {
        "object" => value.is_object(),
        "array" => value.is_array(),
        "string" => value.is_string(),
        "boolean" => value.is_boolean(),
        "null" => value.is_null(),
        "number" => value.is_number(),
        "integer" => value.as_i64().is_some() || value.as_u64().is_some(),
        _ => true,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The keywords [`violations`] checks.
    const INTERPRETED: [&str; 11] = [
        "type",
        "enum",
        "pattern",
        "minLength",
        "properties",
        "required",
        "additionalProperties",
        "items",
        "additionalItems",
        "minItems",
        "format",
    ];
    /// Keywords that only describe and never constrain.
    const ANNOTATIONS: [&str; 5] = ["$id", "$schema", "title", "description", "default"];

    fn schema() -> Value {
        serde_json::from_str(PLUGIN_SCHEMA).unwrap()
    }

    fn filled_plugin_json() -> Value {
        let text = include_str!("../../../plugin.json")
            .replace("%VERSION%", "1.2.3")
            .replace("%TODAY%", "2026-11-24")
            .replace("%PLUGIN_ID%", "acme-servicechecks-app");
        serde_json::from_str(&text).unwrap()
    }

    #[test]
    fn the_repositorys_plugin_json_is_valid_filled_and_as_a_template() {
        assert_eq!(
            violations(&filled_plugin_json(), &schema()),
            Vec::<String>::new()
        );
        let template: Value = serde_json::from_str(include_str!("../../../plugin.json")).unwrap();
        assert_eq!(violations(&template, &schema()), Vec::<String>::new());
    }

    #[test]
    fn violations_name_the_path_and_the_rule() {
        let mut json = filled_plugin_json();
        json["info"]["version"] = "1.2".into();
        json["info"]["updated"] = "yesterday".into();
        json["id"] = "Acme".into();
        json["type"] = "widget".into();
        json["backend"] = "yes".into();
        json["colour"] = "blue".into();
        json["info"].as_object_mut().unwrap().remove("logos");
        json["info"]["keywords"] = serde_json::json!([]);
        let found = violations(&json, &schema());
        let expect = [
            "plugin.json: unknown field `colour`",
            "plugin.json.info: `logos` is required",
            "plugin.json.info.version: \"1.2\" does not match",
            "plugin.json.info.updated: \"yesterday\" does not match",
            "plugin.json.id: \"Acme\" does not match",
            "plugin.json.type: \"widget\" is not one of",
            "plugin.json.backend: must be boolean, found a string",
            "plugin.json.info.keywords: needs at least 1 item(s)",
        ];
        for expected in expect {
            assert!(
                found.iter().any(|f| f.starts_with(expected)),
                "{expected}\nin {found:#?}"
            );
        }
    }

    /// Every keyword under `node` (a schema), with the `format` values, walking into the
    /// places a keyword's value is itself a schema.
    fn keywords(node: &Value, used: &mut Vec<String>) {
        let Some(object) = node.as_object() else {
            return;
        };
        for (keyword, value) in object {
            used.push(keyword.clone());
            if keyword == "format" {
                used.push(format!("format:{}", value.as_str().unwrap_or_default()));
            }
            match keyword.as_str() {
                "properties" | "definitions" | "patternProperties" => {
                    for schema in value.as_object().into_iter().flat_map(|o| o.values()) {
                        keywords(schema, used);
                    }
                }
                "items" | "additionalItems" | "additionalProperties" | "not" => match value {
                    Value::Array(schemas) => schemas.iter().for_each(|s| keywords(s, used)),
                    schema => keywords(schema, used),
                },
                "anyOf" | "oneOf" | "allOf" => value
                    .as_array()
                    .into_iter()
                    .flatten()
                    .for_each(|s| keywords(s, used)),
                _ => {}
            }
        }
    }

    #[test]
    fn the_schema_uses_no_keyword_or_format_the_interpreter_ignores() {
        let mut used = Vec::new();
        keywords(&schema(), &mut used);
        used.sort();
        used.dedup();
        let ignored: Vec<&String> = used
            .iter()
            .filter(|keyword| match keyword.strip_prefix("format:") {
                Some(format) => !FORMATS.contains(&format),
                None => {
                    !INTERPRETED.contains(&keyword.as_str())
                        && !ANNOTATIONS.contains(&keyword.as_str())
                }
            })
            .collect();
        assert!(
            ignored.is_empty(),
            "plugin.schema.json uses {ignored:?}, which schema.rs does not interpret"
        );
        assert!(used.iter().any(|k| k == "format:uri"), "{used:?}");
    }

    #[test]
    fn formats_are_checked() {
        let mut json = filled_plugin_json();
        json["info"]["author"]["email"] = "not an address".into();
        json["info"]["author"]["url"] = "example.com/about".into();
        let found = violations(&json, &schema());
        assert!(
            found.contains(
                &"plugin.json.info.author.email: \"not an address\" is not a valid email"
                    .to_owned()
            ),
            "{found:#?}"
        );
        assert!(
            found.contains(
                &"plugin.json.info.author.url: \"example.com/about\" is not a valid uri".to_owned()
            ),
            "{found:#?}"
        );
        json["info"]["author"]["email"] = "dev@example.com".into();
        json["info"]["author"]["url"] = "https://example.com/about".into();
        assert_eq!(violations(&json, &schema()), Vec::<String>::new());
    }
}
