//! Whether a data-source plugin Grafana loaded serves, asked as Grafana checks a data source:
//! per instance, not per plugin (a data source's `/api/plugins/<id>/health` runs without
//! any instance's settings). Three calls of Grafana's HTTP API (pkg/api/api.go): the data
//! sources of the plugin's type (`GET /api/datasources`), the first one's health
//! (`GET /api/datasources/uid/<uid>/health`: 200 OK, 400 when the plugin reports an error)
//! and one query (`POST /api/ds/query`, pkg/api/ds_query.go: 200, 207 when a query failed),
//! which must return frames. `diagnose` is pure; `check` does the (bounded) I/O.
use std::sync::atomic::AtomicBool;

use serde_json::{Value, json};

use super::verdict::Verdict;
use crate::http::{Answer, Endpoint, Failure, Request};

/// Grafana's answers about the plugin's data sources, as far as they came.
#[derive(Clone, Debug, Default)]
pub struct DataSourceAnswers {
    pub list: Option<Result<Answer, Failure>>,
    /// The data source asked about: (uid, name).
    pub chosen: Option<(String, String)>,
    pub health: Option<Result<Answer, Failure>>,
    pub query: Option<Result<Answer, Failure>>,
}

fn json(answer: &Answer) -> Option<Value> {
    serde_json::from_str(&answer.body).ok()
}

fn message(answer: &Answer) -> String {
    json(answer)
        .and_then(|body| body["message"].as_str().map(str::to_owned))
        .unwrap_or_else(|| answer.body.trim().chars().take(80).collect())
}

/// The first data source of type `plugin_id` in `GET /api/datasources`'s answer.
pub fn first_of_type(list: &Answer, plugin_id: &str) -> Option<(String, String)> {
    json(list)?.as_array()?.iter().find_map(|ds| {
        (ds["type"] == plugin_id).then(|| {
            (
                ds["uid"].as_str().unwrap_or_default().to_owned(),
                ds["name"].as_str().unwrap_or_default().to_owned(),
            )
        })
    })
}

/// The query `dev` and `e2e` send: refId A of the data source, the last five minutes.
pub fn query_body(uid: &str, plugin_id: &str) -> String {
    json!({
        "queries": [{ "refId": "A", "datasource": { "uid": uid, "type": plugin_id }, "maxDataPoints": 10, "intervalMs": 30000 }],
        "from": "now-5m",
        "to": "now",
    })
    .to_string()
}

/// What the answers mean.
pub fn diagnose(answers: &DataSourceAnswers, plugin_id: &str) -> Verdict {
    let failed = |what: &str, failure: &Failure| match failure {
        Failure::Interrupted => Verdict::Interrupted,
        _ => Verdict::NotServing(format!("Grafana did not answer {what}: {failure}")),
    };
    let list = match &answers.list {
        None => return Verdict::NotServing("Grafana did not answer /api/datasources".into()),
        Some(Err(failure)) => return failed("/api/datasources", failure),
        Some(Ok(list)) => list,
    };
    if list.status != 200 {
        return Verdict::NotServing(format!(
            "Grafana answered {} to /api/datasources: {}; the caller needs datasources:read \
             (an org Admin, or GRAFANA_TOKEN of one)",
            list.status,
            message(list)
        ));
    }
    let Some((uid, name)) = &answers.chosen else {
        return Verdict::NotServing(format!(
            "Grafana has no data source of type {plugin_id}, so nothing calls the backend: \
             provision one in provisioning/datasources/ (`datasources: [{{name: ..., type: \
             {plugin_id}, jsonData: ..., secureJsonData: ...}}]`, as create-plugin's \
             datasources.yml does), then restart Grafana, or add one in Connections > Data \
             sources"
        ));
    };
    let health = match &answers.health {
        None => return Verdict::NotServing("Grafana did not answer the health check".into()),
        Some(Err(failure)) => return failed("the data source's health check", failure),
        Some(Ok(health)) => health,
    };
    let status = json(health).and_then(|body| body["status"].as_str().map(str::to_owned));
    match (health.status, status.as_deref()) {
        (200, Some("OK")) => {}
        (400, Some(_)) => {
            return Verdict::Unhealthy(format!(
                "data source {name:?} (uid {uid}): {}",
                message(health)
            ));
        }
        (status, _) => {
            return Verdict::BackendDown {
                said: format!(
                    "Grafana cannot reach the backend for data source {name:?} ({status} {})",
                    message(health)
                ),
                gave_up: false,
            };
        }
    }
    let query = match &answers.query {
        None => return Verdict::NotServing("Grafana did not answer /api/ds/query".into()),
        Some(Err(failure)) => return failed("/api/ds/query", failure),
        Some(Ok(query)) => query,
    };
    let result = json(query).map(|body| body["results"]["A"].clone());
    let frames = result
        .as_ref()
        .and_then(|result| result["frames"].as_array())
        .map_or(0, Vec::len);
    match (query.status, result) {
        (200, Some(_)) if frames > 0 => Verdict::ServingDataSource {
            uid: uid.clone(),
            said: format!(
                "data source {name:?} healthy: {}; query A: {frames} frame(s)",
                message(health)
            ),
        },
        (200 | 207, Some(result)) if result["error"].is_string() => Verdict::Unhealthy(format!(
            "data source {name:?}: its health is OK, but query A failed: {}",
            result["error"].as_str().unwrap_or_default()
        )),
        (200, Some(_)) => {
            Verdict::Unhealthy(format!("data source {name:?}: query A answered no frames"))
        }
        (status, _) => Verdict::NotServing(format!(
            "Grafana answered {status} to /api/ds/query: {}",
            message(query)
        )),
    }
}

/// Asks Grafana (each call bounded by `http`).
pub fn check(endpoint: &Endpoint, plugin_id: &str, stop: &AtomicBool) -> Verdict {
    let mut answers = DataSourceAnswers {
        list: Some(endpoint.get("/api/datasources", stop)),
        ..DataSourceAnswers::default()
    };
    answers.chosen = match &answers.list {
        Some(Ok(list)) if list.status == 200 => first_of_type(list, plugin_id),
        _ => None,
    };
    if let Some((uid, _)) = answers.chosen.clone() {
        answers.health = Some(endpoint.get(&format!("/api/datasources/uid/{uid}/health"), stop));
        let healthy = matches!(&answers.health, Some(Ok(h)) if h.status == 200);
        if healthy {
            let body = query_body(&uid, plugin_id);
            let request = Request {
                method: "POST",
                path: "/api/ds/query",
                basic: None,
                headers: &[],
                body: Some(body.as_bytes()),
            };
            answers.query = Some(endpoint.send(&request, stop));
        }
    }
    diagnose(&answers, plugin_id)
}

#[cfg(test)]
mod tests {
    use super::*;

    const ID: &str = "acme-weather-datasource";

    fn answer(status: u16, body: &str) -> Option<Result<Answer, Failure>> {
        Some(Ok(Answer {
            status,
            body: body.to_owned(),
        }))
    }

    fn answers(health: (u16, &str), query: (u16, &str)) -> DataSourceAnswers {
        DataSourceAnswers {
            list: answer(
                200,
                r#"[{"uid":"other","type":"prometheus","name":"p"},{"uid":"w1","type":"acme-weather-datasource","name":"weather"}]"#,
            ),
            chosen: Some(("w1".into(), "weather".into())),
            health: answer(health.0, health.1),
            query: answer(query.0, query.1),
        }
    }

    #[test]
    fn serving_only_when_the_data_source_is_healthy_and_a_query_returns_frames() {
        let list = answers((200, ""), (200, "")).list.unwrap().unwrap();
        assert_eq!(
            first_of_type(&list, ID),
            Some(("w1".into(), "weather".into()))
        );
        let ok = r#"{"status":"OK","message":"Data source is working"}"#;
        let frames = r#"{"results":{"A":{"status":200,"frames":[{"schema":{},"data":{}}]}}}"#;
        assert_eq!(
            diagnose(&answers((200, ok), (200, frames)), ID),
            Verdict::ServingDataSource {
                uid: "w1".into(),
                said:
                    "data source \"weather\" healthy: Data source is working; query A: 1 frame(s)"
                        .into()
            }
        );
        let broken = r#"{"status":"ERROR","message":"API key is missing"}"#;
        assert_eq!(
            diagnose(&answers((400, broken), (200, frames)), ID),
            Verdict::Unhealthy("data source \"weather\" (uid w1): API key is missing".into())
        );
        let failed = r#"{"results":{"A":{"status":400,"error":"query A: bad"}}}"#;
        assert!(matches!(diagnose(&answers((200, ok), (207, failed)), ID),
            Verdict::Unhealthy(said) if said.contains("query A failed: query A: bad")));
        let empty = r#"{"results":{"A":{"status":200,"frames":[]}}}"#;
        assert!(matches!(diagnose(&answers((200, ok), (200, empty)), ID),
            Verdict::Unhealthy(said) if said.contains("no frames")));
        assert!(
            matches!(diagnose(&answers((503, r#"{"message":"Plugin unavailable"}"#), (200, "")), ID),
            Verdict::BackendDown { said, .. } if said.contains("503 Plugin unavailable"))
        );
    }

    #[test]
    fn no_data_source_of_the_type_names_the_provisioning_fix() {
        let mut none = answers((200, ""), (200, ""));
        none.chosen = None;
        let Verdict::NotServing(said) = diagnose(&none, ID) else {
            panic!()
        };
        assert!(
            said.contains("no data source of type acme-weather-datasource"),
            "{said}"
        );
        assert!(said.contains("provisioning/datasources/"), "{said}");
    }
}
