//! Grafana's `pluginv2` Diagnostics and Resource services over a [`Plugin`], on the raw
//! protocol types (see `context.rs` for why not the SDK's). Every call runs in a span
//! (`plugin_id`, `org_id`, `endpoint`, the incoming `traceparent`), in a task of its own so
//! that a panic becomes that call's Internal error (the Go SDK's recovery interceptor) and
//! the process keeps serving. Nothing here logs a request, its headers or its settings.
use std::sync::Arc;

use axum::response::IntoResponse;
use grafana_plugin_sdk::pluginv2::{
    self, check_health_response::HealthStatus as ProtoStatus, data_server::Data,
    diagnostics_server::Diagnostics, resource_server::Resource,
};
use tonic::{Request, Response, Status};
use tracing::Instrument;

use crate::{Caller, HealthStatus, InstanceSettings, Plugin, instances::Instances, resource};

/// The plugin and its instances, handed to every gRPC service.
pub(crate) struct Served<P: Plugin> {
    pub plugin: Arc<P>,
    pub instances: Arc<Instances<P>>,
}

/// The span of one call. `traceparent` is the W3C trace context Grafana propagates in the
/// gRPC metadata, when tracing is on.
fn span<T>(endpoint: &'static str, request: &Request<T>, caller: &Caller) -> tracing::Span {
    let traceparent = request
        .metadata()
        .get("traceparent")
        .and_then(|value| value.to_str().ok())
        .unwrap_or_default();
    tracing::debug_span!(
        "call",
        endpoint,
        plugin_id = %caller.plugin_id,
        org_id = caller.org_id,
        traceparent,
    )
}

/// Runs `work` in a task of its own: a panic there is that call's error, not the process's.
async fn isolated<T: Send + 'static>(
    endpoint: &'static str,
    work: impl Future<Output = T> + Send + 'static,
) -> Result<T, Status> {
    tokio::spawn(work.in_current_span())
        .await
        .map_err(|failed| {
            tracing::error!(endpoint, panicked = failed.is_panic(), "the call failed");
            Status::internal(format!("the plugin failed while answering {endpoint}"))
        })
}

#[tonic::async_trait]
impl<P: Plugin> Diagnostics for Served<P> {
    async fn check_health(
        &self,
        request: Request<pluginv2::CheckHealthRequest>,
    ) -> Result<Response<pluginv2::CheckHealthResponse>, Status> {
        let context = request.get_ref().plugin_context.clone();
        let caller = Caller::from_proto(context.as_ref());
        let span = span("checkHealth", &request, &caller);
        let plugin = self.plugin.clone();
        let instances = self.instances.clone();
        let health = isolated(
            "CheckHealth",
            async move {
                let live = instances.get(&plugin, InstanceSettings::from_proto(context.as_ref()));
                plugin.check_health(live.instance, caller).await
            }
            .instrument(span),
        )
        .await?;
        Ok(Response::new(pluginv2::CheckHealthResponse {
            status: match health.status {
                HealthStatus::Ok => ProtoStatus::Ok,
                HealthStatus::Error => ProtoStatus::Error,
                HealthStatus::Unknown => ProtoStatus::Unknown,
            } as i32,
            message: health.message,
            json_details: match health.details {
                serde_json::Value::Null => Vec::new(),
                details => serde_json::to_vec(&details).unwrap_or_default(),
            },
        }))
    }

    /// Grafana asks for the plugin's metrics without an org (`/api/plugins/<id>/metrics`):
    /// every live instance's, each under its own label.
    async fn collect_metrics(
        &self,
        _request: Request<pluginv2::CollectMetricsRequest>,
    ) -> Result<Response<pluginv2::CollectMetricsResponse>, Status> {
        let plugin = self.plugin.clone();
        let instances = self.instances.clone();
        let text = isolated("CollectMetrics", async move {
            crate::metrics::collect(&*plugin, &instances.all())
        })
        .await?;
        Ok(Response::new(pluginv2::CollectMetricsResponse {
            metrics: Some(pluginv2::collect_metrics_response::Payload {
                prometheus: text.into_bytes(),
            }),
        }))
    }
}

#[tonic::async_trait]
impl<P: Plugin> Data for Served<P> {
    async fn query_data(
        &self,
        request: Request<pluginv2::QueryDataRequest>,
    ) -> Result<Response<pluginv2::QueryDataResponse>, Status> {
        let caller = Caller::from_proto(request.get_ref().plugin_context.as_ref());
        let span = span("queryData", &request, &caller);
        let proto = request.into_inner();
        let plugin = self.plugin.clone();
        let instances = self.instances.clone();
        let ref_ids: Vec<String> = proto.queries.iter().map(|q| q.ref_id.clone()).collect();
        let answers = isolated(
            "QueryData",
            async move {
                let settings = InstanceSettings::from_proto(proto.plugin_context.as_ref());
                let live = instances.get(&plugin, settings);
                let queries = proto
                    .queries
                    .into_iter()
                    .map(crate::data::DataQuery::from_proto);
                plugin
                    .query_data(live.instance, caller, queries.collect())
                    .await
            }
            .instrument(span),
        )
        .await;
        let mut responses = std::collections::HashMap::new();
        match answers {
            Ok(answers) => {
                for (ref_id, answer) in answers {
                    let proto = answer.into_proto(&ref_id);
                    responses.insert(ref_id, proto);
                }
                // A query the plugin left unanswered still gets an answer: its error.
                for ref_id in ref_ids {
                    responses.entry(ref_id.clone()).or_insert_with(|| {
                        crate::data::DataResponse::error(
                            500,
                            "the plugin gave no answer to this query",
                        )
                        .into_proto(&ref_id)
                    });
                }
            }
            // A panic fails every query of the call, each with its error; the process serves on.
            Err(_) => {
                for ref_id in ref_ids {
                    let answer = crate::data::DataResponse::error(
                        500,
                        "the plugin failed while answering this query; see Grafana's log",
                    );
                    responses.insert(ref_id.clone(), answer.into_proto(&ref_id));
                }
            }
        }
        Ok(Response::new(pluginv2::QueryDataResponse { responses }))
    }
}

#[tonic::async_trait]
impl<P: Plugin> Resource for Served<P> {
    type CallResourceStream = tokio_stream::Once<Result<pluginv2::CallResourceResponse, Status>>;

    async fn call_resource(
        &self,
        request: Request<pluginv2::CallResourceRequest>,
    ) -> Result<Response<Self::CallResourceStream>, Status> {
        let caller = Caller::from_proto(request.get_ref().plugin_context.as_ref());
        let span = span("callResource", &request, &caller);
        let proto = request.into_inner();
        let plugin = self.plugin.clone();
        let instances = self.instances.clone();
        let call = async move {
            let settings = InstanceSettings::from_proto(proto.plugin_context.as_ref());
            let live = instances.get(&plugin, settings);
            match resource::to_http(proto, caller) {
                Err(refused) => refused.into_response(),
                Ok(http) => resource::call(live.routes, http).await,
            }
        };
        let response = match isolated("CallResource", call.instrument(span.clone())).await {
            Ok(response) => response,
            // The route panicked: that call's 500; the process serves on.
            Err(_) => resource::error(
                axum::http::StatusCode::INTERNAL_SERVER_ERROR,
                "the plugin failed while answering this call; see Grafana's log",
            ),
        };
        let status = response.status().as_u16();
        let answer = resource::from_http(response).await;
        span.in_scope(|| tracing::debug!(status, "resource call"));
        Ok(Response::new(tokio_stream::once(Ok(answer))))
    }
}

#[cfg(test)]
mod tests {
    use axum::routing::get;
    use grafana_plugin_sdk::pluginv2::{
        diagnostics_client::DiagnosticsClient, diagnostics_server::DiagnosticsServer,
        resource_client::ResourceClient, resource_server::ResourceServer,
    };

    use super::*;
    use crate::Health;

    /// A plugin whose health check and one route panic.
    struct Panicky;

    impl Plugin for Panicky {
        type Instance = ();
        fn new_instance(&self, _: InstanceSettings) {}
        async fn check_health(&self, _: Arc<()>, _: Caller) -> Health {
            panic!("health check failed on purpose")
        }
        fn routes(&self) -> axum::Router<Arc<()>> {
            axum::Router::new()
                .route(
                    "/boom",
                    get(|| async {
                        if std::hint::black_box(true) {
                            panic!("route failed on purpose");
                        }
                        "unreachable"
                    }),
                )
                .route("/ok", get(|| async { "ok" }))
        }
    }

    #[tokio::test]
    async fn a_panic_is_that_calls_error_and_the_process_serves_the_next_call() {
        let served = Arc::new(Served {
            plugin: Arc::new(Panicky),
            instances: Arc::new(Instances::default()),
        });
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        tokio::spawn(
            tonic::transport::Server::builder()
                .add_service(DiagnosticsServer::from_arc(served.clone()))
                .add_service(ResourceServer::from_arc(served))
                .serve_with_incoming(tokio_stream::wrappers::TcpListenerStream::new(listener)),
        );
        let url = format!("http://{address}");
        let mut resources = ResourceClient::connect(url.clone()).await.unwrap();
        let mut diagnostics = DiagnosticsClient::connect(url).await.unwrap();
        let mut get = async |path: &str| {
            let request = pluginv2::CallResourceRequest {
                path: path.into(),
                url: path.into(),
                method: "GET".into(),
                ..Default::default()
            };
            let mut stream = resources.call_resource(request).await.unwrap().into_inner();
            stream.message().await.unwrap().unwrap()
        };
        let boom = get("boom").await;
        assert_eq!(boom.code, 500);
        assert!(String::from_utf8_lossy(&boom.body).contains("\"error\""));
        assert_eq!(get("ok").await.code, 200);
        let health = diagnostics
            .check_health(pluginv2::CheckHealthRequest::default())
            .await
            .unwrap_err();
        assert_eq!(health.code(), tonic::Code::Internal);
        assert_eq!(get("ok").await.code, 200, "still serving");
    }
}
