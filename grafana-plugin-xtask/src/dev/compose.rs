//! Which Docker Compose runs the development Grafana: the `docker compose` plugin (v2), else a
//! standalone `docker-compose` 1.27 or newer (v1, what Debian's package installs, takes the
//! same commands and flags this uses), else an error naming both and how to get either.
use anyhow::{Result, bail};
use xshell::{Cmd, Shell};

use crate::spawn::cmd;

/// A Compose command line: `docker compose` or `docker-compose`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Compose {
    words: Vec<&'static str>,
}

impl Compose {
    /// Asks each candidate for its version, the plugin first.
    pub fn find(sh: &Shell) -> Result<Compose> {
        let version = |program: &str, args: &[&str]| {
            cmd!(sh, "{program} {args...} version --short")
                .quiet()
                .ignore_stderr()
                .read()
                .ok()
        };
        choose(
            version("docker", &["compose"]).as_deref(),
            version("docker-compose", &[]).as_deref(),
        )
    }

    /// `<compose> ARGS…` as a command to run at the repository root.
    pub fn command<'a>(&self, sh: &'a Shell, args: &[&str]) -> Cmd<'a> {
        let (program, words) = self
            .words
            .split_first()
            .expect("a compose command has a program");
        cmd!(sh, "{program} {words...} {args...}")
    }

    /// A Compose run as `program` (a test's fake; the tests that use one are Unix's).
    #[cfg(all(test, unix))]
    pub fn fake(program: &'static str) -> Compose {
        Compose {
            words: vec![program],
        }
    }

    /// `docker compose` or `docker-compose`, for messages.
    pub fn name(&self) -> String {
        self.words.join(" ")
    }
}

/// The choice, from what `docker compose version --short` and `docker-compose version
/// --short` printed (`None`: absent or failing).
pub fn choose(plugin: Option<&str>, standalone: Option<&str>) -> Result<Compose> {
    if plugin.is_some_and(|version| !version.trim().is_empty()) {
        return Ok(Compose {
            words: vec!["docker", "compose"],
        });
    }
    if let Some(version) = standalone {
        let version = version.trim().trim_start_matches('v');
        let mut parts = version
            .split('.')
            .map(|part| part.parse::<u32>().unwrap_or(0));
        let (major, minor) = (parts.next().unwrap_or(0), parts.next().unwrap_or(0));
        if (major, minor) >= (1, 27) {
            return Ok(Compose {
                words: vec!["docker-compose"],
            });
        }
        bail!(
            "docker-compose {version} is too old (1.27 or newer, or the docker compose plugin, is \
             needed); install the plugin (Docker Desktop has it; Debian/Ubuntu: apt install \
             docker-compose-plugin from Docker's repository) or a newer docker-compose"
        );
    }
    bail!(
        "no Docker Compose: neither `docker compose` (the plugin; Docker Desktop has it, or apt \
         install docker-compose-plugin from Docker's repository) nor `docker-compose` 1.27+ \
         (Debian/Ubuntu: apt install docker-compose) answers; or run Grafana yourself with \
         --grafana PATH or --attach"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_plugin_then_a_recent_standalone_then_an_error_naming_both() {
        assert_eq!(
            choose(Some("2.29.1\n"), Some("1.29.2")).unwrap().name(),
            "docker compose"
        );
        assert_eq!(
            choose(None, Some("1.29.2\n")).unwrap().name(),
            "docker-compose"
        );
        assert_eq!(
            choose(Some(""), Some("v2.30.0")).unwrap().name(),
            "docker-compose"
        );
        let old = choose(None, Some("1.25.0")).unwrap_err().to_string();
        assert!(old.starts_with("docker-compose 1.25.0 is too old"), "{old}");
        let none = choose(None, None).unwrap_err().to_string();
        assert!(
            none.contains("`docker compose`") && none.contains("`docker-compose` 1.27+"),
            "{none}"
        );
    }
}
