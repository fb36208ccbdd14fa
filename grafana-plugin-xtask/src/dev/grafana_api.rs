//! Asks a running Grafana whether it loaded the plugin and reaches its backend, and says
//! why not: the commonest question of a new plugin author. Three calls of Grafana's HTTP API
//! (`pkg/api/api.go`, handlers in `pkg/api/plugins.go`): `GET /api/plugins/<id>/settings`
//! (404 when not loaded), `GET /api/plugins/errors` (`[{pluginId, errorCode}]`) and
//! `GET /api/plugins/<id>/health` (CheckHealth through Grafana: 200 OK, 400 when the backend
//! reports an error, 5xx when Grafana cannot reach it). `diagnose` is pure; `check` does I/O.
use std::{
    io::{Read, Write},
    net::{TcpStream, ToSocketAddrs},
    time::{Duration, Instant},
};

use anyhow::{Context, Result, bail};

/// Where Grafana answers, and the service-account token to send (never printed).
#[derive(Clone, Debug)]
pub struct Endpoint {
    host: String,
    port: u16,
    prefix: String,
    token: Option<String>,
}

/// One HTTP answer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Answer {
    pub status: u16,
    pub body: String,
}

/// What Grafana's three answers mean for the plugin.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// Loaded, and CheckHealth through Grafana answered OK with this message.
    Serving(String),
    /// Loaded and reachable, but the backend's health check reports an error.
    Unhealthy(String),
    /// Not loaded or not reachable: the reason and the setting that fixes it.
    NotServing(String),
}

impl Endpoint {
    /// `http://host[:port][/prefix]`. Only plain HTTP: the development Grafana listens on
    /// localhost; for a remote https Grafana, open the plugin's page yourself.
    pub fn parse(url: &str, token: Option<String>) -> Result<Endpoint> {
        let Some(rest) = url.strip_prefix("http://") else {
            bail!(
                "GRAFANA_URL {url:?}: only http:// URLs can be checked (a local Grafana, e.g. http://localhost:3000)"
            );
        };
        let (authority, prefix) = rest.split_once('/').unwrap_or((rest, ""));
        let (host, port) = match authority.rsplit_once(':') {
            Some((host, port)) => (
                host,
                port.parse()
                    .with_context(|| format!("GRAFANA_URL {url:?}: {port:?} is not a port"))?,
            ),
            None => (authority, 80),
        };
        if host.is_empty() {
            bail!("GRAFANA_URL {url:?} names no host; e.g. http://localhost:3000");
        }
        Ok(Endpoint {
            host: host.to_owned(),
            port,
            prefix: prefix.trim_end_matches('/').to_owned(),
            token: token.filter(|token| !token.is_empty()),
        })
    }

    pub fn url(&self) -> String {
        let prefix = if self.prefix.is_empty() {
            String::new()
        } else {
            format!("/{}", self.prefix)
        };
        format!("http://{}:{}{prefix}", self.host, self.port)
    }

    /// `GET path` over HTTP/1.0 (so the answer is never chunked and ends with the
    /// connection): the whole client needed for three small JSON answers on localhost.
    pub fn get(&self, path: &str) -> Result<Answer> {
        let timeout = Duration::from_secs(5);
        // localhost may resolve to ::1 and 127.0.0.1; Grafana may listen on either.
        let mut last_error = None;
        let mut connected = None;
        for address in (self.host.as_str(), self.port)
            .to_socket_addrs()
            .with_context(|| format!("cannot resolve {}", self.host))?
        {
            match TcpStream::connect_timeout(&address, timeout) {
                Ok(stream) => {
                    connected = Some(stream);
                    break;
                }
                Err(error) => last_error = Some(error),
            }
        }
        let Some(mut stream) = connected else {
            return Err(match last_error {
                Some(error) => error.into(),
                None => anyhow::anyhow!("{} has no address", self.host),
            });
        };
        stream.set_read_timeout(Some(timeout))?;
        let prefix = if self.prefix.is_empty() {
            String::new()
        } else {
            format!("/{}", self.prefix)
        };
        let mut request = format!(
            "GET {prefix}{path} HTTP/1.0\r\nHost: {}:{}\r\nAccept: application/json\r\n",
            self.host, self.port
        );
        if let Some(token) = &self.token {
            request.push_str(&format!("Authorization: Bearer {token}\r\n"));
        }
        request.push_str("\r\n");
        stream.write_all(request.as_bytes())?;
        let mut response = Vec::new();
        stream.read_to_end(&mut response)?;
        parse_response(&response)
    }
}

fn parse_response(response: &[u8]) -> Result<Answer> {
    let text = String::from_utf8_lossy(response);
    let (head, body) = text
        .split_once("\r\n\r\n")
        .context("the answer is not HTTP (no end of headers)")?;
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|status| status.parse().ok())
        .context("the answer is not HTTP (no status code)")?;
    Ok(Answer {
        status,
        body: body.to_owned(),
    })
}

/// Grafana's answers for the plugin, as far as they came.
#[derive(Clone, Debug, Default)]
pub struct Answers {
    pub settings: Option<Answer>,
    pub errors: Option<Answer>,
    pub health: Option<Answer>,
}

/// Reads the answers as Grafana means them. `executable` is the file name Grafana starts
/// on its platform (`gpx_…_linux_amd64`), named when Grafana cannot start the backend.
pub fn diagnose(answers: &Answers, plugin_id: &str, executable: &str) -> Verdict {
    let json = |answer: &Answer| serde_json::from_str::<serde_json::Value>(&answer.body).ok();
    let message = |answer: &Answer| {
        json(answer)
            .and_then(|body| body["message"].as_str().map(str::to_owned))
            .unwrap_or_else(|| answer.body.trim().chars().take(200).collect())
    };
    if let Some(answer) = &answers.settings
        && matches!(answer.status, 401 | 403)
    {
        return Verdict::NotServing(format!(
            "Grafana answered {} to /api/plugins/{plugin_id}/settings: set GRAFANA_TOKEN to a \
             service-account token (Viewer or more), or enable anonymous access",
            answer.status
        ));
    }
    let error_code = answers.errors.as_ref().and_then(json).and_then(|errors| {
        errors.as_array()?.iter().find_map(|error| {
            (error["pluginId"] == plugin_id)
                .then(|| error["errorCode"].as_str().unwrap_or("unknown").to_owned())
        })
    });
    match error_code.as_deref() {
        Some("signatureMissing") => {
            return Verdict::NotServing(format!(
                "Grafana refused the unsigned plugin (signatureMissing): start it in development \
                 mode (GF_DEFAULT_APP_MODE=development) or allow it with \
                 GF_PLUGINS_ALLOW_LOADING_UNSIGNED_PLUGINS={plugin_id}"
            ));
        }
        Some(code @ ("signatureModified" | "signatureInvalid")) => {
            return Verdict::NotServing(format!(
                "Grafana refused the plugin ({code}): dist/MANIFEST.txt does not match dist/; \
                 delete it for development (then GF_DEFAULT_APP_MODE=development or \
                 GF_PLUGINS_ALLOW_LOADING_UNSIGNED_PLUGINS={plugin_id}), or sign again after \
                 the build"
            ));
        }
        Some("failedBackendStart") => {
            return Verdict::NotServing(format!(
                "Grafana loaded the plugin but could not start its backend (failedBackendStart): \
                 it runs dist/{executable} on its platform; build that file (cargo xtask build \
                 --target …) and see Grafana's log for plugin.{plugin_id}"
            ));
        }
        Some(other) => {
            return Verdict::NotServing(format!(
                "Grafana reports the error {other:?} for the plugin; see Grafana's log for \
                 plugin.{plugin_id}"
            ));
        }
        None => {}
    }
    match &answers.settings {
        None => {
            return Verdict::NotServing("Grafana did not answer".to_owned());
        }
        Some(answer) if answer.status == 404 => {
            return Verdict::NotServing(format!(
                "Grafana has not loaded {plugin_id}: it is not in Grafana's plugins directory \
                 (dist/ must be mounted or linked as <plugins>/{plugin_id}, as \
                 docker-compose.yaml and `dev --grafana` do), or Grafana started before dist/ \
                 existed; restart Grafana"
            ));
        }
        Some(answer) if answer.status != 200 => {
            return Verdict::NotServing(format!(
                "Grafana answered {} to /api/plugins/{plugin_id}/settings: {}",
                answer.status,
                message(answer)
            ));
        }
        Some(_) => {}
    }
    match &answers.health {
        None => Verdict::NotServing("Grafana did not answer the health check".to_owned()),
        Some(answer) if answer.status == 200 => Verdict::Serving(message(answer)),
        Some(answer) if answer.status == 400 => Verdict::Unhealthy(message(answer)),
        Some(answer) => Verdict::NotServing(format!(
            "Grafana loaded the plugin but cannot reach its backend ({} {}): it runs \
             dist/{executable} on its platform; see Grafana's log for plugin.{plugin_id}",
            answer.status,
            message(answer)
        )),
    }
}

/// Waits up to `wait` for Grafana to answer, then asks it about the plugin. A backend
/// Grafana is still starting (5xx from the health check) is asked again for a few seconds.
pub fn check(endpoint: &Endpoint, plugin_id: &str, executable: &str, wait: Duration) -> Verdict {
    let started = Instant::now();
    let settings_path = format!("/api/plugins/{plugin_id}/settings");
    let settings = loop {
        match endpoint.get(&settings_path) {
            Ok(answer) => break answer,
            Err(error) if started.elapsed() >= wait => {
                return Verdict::NotServing(format!(
                    "nothing answers at {} ({error:#}); is Grafana running there? (GRAFANA_URL \
                     sets the address)",
                    endpoint.url()
                ));
            }
            Err(_) => std::thread::sleep(Duration::from_millis(250)),
        }
    };
    let health_deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let answers = Answers {
            settings: Some(settings.clone()),
            errors: endpoint.get("/api/plugins/errors").ok(),
            health: (settings.status == 200)
                .then(|| {
                    endpoint
                        .get(&format!("/api/plugins/{plugin_id}/health"))
                        .ok()
                })
                .flatten(),
        };
        let verdict = diagnose(&answers, plugin_id, executable);
        let backend_starting = answers.health.as_ref().is_some_and(|h| h.status >= 500);
        if !backend_starting || Instant::now() >= health_deadline {
            return verdict;
        }
        std::thread::sleep(Duration::from_millis(250));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ID: &str = "acme-servicechecks-app";
    const EXE: &str = "gpx_service_checks_linux_amd64";

    fn answer(status: u16, body: &str) -> Option<Answer> {
        Some(Answer {
            status,
            body: body.to_owned(),
        })
    }

    fn loaded(health: Option<Answer>) -> Answers {
        Answers {
            settings: answer(200, r#"{"id":"acme-servicechecks-app","enabled":true}"#),
            errors: answer(200, "[]"),
            health,
        }
    }

    #[test]
    fn a_loaded_plugin_with_a_healthy_backend_is_serving() {
        let answers = loaded(answer(200, r#"{"status":"OK","message":"3 targets up"}"#));
        assert_eq!(
            diagnose(&answers, ID, EXE),
            Verdict::Serving("3 targets up".into())
        );
        let answers = loaded(answer(
            400,
            r#"{"status":"ERROR","message":"bad settings"}"#,
        ));
        assert_eq!(
            diagnose(&answers, ID, EXE),
            Verdict::Unhealthy("bad settings".into())
        );
    }

    #[test]
    fn each_reason_grafana_gives_is_named_with_its_fix() {
        let cases = [
            (
                Answers {
                    settings: answer(404, r#"{"message":"Plugin not found"}"#),
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
                    settings: answer(404, "{}"),
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
                    settings: answer(200, "{}"),
                    errors: answer(
                        200,
                        r#"[{"pluginId":"acme-servicechecks-app","errorCode":"failedBackendStart"}]"#,
                    ),
                    health: answer(503, r#"{"message":"Plugin unavailable"}"#),
                },
                "dist/gpx_service_checks_linux_amd64",
            ),
            (
                Answers {
                    settings: answer(404, "{}"),
                    errors: answer(200, "[]"),
                    health: None,
                },
                "not in Grafana's plugins directory",
            ),
            (
                loaded(answer(500, r#"{"message":"Plugin request failed"}"#)),
                "cannot reach its backend (500 Plugin request failed)",
            ),
            (
                Answers {
                    settings: answer(401, "{}"),
                    ..Answers::default()
                },
                "GRAFANA_TOKEN",
            ),
        ];
        for (answers, expected) in cases {
            match diagnose(&answers, ID, EXE) {
                Verdict::NotServing(reason) => {
                    assert!(reason.contains(expected), "{expected:?} in {reason:?}")
                }
                other => panic!("{answers:?} gave {other:?}"),
            }
        }
    }

    #[test]
    fn endpoints_parse_from_urls_with_ports_and_prefixes() {
        let endpoint = Endpoint::parse("http://localhost:3000", None).unwrap();
        assert_eq!(endpoint.url(), "http://localhost:3000");
        let endpoint = Endpoint::parse("http://grafana/sub/", Some(String::new())).unwrap();
        assert_eq!(endpoint.url(), "http://grafana:80/sub");
        assert!(endpoint.token.is_none());
        for bad in ["https://grafana", "http://:3000", "http://localhost:x"] {
            assert!(Endpoint::parse(bad, None).is_err(), "{bad}");
        }
    }

    #[test]
    fn http_answers_parse_into_status_and_body() {
        let answer = parse_response(b"HTTP/1.0 404 Not Found\r\nA: b\r\n\r\n{\"x\":1}").unwrap();
        assert_eq!(answer.status, 404);
        assert_eq!(answer.body, "{\"x\":1}");
        assert!(parse_response(b"garbage").is_err());
    }

    #[test]
    fn nothing_listening_is_reported_with_the_address() {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let endpoint = Endpoint::parse(&format!("http://127.0.0.1:{port}"), None).unwrap();
        match check(&endpoint, ID, EXE, Duration::ZERO) {
            Verdict::NotServing(reason) => {
                assert!(
                    reason.starts_with(&format!("nothing answers at http://127.0.0.1:{port}")),
                    "{reason}"
                )
            }
            other => panic!("{other:?}"),
        }
    }
}
