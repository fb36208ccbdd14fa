//! Resource routes, served at `/api/plugins/<id>/resources/<path>`: an HTTP-shaped request
//! in, a JSON response out. Knows nothing of gRPC (`grpc.rs` converts), so it is tested directly.
use serde_json::{Value, json};

use crate::{build_info, context::Caller};

/// A resource call as Grafana forwards it; every field is untrusted input.
#[derive(Clone, Debug, Default)]
pub struct ResourceRequest {
    pub method: String,
    /// Without leading slash or query string: `ping`, `checks/run`.
    pub path: String,
    /// Header names in lower case.
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    pub caller: Caller,
}

impl ResourceRequest {
    /// Builds a request from Grafana's `path` and `url` fields; Grafana sends `url` with the
    /// query string and, like `path`, without a leading slash (`ping?x=1`).
    pub fn new(method: &str, path: &str, url: &str) -> ResourceRequest {
        let url_path = url.split_once('?').map_or(url, |(path, _query)| path);
        let path = if path.is_empty() { url_path } else { path };
        ResourceRequest {
            method: method.to_ascii_uppercase(),
            path: path.trim_matches('/').to_owned(),
            ..ResourceRequest::default()
        }
    }
}

#[derive(Clone, Debug, PartialEq)]
pub struct ResourceResponse {
    pub status: u16,
    pub headers: Vec<(&'static str, String)>,
    pub body: Vec<u8>,
}

impl ResourceResponse {
    pub fn json(status: u16, value: &Value) -> ResourceResponse {
        ResourceResponse {
            status,
            headers: vec![("content-type", "application/json".to_owned())],
            body: serde_json::to_vec(value).expect("a serde_json::Value always serializes"),
        }
    }

    /// An error with a JSON body `{"error": message}`, the shape every route uses.
    pub fn error(status: u16, message: &str) -> ResourceResponse {
        ResourceResponse::json(status, &json!({ "error": message }))
    }
}

/// The routes this backend serves; one place decides both 404 and 405.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Route {
    Ping,
}

impl Route {
    fn find(path: &str) -> Option<Route> {
        match path {
            "ping" => Some(Route::Ping),
            _ => None,
        }
    }

    fn methods(self) -> &'static [&'static str] {
        match self {
            Route::Ping => &["GET"],
        }
    }
}

pub fn handle(request: &ResourceRequest) -> ResourceResponse {
    let Some(route) = Route::find(&request.path) else {
        return ResourceResponse::error(404, &format!("no resource at `{}`", request.path));
    };
    let methods = route.methods();
    if !methods.contains(&request.method.as_str()) {
        let mut response = ResourceResponse::error(
            405,
            &format!("`{}` does not accept {}", request.path, request.method),
        );
        response.headers.push(("allow", methods.join(", ")));
        return response;
    }
    match route {
        Route::Ping => ResourceResponse::json(
            200,
            &json!({ "message": "pong", "plugin": build_info::as_json() }),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn body(response: &ResourceResponse) -> Value {
        serde_json::from_slice(&response.body).unwrap()
    }

    #[test]
    fn request_takes_path_from_path_or_url_without_the_query() {
        let request = ResourceRequest::new("get", "ping", "ping?x=1");
        assert_eq!(
            (request.method.as_str(), request.path.as_str()),
            ("GET", "ping")
        );
        let request = ResourceRequest::new("GET", "", "/checks/run/?a=b");
        assert_eq!(request.path, "checks/run");
    }

    #[test]
    fn ping_answers_200_with_json() {
        let response = handle(&ResourceRequest::new("GET", "ping", "ping"));
        assert_eq!(response.status, 200);
        assert_eq!(body(&response)["message"], "pong");
        assert_eq!(body(&response)["plugin"]["pluginID"], build_info::PLUGIN_ID);
        assert!(
            response
                .headers
                .contains(&("content-type", "application/json".into()))
        );
    }

    #[test]
    fn unknown_route_is_404_and_wrong_method_is_405_both_with_json_errors() {
        let response = handle(&ResourceRequest::new("GET", "nope", "nope"));
        assert_eq!(response.status, 404);
        assert_eq!(body(&response)["error"], "no resource at `nope`");

        let response = handle(&ResourceRequest::new("DELETE", "ping", "ping"));
        assert_eq!(response.status, 405);
        assert!(response.headers.contains(&("allow", "GET".into())));
        assert!(
            body(&response)["error"]
                .as_str()
                .unwrap()
                .contains("DELETE")
        );
    }
}
