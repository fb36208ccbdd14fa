//! What the GitHub workflows ask of the xtask, so that no list of targets or text parsing
//! lives in YAML: the build matrix from the platform table, and the release notes.
use anyhow::{Result, bail};
use serde_json::{Value, json};

use crate::{
    context::Context,
    project,
    targets::{self, BuildTarget, Platform},
};

/// `cargo xtask ci-matrix`.
pub fn print_matrix(context: &Context) -> Result<()> {
    println!("{}", matrix(&context.project()?.plugin.executable));
    Ok(())
}

/// `cargo xtask release-notes`.
pub fn print_release_notes(context: &Context) -> Result<()> {
    let changelog = project::read_text(&context.root()?.join("CHANGELOG.md"))?;
    print!("{}", release_notes(&changelog)?);
    Ok(())
}

/// The GitHub runner that builds a platform: the table's (Ubuntu for all six: darwin through
/// zig and the CoreFoundation stub `build` writes; ci.yml's macOS job then runs those darwin
/// binaries).
pub fn runner(target: &BuildTarget) -> &'static str {
    Platform::of(&target.os, &target.arch).map_or("ubuntu-latest", |p| p.ci_runner)
}

/// `{"include": [...]}` for `strategy.matrix: ${{ fromJSON(...) }}`, one entry per platform
/// of the table, each built on the runner it names.
pub fn matrix(executable: &str) -> Value {
    let include: Vec<Value> = targets::all("linux")
        .iter()
        .map(|target| {
            json!({
                "platform": target.platform_name(),
                "target": target.triple_name(),
                "runner": runner(target),
                "binary": target.executable_file_name(executable),
                // Artifact names cannot contain `/`.
                "artifact": format!("binary-{}-{}", target.os, target.arch),
            })
        })
        .collect();
    json!({ "include": include })
}

/// The first `## ` section of a changelog, without its heading: the release notes.
pub fn release_notes(changelog: &str) -> Result<String> {
    let mut sections = changelog.split("\n## ").skip(1);
    let Some(top) = sections.next() else {
        bail!("CHANGELOG.md has no `## <version>` section; add one for this release");
    };
    let body = top.split_once('\n').map_or("", |(_, body)| body).trim();
    if body.is_empty() {
        bail!("CHANGELOG.md: the top section is empty; describe the release under it");
    }
    Ok(format!("{body}\n"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_matrix_covers_exactly_the_table() {
        let matrix = matrix("gpx_x");
        let entries = matrix["include"].as_array().unwrap();
        let platforms: Vec<&str> = entries
            .iter()
            .map(|e| e["platform"].as_str().unwrap())
            .collect();
        let table: Vec<String> = targets::PLATFORMS.iter().map(|p| p.name()).collect();
        assert_eq!(platforms, table);
        let triples: Vec<&str> = entries
            .iter()
            .map(|e| e["target"].as_str().unwrap())
            .collect();
        assert_eq!(triples, targets::PLATFORMS.map(|p| p.triple));
        for entry in entries {
            // All six from Linux; the macOS job runs the darwin ones (ci.yml).
            assert_eq!(entry["runner"], "ubuntu-latest");
            assert!(!entry["artifact"].as_str().unwrap().contains('/'));
        }
        assert_eq!(entries[5]["binary"], "gpx_x_windows_amd64.exe");
    }

    /// The workflows take platforms from `cargo xtask ci-matrix`; none is spelled in YAML.
    #[test]
    fn no_workflow_spells_a_platform() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../.github/workflows");
        let mut checked = 0;
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            let text = std::fs::read_to_string(&path).unwrap();
            for platform in targets::PLATFORMS {
                for spelled in [platform.triple.to_owned(), platform.name()] {
                    assert!(
                        !text.contains(&spelled),
                        "{} spells {spelled}; take it from ci-matrix",
                        path.display()
                    );
                }
            }
            checked += 1;
        }
        assert!(
            checked >= 3,
            "found {checked} workflows in {}",
            dir.display()
        );
    }

    /// Every `uses:` names an action pinned to a full commit, or a workflow of this
    /// repository that exists, in GitHub's self-repository form (`$/.github/…`, what zizmor's
    /// self-repository audit asks for) or the older workspace-relative one (`./`).
    #[test]
    fn every_workflow_step_uses_a_pinned_action_or_a_local_workflow() {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
        for entry in std::fs::read_dir(root.join(".github/workflows")).unwrap() {
            let path = entry.unwrap().path();
            let text = std::fs::read_to_string(&path).unwrap();
            for (number, line) in text.lines().enumerate() {
                let Some(used) = line
                    .trim_start()
                    .trim_start_matches("- ")
                    .strip_prefix("uses: ")
                else {
                    continue;
                };
                let used = used.split_whitespace().next().unwrap_or_default();
                let place = format!("{}:{}: {used}", path.display(), number + 1);
                if let Some(local) = used.strip_prefix("$/").or(used.strip_prefix("./")) {
                    assert!(root.join(local).is_file(), "{place}: no such workflow");
                    continue;
                }
                let (action, commit) = used.split_once('@').expect(&place);
                assert!(action.contains('/'), "{place}: not owner/repo");
                assert!(
                    commit.len() == 40 && commit.bytes().all(|b| b.is_ascii_hexdigit()),
                    "{place}: pin the action to a full commit SHA"
                );
            }
        }
    }

    #[test]
    fn release_notes_are_the_top_section() {
        let changelog = "# Changelog\n\n## 1.1.0\n\n- New thing.\n- Fix.\n\n## 1.0.0\n\n- First.\n";
        assert_eq!(release_notes(changelog).unwrap(), "- New thing.\n- Fix.\n");
        assert!(
            release_notes("# Changelog\n")
                .unwrap_err()
                .to_string()
                .contains("no `## <version>` section")
        );
        assert!(
            release_notes("# C\n\n## 1.0.0\n\n## 0.9.0\n- x\n")
                .unwrap_err()
                .to_string()
                .contains("empty")
        );
        let ours = include_str!("../../CHANGELOG.md");
        assert!(release_notes(ours).unwrap().starts_with("- "));
    }
}
