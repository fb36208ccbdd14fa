//! create-plugin's GitHub workflows build a backend only through mage: ci.yml runs `mage
//! buildAll` while `Magefile.go` exists, and release.yml's `grafana/plugin-actions/build-plugin`
//! (through its `package-plugin`) does the same. Once the Go backend is deleted, both go on
//! packaging `dist/` — without any backend. `adopt` finds such workflows and says what to
//! change; it does not edit them (they are the app's, and hold its frontend's jobs too).
use std::path::Path;

/// The most read of one workflow file; a larger one is not create-plugin's.
const WORKFLOW_CAP: u64 = 1 << 20;

/// The app's workflows that build a backend only with mage, each with what to change:
/// `(path relative to the app, advice)`, sorted by path.
pub(crate) fn mage_only_workflows(app: &Path) -> Vec<(String, String)> {
    let dir = app.join(".github").join("workflows");
    let Ok(entries) = std::fs::read_dir(&dir) else {
        return Vec::new();
    };
    let mut found: Vec<(String, String)> = entries
        .flatten()
        .filter(|entry| {
            let name = entry.file_name();
            let name = name.to_string_lossy();
            (name.ends_with(".yml") || name.ends_with(".yaml"))
                && entry
                    .metadata()
                    .is_ok_and(|m| m.is_file() && m.len() <= WORKFLOW_CAP)
        })
        .filter_map(|entry| {
            let text = std::fs::read_to_string(entry.path()).ok()?;
            let advice = advice(&text)?;
            let name = entry.file_name().to_string_lossy().into_owned();
            Some((format!(".github/workflows/{name}"), advice))
        })
        .collect();
    found.sort();
    found
}

/// What to change in a workflow with `text`, if it builds a backend only with mage.
fn advice(text: &str) -> Option<String> {
    let mut advice = Vec::new();
    if text.contains("magefile/mage-action") {
        advice.push(
            "builds the backend only through mage: replace its Go steps (setup-go, the Go \
             lint, mage buildAll, mage test) with `cargo clippy --workspace --all-targets -- -D \
             warnings`, `cargo xtask build --backend-only --all --profile dist` and `cargo test \
             --workspace`",
        );
    }
    if text.contains("grafana/plugin-actions/build-plugin")
        || text.contains("grafana/plugin-actions/package-plugin")
    {
        advice.push(
            "releases through grafana/plugin-actions/build-plugin, which builds a backend only \
             with mage: release with this repository's .github/workflows/release.yml and \
             build.yml instead (they run `cargo xtask` only)",
        );
    }
    (!advice.is_empty()).then(|| {
        format!(
            "{}; otherwise its archive ships no backend once the Go one is deleted (README: CI \
             after adopt)",
            advice.join("; it ")
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn create_plugins_mage_workflows_are_found_and_others_left_alone() {
        let app = tempfile::tempdir().unwrap();
        let workflows = app.path().join(".github/workflows");
        std::fs::create_dir_all(&workflows).unwrap();
        let write = |name: &str, text: &str| std::fs::write(workflows.join(name), text).unwrap();
        write(
            "ci.yml",
            "jobs:\n  build:\n    steps:\n      - uses: magefile/mage-action@6f50bbb8ea47d56e62dee92392788acbc8192d0b\n        with:\n          args: buildAll\n",
        );
        write(
            "release.yaml",
            "jobs:\n  release:\n    steps:\n      - uses: grafana/plugin-actions/build-plugin@build-plugin/v1.0.2\n",
        );
        write("bundle-stats.yml", "jobs: {}\n");
        write("notes.txt", "magefile/mage-action\n");
        let found = mage_only_workflows(app.path());
        let paths: Vec<&str> = found.iter().map(|(path, _)| path.as_str()).collect();
        assert_eq!(
            paths,
            [".github/workflows/ci.yml", ".github/workflows/release.yaml"]
        );
        assert!(
            found[0]
                .1
                .contains("cargo xtask build --backend-only --all")
                && found[0].1.contains("ships no backend"),
            "{}",
            found[0].1
        );
        assert!(
            found[1].1.contains("release.yml and build.yml"),
            "{}",
            found[1].1
        );

        // No workflows at all: nothing to say.
        assert!(mage_only_workflows(&app.path().join("elsewhere")).is_empty());
    }

    /// README's "CI after adopt" steps run the commands adopt's advice names, and put in
    /// place of the Go steps of create-plugin's own ci.yml (fixtures/create-plugin-datasource)
    /// they make a workflow GitHub's schema accepts (checked with check-jsonschema, which
    /// .ci/run installs; SKIPPED without it).
    #[test]
    fn the_readmes_ci_steps_are_the_advice_and_fit_create_plugins_ci() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
        let readme = std::fs::read_to_string(root.join("README.md")).unwrap();
        let section = readme.split("**CI after adopt.**").nth(1).unwrap();
        let steps = section.split("```yaml\n").nth(1).unwrap();
        let steps = steps.split("```").next().unwrap();
        let advice = advice("magefile/mage-action").unwrap();
        for command in advice.split('`').skip(1).step_by(2) {
            assert!(steps.contains(command), "{command:?} in {steps}");
        }
        let ci = std::fs::read_to_string(
            root.join("fixtures/create-plugin-datasource/.github/workflows/ci.yml"),
        )
        .unwrap();
        let start = ci.find("      - name: Setup Go environment").unwrap();
        let end = ci.find("      - name: Check for E2E").unwrap();
        let edited = format!("{}{steps}\n{}", &ci[..start], &ci[end..]);
        let Some(checker) = crate::util::on_path("check-jsonschema") else {
            println!(
                "SKIPPED the edited ci.yml against GitHub's schema: check-jsonschema is not on PATH"
            );
            return;
        };
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("ci.yml");
        std::fs::write(&file, edited).unwrap();
        let output = crate::spawn::command(checker)
            .args(["--builtin-schema", "vendor.github-workflows"])
            .arg(&file)
            .output()
            .unwrap();
        assert!(
            output.status.success(),
            "{}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
    }
}
