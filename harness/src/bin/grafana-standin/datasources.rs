//! Data sources as Grafana keeps and serves them, for the calls `dev` and `e2e` make: the
//! data source by uid and by name (pkg/api/datasources.go), its health
//! (`CheckDatasourceHealthWithUID`: an unknown uid is 500 "Unable to load datasource
//! metadata", OK is 200, anything else 400), its resources
//! (`callPluginResourceWithDataSource`, pkg/api/plugin_resource.go) and `POST /api/ds/query`
//! (pkg/api/ds_query.go, pkg/services/query: queries grouped by data source into one
//! QueryData; 200, or 207 when a query failed; frames as `data.FrameToJSON` writes them).
//! Every call carries the data source's settings as `dataSourceInstanceSettings`.
use std::{collections::BTreeMap, net::SocketAddr};

use axum::{
    Router,
    body::Bytes,
    extract::{ConnectInfo, Path as UrlPath, RawQuery, State},
    http::{HeaderMap, Method, StatusCode},
    response::Response,
    routing::{any, get, post},
};
use harness::pluginv2;
use serde_json::{Value, json};

use crate::{
    forward::{self, ForwardedCall},
    state::{self, Api, DataSource, Shared, error, json_response, signed_in},
};

pub fn routes() -> Router<Shared> {
    Router::new()
        .route("/api/datasources", get(list).post(add))
        .route("/api/datasources/uid/:uid", get(by_uid))
        .route("/api/datasources/name/:name", get(by_name))
        .route("/api/datasources/uid/:uid/health", get(health))
        .route("/api/datasources/uid/:uid/resources/*path", any(resource))
        .route("/api/ds/query", post(query))
}

/// The PluginContext of a call to `ds` by `caller`.
fn context(ds: &DataSource, caller: &state::Caller) -> pluginv2::PluginContext {
    pluginv2::PluginContext {
        org_id: 1,
        plugin_id: ds.kind.clone(),
        user: Some(pluginv2::User {
            login: caller.login.clone(),
            name: caller.login.clone(),
            email: String::new(),
            role: caller.role.to_owned(),
        }),
        app_instance_settings: None,
        data_source_instance_settings: Some(pluginv2::DataSourceInstanceSettings {
            id: ds.id,
            uid: ds.uid.clone(),
            name: ds.name.clone(),
            url: ds.url.clone(),
            json_data: match &ds.json_data {
                Value::Null => Vec::new(),
                value => value.to_string().into_bytes(),
            },
            decrypted_secure_json_data: ds.secure_json_data.clone().into_iter().collect(),
            last_updated_ms: ds.updated_ms,
            ..Default::default()
        }),
    }
}

/// The context of the stand-in's own health probe: the first data source of the plugin's
/// type, else the app's settings.
pub fn probe_context(api: &Api, plugin_id: &str) -> pluginv2::PluginContext {
    let admin = state::Caller::admin();
    match find(api, |ds| ds.kind == plugin_id) {
        Some(ds) => context(ds, &admin),
        None => state::plugin_context(api, plugin_id, &admin.login, admin.role),
    }
}

/// The data source as `GET /api/datasources/uid/:uid` shows it (no secure values, only
/// which are set: `secureJsonFields`).
fn shown(ds: &DataSource) -> Value {
    let set: BTreeMap<&String, bool> = ds.secure_json_data.keys().map(|key| (key, true)).collect();
    json!({
        "id": ds.id, "uid": ds.uid, "name": ds.name, "type": ds.kind, "url": ds.url,
        "access": "proxy", "jsonData": ds.json_data, "secureJsonFields": set, "orgId": 1,
    })
}

fn find(api: &Api, by: impl Fn(&DataSource) -> bool) -> Option<&DataSource> {
    api.datasources.iter().find(|ds| by(ds))
}

/// `GET /api/datasources` (GetDataSources): the org's data sources.
async fn list(State(api): State<Shared>, headers: HeaderMap) -> Response {
    let api = api.lock().unwrap();
    if let Err(refused) = signed_in(&api, &headers) {
        return *refused;
    }
    let all: Vec<Value> = api.datasources.iter().map(shown).collect();
    json_response(StatusCode::OK, all.into())
}

/// `POST /api/datasources` (AddDataSource), behind `datasources:create`, an org Admin's: a
/// name that is not taken, a uid made when none is given.
async fn add(State(api): State<Shared>, headers: HeaderMap, body: Bytes) -> Response {
    let mut api = api.lock().unwrap();
    match signed_in(&api, &headers) {
        Err(refused) => return *refused,
        Ok(caller) if caller.role != "Admin" => {
            return error(
                StatusCode::FORBIDDEN,
                "You'll need additional permissions to perform this action. Permissions needed: datasources:create",
            );
        }
        Ok(_) => {}
    }
    let Ok(command) = serde_json::from_slice::<Value>(&body) else {
        return error(StatusCode::BAD_REQUEST, "bad request data");
    };
    let name = command["name"].as_str().unwrap_or_default().to_owned();
    if name.is_empty() {
        return error(StatusCode::BAD_REQUEST, "bad request data");
    }
    if api.datasources.iter().any(|ds| ds.name == name) {
        return error(
            StatusCode::CONFLICT,
            "data source with the same name already exists",
        );
    }
    let id = api.datasources.len() as i64 + 1;
    let uid = match command["uid"].as_str() {
        Some(uid) if !uid.is_empty() => uid.to_owned(),
        _ => format!("standin{id}"),
    };
    let secure = state::secure_values(&command["secureJsonData"]);
    let ds = DataSource {
        id,
        uid,
        name: name.clone(),
        kind: command["type"].as_str().unwrap_or_default().to_owned(),
        url: command["url"].as_str().unwrap_or_default().to_owned(),
        json_data: command["jsonData"].clone(),
        secure_json_data: secure,
        updated_ms: state::now_ms(),
    };
    let body =
        json!({ "datasource": shown(&ds), "id": id, "message": "Datasource added", "name": name });
    api.datasources.push(ds);
    json_response(StatusCode::OK, body)
}

async fn by_uid(
    State(api): State<Shared>,
    UrlPath(uid): UrlPath<String>,
    headers: HeaderMap,
) -> Response {
    let api = api.lock().unwrap();
    if let Err(refused) = signed_in(&api, &headers) {
        return *refused;
    }
    match find(&api, |ds| ds.uid == uid) {
        Some(ds) => json_response(StatusCode::OK, shown(ds)),
        None => error(StatusCode::NOT_FOUND, "Data source not found"),
    }
}

async fn by_name(
    State(api): State<Shared>,
    UrlPath(name): UrlPath<String>,
    headers: HeaderMap,
) -> Response {
    let api = api.lock().unwrap();
    if let Err(refused) = signed_in(&api, &headers) {
        return *refused;
    }
    match find(&api, |ds| ds.name == name) {
        Some(ds) => json_response(StatusCode::OK, shown(ds)),
        None => error(StatusCode::NOT_FOUND, "Data source not found"),
    }
}

/// The data source, its plugin's backend and the caller, or Grafana's refusal.
fn lookup(
    api: &Shared,
    headers: &HeaderMap,
    uid: &str,
) -> Result<(DataSource, Option<tonic::transport::Channel>, state::Caller), Box<Response>> {
    let api = api.lock().unwrap();
    let caller = signed_in(&api, headers)?;
    let Some(ds) = find(&api, |ds| ds.uid == uid).cloned() else {
        return Err(Box::new(error(
            StatusCode::INTERNAL_SERVER_ERROR,
            "Unable to load datasource metadata",
        )));
    };
    if api.plugin.as_ref().is_none_or(|p| p.id != ds.kind) {
        return Err(Box::new(error(
            StatusCode::INTERNAL_SERVER_ERROR,
            "Unable to find datasource plugin",
        )));
    }
    Ok((ds, api.backend.clone(), caller))
}

async fn health(
    State(api): State<Shared>,
    UrlPath(uid): UrlPath<String>,
    headers: HeaderMap,
) -> Response {
    let (ds, backend, caller) = match lookup(&api, &headers, &uid) {
        Ok(found) => found,
        Err(refused) => return *refused,
    };
    forward::check_health(backend, context(&ds, &caller)).await
}

async fn resource(
    State(api): State<Shared>,
    UrlPath((uid, path)): UrlPath<(String, String)>,
    RawQuery(query): RawQuery,
    ConnectInfo(remote): ConnectInfo<SocketAddr>,
    method: Method,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let (ds, backend, caller) = match lookup(&api, &headers, &uid) {
        Ok(found) => found,
        Err(refused) => return *refused,
    };
    let call = ForwardedCall {
        path,
        query,
        method,
        headers,
        remote,
        body,
    };
    forward::forward_resource(backend, context(&ds, &caller), call).await
}

/// `now`, `now-15m`, `now-6h`, `now-2d`, or Unix milliseconds (a number or a string), as
/// the query API's `from`/`to` (gtime's relative form, reduced to these units).
fn parse_time(value: &Value, now: i64) -> Option<i64> {
    let text = match value {
        Value::Number(n) => return n.as_i64(),
        Value::String(text) => text.trim(),
        _ => return None,
    };
    if let Ok(ms) = text.parse::<i64>() {
        return Some(ms);
    }
    let rest = text.strip_prefix("now")?;
    if rest.is_empty() {
        return Some(now);
    }
    let rest = rest.strip_prefix('-')?;
    let (number, unit) = rest.split_at(rest.len().checked_sub(1)?);
    let number: i64 = number.parse().ok()?;
    let unit_ms = match unit {
        "s" => 1_000,
        "m" => 60_000,
        "h" => 3_600_000,
        "d" => 86_400_000,
        _ => return None,
    };
    Some(now - number * unit_ms)
}

/// `POST /api/ds/query`: every query to its data source's plugin, the answers by refId.
async fn query(State(api): State<Shared>, headers: HeaderMap, body: Bytes) -> Response {
    let Ok(request) = serde_json::from_slice::<Value>(&body) else {
        return error(StatusCode::BAD_REQUEST, "bad request data");
    };
    let now = state::now_ms();
    let (Some(from), Some(to)) = (
        parse_time(&request["from"], now),
        parse_time(&request["to"], now),
    ) else {
        return error(StatusCode::BAD_REQUEST, "Invalid time range");
    };
    let Some(queries) = request["queries"].as_array().filter(|q| !q.is_empty()) else {
        return error(StatusCode::BAD_REQUEST, "No queries found");
    };
    let mut by_uid: BTreeMap<String, Vec<pluginv2::DataQuery>> = BTreeMap::new();
    for query in queries {
        let ref_id = query["refId"].as_str().unwrap_or("A").to_owned();
        let Some(uid) = query["datasource"]["uid"].as_str() else {
            return error(
                StatusCode::BAD_REQUEST,
                &format!("Query missing datasource info: {ref_id}"),
            );
        };
        by_uid
            .entry(uid.to_owned())
            .or_default()
            .push(pluginv2::DataQuery {
                ref_id,
                max_data_points: query["maxDataPoints"].as_i64().unwrap_or(100),
                interval_ms: query["intervalMs"].as_i64().unwrap_or(1000),
                time_range: Some(pluginv2::TimeRange {
                    from_epoch_ms: from,
                    to_epoch_ms: to,
                }),
                json: query.to_string().into_bytes(),
                query_type: query["queryType"].as_str().unwrap_or_default().to_owned(),
            });
    }
    let mut results = serde_json::Map::new();
    let mut failed = false;
    for (uid, queries) in by_uid {
        let (ds, backend, caller) = match lookup(&api, &headers, &uid) {
            Ok(found) => found,
            Err(_) => return error(StatusCode::NOT_FOUND, "Data source not found"),
        };
        let Some(channel) = backend else {
            return error(StatusCode::INTERNAL_SERVER_ERROR, "Query data error");
        };
        let request = pluginv2::QueryDataRequest {
            plugin_context: Some(context(&ds, &caller)),
            headers: Default::default(),
            queries,
        };
        let mut client = pluginv2::data_client::DataClient::new(channel);
        let Ok(response) = client.query_data(request).await else {
            return error(StatusCode::INTERNAL_SERVER_ERROR, "Query data error");
        };
        for (ref_id, answer) in response.into_inner().responses {
            let mut result =
                json!({ "status": if answer.status == 0 { 200 } else { answer.status } });
            if !answer.error.is_empty() {
                failed = true;
                result["error"] = answer.error.into();
                result["errorSource"] = "plugin".into();
            } else {
                let frames: Vec<Value> = answer
                    .frames
                    .iter()
                    .map(|bytes| frame_json(bytes))
                    .collect();
                result["frames"] = frames.into();
            }
            results.insert(ref_id, result);
        }
    }
    let status = if failed {
        StatusCode::MULTI_STATUS
    } else {
        StatusCode::OK
    };
    json_response(status, json!({ "results": results }))
}

/// An Arrow frame as `data.FrameToJSON` writes it: `{schema: {name, refId, meta, fields},
/// data: {values}}`, time in Unix milliseconds.
fn frame_json(bytes: &[u8]) -> Value {
    let Ok(frame) = harness::frames::decode(bytes) else {
        return json!({ "schema": { "fields": [] }, "data": { "values": [] } });
    };
    let fields = frame["fields"].as_array().cloned().unwrap_or_default();
    let schema_fields: Vec<Value> = fields
        .iter()
        .map(|field| {
            let mut shown = json!({ "name": field["name"], "type": field["type"] });
            for key in ["config", "labels"] {
                if !field[key].is_null() {
                    shown[key] = field[key].clone();
                }
            }
            shown
        })
        .collect();
    let values: Vec<Value> = fields.iter().map(|field| field["values"].clone()).collect();
    json!({
        "schema": { "name": frame["name"], "refId": frame["refId"], "meta": frame["meta"], "fields": schema_fields },
        "data": { "values": values },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_times_read_as_grafanas_api_reads_them() {
        let now = 10_000_000;
        assert_eq!(parse_time(&json!("now"), now), Some(now));
        assert_eq!(parse_time(&json!("now-1h"), now), Some(now - 3_600_000));
        assert_eq!(parse_time(&json!("now-5m"), now), Some(now - 300_000));
        assert_eq!(
            parse_time(&json!("1700000000000"), now),
            Some(1_700_000_000_000)
        );
        assert_eq!(parse_time(&json!(42), now), Some(42));
        assert_eq!(parse_time(&json!("yesterday"), now), None);
    }
}
