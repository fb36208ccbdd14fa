//! Stamps build info into the binary: plugin id (from `plugin.json` at the repository root,
//! or `src/plugin.json` in an app made with create-plugin), target and build time. Reruns
//! only when sources or plugin.json change, so no-op builds stay no-op.
use std::{env, fs, path::PathBuf, time::SystemTime};

fn main() {
    let manifest_dir = PathBuf::from(env::var_os("CARGO_MANIFEST_DIR").expect("set by cargo"));
    let candidates = [
        manifest_dir.join("../plugin.json"),
        manifest_dir.join("../src/plugin.json"),
    ];
    let plugin_json = candidates
        .iter()
        .find(|candidate| candidate.is_file())
        .unwrap_or(&candidates[0]);
    // Only the file that exists: cargo reruns a build script on every build while a path it
    // watches is missing, and a no-op build must stay a no-op.
    println!("cargo:rerun-if-changed={}", plugin_json.display());
    println!("cargo:rerun-if-changed=src");
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-env-changed=SOURCE_DATE_EPOCH");

    // `cargo xtask build` validates plugin.json first and explains any problem; here we only
    // need the id, and fall back to a marker rather than failing a plain `cargo build`.
    let plugin_id = fs::read_to_string(plugin_json)
        .ok()
        .and_then(|text| serde_json::from_str::<serde_json::Value>(&text).ok())
        .and_then(|json| json.get("id")?.as_str().map(str::to_owned))
        .unwrap_or_else(|| "unknown-plugin-id".to_owned());
    println!("cargo:rustc-env=GPX_PLUGIN_ID={plugin_id}");
    // Where it came from, for the unit test that checks the stamp against the file.
    println!("cargo:rustc-env=GPX_PLUGIN_JSON={}", plugin_json.display());
    println!(
        "cargo:rustc-env=GPX_BUILD_TARGET={}",
        env::var("TARGET").expect("set by cargo")
    );
    // Reproducible builds pin the time with SOURCE_DATE_EPOCH, as the release job does.
    let epoch = env::var("SOURCE_DATE_EPOCH")
        .ok()
        .and_then(|value| value.parse::<i64>().ok())
        .unwrap_or_else(|| {
            let since = SystemTime::now()
                .duration_since(SystemTime::UNIX_EPOCH)
                .expect("clock after 1970");
            since.as_secs() as i64
        });
    println!("cargo:rustc-env=GPX_BUILD_EPOCH={epoch}");
}
