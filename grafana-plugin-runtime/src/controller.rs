//! go-plugin's own services, which the Rust SDK lacks. `plugin.GRPCController`: Grafana calls
//! `Shutdown` when it stops a plugin and, without an answer, waits 2 s and then kills it.
//! `plugin.GRPCStdio`: go-plugin's client (1.4 and later; Grafana's) opens `StreamStdio` right
//! after the handshake and logs two warnings when it is missing. Hand-written in the shape of
//! tonic's generated code: both take `Empty`, which prost encodes as `()`.
use std::{convert::Infallible, pin::Pin};

use crate::stop::{self, Stop, Stopper};
use tokio::sync::watch;
use tokio_stream::{Stream, StreamExt, wrappers::WatchStream};
use tonic::codegen::{Body, BoxFuture, Context, Poll, Service, StdError, empty_body, http};

pub(crate) const SHUTDOWN_PATH: &str = "/plugin.GRPCController/Shutdown";
pub(crate) const STREAM_STDIO_PATH: &str = "/plugin.GRPCStdio/StreamStdio";

/// Serves `plugin.GRPCController`; `Shutdown` asks the server to exit.
#[derive(Clone)]
pub(crate) struct GrpcControllerServer {
    shutdown: Stopper,
}

impl GrpcControllerServer {
    pub(crate) fn new(shutdown: Stopper) -> Self {
        Self { shutdown }
    }
}

impl tonic::server::NamedService for GrpcControllerServer {
    const NAME: &'static str = "plugin.GRPCController";
}

struct ShutdownMethod(Stopper);

impl tonic::server::UnaryService<()> for ShutdownMethod {
    type Response = ();
    type Future = BoxFuture<tonic::Response<()>, tonic::Status>;

    fn call(&mut self, _request: tonic::Request<()>) -> Self::Future {
        let shutdown = self.0.clone();
        Box::pin(async move {
            tracing::info!("Grafana asked the plugin to shut down");
            stop::ask(&shutdown, Stop::Exit);
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
        Box::pin(async move { Ok(unimplemented()) })
    }
}

/// Serves `plugin.GRPCStdio`. go-plugin's server sends what the plugin writes to stdout and
/// stderr over `StreamStdio`; this plugin writes its logs to stderr directly (Grafana reads
/// the pipe), so the stream stays open without data and ends when the plugin stops.
#[derive(Clone)]
pub(crate) struct GrpcStdioServer {
    stopping: watch::Receiver<Stop>,
}

impl GrpcStdioServer {
    pub(crate) fn new(stopping: watch::Receiver<Stop>) -> Self {
        Self { stopping }
    }
}

impl tonic::server::NamedService for GrpcStdioServer {
    const NAME: &'static str = "plugin.GRPCStdio";
}

/// The `StdioData` messages never sent: `()` stands for the message type.
type StdioStream = Pin<Box<dyn Stream<Item = Result<(), tonic::Status>> + Send>>;

struct StreamStdioMethod(watch::Receiver<Stop>);

impl tonic::server::ServerStreamingService<()> for StreamStdioMethod {
    type Response = ();
    type ResponseStream = StdioStream;
    type Future = BoxFuture<tonic::Response<StdioStream>, tonic::Status>;

    fn call(&mut self, _request: tonic::Request<()>) -> Self::Future {
        // Yields nothing; ends (status OK, which go-plugin's client takes as EOF) once the
        // stop flag is set, so a graceful shutdown does not wait for it.
        let stream = WatchStream::new(self.0.clone())
            .take_while(|stop| *stop == Stop::Serve)
            .filter_map(|_| None::<Result<(), tonic::Status>>);
        Box::pin(async move { Ok(tonic::Response::new(Box::pin(stream) as StdioStream)) })
    }
}

impl<B> Service<http::Request<B>> for GrpcStdioServer
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
        if request.uri().path() == STREAM_STDIO_PATH {
            let method = StreamStdioMethod(self.stopping.clone());
            return Box::pin(async move {
                let codec = tonic::codec::ProstCodec::<(), ()>::default();
                Ok(tonic::server::Grpc::new(codec)
                    .server_streaming(method, request)
                    .await)
            });
        }
        Box::pin(async move { Ok(unimplemented()) })
    }
}

/// The gRPC answer for a method a service does not have, as tonic's generated code gives it.
fn unimplemented() -> http::Response<tonic::body::BoxBody> {
    http::Response::builder()
        .status(200)
        .header("grpc-status", tonic::Code::Unimplemented as i32)
        .header(
            http::header::CONTENT_TYPE,
            tonic::metadata::GRPC_CONTENT_TYPE,
        )
        .body(empty_body())
        .expect("static response parts are valid")
}
