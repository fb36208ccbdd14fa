//! `cargo xtask package` and `validate` end to end in a scratch copy of the repository: a
//! real static release build for linux/amd64 where this machine can make one, binaries with
//! the right headers for the other platforms, packaged, extracted and launched; refusal of
//! an incomplete dist/ and of binaries Grafana cannot run; signing through a fake `npx`.
use std::{fs, path::Path, process::Output};

use crate::scratch::{EXECUTABLE, PLUGIN_ID, Scratch, text};

const PLATFORMS: [&str; 6] = [
    "linux_amd64",
    "linux_arm64",
    "linux_arm",
    "darwin_amd64",
    "darwin_arm64",
    "windows_amd64.exe",
];

fn archive_name() -> String {
    format!("{PLUGIN_ID}-{}.zip", env!("CARGO_PKG_VERSION"))
}

/// Headers of a release binary for a `linux_amd64`-style platform, without its code.
fn release_headers(platform: &str) -> Vec<u8> {
    let (os, arch) = platform.trim_end_matches(".exe").split_once('_').unwrap();
    harness::binaries::release_for(os, arch)
}

/// Whether this machine builds a static linux/amd64 binary it can also run.
fn builds_and_runs_linux_amd64() -> Result<(), &'static str> {
    if !cfg!(all(target_os = "linux", target_arch = "x86_64")) {
        return Err("runs only on an x86_64 Linux host");
    }
    let sysroot = std::process::Command::new("rustc")
        .args(["--print", "sysroot"])
        .output()
        .map_err(|_| "rustc --print sysroot failed")?;
    let std = Path::new(String::from_utf8_lossy(&sysroot.stdout).trim())
        .join("lib/rustlib/x86_64-unknown-linux-musl/lib");
    if !std.is_dir() {
        return Err(
            "no std for x86_64-unknown-linux-musl; run `rustup target add x86_64-unknown-linux-musl`",
        );
    }
    Ok(())
}

/// A scratch repository whose dist/ has, for linux/amd64, the real static release build when
/// `real` (else release headers only), and release headers for the other platforms.
fn scratch_with_six_binaries(real: bool) -> Scratch {
    let scratch = Scratch::new();
    let output = if real {
        scratch.xtask(&["build", "--target", "linux/amd64"])
    } else {
        scratch.xtask(&["build", "--no-backend"])
    };
    assert!(output.status.success(), "{}", text(&output.stderr));
    for platform in PLATFORMS {
        let binary = scratch
            .root()
            .join("dist")
            .join(format!("{EXECUTABLE}_{platform}"));
        if !binary.exists() {
            fs::write(&binary, release_headers(platform)).unwrap();
        }
    }
    scratch
}

fn assert_fails_with(output: &Output, expected: &str) {
    assert!(!output.status.success());
    let stderr = text(&output.stderr);
    assert!(
        stderr
            .lines()
            .any(|l| l.starts_with("error:") && l.contains(expected)),
        "{expected:?} in:\n{stderr}"
    );
}

#[tokio::test]
async fn package_writes_a_valid_reproducible_archive_whose_binary_serves() {
    const TEST: &str = "package_writes_a_valid_reproducible_archive_whose_binary_serves";
    let runs = builds_and_runs_linux_amd64();
    if let Err(reason) = runs {
        harness::skip(
            TEST,
            &format!("the packaged binary is not launched: {reason}"),
        );
    }
    let scratch = scratch_with_six_binaries(runs.is_ok());
    let output = scratch.xtask(&["package", "--no-build", "--per-platform"]);
    assert!(output.status.success(), "{}", text(&output.stderr));
    let stderr = text(&output.stderr);
    assert!(
        stderr.contains("warning: the archive is unsigned"),
        "{stderr}"
    );
    assert!(
        stderr.contains(
            "note: Grafana's plugin catalog currently rejects backends not written in Go"
        ),
        "{stderr}"
    );
    assert!(stderr.contains("   Validated "), "{stderr}");

    let out = scratch.root().join("target/package");
    let archive = out.join(archive_name());
    let first = fs::read(&archive).unwrap();
    let mut written: Vec<String> = fs::read_dir(&out)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    written.sort();
    let version = env!("CARGO_PKG_VERSION");
    let mut expected: Vec<String> = vec![
        archive_name(),
        format!("{}.sha1", archive_name()),
        format!("{}.sha256", archive_name()),
    ];
    for platform in PLATFORMS {
        let name = format!(
            "{PLUGIN_ID}-{version}.{}.zip",
            platform.trim_end_matches(".exe")
        );
        expected.extend([format!("{name}.sha1"), format!("{name}.sha256"), name]);
    }
    expected.sort();
    assert_eq!(written, expected);

    // Layout: one root named after the id, directories included, sorted; 0755 binaries.
    let mut zip = zip::ZipArchive::new(fs::File::open(&archive).unwrap()).unwrap();
    let names: Vec<String> = (0..zip.len())
        .map(|i| zip.by_index(i).unwrap().name().unwrap().into_owned())
        .collect();
    let mut sorted = names.clone();
    sorted.sort();
    assert_eq!(names, sorted);
    assert!(
        names
            .iter()
            .all(|n| n.starts_with(&format!("{PLUGIN_ID}/"))),
        "{names:?}"
    );
    assert!(names.contains(&format!("{PLUGIN_ID}/img/")));
    for platform in PLATFORMS {
        let name = format!("{PLUGIN_ID}/{EXECUTABLE}_{platform}");
        let mode = zip.by_name(&name).unwrap().unix_mode().unwrap() & 0o777;
        assert_eq!(mode, 0o755, "{name}");
    }
    assert_eq!(
        zip.by_name(&format!("{PLUGIN_ID}/module.js"))
            .unwrap()
            .unix_mode()
            .unwrap()
            & 0o777,
        0o644
    );

    // Per-platform archives hold exactly their own binary.
    let arm64 = out.join(format!("{PLUGIN_ID}-{version}.linux_arm64.zip"));
    let mut zip = zip::ZipArchive::new(fs::File::open(&arm64).unwrap()).unwrap();
    let binaries: Vec<String> = (0..zip.len())
        .map(|i| zip.by_index(i).unwrap().name().unwrap().into_owned())
        .filter(|n| n.contains(EXECUTABLE))
        .collect();
    assert_eq!(binaries, [format!("{PLUGIN_ID}/{EXECUTABLE}_linux_arm64")]);

    // Extracted, the linux/amd64 binary is the one in dist/, and it starts and answers as
    // Grafana expects.
    let extracted = tempfile::tempdir().unwrap();
    zip::ZipArchive::new(fs::File::open(&archive).unwrap())
        .unwrap()
        .extract(extracted.path())
        .unwrap();
    let name = format!("{EXECUTABLE}_linux_amd64");
    let binary = extracted.path().join(PLUGIN_ID).join(&name);
    assert_eq!(
        fs::read(&binary).unwrap(),
        fs::read(scratch.root().join("dist").join(&name)).unwrap()
    );
    if runs.is_ok() {
        harness::assert_serves(None, &binary, PLUGIN_ID)
            .await
            .unwrap();
    }

    // The same inputs and time give the same bytes; validate agrees on its own.
    let again = scratch.xtask(&["package", "--no-build", "--quiet"]);
    assert!(again.status.success(), "{}", text(&again.stderr));
    assert_eq!(
        fs::read(&archive).unwrap(),
        first,
        "packaging is not reproducible"
    );
    let validated = scratch.xtask(&["validate"]);
    assert!(validated.status.success(), "{}", text(&validated.stderr));
    let version_output = scratch.xtask(&["version", "--check-tag", &format!("v{version}")]);
    assert!(version_output.status.success());
    assert_eq!(text(&version_output.stdout), format!("{version}\n"));
    assert_fails_with(
        &scratch.xtask(&["version", "--check-tag", "v9.9.9"]),
        "does not match the version",
    );
}

#[test]
fn an_incomplete_dist_is_refused_and_nothing_is_written() {
    let scratch = scratch_with_six_binaries(false);
    fs::remove_file(
        scratch
            .root()
            .join(format!("dist/{EXECUTABLE}_darwin_arm64")),
    )
    .unwrap();
    let output = scratch.xtask(&["package", "--no-build"]);
    assert_fails_with(
        &output,
        &format!("incomplete, lacks {EXECUTABLE}_darwin_arm64 (darwin/arm64)"),
    );
    assert!(!scratch.root().join("target/package").exists());
    // Narrowing the platforms explicitly is fine.
    let output = scratch.xtask(&[
        "package",
        "--no-build",
        "--target",
        "linux/amd64",
        "--target",
        "windows/amd64",
    ]);
    assert!(output.status.success(), "{}", text(&output.stderr));
    let output = scratch.xtask(&["validate", "no-such.zip"]);
    assert_fails_with(&output, "no-such.zip");
}

#[test]
fn binaries_grafana_cannot_run_are_never_packaged() {
    use harness::binaries::{
        Cpu::{Aarch64 as AARCH64, X86_64},
        elf,
    };
    let scratch = scratch_with_six_binaries(false);
    let dist = scratch.root().join("dist");
    let cases = [
        // What `cargo xtask dev` or a plain host build leaves on Linux: glibc, debug.
        (
            "linux_amd64",
            elf(X86_64, Some("/lib64/ld-linux-x86-64.so.2"), true),
            "needs the dynamic loader /lib64/ld-linux-x86-64.so.2 (a glibc build)",
        ),
        (
            "linux_amd64",
            elf(X86_64, None, true),
            "carries debug information (a debug build",
        ),
        (
            "linux_arm64",
            elf(X86_64, None, false),
            "is for x86_64, but linux/arm64 is aarch64; build it with `cargo xtask build --target linux/arm64`",
        ),
        (
            "darwin_arm64",
            elf(AARCH64, None, false),
            "is an ELF (Linux) executable, but Grafana on darwin/arm64 starts a Mach-O (macOS) executable",
        ),
    ];
    for (platform, data, expected) in cases {
        let path = dist.join(format!("{EXECUTABLE}_{platform}"));
        let good = fs::read(&path).unwrap();
        fs::write(&path, data).unwrap();
        let output = scratch.xtask(&["package", "--no-build"]);
        assert_fails_with(&output, &format!("dist/{EXECUTABLE}_{platform} {expected}"));
        assert_fails_with(&output, "nothing was packaged");
        assert!(!scratch.root().join("target/package").exists());
        assert!(!scratch.root().join("target/xtask/package").exists());
        fs::write(&path, good).unwrap();
    }
}

#[test]
fn a_package_that_cannot_build_every_platform_stops_before_building() {
    const TEST: &str = "a_package_that_cannot_build_every_platform_stops_before_building";
    let scratch = scratch_with_six_binaries(false);
    let dist = scratch.root().join("dist");
    let before: Vec<(String, Vec<u8>)> = PLATFORMS
        .iter()
        .map(|p| {
            let name = format!("{EXECUTABLE}_{p}");
            let data = fs::read(dist.join(&name)).unwrap();
            (name, data)
        })
        .collect();
    // Without zig (darwin cannot link then) unless this is a Mac.
    let path = crate::scratch::path_without("cargo-zigbuild")
        .unwrap_or_else(|| std::env::var("PATH").unwrap_or_default());
    let output = scratch.xtask_env(&["package"], &[("PATH", &path)]);
    if output.status.success() {
        return harness::skip(TEST, "this machine builds all six platforms");
    }
    let stderr = text(&output.stderr);
    assert_fails_with(
        &output,
        "targets cannot be built here (above); nothing was built",
    );
    assert!(!stderr.contains("    Building "), "{stderr}");
    // --sign without a token: said together with the platforms, not one after the other.
    let output = scratch.xtask_env(
        &["package", "--sign"],
        &[("GRAFANA_ACCESS_POLICY_TOKEN", ""), ("PATH", &path)],
    );
    let stderr = text(&output.stderr);
    assert_fails_with(
        &output,
        "targets cannot be built here and 1 other problem(s) (above); nothing was built",
    );
    assert!(
        stderr.contains("error: --sign needs a Grafana access policy token"),
        "{stderr}"
    );
    for (name, data) in before {
        assert_eq!(
            fs::read(dist.join(&name)).unwrap(),
            data,
            "{name} was replaced"
        );
    }
    assert!(!scratch.root().join("target/package").exists());
}

#[cfg(unix)]
#[test]
fn signing_runs_grafanas_tool_with_the_token_in_the_environment_only() {
    use std::os::unix::fs::PermissionsExt;
    let scratch = scratch_with_six_binaries(false);
    assert_fails_with(
        &scratch.xtask(&["package", "--no-build", "--sign"]),
        "--sign needs a Grafana access policy token",
    );

    // Stand-ins for npm and node. npm (`npm ci`) must run without the token and with
    // lifecycle scripts off, in a directory holding the pinned lockfile; node (the signing
    // tool) must have the token, records its arguments and writes a MANIFEST.txt shaped like
    // @grafana/sign-plugin's (digests of every file).
    let bin = tempfile::tempdir().unwrap();
    let log = bin.path().join("npx.log");
    let npm = bin.path().join("npm");
    fs::write(
        &npm,
        r#"#!/bin/sh
[ -z "$GRAFANA_ACCESS_POLICY_TOKEN" ] || { echo "npm got the token" >&2; exit 3; }
[ "$*" = "ci --ignore-scripts --no-audit --no-fund" ] || { echo "npm $*" >&2; exit 4; }
grep -q '"@grafana/sign-plugin": "3.3.3"' package.json || exit 5
grep -q '"integrity"' package-lock.json || exit 6
echo "npm $*" >> "$NPX_LOG"
mkdir -p node_modules/@grafana/sign-plugin/dist/bin && touch node_modules/@grafana/sign-plugin/dist/bin/run.js
"#,
    )
    .unwrap();
    let node = bin.path().join("node");
    fs::write(
        &node,
        r#"#!/bin/sh
[ "$GRAFANA_ACCESS_POLICY_TOKEN" = "token-canary" ] || { echo "no token" >&2; exit 3; }
echo "node $*" >> "$NPX_LOG"
while [ $# -gt 0 ]; do [ "$1" = "--distDir" ] && dir="$2"; shift; done
cd "$dir" || exit 4
files=$(find . -type f | sed 's|^\./||' | sort | while read -r f; do printf '"%s":"%s",' "$f" "$(sha256sum "$f" | cut -d' ' -f1)"; done)
printf -- '-----BEGIN PGP SIGNED MESSAGE-----\nHash: SHA512\n\n{"plugin":"acme-servicechecks-app","version":"%s","files":{%s}}\n-----BEGIN PGP SIGNATURE-----\nfake\n-----END PGP SIGNATURE-----\n' "$VERSION" "${files%,}" > MANIFEST.txt
"#,
    )
    .unwrap();
    for tool in [&npm, &node] {
        fs::set_permissions(tool, fs::Permissions::from_mode(0o755)).unwrap();
    }
    let path = format!(
        "{}:{}",
        bin.path().display(),
        std::env::var("PATH").unwrap()
    );
    let output = scratch.xtask_env(
        &[
            "package",
            "--no-build",
            "--root-urls",
            "https://grafana.example.com/",
        ],
        &[
            ("PATH", &path),
            ("GRAFANA_ACCESS_POLICY_TOKEN", "token-canary"),
            ("NPX_LOG", log.to_str().unwrap()),
            ("VERSION", env!("CARGO_PKG_VERSION")),
        ],
    );
    assert!(output.status.success(), "{}", text(&output.stderr));
    let arguments = fs::read_to_string(&log).unwrap();
    let calls: Vec<&str> = arguments.lines().collect();
    assert_eq!(calls.len(), 2, "{arguments}");
    assert_eq!(calls[0], "npm ci --ignore-scripts --no-audit --no-fund");
    assert!(
        calls[1].starts_with("node ")
            && calls[1].contains(
                "/sign-plugin/node_modules/@grafana/sign-plugin/dist/bin/run.js --distDir "
            )
            && calls[1].ends_with("--rootUrls https://grafana.example.com/"),
        "{arguments}"
    );
    assert!(
        !arguments.contains("token-canary"),
        "the token is on the command line"
    );
    assert!(!text(&output.stderr).contains("token-canary"));
    assert!(
        !text(&output.stderr).contains("the archive is unsigned"),
        "{}",
        text(&output.stderr)
    );
    let archive = scratch.root().join("target/package").join(archive_name());
    let mut zip = zip::ZipArchive::new(fs::File::open(&archive).unwrap()).unwrap();
    assert!(zip.by_name(&format!("{PLUGIN_ID}/MANIFEST.txt")).is_ok());
    assert!(Path::new(&archive).is_file());

    // Per platform: each archive is signed for exactly its files (Grafana opens every file a
    // manifest lists and calls the plugin modified when one is missing), and package's own
    // validation checks the manifest both ways.
    let output = scratch.xtask_env(
        &["package", "--no-build", "--per-platform"],
        &[
            ("PATH", &path),
            ("GRAFANA_ACCESS_POLICY_TOKEN", "token-canary"),
            ("NPX_LOG", log.to_str().unwrap()),
            ("VERSION", env!("CARGO_PKG_VERSION")),
        ],
    );
    assert!(output.status.success(), "{}", text(&output.stderr));
    let signed = fs::read_to_string(&log).unwrap();
    assert_eq!(
        signed.lines().filter(|l| l.starts_with("npm ci")).count(),
        2,
        "the tool is installed once per package run: {signed}"
    );
    let linux = scratch.root().join("target/package").join(format!(
        "{PLUGIN_ID}-{}.linux_amd64.zip",
        env!("CARGO_PKG_VERSION")
    ));
    let mut zip = zip::ZipArchive::new(fs::File::open(&linux).unwrap()).unwrap();
    let mut manifest = String::new();
    std::io::Read::read_to_string(
        &mut zip.by_name(&format!("{PLUGIN_ID}/MANIFEST.txt")).unwrap(),
        &mut manifest,
    )
    .unwrap();
    assert_eq!(
        manifest.matches("gpx_service_checks_").count(),
        1,
        "one binary listed: {manifest}"
    );
    assert!(
        manifest.contains("\"gpx_service_checks_linux_amd64\""),
        "{manifest}"
    );
}

/// The release workflow's steps that can run here: binaries gathered from the per-platform
/// jobs into a bare dist/ (artifacts lose the executable bit), `build --no-backend`,
/// `package --no-build`, `validate`, and the tag check.
#[test]
fn the_release_steps_package_gathered_binaries() {
    let scratch = Scratch::new();
    let dist = scratch.root().join("dist");
    fs::create_dir_all(&dist).unwrap();
    for platform in PLATFORMS {
        fs::write(
            dist.join(format!("{EXECUTABLE}_{platform}")),
            release_headers(platform),
        )
        .unwrap();
    }
    let version = env!("CARGO_PKG_VERSION");
    assert_fails_with(
        &scratch.xtask(&["version", "--check-tag", "v0.0.0-wrong"]),
        "does not match the version",
    );
    assert!(
        scratch
            .xtask(&["version", "--check-tag", &format!("refs/tags/v{version}")])
            .status
            .success()
    );

    let output = scratch.xtask(&["build", "--no-backend"]);
    assert!(output.status.success(), "{}", text(&output.stderr));
    assert!(
        text(&output.stderr)
            .contains("Assembling dist/: 6 files, keeping the binaries already there for darwin/amd64, darwin/arm64, linux/amd64, linux/arm, linux/arm64, windows/amd64")
            && text(&output.stderr).contains("dist/ around the 6 binaries already there"),
        "{}",
        text(&output.stderr)
    );
    for file in [
        "plugin.json",
        "module.js",
        "README.md",
        "LICENSE",
        "CHANGELOG.md",
        "img/logo.svg",
    ] {
        assert!(dist.join(file).is_file(), "{file}");
    }
    let output = scratch.xtask(&["package", "--no-build"]);
    assert!(output.status.success(), "{}", text(&output.stderr));
    let validated = scratch.xtask(&["validate"]);
    assert!(validated.status.success(), "{}", text(&validated.stderr));
    let notes = scratch.xtask(&["release-notes"]);
    assert!(notes.status.success());
    assert!(
        text(&notes.stdout).starts_with("- "),
        "{}",
        text(&notes.stdout)
    );
}

#[test]
fn leftovers_are_never_shipped_and_a_failing_archive_never_takes_its_name() {
    let scratch = scratch_with_six_binaries(false);
    let dist = scratch.root().join("dist");
    // What an interrupted dev or build leaves, and the system's own.
    fs::write(dist.join(".DS_Store"), "finder").unwrap();
    fs::write(dist.join(format!(".{EXECUTABLE}_linux_amd64.old")), "old").unwrap();
    fs::write(dist.join("img/.logo.svg.4242.partial"), "half").unwrap();
    let output = scratch.xtask(&["package", "--no-build"]);
    let stderr = text(&output.stderr);
    assert!(output.status.success(), "{stderr}");
    assert!(
        stderr.contains(&format!(
            "left out of the archive: dist/.DS_Store, dist/.{EXECUTABLE}_linux_amd64.old, \
             dist/img/.logo.svg.4242.partial"
        )),
        "{stderr}"
    );
    let archive = scratch.root().join("target/package").join(archive_name());
    let zip = zip::ZipArchive::new(fs::File::open(&archive).unwrap()).unwrap();
    let hidden: Vec<String> = zip
        .file_names()
        .map(|name| name.unwrap().into_owned())
        .filter(|name| name.split('/').any(|part| part.starts_with('.')))
        .collect();
    assert!(hidden.is_empty(), "{hidden:?}");

    // An archive that fails validation never sits under the final name: the last good one
    // and its checksums stay.
    let good = fs::read(&archive).unwrap();
    let checksum = archive.with_file_name(format!("{}.sha256", archive_name()));
    let good_checksum = fs::read(&checksum).unwrap();
    fs::write(dist.join("README.md"), "").unwrap();
    assert_fails_with(
        &scratch.xtask(&["package", "--no-build"]),
        "README.md is empty",
    );
    assert_eq!(fs::read(&archive).unwrap(), good);
    assert_eq!(fs::read(&checksum).unwrap(), good_checksum);
    let temporaries: Vec<_> = fs::read_dir(archive.parent().unwrap())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|name| name.ends_with(".partial"))
        .collect();
    assert!(temporaries.is_empty(), "{temporaries:?}");
}

#[test]
fn the_lockfile_is_audited_against_rustsec_and_an_unaccepted_vulnerability_fails() {
    let scratch = Scratch::new();
    let database = Path::new(env!("CARGO_MANIFEST_DIR")).join("../fixtures/advisory-db");
    // Without a database (and no copy of cargo-audit's or cargo-deny's in CARGO_HOME): said,
    // never a pass.
    let no_home = tempfile::tempdir().unwrap();
    let output = scratch.xtask_env(
        &["audit"],
        &[
            ("GRAFANA_PLUGIN_ADVISORY_DB", ""),
            ("CARGO_HOME", no_home.path().to_str().unwrap()),
        ],
    );
    assert!(output.status.success(), "{}", text(&output.stderr));
    assert!(
        text(&output.stderr).contains("warning: advisories not checked: no advisory database"),
        "{}",
        text(&output.stderr)
    );
    assert!(!text(&output.stderr).contains("Audited"));

    // arrow2's advisory applies to the SDK's arrow2 0.18, through the runtime; deny.toml
    // accepts it with its reason.
    let output = scratch.xtask(&["audit", "--advisory-db", database.to_str().unwrap()]);
    let stderr = text(&output.stderr);
    assert!(output.status.success(), "{stderr}");
    assert!(
        stderr.contains(
            "Accepted RUSTSEC-2025-0038 arrow2 0.18.0: Out of bounds access in public safe API \
             (vulnerability; in the plugin's binary: plugin 0.1.0 → grafana-plugin-runtime 0.1.0 \
             → grafana-plugin-sdk 0.5.0 → arrow2 0.18.0); deny.toml:"
        ),
        "{stderr}"
    );
    assert!(
        !stderr.contains("RUSTSEC-2022-0012"),
        "patched in 0.10: {stderr}"
    );

    // Without the acceptance, audit fails naming it and how to accept it; so does package,
    // before anything builds.
    fs::remove_file(scratch.root().join("deny.toml")).unwrap();
    let output = scratch.xtask(&["audit", "--advisory-db", database.to_str().unwrap()]);
    assert_fails_with(&output, "RUSTSEC-2025-0038 arrow2 0.18.0");
    assert!(
        text(&output.stderr).contains("accept it in deny.toml: [advisories] ignore = [{ id = \"RUSTSEC-2025-0038\", reason = \"…\" }]"),
        "{}",
        text(&output.stderr)
    );
    let output = scratch.xtask_env(
        &["package", "--no-build"],
        &[("GRAFANA_PLUGIN_ADVISORY_DB", database.to_str().unwrap())],
    );
    assert_fails_with(
        &output,
        "Cargo.lock holds 1 advisory of kind vulnerability not accepted: RUSTSEC-2025-0038",
    );
}
