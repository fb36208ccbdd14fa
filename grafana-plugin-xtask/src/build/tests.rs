//! The plan, its printed forms and the dist/ plan, without toolchains.
use super::{exec::*, plan::*, report::*, *};
use crate::{
    dist::StagedFile,
    layout::Layout,
    project::{CargoProject, PluginJson, PluginType, Project},
};

fn project() -> Project {
    Project {
        cargo: CargoProject {
            workspace_root: "/repo".into(),
            target_dir: "/repo/target".into(),
            package: "plugin".into(),
            bin_name: "plugin".into(),
            version: "1.2.3".into(),
            layout_setting: None,
        },
        plugin: PluginJson {
            id: "acme-checks-app".into(),
            executable: "gpx_checks".into(),
            plugin_type: PluginType::App,
        },
        layout: Layout::Template,
    }
}

fn inputs() -> Inputs {
    Inputs {
        static_files: vec!["img/logo.svg".into(), "module.js".into()],
        root_files: vec!["README.md", "LICENSE", "CHANGELOG.md"],
        dist_entries: vec![
            "gpx_checks_linux_amd64".into(),
            "gpx_checks_linux_arm64".into(),
            "gpx_checks_windows_amd64.exe".into(),
            "module.js".into(),
            "stale.txt".into(),
        ],
        kept_from: "/repo/dist".into(),
        frontend_files: None,
        today: "2026-11-24".into(),
    }
}

fn linux() -> Environment {
    Environment {
        host_os: "linux".into(),
        rustc_release: "1.95.0".into(),
        installed_std: vec!["x86_64-unknown-linux-musl".into()],
        rustup: true,
        rust_lld: true,
        ..Environment::default()
    }
}

fn options(profile: Profile) -> Options {
    Options {
        profile,
        clean: false,
        quiet: false,
        check_only: false,
        forced: None,
    }
}

/// The plan of `requested` for `project()` on `env`, with `profile` and the usual inputs.
fn planned(requested: &[BuildTarget], env: &Environment, profile: Profile) -> BuildPlan {
    plan(&project(), requested, env, &options(profile), &inputs()).unwrap()
}

fn host() -> BuildTarget {
    targets::host_of("linux", "x86_64").unwrap()
}

#[test]
fn the_dist_profile_is_asked_for_by_name_and_built_into_its_own_directory() {
    let plan = planned(&[host()], &Environment::default(), Profile::Dist);
    let step = plan.targets[0].step.as_ref().unwrap();
    assert_eq!(
        step.command.args,
        ["build", "--package", "plugin", "--profile", "dist"]
    );
    let exe = if cfg!(windows) { ".exe" } else { "" };
    assert_eq!(
        step.built_binary,
        Path::new("/repo/target/dist").join(format!("plugin{exe}"))
    );
    assert!(describe(&plan, Path::new("/repo")).starts_with("build acme-checks-app 1.2.3 (dist)"));
}

#[test]
fn a_missing_dist_profile_is_named_with_the_lines_to_add() {
    let root = tempfile::tempdir().unwrap();
    std::fs::write(
        root.path().join("Cargo.toml"),
        "[profile.release]\nstrip = true\n",
    )
    .unwrap();
    assert!(check_profile_defined(root.path(), Profile::Release).is_ok());
    let error = check_profile_defined(root.path(), Profile::Dist)
        .unwrap_err()
        .to_string();
    assert!(error.contains("Cargo.toml: no [profile.dist]"), "{error}");
    assert!(error.contains("inherits = \"release\""), "{error}");
    std::fs::write(
        root.path().join("Cargo.toml"),
        "[profile.dist]\ninherits = \"release\"\n",
    )
    .unwrap();
    assert!(check_profile_defined(root.path(), Profile::Dist).is_ok());
}

#[test]
fn optimized_builds_go_through_cargo_auditable_when_installed_and_debug_ones_do_not() {
    let auditable = Environment {
        auditable: true,
        ..linux()
    };
    let args = |targets: &[BuildTarget], profile| {
        let plan = planned(targets, &auditable, profile);
        plan.targets[0].step.as_ref().unwrap().command.args.clone()
    };
    assert_eq!(
        args(&[host()], Profile::Release)[..2],
        ["auditable", "build"]
    );
    assert_eq!(args(&[host()], Profile::Dist)[..2], ["auditable", "build"]);
    assert_eq!(args(&[host()], Profile::Debug)[0], "build");
}

#[test]
fn host_plan_builds_the_package_without_a_target_flag() {
    let plan = planned(&[host()], &Environment::default(), Profile::Release);
    let step = plan.targets[0].step.as_ref().unwrap();
    assert_eq!(step.command.program, "cargo");
    assert_eq!(
        step.command.args,
        ["build", "--package", "plugin", "--release"]
    );
    assert!(step.command.env.is_empty());
    let exe = if cfg!(windows) { ".exe" } else { "" };
    assert_eq!(
        step.built_binary,
        Path::new("/repo/target/release").join(format!("plugin{exe}"))
    );
    assert_eq!(plan.targets[0].dist_name, "gpx_checks_linux_amd64");
    assert_eq!(plan.placeholders.version, "1.2.3");
    assert_eq!(plan.placeholders.today, "2026-11-24");
    assert_eq!(plan.placeholders.plugin_id, "acme-checks-app");
    assert_eq!(
        plan.kept_binaries,
        ["gpx_checks_linux_arm64", "gpx_checks_windows_amd64.exe"]
    );
}

#[test]
fn dry_run_shows_every_target_file_and_kept_binary() {
    let mut options = options(Profile::Debug);
    options.quiet = true;
    let targets = [targets::parse("linux/arm64", "linux").unwrap()];
    let plan = plan(&project(), &targets, &linux(), &options, &inputs()).unwrap();
    assert_eq!(
        describe(&plan, Path::new("/repo")),
        "build acme-checks-app 1.2.3 (debug)
  target linux/arm64 (aarch64-unknown-linux-musl)
    backend  cargo + rust-lld
    first    rustup target add aarch64-unknown-linux-musl
    run      CARGO_TARGET_AARCH64_UNKNOWN_LINUX_MUSL_LINKER=rust-lld cargo build --package plugin --target aarch64-unknown-linux-musl --quiet
    output   target/aarch64-unknown-linux-musl/debug/plugin -> dist/gpx_checks_linux_arm64 (0755)
  fill   plugin.json -> dist/plugin.json (0644)
  copy   static/img/logo.svg -> dist/img/logo.svg (0644)
  copy   static/module.js -> dist/module.js (0644)
  fill   README.md -> dist/README.md (0644)
  copy   LICENSE -> dist/LICENSE (0644)
  copy   CHANGELOG.md -> dist/CHANGELOG.md (0644)
  keep   dist/gpx_checks_linux_amd64 (0755)
  keep   dist/gpx_checks_windows_amd64.exe (0755)
"
    );
}

#[test]
fn all_plans_the_six_platforms_and_says_what_is_missing() {
    let plan = planned(&targets::all("linux"), &linux(), Profile::Release);
    let summary: Vec<(String, String, Result<&str, bool>)> = plan
        .targets
        .iter()
        .map(|t| {
            (
                t.target.platform_name(),
                t.dist_name.clone(),
                t.step
                    .as_ref()
                    .map(|s| s.choice.backend.name())
                    .map_err(|m| m.contains(&t.target.platform_name())),
            )
        })
        .collect();
    assert_eq!(
        summary,
        [
            (
                "linux/amd64".into(),
                "gpx_checks_linux_amd64".into(),
                Ok("cargo")
            ),
            (
                "linux/arm64".into(),
                "gpx_checks_linux_arm64".into(),
                Ok("cargo")
            ),
            (
                "linux/arm".into(),
                "gpx_checks_linux_arm".into(),
                Ok("cargo")
            ),
            (
                "darwin/amd64".into(),
                "gpx_checks_darwin_amd64".into(),
                Err(true)
            ),
            (
                "darwin/arm64".into(),
                "gpx_checks_darwin_arm64".into(),
                Err(true)
            ),
            (
                "windows/amd64".into(),
                "gpx_checks_windows_amd64.exe".into(),
                Err(true)
            ),
        ]
    );
    // Nothing planned now is "kept": every release binary is rebuilt.
    assert!(plan.kept_binaries.is_empty());
    let amd64 = plan.targets[0].step.as_ref().unwrap();
    assert_eq!(
        amd64.built_binary,
        Path::new("/repo/target/x86_64-unknown-linux-musl/release/plugin")
    );
    assert!(!amd64.choice.install_std);
    assert!(plan.targets[1].step.as_ref().unwrap().choice.install_std);

    let json = plan_json(&plan, Path::new("/repo"));
    assert_eq!(json["targets"].as_array().unwrap().len(), 6);
    assert_eq!(
        json["targets"][0]["env"]["CARGO_TARGET_X86_64_UNKNOWN_LINUX_MUSL_LINKER"],
        "rust-lld"
    );
    assert_eq!(
        json["targets"][0]["output"],
        "target/x86_64-unknown-linux-musl/release/plugin"
    );
    assert!(
        json["targets"][3]["missing"]
            .as_str()
            .unwrap()
            .contains("pip install cargo-zigbuild")
    );
}

#[test]
fn commands_per_backend() {
    let mac = Environment {
        host_os: "macos".into(),
        ..linux()
    };
    let darwin = targets::parse("darwin/arm64", "macos").unwrap();
    let plan_for = |target: &BuildTarget, env: &Environment, options: &Options| {
        plan(
            &project(),
            std::slice::from_ref(target),
            env,
            options,
            &inputs(),
        )
        .unwrap()
        .targets[0]
            .step
            .clone()
            .unwrap()
    };
    let step = plan_for(&darwin, &mac, &options(Profile::Release));
    assert_eq!(
        step.command.env,
        [("MACOSX_DEPLOYMENT_TARGET".to_owned(), "11.0".to_owned())]
    );

    let cross_env = Environment {
        cross: true,
        container_engine: true,
        ..linux()
    };
    let mut forced = options(Profile::Release);
    forced.forced = Some(Backend::Cross);
    let arm64 = targets::parse("linux/arm64", "linux").unwrap();
    let step = plan_for(&arm64, &cross_env, &forced);
    assert_eq!(step.command.program, "cross");
    assert_eq!(
        step.command.args,
        [
            "+1.95.0",
            "build",
            "--package",
            "plugin",
            "--target",
            "aarch64-unknown-linux-musl",
            "--release"
        ]
    );
    assert!(step.command.env.is_empty(), "cross links inside its image");

    let zig_env = Environment {
        zigbuild: true,
        ..linux()
    };
    let windows = targets::parse("windows/amd64", "linux").unwrap();
    let step = plan_for(&windows, &zig_env, &options(Profile::Release));
    assert_eq!(step.command.args[..2], ["zigbuild", "--package"]);
    assert_eq!(
        step.built_binary,
        Path::new("/repo/target/x86_64-pc-windows-gnu/release/plugin.exe")
    );

    let mut check = options(Profile::Debug);
    check.check_only = true;
    let step = plan_for(&darwin, &linux(), &check);
    assert_eq!(step.command.args[..1], ["check"]);

    let no_rustup = Environment {
        rustup: false,
        nightly_rust_src: true,
        zigbuild: true,
        ..linux()
    };
    let arm = targets::parse("linux/arm", "linux").unwrap();
    let step = plan_for(&arm, &no_rustup, &options(Profile::Release));
    assert_eq!(step.command.program, "rustup");
    assert_eq!(
        step.command.args[..5],
        ["run", "nightly", "cargo", "zigbuild", "-Zbuild-std"]
    );
    assert_eq!(
        step.command.env,
        [(
            "CARGO_TARGET_ARMV7_UNKNOWN_LINUX_MUSLEABIHF_RUSTFLAGS".to_owned(),
            "-C link-self-contained=no".to_owned()
        )]
    );
}

#[test]
fn clean_keeps_nothing_and_a_target_given_twice_is_refused() {
    let mut clean = options(Profile::Release);
    clean.clean = true;
    let plan = plan(&project(), &[host()], &linux(), &clean, &inputs()).unwrap();
    assert!(plan.kept_binaries.is_empty());
    let twice = [
        targets::parse("linux/amd64", "linux").unwrap(),
        targets::parse("x86_64-unknown-linux-musl", "linux").unwrap(),
    ];
    let error = plan::plan(
        &project(),
        &twice,
        &linux(),
        &options(Profile::Release),
        &inputs(),
    )
    .unwrap_err();
    assert_eq!(error.to_string(), "--target: linux/amd64 is given twice");
}

#[test]
fn static_readme_wins_over_the_repository_readme() {
    let mut inputs = inputs();
    inputs.static_files.push("README.md".into());
    let plan = plan(
        &project(),
        &[host()],
        &linux(),
        &options(Profile::Release),
        &inputs,
    )
    .unwrap();
    let readmes: Vec<&StagedFile> = plan
        .files
        .iter()
        .filter(|f| f.dest == "README.md")
        .collect();
    assert_eq!(readmes.len(), 1);
    assert_eq!(readmes[0].source, Path::new("/repo/static/README.md"));
    assert!(readmes[0].fill);
}

#[test]
fn missing_module_js_or_a_second_plugin_json_is_refused() {
    let mut no_module = inputs();
    no_module.static_files.retain(|f| f != "module.js");
    let message = plan(
        &project(),
        &[host()],
        &linux(),
        &options(Profile::Release),
        &no_module,
    )
    .unwrap_err()
    .to_string();
    assert!(
        message.contains("module.js: missing; Grafana loads"),
        "{message}"
    );

    let mut second = inputs();
    second.static_files.push("plugin.json".into());
    let message = plan(
        &project(),
        &[host()],
        &linux(),
        &options(Profile::Release),
        &second,
    )
    .unwrap_err()
    .to_string();
    assert!(
        message.contains("belongs at the repository root only"),
        "{message}"
    );
}

#[test]
fn rustups_error_is_its_error_and_causes_on_one_line() {
    let stderr = "info: downloading component 'rust-std' for 'armv7-unknown-linux-musleabihf'\nerror: component download failed for rust-std-armv7-unknown-linux-musleabihf\n\nCaused by:\n  0: could not download file\n  1: http request returned an unsuccessful status code: 404\n";
    assert_eq!(
        rustup_error(stderr),
        "component download failed for rust-std-armv7-unknown-linux-musleabihf: could not download file: http request returned an unsuccessful status code: 404"
    );
    // A backtrace (RUST_BACKTRACE set anyway) is left out, not taken for the cause.
    let with_backtrace = format!("{stderr}\nstack backtrace:\n   0: <unknown>\n");
    assert_eq!(rustup_error(&with_backtrace), rustup_error(stderr));
    assert_eq!(rustup_error(""), "no output");
    assert_eq!(
        rustup_error("error: toolchain 'x' is not installed"),
        "toolchain 'x' is not installed"
    );
    // A std rustup does not publish is remembered; a network failure is not.
    assert!(is_unpublished(&rustup_error(stderr)));
    assert!(!is_unpublished(
        "could not download file: error sending request: connection refused"
    ));
}

#[test]
fn without_targets_dist_is_assembled_around_the_binaries_there() {
    let plan = planned(&[], &linux(), Profile::Release);
    assert!(plan.targets.is_empty());
    let dist = dist_plan(&plan, &[], &inputs().dist_entries);
    let binaries: Vec<&str> = dist
        .files
        .iter()
        .filter(|f| f.executable)
        .map(|f| f.dest.as_str())
        .collect();
    assert_eq!(
        binaries,
        [
            "gpx_checks_linux_amd64",
            "gpx_checks_linux_arm64",
            "gpx_checks_windows_amd64.exe"
        ]
    );
    assert!(dist.files.iter().any(|f| f.dest == "plugin.json" && f.fill));
}

#[test]
fn dist_keeps_other_platforms_and_the_old_binary_of_a_failed_target() {
    let targets = [
        targets::parse("linux/amd64", "linux").unwrap(),
        targets::parse("linux/arm64", "linux").unwrap(),
    ];
    let plan = planned(&targets, &linux(), Profile::Release);
    // linux/amd64 built, linux/arm64 failed.
    let built = [&plan.targets[0]];
    let dist = dist_plan(&plan, &built, &inputs().dist_entries);
    let binaries: Vec<(&str, &Path)> = dist
        .files
        .iter()
        .filter(|f| f.executable)
        .map(|f| (f.dest.as_str(), f.source.as_path()))
        .collect();
    assert_eq!(
        binaries,
        [
            (
                "gpx_checks_linux_amd64",
                Path::new("/repo/target/x86_64-unknown-linux-musl/release/plugin")
            ),
            (
                "gpx_checks_windows_amd64.exe",
                Path::new("/repo/dist/gpx_checks_windows_amd64.exe")
            ),
            (
                "gpx_checks_linux_arm64",
                Path::new("/repo/dist/gpx_checks_linux_arm64")
            ),
        ]
    );
    assert_eq!(
        dist.staging_dir,
        Path::new("/repo/target/xtask/dist.staging")
    );
}

#[test]
fn a_create_plugin_app_stages_what_its_frontend_build_wrote() {
    let mut inputs = inputs();
    inputs.frontend_files = Some(vec![
        "202.js".into(),
        "img/logo.svg".into(),
        "module.js".into(),
        "module.js.map".into(),
        "plugin.json".into(),
    ]);
    let planned = plan::plan(
        &project(),
        &[host()],
        &linux(),
        &options(Profile::Release),
        &inputs,
    )
    .unwrap();
    let files: Vec<(&str, &Path, bool)> = planned
        .files
        .iter()
        .map(|f| (f.dest.as_str(), f.source.as_path(), f.fill))
        .collect();
    assert_eq!(
        files,
        [
            ("202.js", Path::new("/repo/dist/202.js"), false),
            ("img/logo.svg", Path::new("/repo/dist/img/logo.svg"), false),
            ("module.js", Path::new("/repo/dist/module.js"), false),
            (
                "module.js.map",
                Path::new("/repo/dist/module.js.map"),
                false
            ),
            ("plugin.json", Path::new("/repo/dist/plugin.json"), false),
        ]
    );
    inputs.frontend_files = Some(vec!["plugin.json".into()]);
    let error = plan::plan(
        &project(),
        &[host()],
        &linux(),
        &options(Profile::Release),
        &inputs,
    )
    .unwrap_err()
    .to_string();
    assert!(
        error.contains("module.js: missing after the frontend build"),
        "{error}"
    );
}

#[test]
fn plain_cargo_targets_are_built_together_in_one_cargo_with_each_ones_linker() {
    let env = Environment {
        installed_std: vec![
            "x86_64-unknown-linux-musl".into(),
            "aarch64-unknown-linux-musl".into(),
            "x86_64-pc-windows-gnu".into(),
        ],
        mingw_linker: true,
        zigbuild: true,
        nightly_rust_src: true,
        ..linux()
    };
    let plan = planned(&targets::all("linux"), &env, Profile::Dist);
    let groups = super::group::together_groups(&plan.targets, false);
    assert_eq!(groups.len(), 1, "darwin cannot link here: one group");
    let together: Vec<&TargetPlan> = groups[0].iter().map(|&i| &plan.targets[i]).collect();
    let names: Vec<String> = together.iter().map(|t| t.target.platform_name()).collect();
    // linux/arm is planned as plain cargo once `rustup target add` gives its std (when that
    // fails it falls back to zigbuild and -Zbuild-std, built on its own); darwin cannot
    // link here.
    assert_eq!(
        names,
        ["linux/amd64", "linux/arm64", "linux/arm", "windows/amd64"]
    );
    let command = super::group::together(&together);
    assert_eq!(command.program, "cargo");
    assert_eq!(
        command.args,
        [
            "build",
            "--keep-going",
            "--package",
            "plugin",
            "--target",
            "x86_64-unknown-linux-musl",
            "--target",
            "aarch64-unknown-linux-musl",
            "--target",
            "armv7-unknown-linux-musleabihf",
            "--target",
            "x86_64-pc-windows-gnu",
            "--profile",
            "dist",
            "--message-format=json-render-diagnostics"
        ]
    );
    assert_eq!(
        command.env,
        [
            (
                "CARGO_TARGET_X86_64_UNKNOWN_LINUX_MUSL_LINKER".to_owned(),
                "rust-lld".to_owned()
            ),
            (
                "CARGO_TARGET_AARCH64_UNKNOWN_LINUX_MUSL_LINKER".to_owned(),
                "rust-lld".to_owned()
            ),
            (
                "CARGO_TARGET_ARMV7_UNKNOWN_LINUX_MUSLEABIHF_LINKER".to_owned(),
                "rust-lld".to_owned()
            ),
        ]
    );
    // The host build without --target has its own directory layout: never grouped.
    let host_plan = planned(&[host()], &Environment::default(), Profile::Release);
    assert!(super::group::together_groups(&host_plan.targets, false).is_empty());
}

#[test]
fn both_darwin_targets_build_in_one_zigbuild_beside_the_cargo_group() {
    let env = Environment {
        installed_std: vec![
            "x86_64-unknown-linux-musl".into(),
            "aarch64-unknown-linux-musl".into(),
            "x86_64-apple-darwin".into(),
            "aarch64-apple-darwin".into(),
        ],
        zigbuild: true,
        stub_sdk: Some(std::path::PathBuf::from("/repo/target/xtask/macos-sdk")),
        ..linux()
    };
    let requested = ["darwin/arm64", "linux/amd64", "darwin/amd64", "linux/arm64"]
        .map(|name| targets::parse(name, "linux").unwrap());
    let plan = planned(&requested, &env, Profile::Release);
    let groups = super::group::together_groups(&plan.targets, false);
    assert_eq!(groups, [vec![0, 2], vec![1, 3]]);
    let darwin: Vec<&TargetPlan> = groups[0].iter().map(|&i| &plan.targets[i]).collect();
    let command = super::group::together(&darwin);
    assert_eq!(
        command.display(),
        "MACOSX_DEPLOYMENT_TARGET=11.0 SDKROOT=/repo/target/xtask/macos-sdk cargo zigbuild \
         --keep-going --package plugin --target aarch64-apple-darwin --target x86_64-apple-darwin \
         --release --message-format=json-render-diagnostics"
    );
    // Checks run one at a time; a target alone in its kind builds alone.
    assert!(super::group::together_groups(&plan.targets, true).is_empty());
    assert!(super::group::together_groups(&plan.targets[..2], false).is_empty());
}

#[test]
fn the_dry_run_shows_the_one_cargo_that_builds_several_targets() {
    let env = Environment {
        installed_std: vec![
            "x86_64-unknown-linux-musl".into(),
            "aarch64-unknown-linux-musl".into(),
        ],
        ..linux()
    };
    let requested = [
        targets::parse("linux/amd64", "linux").unwrap(),
        targets::parse("linux/arm64", "linux").unwrap(),
    ];
    let plan = planned(&requested, &env, Profile::Release);
    let text = describe(&plan, Path::new("/repo"));
    assert_eq!(
        text.matches("    run      with the others, in one cargo (below)")
            .count(),
        2,
        "{text}"
    );
    assert!(
        text.contains("  together linux/amd64, linux/arm64\n    run      CARGO_TARGET_X86_64_UNKNOWN_LINUX_MUSL_LINKER=rust-lld CARGO_TARGET_AARCH64_UNKNOWN_LINUX_MUSL_LINKER=rust-lld cargo build --keep-going --package plugin --target x86_64-unknown-linux-musl --target aarch64-unknown-linux-musl --release --message-format=json-render-diagnostics\n"),
        "{text}"
    );
    let json = plan_json(&plan, Path::new("/repo"));
    assert_eq!(json["together"][0]["platforms"][1], "linux/arm64");
    // One target alone, or checks: no group.
    let one = planned(&requested[..1], &env, Profile::Release);
    assert_eq!(
        plan_json(&one, Path::new("/repo"))["together"],
        serde_json::json!([])
    );
}

#[test]
fn a_hooks_changes_reach_the_build_command() {
    let plan = planned(&[host()], &Environment::default(), Profile::Release);
    let mut command = plan.targets[0].step.as_ref().unwrap().command.clone();
    let mut changes = crate::context::BuildChanges::default();
    changes
        .env("GENERATED_DIR", "/tmp/gen")
        .feature("otel")
        .feature("nightly")
        .rustflag("-Cforce-frame-pointers=yes")
        .rustflag("--cfg")
        .rustflag("from_hook")
        .cargo_arg("--locked");
    super::apply_changes(&changes, &mut command);
    assert_eq!(
        command.args,
        [
            "build",
            "--package",
            "plugin",
            "--release",
            "--features",
            "otel,nightly",
            "--config",
            r#"target.'cfg(all())'.rustflags = ["-Cforce-frame-pointers=yes", "--cfg", "from_hook"]"#,
            "--locked",
        ]
    );
    assert_eq!(
        command.env,
        [("GENERATED_DIR".to_owned(), "/tmp/gen".to_owned())]
    );
}
