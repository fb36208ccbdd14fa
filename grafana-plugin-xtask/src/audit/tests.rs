//! The audit on a workspace and a database made for each test.
use super::*;

const REGISTRY: &str = "registry+https://github.com/rust-lang/crates.io-index";

/// A workspace whose plugin pulls arrow2 through an SDK, and whose build tool pulls
/// walkdir; the real arrow2 advisories beside two made for the test.
fn workspace(deny: Option<&str>) -> (tempfile::TempDir, tempfile::TempDir) {
    let root = tempfile::tempdir().unwrap();
    let lock = format!(
        "version = 4\n\n\
         [[package]]\nname = \"plugin\"\nversion = \"0.1.0\"\ndependencies = [\"sdk\", \"serde_json\"]\n\n\
         [[package]]\nname = \"sdk\"\nversion = \"0.5.0\"\nsource = \"{REGISTRY}\"\ndependencies = [\"arrow2\"]\n\n\
         [[package]]\nname = \"arrow2\"\nversion = \"0.18.0\"\nsource = \"{REGISTRY}\"\n\n\
         [[package]]\nname = \"serde_json\"\nversion = \"1.0.100\"\nsource = \"{REGISTRY}\"\n\n\
         [[package]]\nname = \"xtask\"\nversion = \"0.1.0\"\ndependencies = [\"walkdir\"]\n\n\
         [[package]]\nname = \"walkdir\"\nversion = \"2.5.0\"\nsource = \"{REGISTRY}\"\n"
    );
    std::fs::write(root.path().join("Cargo.lock"), lock).unwrap();
    if let Some(deny) = deny {
        std::fs::write(root.path().join("deny.toml"), deny).unwrap();
    }
    let db = tempfile::tempdir().unwrap();
    let fixture = Path::new(env!("CARGO_MANIFEST_DIR")).join("../fixtures/advisory-db/crates");
    let write = |krate: &str, id: &str, text: String| {
        let dir = db.path().join("crates").join(krate);
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join(format!("{id}.md")), text).unwrap();
    };
    for id in ["RUSTSEC-2025-0038", "RUSTSEC-2022-0012"] {
        let text = std::fs::read_to_string(fixture.join(format!("arrow2/{id}.md"))).unwrap();
        write("arrow2", id, text);
    }
    let made = |id: &str, krate: &str, extra: &str, patched: &str| {
        format!(
            "```toml\n[advisory]\nid = \"{id}\"\npackage = \"{krate}\"\ndate = \"2026-01-01\"\n{extra}\n\
             [versions]\npatched = [{patched}]\n```\n\n# Made for the test ({krate})\n\nNot real.\n"
        )
    };
    write(
        "serde_json",
        "RUSTSEC-2026-9001",
        made("RUSTSEC-2026-9001", "serde_json", "", "\">= 1.0.101\""),
    );
    // Withdrawn: never reported.
    write(
        "serde_json",
        "RUSTSEC-2026-9003",
        made(
            "RUSTSEC-2026-9003",
            "serde_json",
            "withdrawn = \"2026-02-01\"",
            "",
        ),
    );
    write(
        "walkdir",
        "RUSTSEC-2026-9002",
        made(
            "RUSTSEC-2026-9002",
            "walkdir",
            "informational = \"unmaintained\"",
            "",
        ),
    );
    (root, db)
}

/// `cargo metadata` of that workspace: serde_json only a dev-dependency of the plugin.
fn graph() -> serde_json::Value {
    let package = |name: &str, version: &str, member: bool| {
        serde_json::json!({ "id": format!("{name}@{version}"), "name": name, "version": version,
            "source": if member { serde_json::Value::Null } else { REGISTRY.into() } })
    };
    let dep = |to: &str, kind: Option<&str>| serde_json::json!({ "pkg": to, "dep_kinds": [{ "kind": kind }] });
    serde_json::json!({
        "packages": [package("plugin", "0.1.0", true), package("sdk", "0.5.0", false),
            package("arrow2", "0.18.0", false), package("serde_json", "1.0.100", false),
            package("xtask", "0.1.0", true), package("walkdir", "2.5.0", false)],
        "resolve": { "nodes": [
            { "id": "plugin@0.1.0", "deps": [dep("sdk@0.5.0", None), dep("serde_json@1.0.100", Some("dev"))] },
            { "id": "sdk@0.5.0", "deps": [dep("arrow2@0.18.0", None)] },
            { "id": "xtask@0.1.0", "deps": [dep("walkdir@2.5.0", None)] },
        ]},
    })
}

fn checked(root: &Path, db: &Path) -> Vec<Finding> {
    match audit(root, "plugin", Some(db), Some(&graph())).unwrap() {
        Outcome::Checked(findings) => findings,
        Outcome::NotRun(why) => panic!("{why}"),
    }
}

#[test]
fn each_applying_advisory_has_its_kind_and_the_chain_that_pulls_it_in() {
    let (root, db) = workspace(None);
    let found = checked(root.path(), db.path());
    let summary: Vec<_> = found
        .iter()
        .map(|f| (f.id.as_str(), f.kind, f.ships, f.chain.join(" → ")))
        .collect();
    assert_eq!(
        summary,
        [
            (
                "RUSTSEC-2025-0038",
                Kind::Vulnerability,
                true,
                "plugin 0.1.0 → sdk 0.5.0 → arrow2 0.18.0".to_owned()
            ),
            (
                "RUSTSEC-2026-9001",
                Kind::Vulnerability,
                false,
                "plugin 0.1.0 → serde_json 1.0.100".to_owned()
            ),
            (
                "RUSTSEC-2026-9002",
                Kind::Unmaintained,
                false,
                "xtask 0.1.0 → walkdir 2.5.0".to_owned()
            ),
        ],
        "RUSTSEC-2022-0012 is patched in arrow2 >= 0.10, as cargo reads the range"
    );
    assert_eq!(found[0].title, "Out of bounds access in public safe API");
}

#[test]
fn an_accepted_advisory_is_listed_as_accepted_and_the_others_fail() {
    let deny = "[advisories]\nignore = [\n  { id = \"RUSTSEC-2025-0038\", reason = \"unreachable here\" },\n]\n";
    let (root, db) = workspace(Some(deny));
    let found = checked(root.path(), db.path());
    assert_eq!(found[0].accepted.as_deref(), Some("unreachable here"));
    assert_eq!(found[1].accepted, None);
    let outcome = Outcome::Checked(found);
    let error = report(&Ui::from_env(true), &outcome, "Cargo.lock")
        .unwrap_err()
        .to_string();
    assert_eq!(
        error,
        "Cargo.lock holds 1 advisory of kind vulnerability not accepted: RUSTSEC-2026-9001"
    );
    // Accepting the other too: the unmaintained one is a warning, not a failure.
    let both = "[advisories]\nignore = [\n  { id = \"RUSTSEC-2025-0038\", reason = \"a\" },\n  { id = \"RUSTSEC-2026-9001\", reason = \"b\" },\n]\n";
    let (root, db) = workspace(Some(both));
    let outcome = Outcome::Checked(checked(root.path(), db.path()));
    report(&Ui::from_env(true), &outcome, "Cargo.lock").unwrap();
}

#[test]
fn an_acceptance_without_a_reason_is_refused() {
    let (root, db) = workspace(Some("[advisories]\nignore = [\"RUSTSEC-2025-0038\"]\n"));
    let error = audit(root.path(), "plugin", Some(db.path()), None)
        .unwrap_err()
        .to_string();
    assert!(
        error.contains("deny.toml: [advisories] ignore entry \"RUSTSEC-2025-0038\" has no reason"),
        "{error}"
    );
}

#[test]
fn without_a_database_it_says_it_did_not_run() {
    let (root, _db) = workspace(None);
    let Outcome::NotRun(why) = audit(root.path(), "plugin", None, None).unwrap() else {
        panic!("it ran without a database")
    };
    assert!(
        why.starts_with("advisories not checked") && why.contains(DB_VARIABLE),
        "{why}"
    );
}

/// What cargo-auditable embeds (its JSON, before compression) for a plugin that pulls arrow2
/// through an SDK and serde_json directly.
const EMBEDDED: &str = r#"{"packages":[
    {"name":"plugin","version":"0.1.0","source":"local","dependencies":[1,3],"root":true},
    {"name":"sdk","version":"0.5.0","source":"crates.io","dependencies":[2]},
    {"name":"arrow2","version":"0.18.0","source":"crates.io"},
    {"name":"serde_json","version":"1.0.100","source":"crates.io"}]}"#;

#[test]
fn a_binarys_own_dependency_list_is_audited_as_cargo_lock_is() {
    let deny = "[advisories]\nignore = [\n  { id = \"RUSTSEC-2025-0038\", reason = \"unreachable here\" },\n]\n";
    let (root, db) = workspace(Some(deny));
    let info: auditable_serde::VersionInfo = serde_json::from_str(EMBEDDED).unwrap();
    let (lockfile, plugin) = binary::lockfile_of(&info).unwrap();
    assert_eq!(plugin, "plugin");
    let lists = [
        (
            "acme-x-app/gpx_x_linux_amd64".to_owned(),
            binary::Listed::Deps(Box::new(lockfile.clone()), plugin),
        ),
        // The six binaries of a release carry one list: each advisory is said once.
        (
            "acme-x-app/gpx_x_linux_arm64".to_owned(),
            binary::Listed::Deps(Box::new(lockfile), "plugin".to_owned()),
        ),
    ];
    let accepted = accepted(root.path()).unwrap();
    let Outcome::Checked(found) = binary::audit(db.path(), &lists, &accepted).unwrap() else {
        panic!("not checked");
    };
    let summary: Vec<_> = found
        .iter()
        .map(|f| {
            (
                f.id.as_str(),
                f.ships,
                f.chain.join(" → "),
                f.accepted.is_some(),
            )
        })
        .collect();
    // Everything in the list ships: it is the binary's. The same verdicts as from the
    // source: the accepted one is accepted, the other vulnerability fails.
    assert_eq!(
        summary,
        [
            (
                "RUSTSEC-2025-0038",
                true,
                "plugin 0.1.0 → sdk 0.5.0 → arrow2 0.18.0".to_owned(),
                true
            ),
            (
                "RUSTSEC-2026-9001",
                true,
                "plugin 0.1.0 → serde_json 1.0.100".to_owned(),
                false
            ),
        ]
    );
    let error = report(
        &Ui::from_env(true),
        &Outcome::Checked(found),
        "the binaries' dependency lists",
    )
    .unwrap_err()
    .to_string();
    assert!(
        error.starts_with("the binaries' dependency lists hold 1 advisory of kind vulnerability not accepted: RUSTSEC-2026-9001"),
        "{error}"
    );
}

#[test]
fn a_binary_without_a_list_is_named_and_other_files_are_not_binaries() {
    let entry = |path: &str, data: Vec<u8>| crate::archive::ReadEntry {
        path: path.to_owned(),
        is_dir: false,
        unix_mode: Some(0o100755),
        made_on_unix: true,
        data,
        oversized: None,
    };
    let entries = [
        entry(
            "acme-x-app/gpx_x_linux_amd64",
            crate::fixtures::release_for("linux", "amd64"),
        ),
        entry("acme-x-app/plugin.json", b"{}".to_vec()),
    ];
    let lists = binary::lists(&entries).unwrap();
    assert_eq!(lists.len(), 1);
    assert_eq!(lists[0].0, "acme-x-app/gpx_x_linux_amd64");
    assert!(matches!(lists[0].1, binary::Listed::Missing));
}

#[test]
fn the_database_is_the_flag_the_variable_or_cargo_audits_or_cargo_denys_copy() {
    let home = tempfile::tempdir().unwrap();
    let flag = Path::new("/flag/db");
    let variable = Some(std::ffi::OsString::from("/variable/db"));
    assert_eq!(
        database_dir_in(Some(flag), variable.clone(), Some(home.path())).as_deref(),
        Some(flag)
    );
    assert_eq!(
        database_dir_in(None, variable, Some(home.path())),
        Some(PathBuf::from("/variable/db"))
    );
    // Nothing fetched: no database, and the check says it did not run.
    assert_eq!(database_dir_in(None, None, Some(home.path())), None);
    // cargo-deny's copy (one folder per database URL), then cargo-audit's, which wins.
    let deny = home
        .path()
        .join("advisory-dbs/advisory-db-3157b0e258782691");
    std::fs::create_dir_all(deny.join("crates")).unwrap();
    assert_eq!(database_dir_in(None, None, Some(home.path())), Some(deny));
    let audit = home.path().join("advisory-db");
    std::fs::create_dir_all(audit.join("crates")).unwrap();
    assert_eq!(
        database_dir_in(None, Some("".into()), Some(home.path())),
        Some(audit)
    );
}
