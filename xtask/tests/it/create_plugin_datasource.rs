//! `cargo xtask adopt` in a real create-plugin data source with its Go backend
//! (fixtures/create-plugin-datasource: what `npx @grafana/create-plugin@7.1.7
//! --pluginType=datasource --hasBackend=true --pluginName=weather --orgName=acme` wrote,
//! unchanged): the Rust backend beside the Go one, answering Grafana's real client; `dev`
//! and `e2e` checking it per instance; the archive packaged and validated.
use std::{fs, path::Path, process::Command};

use crate::{
    create_plugin::node_and_npm,
    scratch::{host_binary_name, text},
};

/// A copy of the real scaffold whose frontend toolchain is the app fixture's stand-in for
/// webpack (package.json's dependencies would be downloaded from npm): its devDependencies
/// become that one package, with a lockfile naming it; everything else is create-plugin's.
fn data_source_app() -> tempfile::TempDir {
    let app = tempfile::tempdir().unwrap();
    let fixtures = Path::new(env!("CARGO_MANIFEST_DIR")).join("../fixtures");
    crate::scratch::sync(&fixtures.join("create-plugin-datasource"), app.path());
    crate::scratch::sync(
        &fixtures.join("create-plugin-app/.config/fake-webpack"),
        &app.path().join(".config/fake-webpack"),
    );
    let package_path = app.path().join("package.json");
    let mut package: serde_json::Value =
        serde_json::from_str(&fs::read_to_string(&package_path).unwrap()).unwrap();
    package["devDependencies"] = serde_json::json!({ "webpack": "file:.config/fake-webpack" });
    package.as_object_mut().unwrap().remove("dependencies");
    fs::write(&package_path, package.to_string()).unwrap();
    let (name, version) = (&package["name"], &package["version"]);
    let lock = serde_json::json!({
        "name": name, "version": version, "lockfileVersion": 3, "requires": true,
        "packages": {
            "": { "name": name, "version": version,
                  "devDependencies": { "webpack": "file:.config/fake-webpack" } },
            ".config/fake-webpack": { "name": "webpack", "version": "5.0.0-fake", "dev": true,
                                      "bin": { "webpack": "webpack.js" } },
            "node_modules/webpack": { "resolved": ".config/fake-webpack", "link": true },
        },
    });
    fs::write(app.path().join("package-lock.json"), lock.to_string()).unwrap();
    app
}

/// A call for data source `uid` (settings `json_data`, secure `api_key`).
fn for_data_source(uid: &str, api_key: Option<&str>, call: serde_json::Value) -> serde_json::Value {
    let mut call = call;
    call["datasource"] = serde_json::json!({ "id": 1, "uid": uid, "name": uid });
    call["jsonData"] = r#"{"path": "/resources", "unit": "celsius"}"#.into();
    call["updated"] = 1.into();
    call["role"] = "Viewer".into();
    if let Some(key) = api_key {
        call["secure"] = serde_json::json!({ "apiKey": key });
    }
    call
}

#[test]
fn adopt_gives_a_create_plugin_data_source_a_rust_backend_that_answers_its_queries() {
    const TEST: &str =
        "adopt_gives_a_create_plugin_data_source_a_rust_backend_that_answers_its_queries";
    let app = data_source_app();
    let repository = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
    let adopted = Command::new(crate::scratch::xtask_binary())
        .arg("adopt")
        .arg(app.path())
        .current_dir(repository)
        .env("CARGO_TERM_COLOR", "never")
        .output()
        .unwrap();
    let stderr = text(&adopted.stderr);
    assert!(adopted.status.success(), "{stderr}");
    assert!(
        stderr.contains("plugin/ with a data-source backend: QueryData, CheckHealth, resources")
            && stderr
                .contains("the Go backend is still there: delete Magefile.go, go.mod, go.sum, pkg"),
        "{stderr}"
    );
    // create-plugin's workflows, which would package dist/ without a backend once the Go one
    // is gone: named, with the change, and left as they were.
    assert!(
        stderr.contains(".github/workflows/ci.yml builds the backend only through mage")
            && stderr.contains(
                ".github/workflows/release.yml releases through grafana/plugin-actions/build-plugin"
            )
            && stderr.contains("README: CI after adopt"),
        "{stderr}"
    );
    // Beside the Go backend, which stays until its owner deletes it; the executable name is
    // the app's, so Grafana finds the new binaries where the old ones were.
    let fixture =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../fixtures/create-plugin-datasource");
    for go in [
        "go.mod",
        "Magefile.go",
        "pkg/plugin/datasource.go",
        ".github/workflows/ci.yml",
        ".github/workflows/release.yml",
    ] {
        assert_eq!(
            fs::read(app.path().join(go)).unwrap(),
            fs::read(fixture.join(go)).unwrap(),
            "{go} untouched"
        );
    }
    assert!(app.path().join("plugin/src/datasource.rs").is_file());
    assert!(
        !app.path().join("plugin/src/worker.rs").exists(),
        "no app code in a data source"
    );

    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let in_app = |args: &[&str]| {
        Command::new(&cargo)
            .args(args)
            .current_dir(app.path())
            .env("CARGO_TARGET_DIR", crate::scratch::shared_target_dir())
            .env("CARGO_TERM_COLOR", "never")
            .output()
            .unwrap()
    };
    // Its own tests pass (the template's unit tests), and it builds.
    let tested = in_app(&["test", "-p", "plugin", "--quiet"]);
    assert!(
        tested.status.success(),
        "{}{}",
        text(&tested.stdout),
        text(&tested.stderr)
    );
    let built = in_app(&["xtask", "build", "--backend-only", "--debug"]);
    assert!(built.status.success(), "{}", text(&built.stderr));
    // Without a warning of its own: an author's `clippy -D warnings` starts clean.
    assert!(
        !text(&built.stderr).contains("warning: `plugin`"),
        "{}",
        text(&built.stderr)
    );
    let binary = app
        .path()
        .join("dist")
        .join(host_binary_name().replace("gpx_service_checks", "gpx_weather"));
    assert!(binary.is_file(), "{}", text(&built.stderr));

    // Grafana's client: health and queries of two data sources of this type, in the
    // frontend's query model.
    let client =
        match harness::go_client::build(&crate::scratch::shared_target_dir().join("go-plugin")) {
            Ok(client) => client,
            Err(reason) => return harness::skip(TEST, &format!("Grafana's Go client: {reason}")),
        };
    let mut grafana =
        harness::go_client::Grafana::start(&client, &binary, "acme-weather-datasource", &[]);
    let health = serde_json::json!({ "call": "health" });
    let unconfigured = grafana.call(for_data_source("ds-b", None, health.clone()));
    assert_eq!(
        (
            unconfigured["status"].as_u64(),
            unconfigured["message"].as_str()
        ),
        (Some(2), Some("API key is missing")),
        "{unconfigured}"
    );
    let working = grafana.call(for_data_source("ds-a", Some("k"), health));
    assert_eq!(
        (working["status"].as_u64(), working["message"].as_str()),
        (Some(1), Some("Data source is working")),
        "{working}"
    );

    let query = |ref_id: &str, json: &str| {
        serde_json::json!({ "refId": ref_id, "maxDataPoints": 5, "intervalMs": 1000,
            "from": 1_700_000_000_000u64, "to": 1_700_000_060_000u64, "json": json })
    };
    let answer = grafana.call(for_data_source("ds-a", Some("k"), serde_json::json!({
        "call": "query",
        "queries": [
            query("A", r#"{"refId":"A","datasource":{"type":"acme-weather-datasource","uid":"ds-a"},"queryText":"room","constant":21.5}"#),
            query("B", r#"{"refId":"B","constant":"six"}"#),
            query("C", r#"{"refId":"C"}"#),
        ],
    })));
    let responses = &answer["responses"];
    let frame = |ref_id: &str| {
        let frames = responses[ref_id]["frames"]
            .as_array()
            .unwrap_or_else(|| panic!("{answer}"));
        let bytes = base64_decode(frames[0].as_str().unwrap());
        harness::frames::decode(&bytes).unwrap()
    };
    let a = frame("A");
    assert_eq!(
        (a["name"].as_str(), a["refId"].as_str()),
        (Some("response"), Some("A")),
        "{a}"
    );
    // The Go backend's answer, field for field (pkg/plugin/datasource.go: `time` at the
    // range's ends, `values` 10 and 20 as int64), which the scaffold's e2e test expects.
    assert_eq!(
        (&a["fields"][0]["name"], &a["fields"][0]["type"]),
        (&serde_json::json!("time"), &serde_json::json!("time")),
        "{a}"
    );
    assert_eq!(
        a["fields"][0]["values"],
        serde_json::json!([1_700_000_000_000u64, 1_700_000_060_000u64])
    );
    assert_eq!(a["fields"][1]["name"], "values", "{a}");
    // Whole numbers (10, not 10.0): the column is Int64, as Go's []int64.
    assert_eq!(a["fields"][1]["values"], serde_json::json!([10, 20]));
    assert_eq!(responses["B"]["status"], 400, "{answer}");
    assert!(
        responses["B"]["error"]
            .as_str()
            .unwrap()
            .starts_with("query B: invalid type: string \"six\""),
        "{answer}"
    );
    assert_eq!(
        frame("C")["fields"][1]["values"],
        serde_json::json!([10, 20]),
        "the frontend's DEFAULT_QUERY"
    );

    // Per data source: ds-a answered three queries, ds-b none.
    let stats = serde_json::json!({ "call": "resource", "method": "GET", "path": "stats" });
    let count = |answer: serde_json::Value| -> serde_json::Value {
        serde_json::from_str::<serde_json::Value>(answer["body"].as_str().unwrap()).unwrap()["queries"].clone()
    };
    assert_eq!(
        count(grafana.call(for_data_source("ds-a", Some("k"), stats.clone()))),
        3
    );
    assert_eq!(count(grafana.call(for_data_source("ds-b", None, stats))), 0);
    grafana.stop();

    // dev and e2e against the Grafana stand-in, as Grafana checks a data source: per
    // instance (health by uid, one /api/ds/query), not by the plugin's health.
    if let Err(reason) = node_and_npm() {
        return harness::skip(
            TEST,
            &format!("dev and e2e of the data source (the frontend build): {reason}"),
        );
    }
    #[cfg(unix)]
    data_source_in_dev_and_e2e(app.path(), &in_app);
    #[cfg(not(unix))]
    harness::skip(
        TEST,
        "dev and e2e of the data source: their tests need Unix (as dev.rs and e2e.rs)",
    );
}

/// `dev --attach` to a stand-in that provisions (or does not) a data source of the app's
/// type, then `e2e` against the stand-in.
#[cfg(unix)]
fn data_source_in_dev_and_e2e(app: &Path, in_app: &dyn Fn(&[&str]) -> std::process::Output) {
    let platform = crate::e2e::host_platform();
    let built = in_app(&["xtask", "build", "--target", &platform]);
    assert!(built.status.success(), "{}", text(&built.stderr));
    // Grafana's plugins directory with dist/ linked in as the plugin, as dev does locally.
    let plugins = tempfile::tempdir().unwrap();
    let linked = plugins.path().join("acme-weather-datasource");
    std::os::unix::fs::symlink(app.join("dist"), linked).unwrap();
    let provisioning = tempfile::tempdir().unwrap();
    let attach = |provisioned: Option<&str>| {
        let port = crate::dev::free_port();
        let data = tempfile::tempdir().unwrap();
        fs::create_dir_all(provisioning.path().join("datasources")).unwrap();
        let file = provisioning.path().join("datasources/datasources.yml");
        match provisioned {
            Some(yaml) => fs::write(&file, yaml).unwrap(),
            None => {
                let _ = fs::remove_file(&file);
            }
        }
        let mut grafana = Command::new(crate::dev::standin())
            .arg("server")
            .env("GF_PATHS_PLUGINS", plugins.path())
            .env("GF_PATHS_DATA", data.path())
            .env("GF_PATHS_PROVISIONING", provisioning.path())
            .env("GF_SERVER_HTTP_PORT", port.to_string())
            .env("GF_DEFAULT_APP_MODE", "development")
            .env("GF_AUTH_ANONYMOUS_ENABLED", "true")
            .env("GF_AUTH_ANONYMOUS_ORG_ROLE", "Admin")
            .stdout(std::process::Stdio::null())
            .spawn()
            .unwrap();
        let output = Command::new(crate::scratch::xtask_binary())
            .args(["dev", "--attach", "--port", &port.to_string()])
            .current_dir(app)
            .env("CARGO_TARGET_DIR", crate::scratch::shared_target_dir())
            .env("CARGO_TERM_COLOR", "never")
            .env_remove("GRAFANA_URL")
            .output()
            .unwrap();
        let _ = grafana.kill();
        let _ = grafana.wait();
        text(&output.stderr)
    };
    // As create-plugin's scaffold provisions it (no uid: Grafana makes one).
    let scaffold = "apiVersion: 1\ndatasources:\n  - name: 'weather'\n    type: 'acme-weather-datasource'\n    access: proxy\n    jsonData:\n      path: '/resources'\n    secureJsonData:\n      apiKey: 'api-key'\n";
    let said = attach(Some(scaffold));
    assert!(
        said.contains("Serving http://localhost:")
            && said.contains("/connections/datasources/edit/")
            && said.contains(
                "data source \"weather\" healthy: Data source is working; query A: 1 frame(s)"
            ),
        "{said}"
    );
    let without_key = scaffold.replace("      apiKey: 'api-key'\n", "      other: 'x'\n");
    let said = attach(Some(&without_key));
    assert!(
        said.contains("data source \"weather\" (uid standin1): API key is missing"),
        "{said}"
    );
    let said = attach(None);
    assert!(
        said.contains(
            "error: the plugin is not serving: Grafana has no data source of type acme-weather-datasource"
        ) && said.contains("provisioning/datasources/"),
        "{said}"
    );

    // dev left its debug build in dist/; e2e packages what a release build makes.
    let built = in_app(&["xtask", "build", "--target", &platform]);
    assert!(built.status.success(), "{}", text(&built.stderr));
    let port = crate::dev::free_port().to_string();
    let standin = crate::dev::standin();
    let standin = standin.to_str().unwrap();
    let e2e = in_app(&[
        "xtask",
        "e2e",
        "--no-build",
        "--grafana",
        standin,
        "--port",
        &port,
    ]);
    let stderr = text(&e2e.stderr);
    assert!(e2e.status.success(), "{stderr}");
    for line in [
        "Checked POST /api/datasources: a data source of this type made",
        "/health: status OK",
        "Checked POST /api/ds/query as Viewer: query A answers a time field and a number field",
        "Checked POST /api/ds/query as Viewer: query B of the wrong shape answers its own 400 (207)",
        "passed every check",
    ] {
        assert!(stderr.contains(line), "{line:?} in {stderr}");
    }
    assert!(
        !stderr.contains("enabled in org 1"),
        "a data source is not enabled like an app: {stderr}"
    );

    // The release archive of what was built, validated by the plugin validator's rules.
    let packaged = in_app(&["xtask", "package", "--no-build", "--target", &platform]);
    assert!(packaged.status.success(), "{}", text(&packaged.stderr));
    let archive = app.join("target/package/acme-weather-datasource-1.0.0.zip");
    let validated = in_app(&["xtask", "validate", archive.to_str().unwrap()]);
    let said = text(&validated.stderr);
    assert!(validated.status.success(), "{said}");
    assert!(!said.contains("error"), "{said}");
    let zip = zip::ZipArchive::new(fs::File::open(&archive).unwrap()).unwrap();
    let entries: Vec<String> = zip
        .file_names()
        .map(|name| name.unwrap().into_owned())
        .collect();
    let binary = host_binary_name().replace("gpx_service_checks", "gpx_weather");
    for file in ["module.js", "plugin.json", "img/logo.svg", binary.as_str()] {
        assert!(
            entries.contains(&format!("acme-weather-datasource/{file}")),
            "{file} in {entries:?}"
        );
    }
}

/// Standard base64 (the client's JSON carries bytes so).
fn base64_decode(text: &str) -> Vec<u8> {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = Vec::new();
    let (mut buffer, mut bits) = (0u32, 0);
    for byte in text.bytes().filter(|b| *b != b'=') {
        let value = ALPHABET.iter().position(|c| *c == byte).unwrap() as u32;
        buffer = buffer << 6 | value;
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((buffer >> bits) as u8);
            buffer &= (1 << bits) - 1;
        }
    }
    out
}
