//! What this binary is: plugin id, version, build time and target, stamped in by `build.rs`
//! (the Go SDK's `-buildinfo`, done at compile time instead of with linker flags).
use serde_json::json;

pub const PLUGIN_ID: &str = env!("GPX_PLUGIN_ID");
pub const VERSION: &str = env!("CARGO_PKG_VERSION");
pub const TARGET: &str = env!("GPX_BUILD_TARGET");
const BUILD_EPOCH: &str = env!("GPX_BUILD_EPOCH");

/// Build time as RFC 3339 UTC, e.g. `2026-11-24T06:40:00Z`.
pub fn build_time() -> String {
    BUILD_EPOCH
        .parse::<i64>()
        .ok()
        .and_then(|secs| chrono::DateTime::from_timestamp(secs, 0))
        .map(|time| time.format("%Y-%m-%dT%H:%M:%SZ").to_string())
        .unwrap_or_else(|| "unknown".to_owned())
}

/// One line for `--version`.
pub fn version_line() -> String {
    format!(
        "{PLUGIN_ID} {VERSION} (built {}, {TARGET}, {})",
        build_time(),
        if cfg!(debug_assertions) {
            "debug"
        } else {
            "release"
        }
    )
}

/// Machine-readable build info for `--buildinfo`, with the Go SDK's field names.
pub fn as_json() -> serde_json::Value {
    json!({
        "pluginID": PLUGIN_ID,
        "version": VERSION,
        "time": build_time(),
        "target": TARGET,
        "profile": if cfg!(debug_assertions) { "debug" } else { "release" },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn build_info_is_stamped_from_plugin_json_and_cargo() {
        // The id comes from the plugin's plugin.json through build.rs (the repository's, or
        // src/plugin.json in an app made with create-plugin).
        let plugin_json: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(env!("GPX_PLUGIN_JSON")).unwrap())
                .unwrap();
        assert_eq!(PLUGIN_ID, plugin_json["id"].as_str().unwrap());
        assert!(build_time().ends_with('Z'), "{}", build_time());
        assert!(version_line().starts_with(&format!("{PLUGIN_ID} {VERSION} (built ")));
        assert_eq!(as_json()["target"], TARGET);
    }
}
