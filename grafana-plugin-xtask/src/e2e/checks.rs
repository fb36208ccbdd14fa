//! `e2e`'s checks, each through Grafana's HTTP API (or its log): what was asked, what came
//! and what was expected, one line each. A check that fails is collected, not fatal; only a
//! Grafana that never answers stops them, and an app that is not enabled skips the checks
//! that need it (Grafana answers 404 to all of them: `checkAppEnabled`,
//! pkg/api/plugin_checks.go).
use std::{
    fs,
    path::Path,
    sync::atomic::AtomicBool,
    time::{Duration, Instant},
};

use anyhow::{Result, bail};
use serde_json::Value;

use super::Grafana;
use crate::{
    http::{Answer, Endpoint, Failure, Request},
    ui::Ui,
};

/// The administrator `e2e` makes Grafana start with (a fresh password each run).
pub(super) const ADMIN: &str = "admin";
/// The Viewer `e2e` creates through Grafana's admin API.
pub(super) const VIEWER: &str = "e2e-viewer";

/// One resource call and what Grafana must answer for each role.
struct RouteCheck {
    method: &'static str,
    path: &'static str,
    /// (role, status, a JSON field the body must have)
    expect: [(&'static str, u16, Option<&'static str>); 2],
}

/// The settings `e2e` gives the app in org 1, as an org Admin does on its configuration page
/// (plugin/src/settings.rs): one passive target, which `hooks/report` can then report on,
/// and no address to connect to. The hook token (secureJsonData.hookToken) is made per run.
const APP_JSON_DATA: &str = r#"{"targets": [{"name": "e2e-job", "passive": true}]}"#;

/// The plugin's routes (plugin/src/routes.rs) as Grafana's users reach them.
const ROUTES: [RouteCheck; 4] = [
    RouteCheck {
        method: "GET",
        path: "ping",
        expect: [
            ("Viewer", 200, Some("message")),
            ("Admin", 200, Some("message")),
        ],
    },
    RouteCheck {
        method: "GET",
        path: "checks",
        expect: [
            ("Viewer", 200, Some("checks")),
            ("Admin", 200, Some("checks")),
        ],
    },
    RouteCheck {
        method: "POST",
        path: "checks/run",
        expect: [
            ("Viewer", 403, Some("error")),
            ("Admin", 200, Some("checks")),
        ],
    },
    RouteCheck {
        method: "POST",
        path: "hooks/report",
        expect: [
            ("Viewer", 401, Some("error")),
            ("Admin", 401, Some("error")),
        ],
    },
];

/// Runs the checks against one Grafana and collects the failures.
pub(super) struct Checks<'a> {
    ui: &'a Ui,
    endpoint: &'a Endpoint,
    pub(super) id: &'a str,
    pub(super) password: &'a str,
    /// Set on Ctrl-C: every wait and call ends, and e2e stops what it started.
    stop: &'a AtomicBool,
    failures: Vec<String>,
}

impl<'a> Checks<'a> {
    pub(super) fn new(
        ui: &'a Ui,
        endpoint: &'a Endpoint,
        id: &'a str,
        password: &'a str,
        stop: &'a AtomicBool,
    ) -> Checks<'a> {
        Checks {
            ui,
            endpoint,
            id,
            password,
            stop,
            failures: Vec::new(),
        }
    }

    /// Every check, in order; the failures, each one line saying what was asked, what came
    /// and what was expected.
    pub(super) fn all(mut self, grafana: &mut Grafana, log: &Path) -> Result<Vec<String>> {
        self.wait_for_grafana(grafana, log)?;
        let Some(kind) = self.plugin_loaded() else {
            return Ok(self.failures);
        };
        if kind == "datasource" {
            self.data_source();
            self.log(log);
            return Ok(self.failures);
        }
        if kind == "app" && !self.enable_app() {
            return Ok(self.failures);
        }
        self.health();
        self.routes();
        self.log(log);
        Ok(self.failures)
    }

    pub(super) fn call(
        &self,
        method: &str,
        path: &str,
        basic: Option<(&str, &str)>,
        body: Option<&[u8]>,
    ) -> Result<Answer, Failure> {
        self.call_with(method, path, basic, &[], body)
    }

    fn call_with(
        &self,
        method: &str,
        path: &str,
        basic: Option<(&str, &str)>,
        headers: &[(&str, &str)],
        body: Option<&[u8]>,
    ) -> Result<Answer, Failure> {
        let request = Request {
            method,
            path,
            basic,
            headers,
            body,
        };
        self.endpoint.send(&request, self.stop)
    }

    /// The token `e2e` gives the app for `hooks/report` (a fresh one each run).
    fn hook_token(&self) -> String {
        format!("{}-hook", self.password)
    }

    pub(super) fn admin(&self) -> Option<(&str, &str)> {
        Some((ADMIN, self.password))
    }

    /// `what` is printed when the check holds; `what: detail` is the failure. Whether it held.
    pub(super) fn expect(&mut self, what: String, detail: String, ok: bool) -> bool {
        if ok {
            self.ui.status("Checked", &what);
        } else {
            self.failures.push(format!("{what}: {detail}"));
        }
        ok
    }

    /// `/api/health` with the database ok; a container may pull its image first.
    fn wait_for_grafana(&self, grafana: &mut Grafana, log: &Path) -> Result<()> {
        let deadline = Instant::now() + Duration::from_secs(300);
        loop {
            if self.stop.load(std::sync::atomic::Ordering::SeqCst) {
                bail!("interrupted (Ctrl-C) while Grafana started; stopped it");
            }
            if !grafana.running() {
                bail!("Grafana exited at start; its log is {}", log.display());
            }
            match self.call("GET", "/api/health", None, None) {
                Ok(answer)
                    if answer.status == 200
                        && field(&answer, "database").as_deref() == Some("ok") =>
                {
                    self.ui.status("Checked", "/api/health: database ok");
                    return Ok(());
                }
                _ if Instant::now() >= deadline => bail!(
                    "Grafana did not answer /api/health within 300 s at {}",
                    self.endpoint.url()
                ),
                _ => {
                    for _ in 0..10 {
                        if self.stop.load(std::sync::atomic::Ordering::SeqCst) {
                            break;
                        }
                        std::thread::sleep(Duration::from_millis(50));
                    }
                }
            }
        }
    }

    /// The plugin's settings, and no load error for it; its type when it is loaded.
    fn plugin_loaded(&mut self) -> Option<String> {
        let id = self.id;
        let settings_path = format!("/api/plugins/{id}/settings");
        let settings = self.call("GET", &settings_path, self.admin(), None);
        let loaded =
            matches!(&settings, Ok(a) if a.status == 200 && field(a, "id").as_deref() == Some(id));
        self.expect(
            format!("{settings_path}: the plugin is loaded"),
            shown(&settings, "200 with this id"),
            loaded,
        );
        let refused = match self.call("GET", "/api/plugins/errors", self.admin(), None) {
            Ok(answer) => json(&answer)
                .and_then(|v| v.as_array().cloned())
                .unwrap_or_default()
                .into_iter()
                .filter(|e| e["pluginId"] == id)
                .map(|e| e["errorCode"].as_str().unwrap_or("unknown").to_owned())
                .collect::<Vec<_>>(),
            Err(failure) => vec![format!("no answer: {failure}")],
        };
        self.expect(
            "/api/plugins/errors: nothing for this plugin".to_owned(),
            format!("Grafana refused it: {}", refused.join(", ")),
            refused.is_empty(),
        );
        let kind = settings.ok().and_then(|answer| field(&answer, "type"));
        loaded.then(|| kind.unwrap_or_default())
    }

    /// An app answers only in an org that enabled it: `e2e` enables it in org 1 as an org
    /// Admin does (`POST /api/plugins/<id>/settings`, which works alike in the image, a local
    /// Grafana and a user's own), with [`APP_JSON_DATA`] and a hook token, then reads back
    /// `enabled: true` before anything else. Whether it is enabled.
    fn enable_app(&mut self) -> bool {
        let id = self.id;
        let path = format!("/api/plugins/{id}/settings");
        let setting = serde_json::json!({
            "enabled": true,
            "pinned": true,
            "jsonData": serde_json::from_str::<Value>(APP_JSON_DATA).unwrap_or_default(),
            "secureJsonData": { "hookToken": self.hook_token() },
        })
        .to_string();
        let update = self.call("POST", &path, self.admin(), Some(setting.as_bytes()));
        self.expect(
            format!("POST {path}: the app enabled in org 1"),
            shown(&update, "200"),
            matches!(&update, Ok(a) if a.status == 200),
        );
        let read = self.call("GET", &path, self.admin(), None);
        let enabled = matches!(&read, Ok(a) if json(a).is_some_and(|v| v["enabled"] == true));
        self.expect(
            format!("{path}: the app is enabled"),
            format!(
                "{id} is not enabled in org 1 (no plugin setting with enabled: true), so Grafana \
                 answers 404 to its health and resources; enable it with a provisioning file \
                 (provisioning/plugins/*.yaml: `apps: [{{type: {id}, org_id: 1, disabled: \
                 false}}]`) or `POST {path}` `{{\"enabled\": true}}` as an org Admin"
            ),
            enabled,
        );
        enabled
    }

    /// CheckHealth through Grafana; the backend may still be starting right after Grafana
    /// answers.
    fn health(&mut self) {
        let health_path = format!("/api/plugins/{}/health", self.id);
        let says_ok = |health: &Result<Answer, Failure>| matches!(health, Ok(a) if a.status == 200 && field(a, "status").as_deref() == Some("OK"));
        let deadline = Instant::now() + Duration::from_secs(30);
        let health = loop {
            let health = self.call("GET", &health_path, self.admin(), None);
            if says_ok(&health) || Instant::now() >= deadline {
                break health;
            }
            std::thread::sleep(Duration::from_millis(500));
        };
        self.expect(
            format!("{health_path}: status OK"),
            shown(&health, "200 with status OK"),
            says_ok(&health),
        );
    }

    /// A Viewer made through Grafana's admin API, then every route as the Viewer and as the
    /// Admin.
    fn routes(&mut self) {
        let viewer_password = format!("{}-viewer", self.password);
        let user = serde_json::json!({
            "name": VIEWER, "login": VIEWER, "password": viewer_password, "OrgId": 1
        })
        .to_string();
        let created = self.call(
            "POST",
            "/api/admin/users",
            self.admin(),
            Some(user.as_bytes()),
        );
        self.expect(
            format!("POST /api/admin/users: the Viewer {VIEWER} created"),
            shown(&created, "200"),
            matches!(&created, Ok(a) if a.status == 200),
        );
        for route in &ROUTES {
            for (role, status, field_name) in route.expect {
                let basic = match role {
                    "Admin" => self.admin(),
                    _ => Some((VIEWER, viewer_password.as_str())),
                };
                let path = format!("/api/plugins/{}/resources/{}", self.id, route.path);
                let body = (route.method == "POST").then_some(&b"{}"[..]);
                let answer = self.call(route.method, &path, basic, body);
                let ok = matches!(&answer, Ok(a) if a.status == status
                    && field_name.is_none_or(|name| json(a).is_some_and(|v| v.get(name).is_some())));
                let wanted = match field_name {
                    Some(name) => format!("{status} with a JSON `{name}`"),
                    None => status.to_string(),
                };
                self.expect(
                    format!("{} {} as {role}: {status}", route.method, route.path),
                    shown(&answer, &wanted),
                    ok,
                );
            }
        }
        // The hook as a machine calls it: the token from the app's secureJsonData, in the
        // plugin's own header, which Grafana forwards (it drops only what signed the caller in).
        let path = format!("/api/plugins/{}/resources/hooks/report", self.id);
        let token = self.hook_token();
        let report = br#"{"name": "e2e-job", "status": "up", "message": "reported by e2e"}"#;
        let answer = self.call_with(
            "POST",
            &path,
            Some((VIEWER, viewer_password.as_str())),
            &[("X-Hook-Token", &token)],
            Some(report),
        );
        self.expect(
            "POST hooks/report with the hook token: 200".to_owned(),
            shown(&answer, "200 with a JSON `recorded`"),
            matches!(&answer, Ok(a) if a.status == 200 && json(a).is_some_and(|v| v.get("recorded").is_some())),
        );
    }

    /// Grafana's log: the plugin's start line, and no error line of the plugin's.
    fn log(&mut self, log: &Path) {
        let lines = plugin_log_lines(log, self.id);
        self.expect(
            "Grafana's log: the plugin's start line".to_owned(),
            "no \"plugin started\" line after logger=plugin.<id>".to_owned(),
            lines.iter().any(|line| line.contains("plugin started")),
        );
        let errors: Vec<&String> = (lines.iter())
            .filter(|line| line.contains("level=error") || line.contains("\"@level\":\"error\""))
            .collect();
        self.expect(
            "Grafana's log: no error of the plugin's".to_owned(),
            format!(
                "{} error line(s), the first: {}",
                errors.len(),
                errors.first().map_or("", |line| line.as_str())
            ),
            errors.is_empty(),
        );
    }
}

pub(super) fn json(answer: &Answer) -> Option<Value> {
    serde_json::from_str(&answer.body).ok()
}

/// A string field of the JSON body.
fn field(answer: &Answer, name: &str) -> Option<String> {
    json(answer)?.get(name)?.as_str().map(str::to_owned)
}

/// `got 403 {"error":…}; expected 200 with …` or `ok (200)`.
pub(super) fn shown(answer: &Result<Answer, Failure>, expected: &str) -> String {
    match answer {
        Ok(answer) => {
            let body: String = answer.body.trim().chars().take(120).collect();
            format!("got {} {body}; expected {expected}", answer.status)
        }
        Err(failure) => format!("no answer ({failure}); expected {expected}"),
    }
}

/// The lines of Grafana's log that are the plugin's (`logger=plugin.<id>`).
pub(super) fn plugin_log_lines(log: &Path, id: &str) -> Vec<String> {
    let marker = format!("logger=plugin.{id} ");
    fs::read(log)
        .map(|bytes| {
            String::from_utf8_lossy(&bytes)
                .lines()
                .filter(|line| line.contains(&marker))
                .map(str::to_owned)
                .collect()
        })
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_string_fields_are_read_from_bodies() {
        let answer = Answer {
            status: 200,
            body: r#"{"commit":"x","database": "ok","version":"12.4.0"}"#.to_owned(),
        };
        assert_eq!(field(&answer, "database").as_deref(), Some("ok"));
        assert_eq!(field(&answer, "version").as_deref(), Some("12.4.0"));
        assert_eq!(field(&answer, "missing"), None);
    }
}
