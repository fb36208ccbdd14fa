//! go-plugin's `plugin.GRPCController` service, which the Rust SDK lacks: Grafana calls
//! `Shutdown` when it stops a plugin and, without an answer, waits 2 s and then kills it.
//! Hand-written in the shape of tonic's generated code (the proto has one unary method
//! taking and returning `Empty`, which prost encodes as `()`).
use std::{convert::Infallible, sync::Arc};

use tokio::sync::watch;
use tonic::codegen::{Body, BoxFuture, Context, Poll, Service, StdError, empty_body, http};

pub const SHUTDOWN_PATH: &str = "/plugin.GRPCController/Shutdown";

/// Serves `plugin.GRPCController`; `Shutdown` flips the watch channel to `true`.
#[derive(Clone)]
pub struct GrpcControllerServer {
    shutdown: Arc<watch::Sender<bool>>,
}

impl GrpcControllerServer {
    pub fn new(shutdown: Arc<watch::Sender<bool>>) -> Self {
        Self { shutdown }
    }
}

impl tonic::server::NamedService for GrpcControllerServer {
    const NAME: &'static str = "plugin.GRPCController";
}

struct ShutdownMethod(Arc<watch::Sender<bool>>);

impl tonic::server::UnaryService<()> for ShutdownMethod {
    type Response = ();
    type Future = BoxFuture<tonic::Response<()>, tonic::Status>;

    fn call(&mut self, _request: tonic::Request<()>) -> Self::Future {
        let shutdown = self.0.clone();
        Box::pin(async move {
            tracing::info!("Grafana asked the plugin to shut down");
            shutdown.send_replace(true);
            Ok(tonic::Response::new(()))
        })
    }
}

impl<B> Service<http::Request<B>> for GrpcControllerServer
where
    B: Body + Send + 'static,
    B::Error: Into<StdError> + Send + 'static,
{
    type Response = http::Response<tonic::body::BoxBody>;
    type Error = Infallible;
    type Future = BoxFuture<Self::Response, Self::Error>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: http::Request<B>) -> Self::Future {
        if request.uri().path() == SHUTDOWN_PATH {
            let method = ShutdownMethod(self.shutdown.clone());
            return Box::pin(async move {
                let codec = tonic::codec::ProstCodec::<(), ()>::default();
                Ok(tonic::server::Grpc::new(codec).unary(method, request).await)
            });
        }
        Box::pin(async move {
            let response = http::Response::builder()
                .status(200)
                .header("grpc-status", tonic::Code::Unimplemented as i32)
                .header(
                    http::header::CONTENT_TYPE,
                    tonic::metadata::GRPC_CONTENT_TYPE,
                )
                .body(empty_body())
                .expect("static response parts are valid");
            Ok(response)
        })
    }
}
