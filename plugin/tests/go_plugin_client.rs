//! The built backend driven by Grafana's real client: HashiCorp's go-plugin over grpc-go,
//! built from Debian's Go sources by `bench/go-plugin-build.sh` (REFERENCE §9). SKIPPED with
//! the reason where Go or those sources are missing (the script's exit 2); a build that
//! fails with them present is a failure.
use std::{path::Path, process::Command};

fn build_client() -> Result<std::path::PathBuf, String> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
    let out = Path::new(env!("CARGO_TARGET_TMPDIR")).join("go-plugin");
    let output = Command::new("bash")
        .arg(root.join("bench/go-plugin-build.sh"))
        .arg(&out)
        .current_dir(root)
        .output()
        .map_err(|error| format!("cannot run bash: {error}"))?;
    let stderr = String::from_utf8_lossy(&output.stderr).trim().to_owned();
    match output.status.code() {
        Some(0) => Ok(out.join("client")),
        Some(2) => Err(stderr),
        _ => panic!(
            "Go and the go-plugin sources are there, but the client does not build: {stderr}"
        ),
    }
}

#[test]
fn grafanas_go_plugin_client_starts_pings_calls_and_stops_the_plugin() {
    let client = match build_client() {
        Ok(client) => client,
        Err(reason) => {
            harness::skip(
                "grafanas_go_plugin_client_starts_pings_calls_and_stops_the_plugin",
                &reason,
            );
            return;
        }
    };
    let output = Command::new(client)
        .args(["check", env!("CARGO_BIN_EXE_plugin")])
        .env("PLUGIN_ID", "acme-servicechecks-app")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stderr}");
    let result: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(result["protocol"], 2, "{result}");
    assert_eq!(result["ping"], "ok", "go-plugin's Ping: {result}");
    assert_eq!(result["healthStatus"], 1, "CheckHealth OK: {result}");
    assert_eq!(result["pingCode"], 200, "GET ping: {result}");
    assert_eq!(result["exited"], true, "{result}");
    // go-plugin logs this when Shutdown did not end the process and it had to kill it.
    assert!(!stderr.contains("failed to exit gracefully"), "{stderr}");
    assert!(!stderr.contains("[ERROR]"), "{stderr}");
}
