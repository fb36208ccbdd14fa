//! The gRPC face of the plugin: Grafana's `pluginv2` Diagnostics and Resource services,
//! implemented on the raw protocol types. We convert requests ourselves instead of using the
//! SDK's high-level traits because the SDK (0.5) rejects role `"None"` and malformed jsonData
//! before handlers run and logs whole requests, decrypted secrets included, on those paths.
//! Nothing here logs a request or its plugin context.
use grafana_plugin_sdk::pluginv2::{
    self, check_health_response::HealthStatus, diagnostics_server::Diagnostics,
    resource_server::Resource,
};
use tonic::{Request, Response, Status};

use std::sync::Arc;

use crate::{
    context::{AppSettings, Caller},
    health,
    resources::{self, ResourceRequest, ResourceResponse},
    worker::Checks,
};

/// The plugin's shared state, handed to every gRPC service.
pub struct App {
    checks: Arc<Checks>,
}

impl App {
    pub fn new(checks: Arc<Checks>) -> App {
        App { checks }
    }
}

#[tonic::async_trait]
impl Diagnostics for App {
    async fn check_health(
        &self,
        request: Request<pluginv2::CheckHealthRequest>,
    ) -> Result<Response<pluginv2::CheckHealthResponse>, Status> {
        let context = request.into_inner().plugin_context;
        let configured = match AppSettings::from_proto(context.as_ref()) {
            Some(settings) => self
                .checks
                .observe(settings.last_updated_ms, &settings.json_data),
            None => self.checks.current(),
        };
        let report = health::check(&configured, &self.checks.snapshot());
        Ok(Response::new(pluginv2::CheckHealthResponse {
            status: if report.ok {
                HealthStatus::Ok
            } else {
                HealthStatus::Error
            } as i32,
            message: report.message,
            json_details: serde_json::to_vec(&report.details).unwrap_or_default(),
        }))
    }

    async fn collect_metrics(
        &self,
        _request: Request<pluginv2::CollectMetricsRequest>,
    ) -> Result<Response<pluginv2::CollectMetricsResponse>, Status> {
        Ok(Response::new(pluginv2::CollectMetricsResponse {
            metrics: None,
        }))
    }
}

#[tonic::async_trait]
impl Resource for App {
    type CallResourceStream = tokio_stream::Once<Result<pluginv2::CallResourceResponse, Status>>;

    async fn call_resource(
        &self,
        request: Request<pluginv2::CallResourceRequest>,
    ) -> Result<Response<Self::CallResourceStream>, Status> {
        let request = resource_request(request.into_inner());
        let response = resources::handle(&self.checks, &request).await;
        tracing::debug!(
            method = %request.method,
            path = %request.path,
            status = response.status,
            "resource call"
        );
        Ok(Response::new(tokio_stream::once(Ok(resource_response(
            response,
        )))))
    }
}

fn resource_request(proto: pluginv2::CallResourceRequest) -> ResourceRequest {
    let mut request = ResourceRequest::new(&proto.method, &proto.path, &proto.url);
    request.caller = Caller::from_proto(proto.plugin_context.as_ref());
    request.settings = AppSettings::from_proto(proto.plugin_context.as_ref());
    request.headers = proto
        .headers
        .into_iter()
        .flat_map(|(name, values)| {
            let name = name.to_ascii_lowercase();
            values
                .values
                .into_iter()
                .map(move |value| (name.clone(), value))
        })
        .collect();
    request.body = proto.body.to_vec();
    request
}

fn resource_response(response: ResourceResponse) -> pluginv2::CallResourceResponse {
    let mut headers = std::collections::HashMap::<String, pluginv2::StringList>::new();
    for (name, value) in response.headers {
        headers
            .entry(name.to_owned())
            .or_default()
            .values
            .push(value);
    }
    pluginv2::CallResourceResponse {
        code: i32::from(response.status),
        headers,
        body: response.body.into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn protocol_request_converts_with_headers_lowercased_and_caller() {
        let proto = pluginv2::CallResourceRequest {
            plugin_context: Some(pluginv2::PluginContext {
                org_id: 2,
                user: Some(pluginv2::User {
                    login: "admin".into(),
                    role: "Admin".into(),
                    ..Default::default()
                }),
                ..Default::default()
            }),
            path: "ping".into(),
            method: "GET".into(),
            url: "ping?verbose=1".into(),
            headers: [(
                "X-Token".to_owned(),
                pluginv2::StringList {
                    values: vec!["a".into(), "b".into()],
                },
            )]
            .into(),
            body: b"{}".to_vec().into(),
        };
        let request = resource_request(proto);
        assert_eq!(request.path, "ping");
        assert_eq!(
            request.headers,
            vec![
                ("x-token".into(), "a".into()),
                ("x-token".into(), "b".into())
            ]
        );
        assert_eq!(request.caller.org_id, 2);
        assert_eq!(request.body, b"{}");
    }

    #[test]
    fn response_groups_repeated_headers() {
        let mut response = ResourceResponse::error(405, "no");
        response.headers.push(("allow", "GET".into()));
        let proto = resource_response(response);
        assert_eq!(proto.code, 405);
        assert_eq!(proto.headers["allow"].values, vec!["GET".to_owned()]);
        assert_eq!(
            proto.headers["content-type"].values,
            vec!["application/json".to_owned()]
        );
    }
}
