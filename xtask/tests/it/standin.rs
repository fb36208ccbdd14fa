//! The Grafana stand-in owns the plugins it starts, as Grafana's process manager does: killed
//! hard (SIGKILL: no handler, no drop runs), it leaves no plugin running.
use std::{
    process::{Command, Stdio},
    time::{Duration, Instant},
};

use crate::{
    dev::{free_port, standin},
    scratch::{Scratch, text},
};

#[test]
fn a_standin_killed_hard_leaves_no_plugin_running() {
    let scratch = Scratch::new();
    let output = scratch.xtask(&["build", "--debug"]);
    assert!(output.status.success(), "{}", text(&output.stderr));
    let plugins = tempfile::tempdir().unwrap();
    std::os::unix::fs::symlink(
        scratch.root().join("dist"),
        plugins.path().join("acme-servicechecks-app"),
    )
    .unwrap();
    let data = tempfile::tempdir().unwrap();
    let mut grafana = Command::new(standin())
        .arg("server")
        .env("GF_PATHS_PLUGINS", plugins.path())
        .env("GF_PATHS_DATA", data.path())
        .env("GF_PATHS_PROVISIONING", scratch.root().join("provisioning"))
        .env("GF_SERVER_HTTP_PORT", free_port().to_string())
        .env("GF_DEFAULT_APP_MODE", "development")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let status = data.path().join("standin-status.json");
    let deadline = Instant::now() + Duration::from_secs(60);
    let pid = loop {
        let pid = std::fs::read_to_string(&status)
            .ok()
            .and_then(|text| serde_json::from_str::<serde_json::Value>(&text).ok())
            .and_then(|status| status["pid"].as_u64());
        if let Some(pid) = pid {
            break pid;
        }
        assert!(Instant::now() < deadline, "the stand-in started no plugin");
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(crate::dev::alive(pid));
    grafana.kill().unwrap();
    grafana.wait().unwrap();
    let deadline = Instant::now() + Duration::from_secs(5);
    while crate::dev::alive(pid) {
        assert!(
            Instant::now() < deadline,
            "plugin {pid} still runs after its stand-in was killed"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}
