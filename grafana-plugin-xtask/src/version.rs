//! `cargo xtask version`: the one version of the project, and the release job's tag check.
use anyhow::{Result, bail};

use crate::{context::Context, flags::VersionFlags};

pub fn run(context: &Context, flags: &VersionFlags) -> Result<()> {
    let version = &context.project()?.cargo.version;
    if let Some(tag) = &flags.check_tag {
        check_tag(version, tag)?;
    }
    println!("{version}");
    Ok(())
}

/// A release tag must be `v<version>` (a `refs/tags/` prefix, as GitHub gives it, is fine).
pub fn check_tag(version: &str, tag: &str) -> Result<()> {
    let name = tag.strip_prefix("refs/tags/").unwrap_or(tag);
    if name == version {
        bail!("tag {tag:?} lacks the `v`: release tags are v<version>; tag v{version}");
    }
    if name != format!("v{version}") {
        bail!(
            "tag {tag:?} does not match the version {version} in Cargo.toml; tag v{version}, or change [workspace.package] version"
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_tag_must_be_v_and_the_version() {
        check_tag("1.2.3", "v1.2.3").unwrap();
        check_tag("1.2.3", "refs/tags/v1.2.3").unwrap();
        for wrong in ["v1.2.4", "v1.2.3-rc1", "refs/heads/v1.2.3", ""] {
            let error = check_tag("1.2.3", wrong).unwrap_err().to_string();
            assert!(
                error.contains("does not match the version 1.2.3"),
                "{wrong}: {error}"
            );
        }
    }

    #[test]
    fn a_tag_without_its_v_is_told_so() {
        let error = check_tag("0.1.0", "0.1.0").unwrap_err().to_string();
        assert_eq!(
            error,
            "tag \"0.1.0\" lacks the `v`: release tags are v<version>; tag v0.1.0"
        );
    }
}
