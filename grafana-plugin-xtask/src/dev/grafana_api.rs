//! Asks a running Grafana whether it loaded the plugin and reaches its backend, and says
//! why not: the commonest question of a new plugin author. Three calls of Grafana's HTTP API
//! (`pkg/api/api.go`, handlers in `pkg/api/plugins.go`): `GET /api/plugins/<id>/settings`
//! (404 when not loaded; `enabled` false for an app not enabled), `GET /api/plugins/errors`
//! (`[{pluginId, errorCode}]`) and `GET /api/plugins/<id>/health` (CheckHealth through
//! Grafana: 200 with `status: "OK"`, 400 when the backend reports an error, 404 when the
//! backend is not registered or the app not enabled, 5xx when Grafana cannot reach it).
//! Only answers in Grafana's shapes count: a server that answers otherwise is named as not
//! Grafana. `diagnose` is pure; `check` does the (bounded) I/O.
use std::{
    sync::atomic::{AtomicBool, Ordering},
    time::{Duration, Instant},
};

pub use super::verdict::Verdict;

use serde_json::Value;

use crate::http::{Answer, Endpoint, Failure};

/// Grafana's answers for the plugin, as far as they came.
#[derive(Clone, Debug, Default)]
pub struct Answers {
    pub settings: Option<Result<Answer, Failure>>,
    pub errors: Option<Result<Answer, Failure>>,
    pub health: Option<Result<Answer, Failure>>,
}

fn json(answer: &Answer) -> Option<Value> {
    serde_json::from_str(&answer.body).ok()
}

/// Grafana's error `message` (errutil's public message), else the start of the body.
fn message(answer: &Answer) -> String {
    json(answer)
        .and_then(|body| body["message"].as_str().map(str::to_owned))
        .unwrap_or_else(|| shown(&answer.body))
}

fn shown(body: &str) -> String {
    let body: String = body.trim().chars().take(80).collect();
    if body.is_empty() {
        "an empty body".to_owned()
    } else {
        format!("{body:?}")
    }
}

/// Every error answer of Grafana's API is a JSON object with a `message`.
fn is_grafana_error(answer: &Answer) -> bool {
    json(answer).is_some_and(|body| body["message"].is_string())
}

fn not_grafana(url: &str, path: &str, answer: &Answer) -> Verdict {
    Verdict::NotServing(format!(
        "the server at {url} is not Grafana, or not its HTTP API: it answered {path} with {} \
         and {} instead of Grafana's JSON; point GRAFANA_URL (or --port) at Grafana",
        answer.status,
        shown(&answer.body)
    ))
}

fn no_answer(url: &str, path: &str, failure: &Failure) -> Verdict {
    match failure {
        Failure::Interrupted => Verdict::Interrupted,
        Failure::Unreachable(_) => Verdict::NotServing(format!(
            "{failure} at {url}; is Grafana running there? (GRAFANA_URL sets the address)"
        )),
        _ => Verdict::NotServing(format!("{url}{path}: {failure}; is this Grafana?")),
    }
}

/// Reads the answers as Grafana means them.
pub fn diagnose(answers: &Answers, plugin_id: &str, url: &str) -> Verdict {
    match loaded_and_enabled(answers, plugin_id, url) {
        Err(verdict) => verdict,
        Ok(()) => health_verdict(answers.health.as_ref(), plugin_id, url),
    }
}

/// Whether Grafana loaded the plugin, does not refuse it, and (for an app) enabled it; the
/// verdict otherwise. A data source has no `enabled` (Grafana keeps it per instance).
fn loaded_and_enabled(answers: &Answers, plugin_id: &str, url: &str) -> Result<(), Verdict> {
    let settings_path = format!("/api/plugins/{plugin_id}/settings");
    let settings = match &answers.settings {
        None => {
            return Err(Verdict::NotServing(format!(
                "Grafana at {url} did not answer"
            )));
        }
        Some(Err(failure)) => return Err(no_answer(url, &settings_path, failure)),
        Some(Ok(answer)) => answer,
    };
    if matches!(settings.status, 401 | 403) && is_grafana_error(settings) {
        return Err(Verdict::NotServing(format!(
            "Grafana answered {} ({}) to {settings_path}: set GRAFANA_TOKEN to a \
             service-account token whose role can open the app (Viewer or more), or enable \
             anonymous access",
            settings.status,
            message(settings)
        )));
    }
    let errors = match &answers.errors {
        Some(Ok(answer)) if answer.status == 200 => match json(answer) {
            Some(Value::Array(errors)) => errors,
            _ => return Err(not_grafana(url, "/api/plugins/errors", answer)),
        },
        Some(Err(Failure::Interrupted)) => return Err(Verdict::Interrupted),
        _ => Vec::new(),
    };
    if let Some(code) = error_code(&errors, plugin_id).as_deref() {
        return Err(refused(code, plugin_id));
    }
    match settings.status {
        200 => {}
        404 if is_grafana_error(settings) => {
            return Err(Verdict::NotServing(format!(
                "Grafana has not loaded {plugin_id}: it is not in Grafana's plugins directory \
                 (dist/ must be mounted or linked as <plugins>/{plugin_id}, as \
                 docker-compose.yaml and `dev --grafana` do), or Grafana started before dist/ \
                 existed; restart Grafana"
            )));
        }
        _ if is_grafana_error(settings) => {
            return Err(Verdict::NotServing(format!(
                "Grafana answered {} to {settings_path}: {}",
                settings.status,
                message(settings)
            )));
        }
        _ => return Err(not_grafana(url, &settings_path, settings)),
    }
    let Some(Value::Object(fields)) = json(settings) else {
        return Err(not_grafana(url, &settings_path, settings));
    };
    if fields.get("id").and_then(Value::as_str) != Some(plugin_id) {
        return Err(not_grafana(url, &settings_path, settings));
    }
    let app = fields.get("type").and_then(Value::as_str) != Some("datasource");
    if app && fields.get("enabled") == Some(&Value::Bool(false)) {
        return Err(not_enabled(plugin_id));
    }
    Ok(())
}

fn not_enabled(plugin_id: &str) -> Verdict {
    Verdict::NotServing(format!(
        "Grafana loaded {plugin_id} but the app is not enabled in this organization, so it \
         does not call the backend: enable it in provisioning/plugins/ (`disabled: false`), \
         then restart Grafana, or on the app's page in Administration > Plugins"
    ))
}

/// The health check through Grafana, for a plugin Grafana loaded and enabled.
fn health_verdict(health: Option<&Result<Answer, Failure>>, plugin_id: &str, url: &str) -> Verdict {
    let health_path = format!("/api/plugins/{plugin_id}/health");
    let health = match health {
        None => return Verdict::NotServing("Grafana did not answer the health check".to_owned()),
        Some(Err(failure)) => return no_answer(url, &health_path, failure),
        Some(Ok(answer)) => answer,
    };
    let body = json(health);
    let status = body.as_ref().and_then(|body| body["status"].as_str());
    match (health.status, status) {
        (200, Some("OK")) => Verdict::Serving(message(health)),
        (200, _) => not_grafana(url, &health_path, health),
        // 400 since Grafana 10; 503 before.
        (400 | 503, Some(status)) if status != "OK" => Verdict::Unhealthy(message(health)),
        (404, _) if message(health).to_lowercase().contains("setting not found") => {
            not_enabled(plugin_id)
        }
        (404 | 500..=599, _) if is_grafana_error(health) => Verdict::BackendDown {
            said: format!(
                "Grafana cannot reach its backend ({} {})",
                health.status,
                message(health)
            ),
            gave_up: false,
        },
        _ if is_grafana_error(health) => Verdict::NotServing(format!(
            "Grafana answered {} to {health_path}: {}",
            health.status,
            message(health)
        )),
        _ => not_grafana(url, &health_path, health),
    }
}

/// The error code `/api/plugins/errors` lists for the plugin, if any.
fn error_code(errors: &[Value], plugin_id: &str) -> Option<String> {
    errors.iter().find_map(|error| {
        (error["pluginId"] == plugin_id)
            .then(|| error["errorCode"].as_str().unwrap_or("unknown").to_owned())
    })
}

/// What Grafana's load error for the plugin means, with its one fix.
fn refused(code: &str, plugin_id: &str) -> Verdict {
    let reason = match code {
        "signatureMissing" => format!(
            "Grafana refused the unsigned plugin (signatureMissing): start it in development \
             mode (GF_DEFAULT_APP_MODE=development) or allow it with \
             GF_PLUGINS_ALLOW_LOADING_UNSIGNED_PLUGINS={plugin_id}"
        ),
        "signatureModified" | "signatureInvalid" => format!(
            "Grafana refused the plugin ({code}): dist/MANIFEST.txt does not match dist/; \
             delete it for development (then GF_DEFAULT_APP_MODE=development or \
             GF_PLUGINS_ALLOW_LOADING_UNSIGNED_PLUGINS={plugin_id}), or sign again after \
             the build"
        ),
        "failedBackendStart" => {
            return Verdict::BackendDown {
                said: "Grafana found the plugin but could not start its backend \
                       (failedBackendStart), so it did not register it"
                    .to_owned(),
                gave_up: true,
            };
        }
        other => format!(
            "Grafana reports the error {other:?} for the plugin; see Grafana's log for \
             plugin.{plugin_id}"
        ),
    };
    Verdict::NotServing(reason)
}

/// How long Grafana gets to start the backend after it loaded the plugin.
const BACKEND_START: Duration = Duration::from_secs(10);
/// Pause between attempts; `stop` is looked at at least this often.
const POLL: Duration = Duration::from_millis(250);

/// Waits up to `wait` for something to accept connections at the endpoint, then asks it
/// about the plugin; a backend Grafana is still starting is asked again for a few seconds.
/// Every call is bounded (`http`); `stop` (Ctrl-C) ends the wait within a fraction of a second.
pub fn check(endpoint: &Endpoint, plugin_id: &str, wait: Duration, stop: &AtomicBool) -> Verdict {
    let started = Instant::now();
    let url = endpoint.url();
    let settings_path = format!("/api/plugins/{plugin_id}/settings");
    let settings = loop {
        match endpoint.get(&settings_path, stop) {
            Err(Failure::Unreachable(_)) if started.elapsed() < wait => {
                if !pause(stop) {
                    return Verdict::Interrupted;
                }
            }
            settings => break settings,
        }
    };
    let health_deadline = Instant::now() + BACKEND_START;
    // A data source is checked per instance (datasource_api), not by the plugin's health.
    let data_source = matches!(&settings, Ok(answer) if answer.status == 200
        && json(answer).is_some_and(|body| body["type"] == "datasource"));
    loop {
        let loaded = matches!(&settings, Ok(answer) if answer.status == 200);
        let answers = Answers {
            errors: Some(endpoint.get("/api/plugins/errors", stop)),
            health: (loaded && !data_source)
                .then(|| endpoint.get(&format!("/api/plugins/{plugin_id}/health"), stop)),
            settings: Some(settings.clone()),
        };
        let verdict = if data_source {
            match loaded_and_enabled(&answers, plugin_id, &url) {
                Err(verdict) => verdict,
                Ok(()) => super::datasource_api::check(endpoint, plugin_id, stop),
            }
        } else {
            diagnose(&answers, plugin_id, &url)
        };
        // Grafana answers 404/5xx for a backend it is still starting; it does not try again
        // after failedBackendStart, so neither does this.
        let starting = matches!(verdict, Verdict::BackendDown { gave_up: false, .. });
        if !starting || Instant::now() >= health_deadline {
            return verdict;
        }
        if !pause(stop) {
            return Verdict::Interrupted;
        }
    }
}

/// Sleeps [`POLL`]; false when Ctrl-C came.
fn pause(stop: &AtomicBool) -> bool {
    std::thread::sleep(POLL);
    !stop.load(Ordering::Relaxed)
}

#[cfg(test)]
mod tests {
    use super::*;

    const ID: &str = "acme-servicechecks-app";
    const URL: &str = "http://localhost:3000";

    fn answer(status: u16, body: &str) -> Option<Result<Answer, Failure>> {
        Some(Ok(Answer {
            status,
            body: body.to_owned(),
        }))
    }

    fn loaded(health: Option<Result<Answer, Failure>>) -> Answers {
        Answers {
            settings: answer(
                200,
                r#"{"id":"acme-servicechecks-app","type":"app","enabled":true}"#,
            ),
            errors: answer(200, "[]"),
            health,
        }
    }

    #[test]
    fn serving_only_when_grafana_says_ok_for_this_plugin() {
        let answers = loaded(answer(200, r#"{"status":"OK","message":"3 targets up"}"#));
        assert_eq!(
            diagnose(&answers, ID, URL),
            Verdict::Serving("3 targets up".into())
        );
        for body in [r#"{"status":"ERROR","message":"bad settings"}"#] {
            for status in [400, 503] {
                let answers = loaded(answer(status, body));
                assert_eq!(
                    diagnose(&answers, ID, URL),
                    Verdict::Unhealthy("bad settings".into())
                );
            }
        }
        // 200 from something else: an HTML page, broken JSON, another plugin's settings.
        for answers in [
            loaded(answer(200, "<!doctype html><html>Welcome</html>")),
            loaded(answer(200, "{not json[[[")),
            loaded(answer(200, r#"{"message":"fine"}"#)),
            Answers {
                settings: answer(200, "<!doctype html>"),
                ..loaded(answer(200, r#"{"status":"OK"}"#))
            },
            Answers {
                settings: answer(200, r#"{"id":"other-app","enabled":true}"#),
                ..loaded(answer(200, r#"{"status":"OK"}"#))
            },
            Answers {
                errors: answer(200, "<html>"),
                ..loaded(answer(200, r#"{"status":"OK"}"#))
            },
            Answers {
                settings: answer(404, "<html>404 page</html>"),
                ..Answers::default()
            },
        ] {
            match diagnose(&answers, ID, URL) {
                Verdict::NotServing(reason) => assert!(
                    reason.starts_with("the server at http://localhost:3000 is not Grafana"),
                    "{reason}"
                ),
                other => panic!("{answers:?} gave {other:?}"),
            }
        }
    }

    #[test]
    fn each_reason_grafana_gives_is_named_with_its_fix() {
        let not_served = [
            (
                Answers {
                    settings: answer(
                        404,
                        r#"{"message":"Plugin not found, no installed plugin with that id"}"#,
                    ),
                    errors: answer(
                        200,
                        r#"[{"pluginId":"other-app","errorCode":"angular"},{"pluginId":"acme-servicechecks-app","errorCode":"signatureMissing"}]"#,
                    ),
                    health: None,
                },
                "GF_PLUGINS_ALLOW_LOADING_UNSIGNED_PLUGINS=acme-servicechecks-app",
            ),
            (
                Answers {
                    settings: answer(404, r#"{"message":"Plugin not found"}"#),
                    errors: answer(
                        200,
                        r#"[{"pluginId":"acme-servicechecks-app","errorCode":"signatureModified"}]"#,
                    ),
                    health: None,
                },
                "MANIFEST.txt",
            ),
            (
                Answers {
                    settings: answer(404, r#"{"message":"Plugin not found"}"#),
                    errors: answer(200, "[]"),
                    health: None,
                },
                "not in Grafana's plugins directory",
            ),
            (
                Answers {
                    settings: answer(200, r#"{"id":"acme-servicechecks-app","enabled":false}"#),
                    errors: answer(200, "[]"),
                    health: None,
                },
                "not enabled",
            ),
            (
                loaded(answer(404, r#"{"message":"Plugin setting not found"}"#)),
                "not enabled",
            ),
            (
                Answers {
                    settings: answer(401, r#"{"message":"Unauthorized"}"#),
                    ..Answers::default()
                },
                "GRAFANA_TOKEN",
            ),
            (
                Answers {
                    settings: answer(403, r#"{"message":"Access Denied"}"#),
                    ..Answers::default()
                },
                "GRAFANA_TOKEN",
            ),
        ];
        for (answers, expected) in not_served {
            match diagnose(&answers, ID, URL) {
                Verdict::NotServing(reason) => {
                    assert!(reason.contains(expected), "{expected:?} in {reason:?}")
                }
                other => panic!("{answers:?} gave {other:?}"),
            }
        }
        let backend_down = [
            (
                Answers {
                    settings: answer(404, r#"{"message":"Plugin not found"}"#),
                    errors: answer(
                        200,
                        r#"[{"pluginId":"acme-servicechecks-app","errorCode":"failedBackendStart"}]"#,
                    ),
                    health: None,
                },
                "could not start its backend (failedBackendStart)",
                true,
            ),
            (
                loaded(answer(500, r#"{"message":"Plugin failed to start"}"#)),
                "(500 Plugin failed to start)",
                false,
            ),
            (
                loaded(answer(404, r#"{"message":"Plugin not registered"}"#)),
                "(404 Plugin not registered)",
                false,
            ),
            (
                loaded(answer(503, r#"{"message":"Plugin unavailable"}"#)),
                "(503 Plugin unavailable)",
                false,
            ),
        ];
        // Grafana does not try again after an error it lists; it may still be starting a
        // backend it answers 404/5xx for.
        for (answers, expected, expected_gave_up) in backend_down {
            match diagnose(&answers, ID, URL) {
                Verdict::BackendDown { said, gave_up } => {
                    assert!(said.contains(expected), "{expected:?} in {said:?}");
                    assert_eq!(gave_up, expected_gave_up, "{said}");
                }
                other => panic!("{answers:?} gave {other:?}"),
            }
        }
    }

    #[test]
    fn a_call_past_its_limits_is_named_and_not_waited_on() {
        let cases = [
            (
                Failure::Deadline {
                    received: 3,
                    within: crate::http::DEADLINE,
                },
                "deadline",
            ),
            (Failure::TooLarge, "size cap"),
            (Failure::NotHttp("no status line".into()), "not HTTP"),
        ];
        for (failure, expected) in cases {
            let answers = Answers {
                settings: Some(Err(failure)),
                ..Answers::default()
            };
            match diagnose(&answers, ID, URL) {
                Verdict::NotServing(reason) => assert!(
                    reason.starts_with(
                        "http://localhost:3000/api/plugins/acme-servicechecks-app/settings"
                    ) && reason.contains(expected),
                    "{reason}"
                ),
                other => panic!("{other:?}"),
            }
        }
        let answers = loaded(Some(Err(Failure::Interrupted)));
        assert_eq!(diagnose(&answers, ID, URL), Verdict::Interrupted);
    }

    /// A Grafana on a free port whose plugin health answers 503 until `healthy_from` calls
    /// have been made (never, with `usize::MAX`), listing `errors` at /api/plugins/errors;
    /// returns the endpoint and the number of health calls so far.
    fn grafana(
        errors: &'static str,
        healthy_from: usize,
    ) -> (Endpoint, std::sync::Arc<std::sync::atomic::AtomicUsize>) {
        use std::io::{BufRead, Write};
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let calls = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let counted = calls.clone();
        std::thread::spawn(move || {
            for mut stream in listener.incoming().map_while(Result::ok) {
                let mut reader = std::io::BufReader::new(stream.try_clone().unwrap());
                let mut request = String::new();
                let _ = reader.read_line(&mut request);
                let mut header = String::new();
                while reader.read_line(&mut header).is_ok_and(|n| n > 2) {
                    header.clear();
                }
                let (status, body) = if request.contains("/settings ") {
                    (
                        "200 OK",
                        format!(r#"{{"id":"{ID}","type":"app","enabled":true}}"#),
                    )
                } else if request.contains("/api/plugins/errors ") {
                    ("200 OK", errors.to_owned())
                } else if counted.fetch_add(1, Ordering::SeqCst) + 1 >= healthy_from {
                    ("200 OK", r#"{"status":"OK","message":"up"}"#.to_owned())
                } else {
                    (
                        "503 Service Unavailable",
                        r#"{"message":"Plugin unavailable"}"#.to_owned(),
                    )
                };
                let _ = write!(stream, "HTTP/1.0 {status}\r\n\r\n{body}");
            }
        });
        let endpoint = Endpoint::parse(&format!("http://127.0.0.1:{port}"), None).unwrap();
        (endpoint, calls)
    }

    #[test]
    fn a_backend_still_starting_is_asked_again_but_not_one_grafana_gave_up_on() {
        // 503 once, then serving: asked again.
        let (endpoint, calls) = grafana("[]", 2);
        let verdict = check(&endpoint, ID, Duration::ZERO, &AtomicBool::new(false));
        assert_eq!(verdict, Verdict::Serving("up".into()));
        assert_eq!(calls.load(Ordering::SeqCst), 2);
        // failedBackendStart: Grafana does not try again, so the first answer is the verdict
        // (not ten seconds of asking).
        let failed = r#"[{"pluginId":"acme-servicechecks-app","errorCode":"failedBackendStart"}]"#;
        let (endpoint, calls) = grafana(failed, usize::MAX);
        match check(&endpoint, ID, Duration::ZERO, &AtomicBool::new(false)) {
            Verdict::BackendDown {
                said,
                gave_up: true,
            } => assert!(said.contains("(failedBackendStart)"), "{said}"),
            other => panic!("{other:?}"),
        }
        assert!(calls.load(Ordering::SeqCst) <= 1, "asked again");
    }

    #[test]
    fn nothing_listening_is_reported_with_the_address() {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let endpoint = Endpoint::parse(&format!("http://127.0.0.1:{port}"), None).unwrap();
        match check(&endpoint, ID, Duration::ZERO, &AtomicBool::new(false)) {
            Verdict::NotServing(reason) => assert!(
                reason.starts_with("nothing answers")
                    && reason.contains(&format!("at http://127.0.0.1:{port}")),
                "{reason}"
            ),
            other => panic!("{other:?}"),
        }
    }
}
