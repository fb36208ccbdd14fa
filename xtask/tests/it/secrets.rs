//! The signing token and Grafana's API token reach no child process but the signer: a
//! create-plugin app is built and packaged with both set, while every cargo, npm and node
//! the tool starts records its environment. SKIPPED without node and npm; Unix only (the
//! recorders are shell scripts).
use std::{fs, os::unix::fs::PermissionsExt, path::Path};

use crate::scratch::{EXECUTABLE, PLUGIN_ID, Scratch, host_binary_name, text};

const SIGNING_TOKEN: &str = "signing-canary-7d1f";
const API_TOKEN: &str = "api-canary-52ab";

/// A stand-in for `program` that writes its arguments, working directory and environment
/// to a file of its own in `$RECORD_DIR`, then runs the real one. In the signing tool's
/// directory, `npm ci` installs a stand-in for @grafana/sign-plugin instead (no network).
fn recorder(bin: &Path, program: &str, real: &str) {
    let script = format!(
        r#"#!/bin/sh
record="$RECORD_DIR/{program}.$$"
{{ echo "$0 $*"; pwd; env; }} > "$record"
if [ "{program}" = npm ] && [ "$1" = ci ] && [ "$(basename "$PWD")" = sign-plugin ]; then
  mkdir -p node_modules/@grafana/sign-plugin/dist/bin
  cp "$SIGNER_JS" node_modules/@grafana/sign-plugin/dist/bin/run.js
  exit 0
fi
exec "{real}" "$@"
"#
    );
    let path = bin.join(program);
    fs::write(&path, script).unwrap();
    fs::set_permissions(&path, fs::Permissions::from_mode(0o755)).unwrap();
}

/// @grafana/sign-plugin's effect without grafana.com: a MANIFEST.txt with every file's
/// SHA-256, shaped like a signed one.
const SIGNER_JS: &str = r#"
const fs = require('fs'), path = require('path'), crypto = require('crypto');
const dir = process.argv[process.argv.indexOf('--distDir') + 1];
const files = {};
(function walk(d) {
  for (const e of fs.readdirSync(d, { withFileTypes: true }).sort((a, b) => a.name < b.name ? -1 : 1)) {
    const p = path.join(d, e.name);
    if (e.isDirectory()) walk(p);
    else files[path.relative(dir, p).split(path.sep).join('/')] =
      crypto.createHash('sha256').update(fs.readFileSync(p)).digest('hex');
  }
})(dir);
const body = JSON.stringify({ plugin: process.env.PLUGIN_ID, version: process.env.VERSION, files });
fs.writeFileSync(path.join(dir, 'MANIFEST.txt'),
  `-----BEGIN PGP SIGNED MESSAGE-----\nHash: SHA512\n\n${body}\n-----BEGIN PGP SIGNATURE-----\nfake\n-----END PGP SIGNATURE-----\n`);
"#;

fn which(program: &str) -> Option<String> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join(program))
        .find(|candidate| candidate.is_file())
        .map(|found| found.display().to_string())
}

#[test]
fn the_tokens_reach_no_child_process_but_the_signer() {
    const TEST: &str = "the_tokens_reach_no_child_process_but_the_signer";
    let (Some(node), Some(npm)) = (which("node"), which("npm")) else {
        return harness::skip(
            TEST,
            "node or npm is not installed (Node.js runs create-plugin's frontend build)",
        );
    };
    let scratch = Scratch::create_plugin_app();
    let tools = tempfile::tempdir().unwrap();
    let (bin, records) = (tools.path().join("bin"), tools.path().join("records"));
    fs::create_dir_all(&bin).unwrap();
    fs::create_dir_all(&records).unwrap();
    let signer = tools.path().join("signer.js");
    fs::write(&signer, SIGNER_JS).unwrap();
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| which("cargo").unwrap());
    recorder(&bin, "cargo", &cargo);
    recorder(&bin, "npm", &npm);
    recorder(&bin, "node", &node);
    let path = format!("{}:{}", bin.display(), std::env::var("PATH").unwrap());
    let cargo_recorder = bin.join("cargo").display().to_string();
    let env = [
        ("PATH", path.as_str()),
        ("CARGO", cargo_recorder.as_str()),
        ("RECORD_DIR", records.to_str().unwrap()),
        ("SIGNER_JS", signer.to_str().unwrap()),
        ("PLUGIN_ID", PLUGIN_ID),
        ("VERSION", env!("CARGO_PKG_VERSION")),
        ("GRAFANA_ACCESS_POLICY_TOKEN", SIGNING_TOKEN),
        ("GRAFANA_API_KEY", SIGNING_TOKEN),
        ("GRAFANA_TOKEN", API_TOKEN),
    ];

    // Both halves built: npm ci, npm run build (and webpack's node), cargo metadata, cargo build.
    let output = scratch.xtask_env(&["build", "--debug"], &env);
    assert!(output.status.success(), "{}", text(&output.stderr));
    // The archive needs a release build; its headers stand in (package checks only those).
    let binary = host_binary_name();
    let (os, arch) = binary
        .trim_start_matches(&format!("{EXECUTABLE}_"))
        .trim_end_matches(".exe")
        .split_once('_')
        .unwrap();
    fs::write(
        scratch.root().join("dist").join(&binary),
        harness::binaries::release_for(os, arch),
    )
    .unwrap();
    let platform = format!("{os}/{arch}");
    let output = scratch.xtask_env(
        &["package", "--no-build", "--sign", "--target", &platform],
        &env,
    );
    assert!(output.status.success(), "{}", text(&output.stderr));
    assert!(!text(&output.stderr).contains(SIGNING_TOKEN));

    let mut signers = 0;
    let mut seen = Vec::new();
    for entry in fs::read_dir(&records).unwrap() {
        let record = fs::read_to_string(entry.unwrap().path()).unwrap();
        let command = record.lines().next().unwrap().to_owned();
        let is_signer = command.contains("@grafana/sign-plugin/dist/bin/run.js --distDir");
        assert!(
            !record.contains(API_TOKEN),
            "GRAFANA_TOKEN reached `{command}`"
        );
        if is_signer {
            signers += 1;
            assert!(
                record.contains(&format!("GRAFANA_ACCESS_POLICY_TOKEN={SIGNING_TOKEN}")),
                "the signer did not get the token"
            );
            assert!(
                !command.contains(SIGNING_TOKEN),
                "the token is on the command line"
            );
        } else {
            assert!(
                !record.contains(SIGNING_TOKEN),
                "the signing token reached `{command}`"
            );
        }
        seen.push(command);
    }
    assert_eq!(signers, 1, "{seen:#?}");
    let ran = |what: &str| seen.iter().any(|command| command.contains(what));
    for what in [
        "cargo metadata",
        "cargo build",
        "npm ci",
        "npm run build",
        "webpack",
    ] {
        assert!(ran(what), "`{what}` was not recorded: {seen:#?}");
    }
}
