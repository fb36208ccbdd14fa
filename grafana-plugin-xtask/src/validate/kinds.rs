//! What plugin.json's capability fields mean for each kind of plugin: the fields that the
//! schema (plugin.schema.json) describes as "for data source plugins", and the one it says
//! requires a backend (`alerting`). The schema checks their types; these rules check that
//! they fit the plugin's type.
use serde_json::Value;

use super::Findings;

/// Read by Grafana for data sources only (plugin.schema.json's descriptions).
const DATASOURCE_ONLY: [&str; 10] = [
    "alerting",
    "annotations",
    "logs",
    "metrics",
    "mixed",
    "multiValueFilterOperators",
    "queryOptions",
    "routes",
    "streaming",
    "tracing",
];

/// The capabilities that make a data source usable somewhere: a panel's queries (metrics),
/// Explore's logs or traces, annotations.
const QUERY_CAPABILITIES: [&str; 4] = ["metrics", "logs", "tracing", "annotations"];

pub fn capabilities(json: &Value, findings: &mut Findings) {
    let set = |field: &str| match json.get(field) {
        None | Some(Value::Null) | Some(Value::Bool(false)) => false,
        Some(Value::Array(items)) => !items.is_empty(),
        Some(Value::Object(map)) => !map.is_empty(),
        Some(_) => true,
    };
    let plugin_type = json.get("type").and_then(Value::as_str).unwrap_or_default();
    if plugin_type != "datasource" {
        for field in DATASOURCE_ONLY.into_iter().filter(|field| set(field)) {
            findings.warning(
                "plugin-json-fields",
                format!(
                    "plugin.json: {field} is read for data sources only, and type is \
                     {plugin_type:?}; remove it"
                ),
            );
        }
        return;
    }
    let backend = json.get("backend") == Some(&Value::Bool(true));
    if set("alerting") && !backend {
        findings.error(
            "plugin-json-fields",
            "plugin.json: alerting is true but backend is not: Grafana evaluates alert rules \
             through the plugin's backend (QueryData); set \"backend\": true and \"executable\", \
             or remove alerting",
        );
    }
    if set("mixed") {
        findings.warning(
            "plugin-json-fields",
            "plugin.json: mixed is internal to Grafana's own Mixed data source; remove it",
        );
    }
    if !QUERY_CAPABILITIES.into_iter().any(set) {
        findings.warning(
            "plugin-json-fields",
            "plugin.json: the data source declares none of metrics, logs, tracing, annotations: \
             the panel editor offers only data sources with \"metrics\": true; set the ones its \
             queries answer",
        );
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn messages(json: Value) -> Vec<String> {
        let mut findings = Findings::default();
        capabilities(&json, &mut findings);
        findings
            .into_list()
            .into_iter()
            .map(|finding| format!("{:?} {}", finding.severity, finding.message))
            .collect()
    }

    #[test]
    fn a_data_source_with_a_backend_and_metrics_passes() {
        let ok = json!({"type": "datasource", "backend": true, "metrics": true, "alerting": true});
        assert_eq!(messages(ok), Vec::<String>::new());
    }

    #[test]
    fn alerting_needs_a_backend_and_a_data_source_needs_a_capability() {
        let found = messages(json!({"type": "datasource", "alerting": true, "metrics": true}));
        assert_eq!(found.len(), 1, "{found:?}");
        assert!(found[0].starts_with("Error plugin.json: alerting is true but backend is not"));
        let found = messages(json!({"type": "datasource", "backend": true}));
        assert!(found[0].starts_with("Warning plugin.json: the data source declares none"));
    }

    #[test]
    fn data_source_fields_on_an_app_are_named() {
        let found = messages(json!({"type": "app", "metrics": true, "routes": [], "logs": false}));
        assert_eq!(
            found,
            [
                "Warning plugin.json: metrics is read for data sources only, and type is \"app\"; remove it"
            ]
        );
    }
}
