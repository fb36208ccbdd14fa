//! Resource routes, served at `/api/plugins/<id>/resources/<path>`, as an axum router over
//! one org's [`Org`]: the runtime hands each call to the router of the caller's org, so a
//! route never sees another org's targets or results. Who may call is declared once per
//! route: a role layer (`RequireRole`) or the hook-token guard ([`HookToken`]).
use std::sync::Arc;

use grafana_plugin_runtime::{
    Role,
    axum::{
        Json, Router,
        body::Bytes,
        extract::{FromRequestParts, State},
        http::{StatusCode, request::Parts},
        response::{IntoResponse, Response},
        routing::{MethodRouter, get, post},
    },
    resource::{Refusal, RequireRole, error},
};
use serde_json::{Value, json};

use crate::{
    build_info,
    checker::{self, CheckResult, Source, Status},
    org::Org,
    settings::Settings,
};

/// Larger bodies are refused with 413; the only body this backend reads is a small report.
pub const MAX_BODY: usize = 64 * 1024;
const MAX_REPORT_MESSAGE: usize = 200;
/// The header machine callers put the hook token in.
pub const HOOK_TOKEN_HEADER: &str = "x-hook-token";

/// Every route and who may call it.
pub fn router() -> Router<Arc<Org>> {
    Router::new()
        .route("/checks/run", only(&["POST"], post(run_checks)))
        .route_layer(RequireRole::at_least(Role::Editor))
        .route("/checks", only(&["GET"], get(list_checks)))
        .route_layer(RequireRole::at_least(Role::Viewer))
        .route("/hooks/report", only(&["POST"], post(report)))
        .route("/ping", only(&["GET"], get(ping)))
        .fallback(|uri: grafana_plugin_runtime::axum::http::Uri| async move {
            let path = uri.path().trim_start_matches('/').to_owned();
            error(StatusCode::NOT_FOUND, &format!("no resource at `{path}`"))
        })
}

/// A route answering `methods` only; any other method gets 405 with `Allow`, in JSON.
fn only(methods: &'static [&'static str], route: MethodRouter<Arc<Org>>) -> MethodRouter<Arc<Org>> {
    route.fallback(move || async move {
        let mut response = error(
            StatusCode::METHOD_NOT_ALLOWED,
            &format!("this route accepts {} only", methods.join(", ")),
        );
        if let Ok(allow) = methods.join(", ").parse() {
            response.headers_mut().insert("allow", allow);
        }
        response
    })
}

/// The org's settings, or the 409 every route but `ping` answers while they are invalid.
fn valid_settings(org: &Org) -> Result<&Settings, Refusal> {
    org.checks
        .configured
        .settings
        .as_ref()
        .map_err(|error| Refusal {
            status: StatusCode::CONFLICT,
            message: format!(
                "the app's settings are invalid, so nothing is checked: {error}; an org Admin \
                 fixes jsonData in provisioning/plugins/ or with POST /api/plugins/{}/settings",
                build_info::PLUGIN_ID
            ),
        })
}

async fn ping() -> Json<Value> {
    Json(json!({ "message": "pong", "plugin": build_info::as_json() }))
}

async fn list_checks(State(org): State<Arc<Org>>) -> Response {
    if let Err(refused) = valid_settings(&org) {
        return refused.into_response();
    }
    Json(json!({ "checks": org.checks.snapshot() })).into_response()
}

async fn run_checks(State(org): State<Arc<Org>>) -> Response {
    if let Err(refused) = valid_settings(&org) {
        return refused.into_response();
    }
    Json(json!({ "checks": org.checks.run_now().await })).into_response()
}

/// The guard of `hooks/report`: the `X-Hook-Token` header must equal the org's
/// `secureJsonData.hookToken`. Without a configured token the hook is closed, with the same
/// answer as for a wrong token, so callers learn nothing about the configuration.
pub struct HookToken;

#[grafana_plugin_runtime::axum::async_trait]
impl FromRequestParts<Arc<Org>> for HookToken {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, org: &Arc<Org>) -> Result<HookToken, Response> {
        let presented = parts.headers.get(HOOK_TOKEN_HEADER).map(|v| v.as_bytes());
        match (presented, &org.hook_token) {
            (Some(presented), Some(expected)) if expected.matches(presented) => Ok(HookToken),
            _ => Err(error(
                StatusCode::UNAUTHORIZED,
                &format!("missing or wrong token in the {HOOK_TOKEN_HEADER} header"),
            )),
        }
    }
}

/// `POST hooks/report` with `{"name": "...", "status": "up" | "down", "message": "..."}`:
/// a machine pushes the state of a configured passive target (a batch job, a host behind a
/// firewall) of the org whose token it presents.
async fn report(_token: HookToken, State(org): State<Arc<Org>>, body: Bytes) -> Response {
    if body.len() > MAX_BODY {
        return error(
            StatusCode::PAYLOAD_TOO_LARGE,
            &format!("the body is larger than {MAX_BODY} bytes"),
        );
    }
    let settings = match valid_settings(&org) {
        Ok(settings) => settings,
        Err(refused) => return refused.into_response(),
    };
    let bad = |message: &str| error(StatusCode::BAD_REQUEST, message);
    let Ok(Value::Object(report)) = serde_json::from_slice::<Value>(&body) else {
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
    let Some(target) = settings.targets.iter().find(|target| target.name == name) else {
        return error(
            StatusCode::NOT_FOUND,
            &format!(
                "no target named {:?} is configured",
                checker::printable(name.as_bytes())
            ),
        );
    };
    if !target.passive {
        return error(
            StatusCode::CONFLICT,
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
    org.checks.record(result.clone());
    Json(json!({ "recorded": result })).into_response()
}

#[cfg(test)]
mod tests {
    use grafana_plugin_runtime::{
        Caller, User,
        axum::{body::Body, http},
    };

    use super::*;

    /// One database target (nothing listens: port 1 on loopback) and one passive target.
    const SETTINGS: &str = r#"{"targets": [{"name": "db", "address": "127.0.0.1:1"}, {"name": "backup", "passive": true}]}"#;

    /// Calls the router as the runtime does: the caller in the request's extensions.
    async fn call(
        org: &Arc<Org>,
        method: &str,
        url: &str,
        role: Option<Role>,
        headers: &[(&str, &str)],
        body: &str,
    ) -> (u16, http::HeaderMap, Value) {
        let mut request = http::Request::builder().method(method).uri(url);
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        let mut request = request.body(Body::from(body.to_owned())).unwrap();
        let user = role.map(|role| User::new("u", role));
        request
            .extensions_mut()
            .insert(Caller::new(1, build_info::PLUGIN_ID, user));
        let routes = router().with_state(org.clone());
        let response = grafana_plugin_runtime::resource::call(routes, request).await;
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let bytes = grafana_plugin_runtime::axum::body::to_bytes(response.into_body(), usize::MAX)
            .await
            .unwrap();
        (
            status,
            headers,
            serde_json::from_slice(&bytes).unwrap_or(Value::Null),
        )
    }

    #[tokio::test]
    async fn ping_answers_anyone_with_json() {
        let org = Org::for_test(SETTINGS, Some("tok"));
        for role in [None, Some(Role::None), Some(Role::Viewer)] {
            let (status, headers, body) = call(&org, "GET", "/ping", role, &[], "").await;
            assert_eq!(status, 200);
            assert_eq!(body["message"], "pong");
            assert_eq!(body["plugin"]["pluginID"], build_info::PLUGIN_ID);
            assert_eq!(headers["content-type"], "application/json");
        }
    }

    #[tokio::test]
    async fn unknown_route_is_404_and_wrong_method_is_405_both_with_json_errors() {
        let org = Org::for_test(SETTINGS, Some("tok"));
        let (status, _, body) = call(&org, "GET", "/nope?x=1", Some(Role::Admin), &[], "").await;
        assert_eq!(
            (status, body["error"].as_str()),
            (404, Some("no resource at `nope`"))
        );
        let (status, headers, body) =
            call(&org, "DELETE", "/ping", Some(Role::Admin), &[], "").await;
        assert_eq!((status, headers["allow"].to_str().unwrap()), (405, "GET"));
        assert!(body["error"].is_string());
        let (status, headers, _) =
            call(&org, "GET", "/checks/run", Some(Role::Admin), &[], "").await;
        assert_eq!((status, headers["allow"].to_str().unwrap()), (405, "POST"));
    }

    #[tokio::test]
    async fn each_route_per_role() {
        use Role::*;
        let org = Org::for_test(SETTINGS, Some("tok"));
        // (method, path, role, expected status)
        let cases = [
            ("GET", "/checks", Some(Admin), 200),
            ("GET", "/checks", Some(Editor), 200),
            ("GET", "/checks", Some(Viewer), 200),
            ("GET", "/checks", Some(None), 403),
            ("GET", "/checks", Option::None, 401),
            ("POST", "/checks/run", Some(Admin), 200),
            ("POST", "/checks/run", Some(Editor), 200),
            ("POST", "/checks/run", Some(Viewer), 403),
            ("POST", "/checks/run", Some(None), 403),
            ("POST", "/checks/run", Option::None, 401),
            ("POST", "/hooks/report", Some(Admin), 401),
            ("POST", "/hooks/report", Option::None, 401),
        ];
        for (method, path, role, expected) in cases {
            let (status, _, body) = call(&org, method, path, role, &[], "{}").await;
            assert_eq!(status, expected, "{method} {path} as {role:?}: {body}");
            assert!(body.is_object());
        }
    }

    #[tokio::test]
    async fn checks_lists_targets_and_run_checks_them() {
        let org = Org::for_test(SETTINGS, None);
        let (_, _, body) = call(&org, "GET", "/checks", Some(Role::Viewer), &[], "").await;
        assert_eq!(body["checks"][0]["name"], "db");
        let (_, _, body) = call(&org, "POST", "/checks/run", Some(Role::Editor), &[], "").await;
        assert_eq!(
            body["checks"][1]["status"], "pending",
            "passive: never checked"
        );
        let result = &body["checks"][0];
        assert_eq!(result["status"], "down", "{result}");
        assert!(
            result["error"]
                .as_str()
                .unwrap()
                .starts_with("cannot connect"),
            "{result}"
        );
        assert!(result["checkedAt"].is_string());
    }

    #[tokio::test]
    async fn invalid_or_empty_settings_never_fail_the_request() {
        for (json_data, expected) in [
            ("", 200),
            ("null", 200),
            ("{}", 200),
            ("{\"targets\": \"db:1\", \"extra\": 1}", 409),
            ("[1]", 409),
            ("not json", 409),
        ] {
            let org = Org::for_test(json_data, None);
            let (status, _, body) = call(&org, "GET", "/checks", Some(Role::Viewer), &[], "").await;
            assert_eq!(status, expected, "{json_data}");
            if expected == 409 {
                assert!(
                    body["error"].as_str().unwrap().contains("jsonData"),
                    "{body}"
                );
            }
            // ping still answers whatever the settings.
            assert_eq!(call(&org, "GET", "/ping", None, &[], "").await.0, 200);
        }
    }

    #[tokio::test]
    async fn report_needs_the_token_and_a_well_formed_body() {
        let org = Org::for_test(SETTINGS, Some("tok"));
        let report = |body: String, token: &'static str| {
            let org = org.clone();
            async move {
                let headers = [(HOOK_TOKEN_HEADER, token)];
                let (status, _, body) =
                    call(&org, "POST", "/hooks/report", None, &headers, &body).await;
                (status, body)
            }
        };
        let (status, body) = report(
            r#"{"name": "backup", "status": "up", "message": "ok\u0007"}"#.into(),
            "tok",
        )
        .await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(body["recorded"]["source"], "report");
        assert_eq!(body["recorded"]["banner"], "ok");
        assert_eq!(org.checks.snapshot()[1].status, Status::Up);

        assert_eq!(
            report(r#"{"name": "backup", "status": "up"}"#.into(), "wrong")
                .await
                .0,
            401
        );
        let (status, body) = report(r#"{"name": "db", "status": "up"}"#.into(), "tok").await;
        assert_eq!(status, 409);
        assert_eq!(
            body["error"],
            "target \"db\" is checked by this backend; only passive targets take reports"
        );
        for bad in [
            "",
            "[]",
            "{\"name\": 1}",
            "{\"name\": \"backup\", \"status\": \"sideways\"}",
            "{\"name\": \"backup\", \"status\": \"up\", \"message\": 3}",
        ] {
            let (status, body) = report(bad.into(), "tok").await;
            assert_eq!(status, 400, "{bad}: {body}");
            assert!(body["error"].is_string());
        }
        assert_eq!(
            report(r#"{"name": "web", "status": "down"}"#.into(), "tok")
                .await
                .0,
            404
        );
        let huge = format!(
            "{{\"name\": \"backup\", \"status\": \"up\", \"message\": \"{}\"}}",
            "x".repeat(MAX_BODY)
        );
        assert_eq!(report(huge, "tok").await.0, 413);
    }

    #[tokio::test]
    async fn without_a_configured_token_the_hook_is_closed() {
        let org = Org::for_test(SETTINGS, None);
        let headers = [(HOOK_TOKEN_HEADER, "")];
        let body = r#"{"name": "backup", "status": "up"}"#;
        assert_eq!(
            call(&org, "POST", "/hooks/report", None, &headers, body)
                .await
                .0,
            401
        );
    }
}
