//! MANIFEST.txt, the signature's file list, checked as Grafana checks it: every archive file
//! listed with its SHA-256, and every listed file in the archive
//! (pkg/plugins/manager/signature/manifest.go).
use serde_json::Value;

use super::{
    Findings,
    rules::{Archive, Manifest},
};
use crate::archive::ReadEntry;

/// MANIFEST.txt, when present, must match the files; without it the plugin is unsigned.
pub fn signature(archive: &Archive, manifest: &Manifest, findings: &mut Findings) {
    match archive.file("MANIFEST.txt") {
        None => findings.warning(
            "unsigned",
            "the plugin is unsigned (no MANIFEST.txt); Grafana loads it only when allowed unsigned or in development mode",
        ),
        Some(signed) => {
            let (id, version) = (manifest.text("/id"), manifest.text("/info/version"));
            let text = String::from_utf8_lossy(&signed.data);
            if let Err(problem) = check_manifest(&text, archive.root, id, version, archive.entries)
            {
                findings.error("manifest", problem);
            }
        }
    }
}

/// A signed manifest is a PGP clear-signed JSON document naming the plugin, its version and
/// the SHA-256 of every file. Checks its shape and the digests (not the signature).
fn check_manifest(
    manifest: &str,
    root: &str,
    id: &str,
    version: &str,
    entries: &[ReadEntry],
) -> Result<(), String> {
    let body = manifest
        .strip_prefix("-----BEGIN PGP SIGNED MESSAGE-----")
        .and_then(|rest| rest.split_once("\n\n").map(|(_, body)| body))
        .and_then(|body| {
            body.split_once("-----BEGIN PGP SIGNATURE-----")
                .map(|(json, _)| json)
        })
        .ok_or(
            "MANIFEST.txt is not a PGP-signed message; sign with @grafana/sign-plugin or remove it",
        )?;
    let json: Value = serde_json::from_str(body.trim())
        .map_err(|e| format!("MANIFEST.txt does not hold JSON: {e}"))?;
    if json["plugin"] != id || json["version"] != version {
        return Err(format!(
            "MANIFEST.txt is for {} {}, not {id} {version}",
            json["plugin"], json["version"]
        ));
    }
    let files = json["files"]
        .as_object()
        .ok_or("MANIFEST.txt lists no files")?;
    for entry in entries
        .iter()
        .filter(|e| !e.is_dir && !e.path.ends_with("/MANIFEST.txt"))
    {
        let relative = entry
            .path
            .strip_prefix(&format!("{root}/"))
            .unwrap_or(&entry.path);
        let digest = crate::archive::sha256_hex(&entry.data);
        if files.get(relative).and_then(Value::as_str) != Some(digest.as_str()) {
            return Err(format!(
                "MANIFEST.txt does not match {relative}; sign again after the last change"
            ));
        }
    }
    // Grafana opens every file the manifest lists and calls the plugin modified when one is
    // missing ("Plugin file listed in the manifest was not found",
    // pkg/plugins/manager/signature/manifest.go).
    for listed in files.keys() {
        let path = format!("{root}/{listed}");
        if !entries.iter().any(|e| !e.is_dir && e.path == path) {
            return Err(format!(
                "MANIFEST.txt lists {listed}, which the archive lacks: Grafana refuses it as \
                 modified; sign exactly the files of this archive"
            ));
        }
    }
    Ok(())
}
