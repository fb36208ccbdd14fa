//! The stand-in's calls into the plugin, as Grafana makes and answers them: CheckHealth
//! (pkg/api/plugins.go `CheckHealth`, pkg/api/datasources.go `checkDatasourceHealth`) and a
//! browser's resource call forwarded as CallResource (pkg/api/plugin_resource.go), with the
//! headers Grafana lets through.
use std::{collections::HashMap, net::SocketAddr};

use axum::{
    body::Bytes,
    http::{HeaderMap, Method, StatusCode},
    response::{IntoResponse, Response},
};
use harness::pluginv2;
use serde_json::json;
use tonic::transport::Channel;

use crate::state::{error, json_response};

/// CheckHealth with `context`, answered as Grafana's handlers answer it (pkg/api/plugins.go
/// `CheckHealth`, pkg/api/datasources.go `checkDatasourceHealth`): 200 `OK`, 400 otherwise
/// (Grafana 10+), 503 "Plugin unavailable" with no running backend.
pub async fn check_health(backend: Option<Channel>, context: pluginv2::PluginContext) -> Response {
    let Some(channel) = backend else {
        return error(StatusCode::SERVICE_UNAVAILABLE, "Plugin unavailable");
    };
    let request = pluginv2::CheckHealthRequest {
        plugin_context: Some(context),
        headers: Default::default(),
    };
    let mut client = pluginv2::diagnostics_client::DiagnosticsClient::new(channel);
    match client.check_health(request).await {
        Ok(response) => {
            let response = response.into_inner();
            let ok = response.status == pluginv2::check_health_response::HealthStatus::Ok as i32;
            let body = json!({
                "status": if ok { "OK" } else { "ERROR" },
                "message": response.message,
            });
            let status = if ok {
                StatusCode::OK
            } else {
                StatusCode::BAD_REQUEST
            };
            json_response(status, body)
        }
        Err(_) => error(StatusCode::INTERNAL_SERVER_ERROR, "Plugin request failed"),
    }
}

/// The headers a resource call carries to the plugin: the browser's, less what
/// authenticated it to Grafana (`Authorization`, `Cookie`, `X-Grafana-Device-Id`:
/// pkg/services/pluginsintegration/clientmiddleware/clear_auth_headers_middleware.go and
/// cookies_middleware.go) and what `proxyutil.PrepareProxyRequest` removes (Origin, Referer,
/// X-Forwarded-Host/Port/Proto), plus `X-Grafana-Referer` and `X-Forwarded-For`. Keys in Go's
/// canonical form (`X-Hook-Token`), as net/http hands them over.
fn forwarded_headers(
    headers: &HeaderMap,
    remote: Option<SocketAddr>,
) -> HashMap<String, pluginv2::StringList> {
    const DROPPED: [&str; 8] = [
        "authorization",
        "cookie",
        "x-grafana-device-id",
        "origin",
        "referer",
        "x-forwarded-host",
        "x-forwarded-port",
        "x-forwarded-proto",
    ];
    let mut forwarded: HashMap<String, pluginv2::StringList> = HashMap::new();
    for (name, value) in headers {
        if DROPPED.contains(&name.as_str()) {
            continue;
        }
        let Ok(value) = value.to_str() else { continue };
        (forwarded.entry(canonical(name.as_str())).or_default())
            .values
            .push(value.to_owned());
    }
    let referer = headers
        .get("referer")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    forwarded.insert(
        "X-Grafana-Referer".to_owned(),
        pluginv2::StringList {
            values: vec![referer.to_owned()],
        },
    );
    if let Some(remote) = remote {
        let list = forwarded.entry("X-Forwarded-For".to_owned()).or_default();
        let ip = remote.ip().to_string();
        match list.values.first_mut() {
            Some(first) => *first = format!("{first}, {ip}"),
            None => list.values.push(ip),
        }
    }
    forwarded
}

/// textproto.CanonicalMIMEHeaderKey: `x-hook-token` → `X-Hook-Token`.
fn canonical(name: &str) -> String {
    let mut upper = true;
    name.chars()
        .map(|c| {
            let c = if upper {
                c.to_ascii_uppercase()
            } else {
                c.to_ascii_lowercase()
            };
            upper = c == '-';
            c
        })
        .collect()
}

/// A browser's resource call as Grafana forwards it.
pub struct ForwardedCall {
    pub path: String,
    pub query: Option<String>,
    pub method: Method,
    pub headers: HeaderMap,
    pub remote: SocketAddr,
    pub body: Bytes,
}

/// CallResource with `context`, the reply as Grafana's httpresponsesender writes it: the
/// plugin's status and headers less `Set-Cookie`, `application/json` when it names no
/// content type (pkg/api/plugin_resource.go).
pub async fn forward_resource(
    backend: Option<Channel>,
    context: pluginv2::PluginContext,
    call: ForwardedCall,
) -> Response {
    let Some(channel) = backend else {
        return error(StatusCode::SERVICE_UNAVAILABLE, "Plugin unavailable");
    };
    let ForwardedCall {
        path,
        query,
        method,
        headers,
        remote,
        body,
    } = call;
    let url = match query {
        Some(query) if !query.is_empty() => format!("{path}?{query}"),
        _ => path.clone(),
    };
    let request = pluginv2::CallResourceRequest {
        plugin_context: Some(context),
        path,
        method: method.to_string(),
        url,
        headers: forwarded_headers(&headers, Some(remote)),
        body: body.to_vec().into(),
    };
    let client = pluginv2::resource_client::ResourceClient::new(channel);
    let Ok(answer) = harness::call_resource(client, request).await else {
        return error(StatusCode::INTERNAL_SERVER_ERROR, "Failed to call resource");
    };
    let status = u16::try_from(answer.status)
        .ok()
        .and_then(|code| StatusCode::from_u16(code).ok())
        .unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let mut response = (status, answer.body).into_response();
    let mut typed = false;
    for (name, list) in &answer.headers {
        let name = canonical(name);
        if name == "Set-Cookie" {
            continue;
        }
        typed |= name == "Content-Type";
        for value in &list.values {
            if let (Ok(name), Ok(value)) = (
                axum::http::HeaderName::try_from(name.as_str()),
                axum::http::HeaderValue::try_from(value.as_str()),
            ) {
                response.headers_mut().append(name, value);
            }
        }
    }
    if !typed && status != StatusCode::NO_CONTENT {
        response.headers_mut().insert(
            "content-type",
            axum::http::HeaderValue::from_static("application/json"),
        );
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resource_calls_carry_the_callers_headers_less_what_signed_them_in() {
        let mut headers = HeaderMap::new();
        for (name, value) in [
            ("authorization", "Basic YWRtaW46YWRtaW4="),
            ("cookie", "grafana_session=abc"),
            ("x-grafana-device-id", "d1"),
            ("origin", "http://x"),
            ("referer", "http://grafana/d/1"),
            ("x-hook-token", "t0ken"),
            ("accept", "application/json"),
        ] {
            headers.insert(name, value.parse().unwrap());
        }
        let forwarded = forwarded_headers(&headers, Some("127.0.0.1:5555".parse().unwrap()));
        let names: std::collections::BTreeSet<&str> =
            forwarded.keys().map(String::as_str).collect();
        assert_eq!(
            names,
            [
                "Accept",
                "X-Forwarded-For",
                "X-Grafana-Referer",
                "X-Hook-Token"
            ]
            .into()
        );
        assert_eq!(forwarded["X-Hook-Token"].values, ["t0ken"]);
        assert_eq!(
            forwarded["X-Grafana-Referer"].values,
            ["http://grafana/d/1"]
        );
        assert_eq!(forwarded["X-Forwarded-For"].values, ["127.0.0.1"]);
    }
}
