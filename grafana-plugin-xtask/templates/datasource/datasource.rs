//! A small, real data source: one instance per data source (its own settings, its API key,
//! its own count of queries), QueryData that answers each query of the create-plugin
//! frontend's model (`{queryText?, constant}`, src/types.ts) with a time series over the
//! panel's range ([`SERIES`]), CheckHealth that checks the instance's settings, and resources
//! for the query editor. A query of the wrong shape gets its own error; the others still
//! answer.
use std::sync::{
    Arc,
    atomic::{AtomicU64, Ordering},
};

use grafana_plugin_runtime::{
    Caller, Health, InstanceSettings, Plugin, Role, Secret,
    axum::{Json, Router, extract::State, routing::get},
    data::{DataQuery, DataResponse, Field, Frame},
    resource::RequireRole,
    settings::{SettingsError, parse_json_data},
};
use serde::Deserialize;
use serde_json::{Value, json};

/// The most points one query answers, whatever the panel asks for.
const MAX_POINTS: i64 = 10_000;

/// What a query's frame `response` holds. [`SERIES`] picks one; the other stays for the
/// owner to switch to (hence no dead-code warning for it).
#[allow(dead_code)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Series {
    /// `time` over the panel's range, one point per interval (at most its maxDataPoints), and
    /// `values`, the query's constant, in the settings' unit.
    Range,
    /// What create-plugin's Go backend answers: `time` at the range's start and end, and
    /// `values` 10 and 20 (int64), which the scaffold's own e2e test expects
    /// (tests/queryEditor.spec.ts). `cargo xtask adopt` writes this one for a create-plugin
    /// data source, so it answers as the Go backend did until its owner changes it.
    GoScaffold,
}

/// This data source's series.
pub const SERIES: Series = Series::Range;

/// jsonData as the config editor writes it (MyDataSourceOptions in src/types.ts).
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Settings {
    /// The service's path (the scaffold's example field), shown as the executed query.
    #[serde(default)]
    pub path: Option<String>,
    /// The unit of the values, as Grafana names units (`celsius`, `ms`), if any.
    #[serde(default)]
    pub unit: Option<String>,
}

/// One query as the query editor sends it (MyQuery in src/types.ts), beside Grafana's own
/// fields (refId, datasource, …), which are ignored.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Query {
    #[serde(default)]
    query_text: Option<String>,
    #[serde(default = "default_constant")]
    constant: f64,
}

/// DEFAULT_QUERY in src/types.ts.
fn default_constant() -> f64 {
    6.5
}

/// The data source: stateless; each instance has its own state.
pub struct DataSource;

/// One data source of this type, as an admin configured it.
pub struct Instance {
    uid: String,
    settings: Result<Settings, SettingsError>,
    api_key: Option<Secret>,
    queries: AtomicU64,
}

impl Plugin for DataSource {
    type Instance = Instance;

    fn new_instance(&self, settings: InstanceSettings) -> Instance {
        Instance {
            uid: settings
                .data_source
                .as_ref()
                .map(|ds| ds.uid.clone())
                .unwrap_or_default(),
            settings: parse_json_data(&settings.json_data),
            api_key: settings
                .secret("apiKey")
                .filter(|key| !key.is_empty())
                .cloned(),
            queries: AtomicU64::new(0),
        }
    }

    /// The "Save & test" of the data source's settings page.
    async fn check_health(&self, instance: Arc<Instance>, _caller: Caller) -> Health {
        if let Err(error) = &instance.settings {
            return Health::error(format!("Invalid settings: {error}"));
        }
        if instance.api_key.is_none() {
            return Health::error("API key is missing");
        }
        Health::ok("Data source is working")
    }

    async fn query_data(
        &self,
        instance: Arc<Instance>,
        _caller: Caller,
        queries: Vec<DataQuery>,
    ) -> Vec<(String, DataResponse)> {
        queries
            .into_iter()
            .map(|query| {
                instance.queries.fetch_add(1, Ordering::Relaxed);
                let answer = answer(&instance, &query, SERIES);
                (query.ref_id, answer)
            })
            .collect()
    }

    fn routes(&self) -> Router<Arc<Instance>> {
        Router::new()
            .route("/stats", get(stats))
            .route_layer(RequireRole::at_least(Role::Viewer))
            .route("/metrics", get(metrics))
    }
}

/// One query's frame, as `series` says.
fn answer(instance: &Instance, query: &DataQuery, series: Series) -> DataResponse {
    let settings = match &instance.settings {
        Ok(settings) => settings,
        Err(error) => return DataResponse::error(500, format!("Invalid settings: {error}")),
    };
    let parsed: Query = match serde_json::from_slice(&query.json) {
        Ok(parsed) => parsed,
        Err(error) => {
            return DataResponse::error(400, format!("query {}: {error}", query.ref_id));
        }
    };
    if query.to_ms < query.from_ms {
        return DataResponse::error(
            400,
            format!(
                "query {}: the time range ends before it starts",
                query.ref_id
            ),
        );
    }
    if series == Series::GoScaffold {
        return DataResponse::frames(vec![Frame::new("response").with_fields([
            Field::time_ms("time", vec![query.from_ms, query.to_ms]),
            Field::i64("values", vec![10, 20]),
        ])]);
    }
    let points = query.max_data_points.clamp(2, MAX_POINTS);
    let span = query.to_ms - query.from_ms;
    let step = (span / (points - 1)).max(query.interval_ms).max(1);
    let mut times: Vec<i64> = (0..points)
        .map(|i| query.from_ms.saturating_add(i * step))
        .take_while(|time| *time <= query.to_ms)
        .collect();
    // The range's end too, as the Go scaffold answers [from, to] for a short range.
    if times.last() != Some(&query.to_ms) && times.len() < points as usize {
        times.push(query.to_ms);
    }
    let mut config = serde_json::Map::new();
    if let Some(unit) = &settings.unit {
        config.insert("unit".into(), Value::String(unit.clone()));
    }
    if let Some(text) = parsed.query_text.as_ref().filter(|text| !text.is_empty()) {
        config.insert("displayNameFromDS".into(), Value::String(text.clone()));
    }
    let values =
        Field::f64("values", vec![parsed.constant; times.len()]).with_config(Value::Object(config));
    // What the query inspector shows as the query that ran.
    let executed = format!(
        "{} constant={}",
        settings.path.as_deref().unwrap_or("/"),
        parsed.constant
    );
    DataResponse::frames(vec![
        Frame::new("response")
            .with_fields([Field::time_ms("time", times), values])
            .with_meta(json!({ "executedQueryString": executed })),
    ])
}

/// `GET metrics`: what the query editor offers.
async fn metrics() -> Json<Value> {
    Json(json!({ "metrics": ["constant"] }))
}

/// `GET stats`: this data source's own count of queries (never another's).
async fn stats(State(instance): State<Arc<Instance>>) -> Json<Value> {
    Json(json!({ "uid": instance.uid, "queries": instance.queries.load(Ordering::Relaxed) }))
}

#[cfg(test)]
mod tests {
    use grafana_plugin_runtime::data::Values;

    use super::*;

    fn instance(json_data: &str, api_key: Option<&str>) -> Instance {
        Instance {
            uid: "ds-1".into(),
            settings: parse_json_data(json_data.as_bytes()),
            api_key: api_key.map(|key| Secret::new(key.to_owned())),
            queries: AtomicU64::new(0),
        }
    }

    #[test]
    fn a_query_answers_a_series_over_the_range_in_the_settings_unit() {
        let instance = instance(r#"{"unit": "celsius"}"#, Some("k"));
        let mut query = DataQuery::new(
            "A",
            0,
            60_000,
            r#"{"refId": "A", "constant": 21.5, "queryText": "room"}"#,
        );
        query.max_data_points = 7;
        query.interval_ms = 1_000;
        let response = answer(&instance, &query, Series::Range);
        let frame = &response.frames[0];
        assert_eq!(frame.name, "response");
        let Values::Time(times) = &frame.fields[0].values else {
            panic!()
        };
        assert_eq!(times.len(), 7);
        assert_eq!((times[0], times[6]), (0, 60_000_000_000));
        assert_eq!(frame.fields[1].values, Values::F64(vec![Some(21.5); 7]));
        assert_eq!(
            frame.fields[1].config,
            Some(json!({ "unit": "celsius", "displayNameFromDS": "room" }))
        );
    }

    #[test]
    fn a_query_of_the_wrong_shape_is_that_querys_error() {
        let instance = instance("{}", Some("k"));
        let response = answer(
            &instance,
            &DataQuery::new("B", 0, 1, r#"{"constant": "six"}"#),
            Series::Range,
        );
        let (status, message) = response.error.unwrap();
        assert_eq!(status, 400);
        assert!(
            message.starts_with("query B: invalid type: string \"six\", expected f64"),
            "{message}"
        );
        // The scaffold's default query (no constant) answers 6.5.
        let response = answer(
            &instance,
            &DataQuery::new("C", 0, 1, r#"{"refId": "C"}"#),
            Series::Range,
        );
        assert_eq!(
            response.frames[0].fields[1].values,
            Values::F64(vec![Some(6.5); 2])
        );
    }

    #[test]
    fn the_go_scaffolds_series_is_its_frame_exactly() {
        let instance = instance(r#"{"unit": "celsius"}"#, Some("k"));
        let query = DataQuery::new("A", 1_000, 61_000, r#"{"refId": "A", "constant": 6.5}"#);
        let response = answer(&instance, &query, Series::GoScaffold);
        let frame = &response.frames[0];
        assert_eq!(frame.name, "response");
        assert_eq!(
            frame.fields[0].values,
            Values::Time(vec![1_000_000_000, 61_000_000_000])
        );
        assert_eq!(frame.fields[1].values, Values::I64(vec![10, 20]));
        assert_eq!(frame.fields[1].config, None);
        // A query of the wrong shape is still its own error.
        let wrong = DataQuery::new("B", 0, 1, r#"{"constant": "six"}"#);
        assert_eq!(answer(&instance, &wrong, Series::GoScaffold).error.unwrap().0, 400);
    }

    #[tokio::test]
    async fn health_says_what_is_wrong_with_the_settings() {
        let health = |json: &str, key: Option<&str>| {
            DataSource.check_health(Arc::new(instance(json, key)), Caller::default())
        };
        assert_eq!(health("{}", None).await.message, "API key is missing");
        assert_eq!(
            health("{}", Some("k")).await.message,
            "Data source is working"
        );
        let broken = health(r#"{"unit": 5}"#, Some("k")).await;
        assert!(
            broken
                .message
                .starts_with("Invalid settings: jsonData.unit: "),
            "{}",
            broken.message
        );
    }
}
