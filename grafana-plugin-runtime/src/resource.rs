//! Resource calls (`/api/plugins/<id>/resources/<path>`, a data source's
//! `/api/datasources/uid/<uid>/resources/<path>`) as ordinary HTTP requests to an axum
//! [`Router`](axum::Router), as the Go SDK's `httpadapter` does: the path with a leading
//! slash and the query string kept, the headers Grafana forwards, the body; the [`Caller`]
//! in the request's extensions (an extractor), authorization as one layer in front of the
//! routes ([`RequireRole`]) and one error shape ([`error`]).
use std::{
    convert::Infallible,
    future::Future,
    pin::Pin,
    task::{Context, Poll},
};

use axum::{
    body::Body,
    extract::FromRequestParts,
    http::{self, StatusCode, request::Parts},
    response::{IntoResponse, Response},
};
use grafana_plugin_sdk::pluginv2;

use crate::{Caller, Role};

/// The largest response body a route may produce (the whole answer is one gRPC message).
const MAX_RESPONSE: usize = 16 * 1024 * 1024;

/// The error every route answers with: `{"error": message}` and the status.
///
/// ```
/// use grafana_plugin_runtime::{axum::http::StatusCode, resource::error};
/// let response = error(StatusCode::NOT_FOUND, "no target named \"db\"");
/// assert_eq!(response.status(), StatusCode::NOT_FOUND);
/// ```
pub fn error(status: StatusCode, message: &str) -> Response {
    (status, axum::Json(serde_json::json!({ "error": message }))).into_response()
}

/// A refusal in [`error`]'s shape, before any route runs: the status and why.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Refusal {
    /// 400, 401, 403, …
    pub status: StatusCode,
    /// What the caller is told.
    pub message: String,
}

impl IntoResponse for Refusal {
    fn into_response(self) -> Response {
        error(self.status, &self.message)
    }
}

#[axum::async_trait]
impl<S: Send + Sync> FromRequestParts<S> for Caller {
    type Rejection = Infallible;

    /// The caller the runtime put in the request: every resource request has one.
    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Caller, Infallible> {
        Ok(parts
            .extensions
            .get::<Caller>()
            .cloned()
            .unwrap_or_default())
    }
}

/// A layer that lets a request through only when its caller is a signed-in user with at
/// least `role` in the org of the call; otherwise 401 (no user) or 403, in [`error`]'s shape.
/// Grafana checks only that the caller may open the app at all (`plugins.app:access`, which
/// every Viewer has), so anything finer is the plugin's: put it in front of the routes that
/// need it with `route_layer`.
///
/// ```
/// use std::sync::Arc;
/// use grafana_plugin_runtime::{axum::{Router, routing::{get, post}}, resource::RequireRole, Role};
/// struct Instance;
/// let routes: Router<Arc<Instance>> = Router::new()
///     .route("/checks/run", post(|| async { "ran" }))
///     .route_layer(RequireRole::at_least(Role::Editor))
///     .route("/checks", get(|| async { "[]" }));
/// ```
#[derive(Clone, Copy, Debug)]
pub struct RequireRole {
    role: Role,
}

impl RequireRole {
    /// Callers with `role` or a stronger one.
    pub fn at_least(role: Role) -> RequireRole {
        RequireRole { role }
    }

    /// Whether `caller` may pass; the refusal otherwise.
    pub fn check(&self, caller: &Caller) -> Result<(), Refusal> {
        match &caller.user {
            None => Err(Refusal {
                status: StatusCode::UNAUTHORIZED,
                message: "this route needs a signed-in Grafana user".to_owned(),
            }),
            Some(user) if user.role >= self.role => Ok(()),
            Some(user) => Err(Refusal {
                status: StatusCode::FORBIDDEN,
                message: format!(
                    "this route needs the {} role or above; you have {}",
                    self.role.name(),
                    match user.role {
                        Role::None => "no basic role in this organization",
                        other => other.name(),
                    }
                ),
            }),
        }
    }
}

impl<S> tower::Layer<S> for RequireRole {
    type Service = RequireRoleService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        RequireRoleService {
            check: *self,
            inner,
        }
    }
}

/// The service [`RequireRole`] wraps around routes.
#[derive(Clone, Debug)]
pub struct RequireRoleService<S> {
    check: RequireRole,
    inner: S,
}

impl<S> tower::Service<http::Request<Body>> for RequireRoleService<S>
where
    S: tower::Service<http::Request<Body>, Response = Response, Error = Infallible>
        + Send
        + 'static,
    S::Future: Send + 'static,
{
    type Response = Response;
    type Error = Infallible;
    type Future = Pin<Box<dyn Future<Output = Result<Response, Infallible>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: http::Request<Body>) -> Self::Future {
        let caller = request
            .extensions()
            .get::<Caller>()
            .cloned()
            .unwrap_or_default();
        match self.check.check(&caller) {
            Ok(()) => Box::pin(self.inner.call(request)),
            Err(refused) => Box::pin(async move { Ok(refused.into_response()) }),
        }
    }
}

/// Sends one request through `routes`, as the runtime does for a resource call: for tests
/// of a plugin's routes (put a [`Caller`] in the request's extensions first).
///
/// ```
/// use grafana_plugin_runtime::{axum::{Router, body::Body, http, routing::get}, resource, Caller};
/// # tokio_test_block_on(async {
/// let routes = Router::new().route("/ping", get(|| async { "pong" }));
/// let mut request = http::Request::get("/ping").body(Body::empty()).unwrap();
/// request.extensions_mut().insert(Caller::new(1, "acme-x-app", None));
/// assert_eq!(resource::call(routes, request).await.status(), 200);
/// # });
/// # fn tokio_test_block_on(f: impl std::future::Future<Output = ()>) {
/// #     tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(f)
/// # }
/// ```
pub async fn call(routes: axum::Router, request: http::Request<Body>) -> Response {
    use tower::ServiceExt;
    match routes.oneshot(request).await {
        Ok(response) => response,
        Err(never) => match never {},
    }
}

/// Grafana's CallResource as an HTTP request: `url` (which keeps the query string) with a
/// leading slash, the method, the headers (names lower-cased by `http`), the body, and the
/// caller as an extension. A malformed method or URL is a 400 before any route runs.
pub(crate) fn to_http(
    proto: pluginv2::CallResourceRequest,
    caller: Caller,
) -> Result<http::Request<Body>, Refusal> {
    let bad = |what: &str| Refusal {
        status: StatusCode::BAD_REQUEST,
        message: what.to_owned(),
    };
    let url = if proto.url.is_empty() {
        &proto.path
    } else {
        &proto.url
    };
    let uri = format!("/{}", url.trim_start_matches('/'));
    let mut request = http::Request::builder()
        .method(
            http::Method::from_bytes(proto.method.as_bytes())
                .map_err(|_| bad("the request's method is not an HTTP method"))?,
        )
        .uri(
            uri.parse::<http::Uri>()
                .map_err(|_| bad("the request's URL is not a valid path"))?,
        )
        .body(Body::from(proto.body))
        .map_err(|_| bad("the request cannot be read"))?;
    let headers = request.headers_mut();
    for (name, values) in proto.headers {
        let Ok(name) = http::HeaderName::from_bytes(name.as_bytes()) else {
            continue;
        };
        for value in values.values {
            if let Ok(value) = http::HeaderValue::from_str(&value) {
                headers.append(name.clone(), value);
            }
        }
    }
    request.extensions_mut().insert(caller);
    Ok(request)
}

/// An HTTP response as CallResource's one message: status, headers (repeated ones grouped),
/// body.
pub(crate) async fn from_http(response: Response) -> pluginv2::CallResourceResponse {
    let (parts, body) = response.into_parts();
    let (status, body) = match axum::body::to_bytes(body, MAX_RESPONSE).await {
        Ok(body) => (parts.status, body),
        Err(_) => {
            tracing::error!("a resource response body could not be read, or exceeded 16 MiB");
            let fallback = error(StatusCode::INTERNAL_SERVER_ERROR, "the response failed");
            return Box::pin(from_http(fallback)).await;
        }
    };
    let mut headers = std::collections::HashMap::<String, pluginv2::StringList>::new();
    for (name, value) in &parts.headers {
        if let Ok(value) = value.to_str() {
            (headers.entry(name.as_str().to_owned()).or_default())
                .values
                .push(value.to_owned());
        }
    }
    pluginv2::CallResourceResponse {
        code: i32::from(status.as_u16()),
        headers,
        body: body.to_vec().into(),
    }
}

#[cfg(test)]
mod tests {
    use axum::{Router, routing::get};
    use tower::ServiceExt;

    use super::*;
    use crate::User;

    fn call(path: &str, url: &str, role: Option<Role>) -> pluginv2::CallResourceRequest {
        let _ = role;
        pluginv2::CallResourceRequest {
            path: path.into(),
            url: url.into(),
            method: "GET".into(),
            headers: [(
                "X-Hook-Token".to_owned(),
                pluginv2::StringList {
                    values: vec!["t".into()],
                },
            )]
            .into(),
            ..Default::default()
        }
    }

    fn caller(role: Option<Role>) -> Caller {
        Caller {
            org_id: 1,
            plugin_id: "acme-x-app".into(),
            user: role.map(|role| User {
                login: "u".into(),
                role,
            }),
        }
    }

    async fn serve(router: Router, path: &str, url: &str, role: Option<Role>) -> (u16, String) {
        let request = to_http(call(path, url, role), caller(role)).unwrap();
        let response = from_http(router.oneshot(request).await.unwrap()).await;
        (
            u16::try_from(response.code).unwrap(),
            String::from_utf8(response.body.to_vec()).unwrap(),
        )
    }

    #[tokio::test]
    async fn the_query_string_headers_and_caller_reach_the_route() {
        let router = Router::new().route(
            "/items",
            get(
                |caller: Caller,
                 axum::extract::RawQuery(query): axum::extract::RawQuery,
                 headers: http::HeaderMap| async move {
                    format!(
                        "{} {} {}",
                        caller.role().name(),
                        query.unwrap_or_default(),
                        headers["x-hook-token"].to_str().unwrap()
                    )
                },
            ),
        );
        assert_eq!(
            serve(router, "items", "items?x=1&y=2", Some(Role::Viewer)).await,
            (200, "Viewer x=1&y=2 t".to_owned())
        );
    }

    #[tokio::test]
    async fn require_role_refuses_with_401_or_403_in_one_shape() {
        let router = || {
            Router::new()
                .route("/run", get(|| async { "ran" }))
                .route_layer(RequireRole::at_least(Role::Editor))
                .route("/open", get(|| async { "open" }))
        };
        assert_eq!(
            serve(router(), "run", "run", Some(Role::Editor)).await.0,
            200
        );
        assert_eq!(
            serve(router(), "run", "run", Some(Role::Admin)).await.0,
            200
        );
        let (status, body) = serve(router(), "run", "run", Some(Role::Viewer)).await;
        assert_eq!(status, 403);
        assert!(
            body.contains("needs the Editor role or above; you have Viewer"),
            "{body}"
        );
        let (status, body) = serve(router(), "run", "run", Some(Role::None)).await;
        assert_eq!(status, 403);
        assert!(body.contains("no basic role"), "{body}");
        assert_eq!(serve(router(), "run", "run", None).await.0, 401);
        assert_eq!(serve(router(), "open", "open", None).await.0, 200);
        assert_eq!(serve(router(), "nowhere", "nowhere", None).await.0, 404);
    }

    #[test]
    fn a_malformed_request_is_a_400_before_any_route() {
        let mut request = call("x", "x", None);
        request.method = "GE T".into();
        assert_eq!(
            to_http(request, Caller::default()).unwrap_err().status,
            StatusCode::BAD_REQUEST
        );
    }
}
