//! `init --type datasource`: this template's app turned into a data source, whose own tests
//! (QueryData through Grafana's calls) pass.
use std::{fs, process::Command};

use crate::scratch::{Scratch, shared_target_dir, text};

#[test]
fn init_makes_a_data_source_whose_own_tests_pass() {
    let scratch = Scratch::new();
    let output = scratch.xtask(&[
        "init",
        "--type",
        "datasource",
        "--id",
        "acme-weather-datasource",
        "--name",
        "Weather",
    ]);
    assert!(output.status.success(), "{}", text(&output.stderr));
    assert!(
        text(&output.stderr).contains("Converted the app into a data source"),
        "{}",
        text(&output.stderr)
    );
    let root = scratch.root();
    let manifest: serde_json::Value =
        serde_json::from_str(&fs::read_to_string(root.join("plugin.json")).unwrap()).unwrap();
    assert_eq!(
        (&manifest["type"], &manifest["id"], &manifest["name"]),
        (
            &"datasource".into(),
            &"acme-weather-datasource".into(),
            &"Weather".into()
        )
    );
    assert_eq!(manifest["executable"], "gpx_weather");
    assert_eq!(manifest["metrics"], true);
    let provisioned =
        fs::read_to_string(root.join("provisioning/datasources/datasources.yaml")).unwrap();
    assert!(
        provisioned.contains("type: 'acme-weather-datasource'"),
        "{provisioned}"
    );
    assert!(provisioned.contains("name: \"Weather\""), "{provisioned}");
    let module = fs::read_to_string(root.join("static/module.js")).unwrap();
    assert!(module.contains("new data.DataSourcePlugin(DataSource)"));
    for gone in [
        "plugin/src/app.rs",
        "plugin/tests/app.rs",
        "provisioning/plugins/apps.yaml",
        "xtask/tests/it/main.rs",
    ] {
        assert!(!root.join(gone).exists(), "{gone} is the app's");
    }
    assert!(root.join("plugin/src/build_info.rs").exists());

    // A version of its own: scratch copies share one target directory, where cargo tells a
    // workspace member by its path relative to the workspace, so this copy's `plugin` would
    // otherwise share (and overwrite) the template app's build.
    scratch.edit("plugin/Cargo.toml", |s| {
        s.replace("\nversion.workspace = true", "\nversion = \"0.1.1\"")
    });
    let tests = Command::new(env!("CARGO"))
        .args(["test", "--quiet", "-p", "plugin"])
        .current_dir(root)
        .env("CARGO_TARGET_DIR", shared_target_dir())
        .output()
        .unwrap();
    let stdout = text(&tests.stdout);
    assert!(tests.status.success(), "{stdout}\n{}", text(&tests.stderr));
    // Its unit tests (5) and its process tests (2), none skipped.
    assert!(stdout.contains("test result: ok. 5 passed"), "{stdout}");
    assert!(stdout.contains("test result: ok. 2 passed"), "{stdout}");
}
