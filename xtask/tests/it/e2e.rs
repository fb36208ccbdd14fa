//! `cargo xtask e2e` against the project's Grafana stand-in (harness's `grafana-standin`,
//! started as a local Grafana in production mode with the packaged archive unzipped into its
//! plugins folder): the plugin as it is passes every check; one whose `ping` answers another
//! body, one that lets a Viewer run the checks, and one Grafana refuses each fail the command,
//! with the check named. The image path needs a container engine, which this machine may lack.
use std::process::Output;

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
        "Checked /api/plugins/acme-servicechecks-app/health: status OK",
        "Checked GET checks as Viewer: 200",
        "Checked POST checks/run as Viewer: 403",
        "Checked POST checks/run as Admin: 200",
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
    scratch.edit("plugin/src/resources.rs", |s| {
        s.replace("json!({ \"message\": \"pong\"", "json!({ \"msg\": \"pong\"")
            .replace(
                "Route::RunChecks => Access::AtLeast(Role::Editor)",
                "Route::RunChecks => Access::AtLeast(Role::Viewer)",
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
