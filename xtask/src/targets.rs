//! The one table of platforms: Grafana's os/arch, the Rust target triple, and the executable
//! file name Grafana looks for. No other file spells a triple, a Grafana os/arch or a
//! `<executable>_<os>_<arch>` name.
use anyhow::{Result, bail};

/// A platform Grafana runs backend plugins on (Go's GOOS/GOARCH names).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Platform {
    pub os: &'static str,
    pub arch: &'static str,
    /// The Rust target a release binary for this platform is built for. Linux binaries are
    /// static musl: Grafana's default Docker image is Alpine and has no usable glibc.
    pub triple: &'static str,
}

/// The six platforms of a Grafana release (Mage's `buildAll`).
pub const PLATFORMS: [Platform; 6] = [
    Platform {
        os: "linux",
        arch: "amd64",
        triple: "x86_64-unknown-linux-musl",
    },
    Platform {
        os: "linux",
        arch: "arm64",
        triple: "aarch64-unknown-linux-musl",
    },
    Platform {
        os: "linux",
        arch: "arm",
        triple: "armv7-unknown-linux-musleabihf",
    },
    Platform {
        os: "darwin",
        arch: "amd64",
        triple: "x86_64-apple-darwin",
    },
    Platform {
        os: "darwin",
        arch: "arm64",
        triple: "aarch64-apple-darwin",
    },
    Platform {
        os: "windows",
        arch: "amd64",
        triple: "x86_64-pc-windows-gnu",
    },
];

impl Platform {
    /// `linux/amd64`.
    pub fn name(&self) -> String {
        format!("{}/{}", self.os, self.arch)
    }

    /// The file Grafana starts: `<executable>_<os>_<arch>`, plus `.exe` on Windows
    /// (Grafana's `ExecutablePath`).
    pub fn executable_file_name(&self, executable: &str) -> String {
        let extension = if self.os == "windows" { ".exe" } else { "" };
        format!("{executable}_{}_{}{extension}", self.os, self.arch)
    }

    /// The prefix shared by every platform's executable file, for finding them in dist/.
    pub fn executable_prefix(executable: &str) -> String {
        format!("{executable}_")
    }
}

/// The platform of the machine this tool runs on, from Rust's `std::env::consts` names.
pub fn host() -> Result<Platform> {
    platform_of(std::env::consts::OS, std::env::consts::ARCH)
}

/// Maps Rust's OS/ARCH names to the table's row; the triple is the table's (a host build
/// without `--target` produces the host's own flavour, e.g. glibc on Linux).
pub fn platform_of(rust_os: &str, rust_arch: &str) -> Result<Platform> {
    let os = match rust_os {
        "linux" => "linux",
        "macos" => "darwin",
        "windows" => "windows",
        _ => "",
    };
    let arch = match rust_arch {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        "arm" => "arm",
        _ => "",
    };
    match PLATFORMS.iter().find(|p| p.os == os && p.arch == arch) {
        Some(platform) => Ok(*platform),
        None => bail!(
            "this machine ({rust_os}/{rust_arch}) is not a platform Grafana runs backend plugins \
             on; Grafana supports {}",
            PLATFORMS.map(|p| p.name()).join(", ")
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn executable_names_follow_grafanas_executable_path() {
        let names: Vec<String> = PLATFORMS
            .iter()
            .map(|p| p.executable_file_name("gpx_service_checks"))
            .collect();
        assert_eq!(
            names,
            [
                "gpx_service_checks_linux_amd64",
                "gpx_service_checks_linux_arm64",
                "gpx_service_checks_linux_arm",
                "gpx_service_checks_darwin_amd64",
                "gpx_service_checks_darwin_arm64",
                "gpx_service_checks_windows_amd64.exe",
            ]
        );
        assert!(
            names
                .iter()
                .all(|n| n.starts_with(&Platform::executable_prefix("gpx_service_checks")))
        );
    }

    #[test]
    fn linux_binaries_are_static_musl() {
        for platform in PLATFORMS.iter().filter(|p| p.os == "linux") {
            assert!(platform.triple.contains("-linux-musl"), "{platform:?}");
        }
    }

    #[test]
    fn host_names_map_from_rust_to_go() {
        assert_eq!(
            platform_of("linux", "x86_64").unwrap().name(),
            "linux/amd64"
        );
        assert_eq!(
            platform_of("linux", "aarch64").unwrap().name(),
            "linux/arm64"
        );
        assert_eq!(platform_of("linux", "arm").unwrap().name(), "linux/arm");
        assert_eq!(
            platform_of("macos", "aarch64").unwrap().name(),
            "darwin/arm64"
        );
        assert_eq!(
            platform_of("macos", "x86_64").unwrap().name(),
            "darwin/amd64"
        );
        assert_eq!(
            platform_of("windows", "x86_64").unwrap().name(),
            "windows/amd64"
        );
        let error = platform_of("freebsd", "x86_64").unwrap_err().to_string();
        assert!(
            error.contains("freebsd/x86_64") && error.contains("linux/amd64"),
            "{error}"
        );
        assert!(platform_of("windows", "aarch64").is_err());
    }
}
