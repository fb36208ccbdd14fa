use serde_json::Value;

use super::*;
use crate::fixtures;

const ROOT: &str = "acme-servicechecks-app";

fn file(path: &str, data: &[u8], mode: u32) -> ReadEntry {
    ReadEntry {
        oversized: None,
        path: format!("{ROOT}/{path}"),
        is_dir: false,
        unix_mode: Some(0o100000 | mode),
        made_on_unix: true,
        data: data.to_vec(),
    }
}

fn dir(path: &str) -> ReadEntry {
    ReadEntry {
        oversized: None,
        path: format!("{ROOT}/{path}"),
        is_dir: true,
        unix_mode: Some(0o040755),
        made_on_unix: true,
        data: vec![],
    }
}

fn plugin_json() -> Vec<u8> {
    include_str!("../../../plugin.json")
        .replace("%VERSION%", "1.2.3")
        .replace("%TODAY%", "2026-11-24")
        .replace("%PLUGIN_ID%", ROOT)
        .into_bytes()
}

/// A static release ELF for linux/amd64, as `cargo xtask build --target linux/amd64` makes it.
fn linux_amd64() -> Vec<u8> {
    fixtures::elf(fixtures::Cpu::X86_64, None, false)
}

/// An archive as `cargo xtask package` makes it.
fn good() -> Vec<ReadEntry> {
    vec![
        dir(""),
        file("CHANGELOG.md", b"# Changelog\n", 0o644),
        file("LICENSE", include_bytes!("../../../LICENSE"), 0o644),
        file(
            "README.md",
            b"# Service Checks\n\nSee [Grafana](https://grafana.com).\n",
            0o644,
        ),
        file("gpx_service_checks_linux_amd64", &linux_amd64(), 0o755),
        file(
            "gpx_service_checks_windows_amd64.exe",
            &fixtures::pe(fixtures::Cpu::X86_64),
            0o644,
        ),
        dir("img/"),
        file("img/logo.svg", b"<svg/>", 0o644),
        file("module.js", b"define([], function () {});", 0o644),
        file("plugin.json", &plugin_json(), 0o644),
    ]
}

fn errors(entries: &[ReadEntry]) -> Vec<String> {
    check(entries)
        .into_iter()
        .filter(|f| f.severity == Severity::Error)
        .map(|f| format!("[{}] {}", f.rule, f.message))
        .collect()
}

fn assert_error(entries: &[ReadEntry], rule: &str, contains: &str) {
    let found = errors(entries);
    assert!(
        found
            .iter()
            .any(|e| e.starts_with(&format!("[{rule}]")) && e.contains(contains)),
        "expected [{rule}] …{contains}… in {found:#?}"
    );
}

#[test]
fn a_packaged_archive_passes_with_only_the_unsigned_warning() {
    let findings = check(&good());
    assert_eq!(errors(&good()), Vec::<String>::new());
    let warnings: Vec<&str> = findings.iter().map(|f| f.rule).collect();
    assert_eq!(warnings, ["unsigned"]);
}

#[test]
fn two_roots_or_loose_files_are_refused() {
    let mut two = good();
    two.push(ReadEntry {
        oversized: None,
        path: "other/".into(),
        is_dir: true,
        ..dir("")
    });
    assert_error(&two, "archive-root", "exactly one directory");
    let mut loose = good();
    loose.push(ReadEntry {
        oversized: None,
        path: "notes.txt".into(),
        ..file("x", b"x", 0o644)
    });
    assert_error(&loose, "archive-root", "exactly one directory");
    let mut mac = good();
    mac.push(ReadEntry {
        oversized: None,
        path: "__MACOSX/".into(),
        is_dir: true,
        ..dir("")
    });
    assert_error(&mac, "archive-root", "__MACOSX");
}

#[test]
fn the_root_must_be_named_after_the_plugin_id() {
    let renamed: Vec<ReadEntry> = good()
        .into_iter()
        .map(|e| ReadEntry {
            oversized: None,
            path: e.path.replacen(ROOT, "dist", 1),
            ..e
        })
        .collect();
    assert_error(
        &renamed,
        "archive-root-name",
        "the root directory is \"dist\" but the plugin id is \"acme-servicechecks-app\"",
    );
}

#[test]
fn binaries_must_be_0755_and_made_on_unix() {
    let mut entries = good();
    entries[4] = file("gpx_service_checks_linux_amd64", &linux_amd64(), 0o644);
    assert_error(&entries, "binary-permissions", "stored 644, made on Unix");
    entries[4] = ReadEntry {
        oversized: None,
        made_on_unix: false,
        unix_mode: None,
        ..file("gpx_service_checks_linux_amd64", &linux_amd64(), 0o755)
    };
    assert_error(
        &entries,
        "binary-permissions",
        "stored without a mode, made on FAT/NTFS",
    );
    // .exe files need no mode.
    assert!(!errors(&good()).iter().any(|e| e.contains(".exe")));
    // No binary at all.
    let no_binary: Vec<ReadEntry> = good()
        .into_iter()
        .filter(|e| !e.path.contains("gpx_"))
        .collect();
    assert_error(
        &no_binary,
        "executable",
        "no file starts with acme-servicechecks-app/gpx_service_checks",
    );
}

#[test]
fn required_files_must_be_there() {
    for (missing, rule) in [
        ("README.md", "readme"),
        ("LICENSE", "license"),
        ("module.js", "module-js"),
        ("plugin.json", "plugin-json"),
        ("img/logo.svg", "logos"),
    ] {
        let entries: Vec<ReadEntry> = good()
            .into_iter()
            .filter(|e| !e.path.ends_with(missing))
            .collect();
        assert_error(&entries, rule, "");
    }
    let without_changelog: Vec<ReadEntry> = good()
        .into_iter()
        .filter(|e| !e.path.ends_with("CHANGELOG.md"))
        .collect();
    assert!(
        errors(&without_changelog).is_empty(),
        "a missing changelog is only a warning"
    );
    assert!(
        check(&without_changelog)
            .iter()
            .any(|f| f.rule == "changelog" && f.severity == Severity::Warning)
    );
}

#[test]
fn plugin_json_rules() {
    let with = |edit: &dyn Fn(&mut Value)| {
        let mut json: Value = serde_json::from_slice(&plugin_json()).unwrap();
        edit(&mut json);
        let mut entries = good();
        entries[9] = file("plugin.json", &serde_json::to_vec(&json).unwrap(), 0o644);
        entries
    };
    assert_error(
        &with(&|j| j["id"] = "Acme-Checks".into()),
        "plugin-id",
        "\"Acme-Checks\"",
    );
    assert_error(
        &with(&|j| j["id"] = "Acme-Checks".into()),
        "plugin-json-schema",
        "plugin.json.id",
    );
    assert_error(
        &with(&|j| j["name"] = ROOT.into()),
        "plugin-name",
        "differ from the id",
    );
    assert_error(
        &with(&|j| j["info"]["version"] = "1.0.0-beta".into()),
        "version",
        "X.Y.Z",
    );
    assert_error(
        &with(&|j| j["info"]["keywords"] = serde_json::json!([])),
        "keywords",
        "at least one",
    );
    assert_error(
        &with(&|j| j["dependencies"].as_object_mut().unwrap().clear()),
        "grafana-dependency",
        "",
    );
    assert_error(
        &with(&|j| j["executable"] = "".into()),
        "executable",
        "not set",
    );
    assert_error(
        &with(&|j| j["unexpected"] = true.into()),
        "plugin-json-schema",
        "unknown field `unexpected`",
    );
    let mut broken = good();
    broken[9] = file("plugin.json", b"{ nope", 0o644);
    assert_error(&broken, "plugin-json", "not valid JSON");
}

#[test]
fn entries_escaping_the_root_are_refused() {
    for path in [
        "../evil.sh",
        "/etc/passwd",
        "C:/evil.exe",
        "acme-servicechecks-app\\..\\evil",
    ] {
        let mut entries = good();
        entries.push(ReadEntry {
            oversized: None,
            path: format!("{ROOT}/{path}"),
            ..file("x", b"x", 0o644)
        });
        if path.starts_with('/') || path.starts_with("C:") {
            entries.last_mut().unwrap().path = path.to_owned();
        }
        assert_error(&entries, "zip-slip", "escapes the archive's root");
    }
}

#[test]
fn leftovers_and_debug_files_are_refused() {
    for (name, rule) in [
        ("standalone.txt", "unwanted-files"),
        ("pid.txt", "unwanted-files"),
        ("gpx_service_checks.pdb", "debug-files"),
    ] {
        let mut entries = good();
        entries.push(file(name, b"x", 0o644));
        assert_error(&entries, rule, name);
    }
    let mut dist = good();
    dist.push(file("dist/module.js", b"x", 0o644));
    assert_error(&dist, "no-dist-dir", "dist/ is inside the archive");
}

#[test]
fn readme_links_must_be_absolute_and_the_license_accepted() {
    let mut entries = good();
    entries[3] = file(
        "README.md",
        b"# X\n\nSee [the docs](docs/setup.md) and ![shot](./img/s.png) and [top](#top).\n",
        0o644,
    );
    let found = errors(&entries);
    assert!(
        found.iter().any(|e| e.contains("\"docs/setup.md\"")),
        "{found:#?}"
    );
    assert!(
        found.iter().any(|e| e.contains("\"./img/s.png\"")),
        "{found:#?}"
    );
    assert!(!found.iter().any(|e| e.contains("#top")), "{found:#?}");
    entries[3] = file("README.md", b"  \n", 0o644);
    assert_error(&entries, "readme", "empty");
    let mut license = good();
    license[2] = file("LICENSE", b"All rights reserved.", 0o644);
    assert_error(&license, "license", "not a license the validator accepts");
}

#[test]
fn a_manifest_must_be_signed_and_match_the_files() {
    let mut unsigned_manifest = good();
    unsigned_manifest.push(file("MANIFEST.txt", b"{\"plugin\": \"x\"}", 0o644));
    assert_error(&unsigned_manifest, "manifest", "not a PGP-signed message");

    let entries = good();
    let files: serde_json::Map<String, Value> = entries
        .iter()
        .filter(|e| !e.is_dir)
        .map(|e| {
            (
                e.path.trim_start_matches(&format!("{ROOT}/")).to_owned(),
                Value::from(archive::sha256_hex(&e.data)),
            )
        })
        .collect();
    let signed = |files: &serde_json::Map<String, Value>| {
        let json = serde_json::json!({ "plugin": ROOT, "version": "1.2.3", "files": files });
        format!(
            "-----BEGIN PGP SIGNED MESSAGE-----\nHash: SHA512\n\n{json}\n-----BEGIN PGP SIGNATURE-----\nxyz\n-----END PGP SIGNATURE-----\n"
        )
    };
    let mut good_manifest = entries.clone();
    good_manifest.push(file("MANIFEST.txt", signed(&files).as_bytes(), 0o644));
    assert_eq!(errors(&good_manifest), Vec::<String>::new());
    assert!(!check(&good_manifest).iter().any(|f| f.rule == "unsigned"));

    let mut stale = files.clone();
    stale.insert("module.js".into(), "00".into());
    let mut stale_manifest = entries.clone();
    stale_manifest.push(file("MANIFEST.txt", signed(&stale).as_bytes(), 0o644));
    assert_error(&stale_manifest, "manifest", "does not match module.js");

    // Signed for more files than the archive holds (a per-platform archive that kept the
    // manifest of all six binaries): Grafana calls it modified.
    let mut more = files.clone();
    more.insert("gpx_service_checks_freebsd_amd64".into(), "ab".into());
    let mut wider_manifest = entries;
    wider_manifest.push(file("MANIFEST.txt", signed(&more).as_bytes(), 0o644));
    assert_error(
        &wider_manifest,
        "manifest",
        "MANIFEST.txt lists gpx_service_checks_freebsd_amd64, which the archive lacks",
    );
}

#[test]
fn binaries_must_be_what_grafana_runs_on_the_platform_their_name_says() {
    let cases: [(&str, Vec<u8>, &str); 6] = [
        (
            "gpx_service_checks_linux_amd64",
            fixtures::elf(
                fixtures::Cpu::X86_64,
                Some("/lib64/ld-linux-x86-64.so.2"),
                false,
            ),
            "gpx_service_checks_linux_amd64 needs the dynamic loader /lib64/ld-linux-x86-64.so.2 (a glibc build), which Grafana's Alpine image does not have; build it with `cargo xtask build --target linux/amd64` (static musl)",
        ),
        (
            "gpx_service_checks_linux_amd64",
            fixtures::elf(fixtures::Cpu::X86_64, None, true),
            "gpx_service_checks_linux_amd64 carries debug information (a debug build",
        ),
        (
            "gpx_service_checks_linux_arm64",
            fixtures::elf(fixtures::Cpu::X86_64, None, false),
            "gpx_service_checks_linux_arm64 is for x86_64, but linux/arm64 is aarch64; build it with `cargo xtask build --target linux/arm64`",
        ),
        (
            "gpx_service_checks_darwin_arm64",
            fixtures::elf(fixtures::Cpu::Aarch64, None, false),
            "gpx_service_checks_darwin_arm64 is an ELF (Linux) executable, but Grafana on darwin/arm64 starts a Mach-O (macOS) executable",
        ),
        (
            "gpx_service_checks_windows_amd64.exe",
            fixtures::pe(fixtures::Cpu::Aarch64),
            "gpx_service_checks_windows_amd64.exe is for aarch64, but windows/amd64 is x86_64",
        ),
        (
            "gpx_service_checks_linux_arm",
            b"fake linux/arm binary".to_vec(),
            "gpx_service_checks_linux_arm is not an executable (no ELF, Mach-O or PE header); build it with `cargo xtask build --target linux/arm`",
        ),
    ];
    for (name, data, expected) in cases {
        let mut entries = good();
        entries.push(file(name, &data, 0o755));
        assert_error(&entries, "backend-binary", &format!("{ROOT}/{expected}"));
    }
    // A universal Mach-O with the right slice, and the good archive, pass.
    let mut entries = good();
    entries.push(file(
        "gpx_service_checks_darwin_arm64",
        &fixtures::mach_o(fixtures::Cpu::Aarch64),
        0o755,
    ));
    assert_eq!(errors(&entries), Vec::<String>::new());
}

#[test]
fn links_are_judged_as_grafanas_installer_judges_them() {
    let link = |path: &str, target: &str| {
        let mut entry = file(path, target.as_bytes(), 0o777);
        entry.unix_mode = Some(0o120777);
        entry
    };
    let mut outside = good();
    outside.push(link("img/passwd", "../../../etc/passwd"));
    assert_error(&outside, "symlink", "pointing outside the plugin directory");
    let mut absolute = good();
    absolute.push(link("logo.svg", "/etc/passwd"));
    assert_error(&absolute, "symlink", "\"/etc/passwd\"");
    let mut inside = good();
    inside.push(link("img/again.svg", "../img/logo.svg"));
    assert_eq!(errors(&inside), Vec::<String>::new());
    assert!(
        check(&inside)
            .iter()
            .any(|f| f.rule == "symlink" && f.message.contains("archive the file itself"))
    );
}

#[test]
fn an_entry_too_large_to_read_is_named_and_nothing_else_is_judged() {
    let mut bomb = good();
    let mut huge = file("img/screenshot.png", b"", 0o644);
    huge.oversized = Some(4 << 30);
    bomb.push(huge);
    let found = errors(&bomb);
    assert_eq!(found.len(), 1, "{found:?}");
    assert!(
        found[0].contains("img/screenshot.png\" holds at least 4096 MiB uncompressed: not read"),
        "{found:?}"
    );
}
