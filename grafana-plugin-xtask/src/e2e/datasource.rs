//! `e2e` for a data-source plugin, as Grafana serves one: an instance made through the data
//! source API as an org Admin does (`POST /api/datasources`, pkg/api/datasources.go), its
//! health by uid OK, then as a Viewer one `/api/ds/query` call (pkg/api/ds_query.go) whose
//! valid query returns a frame of a time and a number field and whose invalid query
//! returns its own error while the other still answers (207).
use serde_json::{Value, json};

use super::checks::{Checks, VIEWER, json, shown};

/// Whether `frame` (as data.FrameToJSON writes it) has a time field and a number field, with
/// values. The values themselves are the backend's: this template's data source answers the
/// query's constant (its own tests check the values), an adopted create-plugin data source
/// 10 and 20 as the Go scaffold did.
fn time_and_numbers(frame: &Value) -> bool {
    let Some(fields) = frame["schema"]["fields"].as_array() else {
        return false;
    };
    let has = |kind: &str| {
        fields.iter().enumerate().any(|(i, field)| {
            field["type"] == kind
                && frame["data"]["values"][i]
                    .as_array()
                    .is_some_and(|values| !values.is_empty())
        })
    };
    has("time") && has("number")
}

/// The data source `e2e` makes: the settings the data-source backend reads
/// (templates/datasource: `path`, `unit`, `secureJsonData.apiKey`).
fn data_source(id: &str, password: &str) -> Value {
    json!({
        "name": "e2e", "type": id, "access": "proxy",
        "jsonData": { "path": "/e2e", "unit": "celsius" },
        "secureJsonData": { "apiKey": format!("{password}-key") },
    })
}

impl Checks<'_> {
    /// The checks of a data source; a failed step skips what needs it.
    pub(super) fn data_source(&mut self) {
        let password = self.password;
        let admin = Some((super::checks::ADMIN, password));
        let body = data_source(self.id, self.password).to_string();
        let added = self.call("POST", "/api/datasources", admin, Some(body.as_bytes()));
        let uid = match &added {
            Ok(a) if a.status == 200 => {
                json(a).and_then(|v| v["datasource"]["uid"].as_str().map(str::to_owned))
            }
            _ => None,
        };
        let what = "POST /api/datasources: a data source of this type made".to_owned();
        if !self.expect(
            what,
            shown(&added, "200 with datasource.uid"),
            uid.is_some(),
        ) {
            return;
        }
        let uid = uid.unwrap_or_default();
        let path = format!("/api/datasources/uid/{uid}/health");
        let health = self.call("GET", &path, admin, None);
        let ok = matches!(&health, Ok(a) if a.status == 200 && json(a).is_some_and(|v| v["status"] == "OK"));
        if !self.expect(
            format!("{path}: status OK"),
            shown(&health, "200 with status OK"),
            ok,
        ) {
            return;
        }
        // A Viewer, as dashboards query.
        let viewer_password = format!("{}-viewer", self.password);
        let viewer = Some((VIEWER, viewer_password.as_str()));
        let user =
            json!({ "name": VIEWER, "login": VIEWER, "password": viewer_password, "OrgId": 1 })
                .to_string();
        let created = self.call("POST", "/api/admin/users", admin, Some(user.as_bytes()));
        let ok = matches!(&created, Ok(a) if a.status == 200);
        if !self.expect(
            format!("POST /api/admin/users: the Viewer {VIEWER} created"),
            shown(&created, "200"),
            ok,
        ) {
            return;
        }
        let datasource = json!({ "uid": uid, "type": self.id });
        let query = json!({
            "queries": [
                { "refId": "A", "datasource": datasource, "constant": 21.5, "maxDataPoints": 5, "intervalMs": 60000 },
                { "refId": "B", "datasource": datasource, "constant": "six" },
            ],
            "from": "now-5m", "to": "now",
        })
        .to_string();
        let answer = self.call("POST", "/api/ds/query", viewer, Some(query.as_bytes()));
        let results = match &answer {
            Ok(a) => json(a).map(|v| v["results"].clone()).unwrap_or_default(),
            Err(_) => Value::Null,
        };
        let frame = &results["A"]["frames"][0];
        self.expect(
            "POST /api/ds/query as Viewer: query A answers a time field and a number field"
                .to_owned(),
            shown(
                &answer,
                "results.A with a frame of a time and a number field",
            ),
            time_and_numbers(frame),
        );
        let refused = matches!(&answer, Ok(a) if a.status == 207)
            && results["B"]["status"] == 400
            && results["B"]["error"]
                .as_str()
                .is_some_and(|e| e.contains("query B"));
        self.expect(
            "POST /api/ds/query as Viewer: query B of the wrong shape answers its own 400 (207)"
                .to_owned(),
            shown(&answer, "207 with results.B.error"),
            refused,
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_frame_needs_a_time_and_a_number_field_with_values() {
        let frame = |types: [&str; 2], values: Value| {
            json!({ "schema": { "fields": [{ "type": types[0] }, { "type": types[1] }] },
                    "data": { "values": values } })
        };
        assert!(time_and_numbers(&frame(
            ["time", "number"],
            json!([[1, 2], [10, 20]])
        )));
        assert!(!time_and_numbers(&frame(
            ["time", "string"],
            json!([[1], ["a"]])
        )));
        assert!(!time_and_numbers(&frame(
            ["time", "number"],
            json!([[], []])
        )));
        assert!(!time_and_numbers(&Value::Null));
    }
}
