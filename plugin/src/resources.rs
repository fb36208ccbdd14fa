//! Resource routes, served at `/api/plugins/<id>/resources/<path>`: an HTTP-shaped request
//! in, a JSON response out. Knows nothing of gRPC (`grpc.rs` converts), so it is tested
//! directly. Every route states who may call it; `auth` decides before the handler runs.
use serde_json::{Value, json};

use crate::{
    auth::{self, Access},
    build_info,
    checker::{self, CheckResult, Source, Status},
    context::{AppSettings, Caller, Role},
    worker::{Checks, Configured},
};

/// Larger bodies are refused with 413; the only body this backend reads is a small report.
pub const MAX_BODY: usize = 64 * 1024;
const MAX_REPORT_MESSAGE: usize = 200;

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
    /// The app's settings, when Grafana sent them.
    pub settings: Option<AppSettings>,
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

/// The routes this backend serves; one table decides 404, 405 and who may call.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Route {
    Ping,
    Checks,
    RunChecks,
    Report,
}

impl Route {
    fn find(path: &str) -> Option<Route> {
        match path {
            "ping" => Some(Route::Ping),
            "checks" => Some(Route::Checks),
            "checks/run" => Some(Route::RunChecks),
            "hooks/report" => Some(Route::Report),
            _ => None,
        }
    }

    fn methods(self) -> &'static [&'static str] {
        match self {
            Route::Ping | Route::Checks => &["GET"],
            Route::RunChecks | Route::Report => &["POST"],
        }
    }

    fn access(self) -> Access {
        match self {
            Route::Ping => Access::Anyone,
            Route::Checks => Access::AtLeast(Role::Viewer),
            Route::RunChecks => Access::AtLeast(Role::Editor),
            Route::Report => Access::HookToken,
        }
    }
}

pub async fn handle(checks: &Checks, request: &ResourceRequest) -> ResourceResponse {
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
    let hook_token = request
        .settings
        .as_ref()
        .and_then(|s| s.hook_token.as_ref());
    if let Err(denied) = auth::authorize(
        route.access(),
        &request.caller,
        &request.headers,
        hook_token,
    ) {
        return ResourceResponse::error(denied.status, &denied.message);
    }
    if request.body.len() > MAX_BODY {
        return ResourceResponse::error(413, &format!("the body is larger than {MAX_BODY} bytes"));
    }
    let configured = match &request.settings {
        Some(settings) => checks.observe(settings.last_updated_ms, &settings.json_data),
        None => checks.current(),
    };
    if route != Route::Ping
        && let Err(error) = &configured.settings
    {
        return ResourceResponse::error(
            409,
            &format!(
                "the app's settings are invalid, so nothing is checked: {error}; an admin can fix \
                 them on the app's configuration page"
            ),
        );
    }
    match route {
        Route::Ping => ResourceResponse::json(
            200,
            &json!({ "message": "pong", "plugin": build_info::as_json() }),
        ),
        Route::Checks => ResourceResponse::json(200, &json!({ "checks": checks.snapshot() })),
        Route::RunChecks => {
            ResourceResponse::json(200, &json!({ "checks": checks.run_now().await }))
        }
        Route::Report => report(checks, &configured, &request.body),
    }
}

/// `POST hooks/report` with `{"name": "...", "status": "up" | "down", "message": "..."}`:
/// a machine pushes the state of a configured target (a batch job, a host behind a firewall).
fn report(checks: &Checks, configured: &Configured, body: &[u8]) -> ResourceResponse {
    let bad = |message: &str| ResourceResponse::error(400, message);
    let Ok(Value::Object(report)) = serde_json::from_slice::<Value>(body) else {
        return bad(
            "the body must be a JSON object: {\"name\": \"...\", \"status\": \"up\" | \"down\", \"message\": \"...\"}",
        );
    };
    let Some(name) = report.get("name").and_then(Value::as_str) else {
        return bad("`name` must be the name of a configured target");
    };
    let status = match report.get("status").and_then(Value::as_str) {
        Some("up") => Status::Up,
        Some("down") => Status::Down,
        _ => return bad("`status` must be \"up\" or \"down\""),
    };
    let message = match report.get("message") {
        None | Some(Value::Null) => None,
        Some(Value::String(message)) => {
            Some(checker::printable(message.as_bytes())).filter(|m| !m.is_empty())
        }
        Some(_) => return bad("`message` must be a string"),
    }
    .map(|message| message.chars().take(MAX_REPORT_MESSAGE).collect::<String>());
    let targets = configured
        .settings
        .as_ref()
        .map_or(&[][..], |s| &s.targets[..]);
    let Some(target) = targets.iter().find(|target| target.name == name) else {
        return ResourceResponse::error(
            404,
            &format!(
                "no target named {:?} is configured",
                checker::printable(name.as_bytes())
            ),
        );
    };
    if !target.passive {
        return ResourceResponse::error(
            409,
            &format!(
                "target {:?} is checked by this backend; only passive targets take reports",
                target.name
            ),
        );
    }
    let result = CheckResult {
        status,
        error: if status == Status::Down {
            message.clone()
        } else {
            None
        },
        banner: if status == Status::Up { message } else { None },
        checked_at: Some(checker::now_rfc3339()),
        source: Source::Report,
        ..CheckResult::pending(target)
    };
    checks.record(result.clone());
    ResourceResponse::json(200, &json!({ "recorded": result }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{checker::Timeouts, context::User, secret::Secret};

    fn body(response: &ResourceResponse) -> Value {
        serde_json::from_slice(&response.body).unwrap()
    }

    const SETTINGS: &str = r#"{"targets": [{"name": "db", "address": "127.0.0.1:1"}, {"name": "backup", "passive": true}]}"#;

    fn request(method: &str, path: &str, role: Option<Role>) -> ResourceRequest {
        let mut request = ResourceRequest::new(method, path, path);
        request.caller = Caller {
            org_id: 1,
            user: role.map(|role| User {
                login: "u".into(),
                role,
            }),
        };
        request.settings = Some(AppSettings {
            last_updated_ms: 1,
            json_data: SETTINGS.as_bytes().to_vec(),
            hook_token: Some(Secret::new("tok".into())),
        });
        request
    }

    fn checks() -> Checks {
        Checks::new(Timeouts {
            connect: std::time::Duration::from_millis(200),
            read: std::time::Duration::from_millis(200),
        })
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

    #[tokio::test]
    async fn ping_answers_anyone_with_json() {
        for role in [None, Some(Role::None), Some(Role::Viewer)] {
            let response = handle(&checks(), &request("GET", "ping", role)).await;
            assert_eq!(response.status, 200);
            assert_eq!(body(&response)["message"], "pong");
            assert_eq!(body(&response)["plugin"]["pluginID"], build_info::PLUGIN_ID);
            assert!(
                response
                    .headers
                    .contains(&("content-type", "application/json".into()))
            );
        }
    }

    #[tokio::test]
    async fn unknown_route_is_404_and_wrong_method_is_405_both_with_json_errors() {
        let response = handle(&checks(), &request("GET", "nope", Some(Role::Admin))).await;
        assert_eq!(response.status, 404);
        assert_eq!(body(&response)["error"], "no resource at `nope`");

        let response = handle(&checks(), &request("DELETE", "ping", Some(Role::Admin))).await;
        assert_eq!(response.status, 405);
        assert!(response.headers.contains(&("allow", "GET".into())));
        let response = handle(&checks(), &request("GET", "checks/run", Some(Role::Admin))).await;
        assert_eq!(response.status, 405);
        assert!(response.headers.contains(&("allow", "POST".into())));
    }

    #[tokio::test]
    async fn each_route_per_role() {
        use Role::*;
        // (method, path, role, expected status)
        let cases = [
            ("GET", "checks", Some(Admin), 200),
            ("GET", "checks", Some(Editor), 200),
            ("GET", "checks", Some(Viewer), 200),
            ("GET", "checks", Some(None), 403),
            ("GET", "checks", Option::None, 401),
            ("POST", "checks/run", Some(Admin), 200),
            ("POST", "checks/run", Some(Editor), 200),
            ("POST", "checks/run", Some(Viewer), 403),
            ("POST", "checks/run", Some(None), 403),
            ("POST", "checks/run", Option::None, 401),
            ("POST", "hooks/report", Some(Admin), 401),
            ("POST", "hooks/report", Option::None, 401),
        ];
        let checks = checks();
        for (method, path, role, expected) in cases {
            let response = handle(&checks, &request(method, path, role)).await;
            assert_eq!(
                response.status,
                expected,
                "{method} {path} as {role:?}: {}",
                body(&response)
            );
            assert!(body(&response).is_object());
        }
    }

    #[tokio::test]
    async fn checks_lists_targets_and_run_checks_them() {
        let checks = checks();
        let response = handle(&checks, &request("GET", "checks", Some(Role::Viewer))).await;
        assert_eq!(body(&response)["checks"][0]["name"], "db");
        assert_eq!(body(&response)["checks"][0]["status"], "pending");
        let response = handle(&checks, &request("POST", "checks/run", Some(Role::Editor))).await;
        assert_eq!(
            body(&response)["checks"][1]["status"],
            "pending",
            "passive: never checked"
        );
        let result = &body(&response)["checks"][0];
        assert_eq!(result["status"], "down", "{result}");
        assert!(
            result["error"]
                .as_str()
                .unwrap()
                .starts_with("cannot connect")
        );
        assert!(result["checkedAt"].is_string());
    }

    #[tokio::test]
    async fn invalid_or_empty_settings_never_fail_the_request() {
        for (json_data, status) in [
            (&b""[..], 200),
            (b"null", 200),
            (b"{}", 200),
            (b"{\"targets\": \"db:1\", \"extra\": 1}", 409),
            (b"[1]", 409),
            (b"not json", 409),
        ] {
            let checks = checks();
            let mut request = request("GET", "checks", Some(Role::Viewer));
            request.settings.as_mut().unwrap().json_data = json_data.to_vec();
            let response = handle(&checks, &request).await;
            assert_eq!(
                response.status,
                status,
                "{}",
                String::from_utf8_lossy(json_data)
            );
            if status == 409 {
                assert!(
                    body(&response)["error"]
                        .as_str()
                        .unwrap()
                        .contains("jsonData")
                );
            }
            // ping still answers whatever the settings.
            request.path = "ping".into();
            assert_eq!(handle(&checks, &request).await.status, 200);
        }
    }

    #[tokio::test]
    async fn report_needs_the_token_and_a_well_formed_body() {
        let checks = checks();
        let report = |body: &str, token: &str| {
            let mut request = request("POST", "hooks/report", Option::None);
            request.headers = vec![(auth::HOOK_TOKEN_HEADER.into(), token.into())];
            request.body = body.as_bytes().to_vec();
            let checks = &checks;
            async move { handle(checks, &request).await }
        };
        let response = report(
            r#"{"name": "backup", "status": "up", "message": "ok\u0007"}"#,
            "tok",
        )
        .await;
        assert_eq!(response.status, 200, "{}", body(&response));
        assert_eq!(body(&response)["recorded"]["source"], "report");
        assert_eq!(body(&response)["recorded"]["banner"], "ok");
        assert_eq!(checks.snapshot()[1].status, Status::Up);

        let wrong_token = report(r#"{"name": "backup", "status": "up"}"#, "wrong").await;
        assert_eq!(wrong_token.status, 401);
        let active = report(r#"{"name": "db", "status": "up"}"#, "tok").await;
        assert_eq!(active.status, 409);
        assert_eq!(
            body(&active)["error"],
            "target \"db\" is checked by this backend; only passive targets take reports"
        );
        for bad in [
            "",
            "[]",
            "{\"name\": 1}",
            "{\"name\": \"backup\", \"status\": \"sideways\"}",
            "{\"name\": \"backup\", \"status\": \"up\", \"message\": 3}",
        ] {
            let response = report(bad, "tok").await;
            assert_eq!(response.status, 400, "{bad}: {}", body(&response));
            assert!(body(&response)["error"].is_string());
        }
        let unknown = report(r#"{"name": "web", "status": "down"}"#, "tok").await;
        assert_eq!(unknown.status, 404);
        let huge = format!(
            "{{\"name\": \"backup\", \"status\": \"up\", \"message\": \"{}\"}}",
            "x".repeat(MAX_BODY)
        );
        assert_eq!(report(&huge, "tok").await.status, 413);
    }
}
