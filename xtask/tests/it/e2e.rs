//! `cargo xtask e2e` against the project's Grafana stand-in (harness's `grafana-standin`,
//! started as a local Grafana in production mode with the packaged archive unzipped into its
//! plugins folder): the plugin as it is passes every check once e2e has enabled the app; one
//! whose `ping` answers another body, one that lets a Viewer run the checks, one Grafana
//! refuses and one Grafana will not enable each fail the command, with the check named. The
//! stand-in itself refuses what Grafana's handlers refuse. The image path needs a container
//! engine, which this machine may lack.
use std::{
    io::{Read, Write},
    process::{Command, Output, Stdio},
};

use crate::{
    dev::{free_port, standin},
    scratch::{Scratch, text},
};

/// The host's Grafana platform, which the stand-in starts binaries of.
pub(crate) fn host_platform() -> String {
    let name = crate::scratch::host_binary_name();
    let rest = name.trim_end_matches(".exe");
    let mut parts = rest.rsplitn(3, '_');
    let arch = parts.next().unwrap();
    let os = parts.next().unwrap();
    format!("{os}/{arch}")
}

fn e2e(scratch: &Scratch, env: &[(&str, &str)]) -> Output {
    let standin = standin();
    let port = free_port().to_string();
    scratch.xtask_env(
        &[
            "e2e",
            "--no-build",
            "--grafana",
            standin.to_str().unwrap(),
            "--port",
            &port,
        ],
        env,
    )
}

/// The release build `e2e --no-build` packages (the fast profile: each edit rebuilds in
/// seconds).
fn build(scratch: &Scratch) {
    let output = scratch.xtask(&["build", "--target", &host_platform()]);
    assert!(output.status.success(), "{}", text(&output.stderr));
}

#[test]
fn e2e_checks_the_packaged_plugin_through_grafana_and_fails_on_what_a_user_would_meet() {
    let scratch = Scratch::new();
    build(&scratch);
    let output = e2e(&scratch, &[]);
    let stderr = text(&output.stderr);
    assert!(output.status.success(), "{stderr}");
    for line in [
        "Checked /api/health: database ok",
        "Checked /api/plugins/acme-servicechecks-app/settings: the plugin is loaded",
        "Checked POST /api/plugins/acme-servicechecks-app/settings: the app enabled in org 1",
        "Checked /api/plugins/acme-servicechecks-app/settings: the app is enabled",
        "Checked /api/plugins/acme-servicechecks-app/health: status OK",
        "Checked GET checks as Viewer: 200",
        "Checked POST checks/run as Viewer: 403",
        "Checked POST checks/run as Admin: 200",
        "Checked POST hooks/report with the hook token: 200",
        "Checked Grafana's log: the plugin's start line",
        "production mode",
        "passed every check",
    ] {
        assert!(stderr.contains(line), "{line:?} in {stderr}");
    }
    let log = std::fs::read_to_string(scratch.root().join("target/e2e/grafana.log")).unwrap();
    assert!(
        log.contains("logger=plugin.acme-servicechecks-app"),
        "Grafana's log is kept: {log}"
    );

    // The archive e2e installed, in a Grafana of the test's own: what Grafana's handlers
    // refuse, the stand-in refuses.
    standin_refuses_as_grafana_does(&scratch);

    // A Grafana that will not store the app's setting (its database refuses the write): the
    // app stays disabled, e2e says so with the fix and checks nothing that needs it.
    let output = e2e(&scratch, &[("STANDIN_FAIL_SETTINGS_UPDATE", "1")]);
    let stderr = text(&output.stderr);
    assert!(!output.status.success(), "{stderr}");
    assert!(
        stderr.contains("error: POST /api/plugins/acme-servicechecks-app/settings: the app enabled in org 1: got 500")
            && stderr.contains("error: /api/plugins/acme-servicechecks-app/settings: the app is enabled: acme-servicechecks-app is not enabled in org 1 (no plugin setting with enabled: true)")
            && stderr.contains("provisioning/plugins/*.yaml")
            && stderr.contains("error: e2e: 2 check(s) failed")
            && !stderr.contains("Checked GET ping"),
        "{stderr}"
    );

    // A plugin Grafana refuses (as it refuses a broken signature).
    let output = e2e(&scratch, &[("STANDIN_REFUSE", "signatureInvalid")]);
    let stderr = text(&output.stderr);
    assert!(!output.status.success(), "{stderr}");
    assert!(
        stderr.contains(
            "error: /api/plugins/errors: nothing for this plugin: Grafana refused it: signatureInvalid"
        ) && stderr.contains("error: /api/plugins/acme-servicechecks-app/settings: the plugin is loaded: got 404"),
        "{stderr}"
    );

    // Two faults in one build (each build of the plugin costs seconds): the wrong body (ping
    // without its `message`), and a Viewer let in where only Editors may go. Each is named.
    scratch.edit("plugin/src/routes.rs", |s| {
        assert!(
            s.contains("json!({ \"message\": \"pong\"") && s.contains("at_least(Role::Editor)")
        );
        s.replace("json!({ \"message\": \"pong\"", "json!({ \"msg\": \"pong\"")
            .replace(
                "route_layer(RequireRole::at_least(Role::Editor))",
                "route_layer(RequireRole::at_least(Role::Viewer))",
            )
    });
    build(&scratch);
    let output = e2e(&scratch, &[]);
    let stderr = text(&output.stderr);
    assert!(!output.status.success(), "{stderr}");
    assert!(
        stderr.contains("error: GET ping as Viewer: 200: got 200 {\"msg\":\"pong\"")
            && stderr.contains("expected 200 with a JSON `message`")
            && stderr.contains("error: POST checks/run as Viewer: 403: got 200")
            && stderr.contains("error: e2e: 3 check(s) failed"),
        "{stderr}"
    );
}

/// One HTTP/1.0 call to the stand-in at `port`: (status, body).
fn call(port: u16, method: &str, path: &str, basic: Option<&str>, body: &str) -> (u16, String) {
    let mut stream = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    let mut head = format!("{method} {path} HTTP/1.0\r\nHost: 127.0.0.1\r\n");
    if let Some(credentials) = basic {
        head.push_str(&format!("Authorization: Basic {}\r\n", base64(credentials)));
    }
    head.push_str(&format!(
        "Content-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    ));
    stream.write_all(head.as_bytes()).unwrap();
    let mut answer = String::new();
    stream.read_to_string(&mut answer).unwrap();
    let status = answer[9..12].parse().unwrap();
    let body = answer.split_once("\r\n\r\n").map_or("", |(_, body)| body);
    (status, body.to_owned())
}

fn base64(text: &str) -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for chunk in text.as_bytes().chunks(3) {
        let n = chunk
            .iter()
            .enumerate()
            .fold(0u32, |n, (i, b)| n | u32::from(*b) << (16 - 8 * i));
        for i in 0..4 {
            out.push(if i <= chunk.len() {
                ALPHABET[(n >> (18 - 6 * i) & 63) as usize] as char
            } else {
                '='
            });
        }
    }
    out
}

/// The stand-in, started as e2e starts a local Grafana over the plugins folder e2e left in
/// target/e2e, refuses what Grafana's handlers refuse: no caller (401, `reqSignedIn`); an app
/// with no setting or a disabled one (404 from `checkAppEnabled`, pkg/api/plugin_checks.go);
/// a Viewer changing plugin settings (403, `plugins:write`); users the admin API refuses
/// (pkg/api/admin_users.go).
fn standin_refuses_as_grafana_does(scratch: &crate::scratch::Scratch) {
    let port = free_port();
    let data = tempfile::tempdir().unwrap();
    let mut grafana = Command::new(standin())
        .arg("server")
        .env(
            "GF_PATHS_PLUGINS",
            scratch.root().join("target/e2e/plugins"),
        )
        .env("GF_PATHS_DATA", data.path())
        .env("GF_SERVER_HTTP_PORT", port.to_string())
        .env(
            "GF_PLUGINS_ALLOW_LOADING_UNSIGNED_PLUGINS",
            "acme-servicechecks-app",
        )
        .env("GF_SECURITY_ADMIN_PASSWORD", "s3cret")
        .env_remove("GF_PATHS_PROVISIONING")
        .env_remove("GF_AUTH_ANONYMOUS_ENABLED")
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    let admin = Some("admin:s3cret");
    let app = "/api/plugins/acme-servicechecks-app";
    crate::dev::wait_for_port(port);
    let health = format!("{app}/health");
    let ping = format!("{app}/resources/ping");
    let settings = format!("{app}/settings");
    // (method, path, Basic credentials, body, status, a piece of the answer's body)
    type Check<'a> = (&'a str, &'a str, Option<&'a str>, &'a str, u16, &'a str);
    let checks: Vec<Check> = vec![
        ("GET", &health, None, "", 401, "Unauthorized"),
        ("GET", &health, Some("admin:wrong"), "", 401, "Unauthorized"),
        ("GET", &health, admin, "", 404, "Plugin setting not found"),
        ("GET", &ping, admin, "", 404, "Plugin setting not found"),
        ("GET", &settings, admin, "", 200, "\"enabled\":false"),
        (
            "POST",
            "/api/admin/users",
            admin,
            r#"{"login":"v","password":"abc"}"#,
            400,
            "Password is missing or too short",
        ),
        (
            "POST",
            "/api/admin/users",
            admin,
            r#"{"password":"abcd"}"#,
            400,
            "need specify either username or email",
        ),
        (
            "POST",
            "/api/admin/users",
            admin,
            r#"{"login":"v","password":"abcd"}"#,
            200,
            "User created",
        ),
        (
            "POST",
            "/api/admin/users",
            admin,
            r#"{"login":"v","password":"abcd"}"#,
            412,
            "already exists",
        ),
        (
            "POST",
            "/api/admin/users",
            Some("v:abcd"),
            r#"{"login":"w","password":"abcd"}"#,
            403,
            "Permission denied",
        ),
        (
            "POST",
            &settings,
            Some("v:abcd"),
            r#"{"enabled":true}"#,
            403,
            "plugins:write",
        ),
        (
            "POST",
            &settings,
            admin,
            r#"{"enabled":false}"#,
            200,
            "Plugin settings updated",
        ),
        (
            "GET",
            &health,
            Some("v:abcd"),
            "",
            404,
            "Plugin is not enabled",
        ),
        (
            "GET",
            &ping,
            Some("v:abcd"),
            "",
            404,
            "Plugin is not enabled",
        ),
        (
            "POST",
            &settings,
            admin,
            r#"{"enabled":true}"#,
            200,
            "Plugin settings updated",
        ),
        ("GET", &ping, Some("v:abcd"), "", 200, "pong"),
    ];
    for (method, path, basic, body, status, needle) in checks {
        let mut answer = call(port, method, path, basic, body);
        // The backend may still be starting when the app is enabled.
        for _ in 0..100 {
            if answer.0 != 503 {
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(100));
            answer = call(port, method, path, basic, body);
        }
        assert!(
            answer.0 == status && answer.1.contains(needle),
            "{method} {path} as {basic:?}: got {answer:?}, expected {status} with {needle:?}"
        );
    }
    let _ = grafana.kill();
    let _ = grafana.wait();
}

#[test]
fn e2e_with_grafanas_image_needs_a_container_engine() {
    const TEST: &str = "e2e_with_grafanas_image_needs_a_container_engine";
    let engine = std::process::Command::new("docker")
        .arg("info")
        .output()
        .is_ok_and(|output| output.status.success());
    if engine {
        return harness::skip(
            TEST,
            "a container engine answers: the image path is CI's e2e job (it pulls Grafana)",
        );
    }
    let scratch = Scratch::new();
    let output = scratch.xtask(&["e2e", "--no-build"]);
    let stderr = text(&output.stderr);
    assert!(!output.status.success());
    assert!(
        stderr.contains("no container engine answers") && stderr.contains("--grafana PATH"),
        "{stderr}"
    );
    harness::skip(
        "e2e against grafana/grafana",
        "no container engine answers here (`docker info`); CI's e2e job runs it",
    );
}
