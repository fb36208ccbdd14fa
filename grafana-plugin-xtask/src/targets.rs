//! The one table of platforms: Grafana's os/arch, the Rust target triple, and the executable
//! file name Grafana looks for. No other file spells a triple, a Grafana os/arch or a
//! `<executable>_<os>_<arch>` name.
use anyhow::{Context, Result, bail};

use crate::binary::{Cpu, Format};

/// A platform Grafana runs backend plugins on (Go's GOOS/GOARCH names), with what follows
/// from it: the Rust target, the executable Grafana expects, how it is linked, where CI
/// builds it and what runs it on an x86_64 Linux machine. Adding a platform is one row.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Platform {
    /// Go's GOOS: `linux`, `darwin`, `windows`.
    pub os: &'static str,
    /// Go's GOARCH: `amd64`, `arm64`, `arm`.
    pub arch: &'static str,
    /// The Rust target a release binary for this platform is built for. Linux binaries are
    /// static musl: Grafana's default Docker image is Alpine and has no usable glibc.
    pub triple: &'static str,
    /// The executable format Grafana's OS starts.
    pub format: Format,
    /// The CPU the binary must be for (its ELF, Mach-O and PE numbers are in [`Cpu`]).
    pub cpu: Cpu,
    /// How the binary is linked, which decides the build back end.
    pub linker: Linker,
    /// The GitHub runner CI builds it on.
    pub ci_runner: &'static str,
    /// What starts it on an x86_64 Linux machine (CI's runners, this repository's tests).
    pub runner: Runner,
}

/// How a target's binary is linked.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Linker {
    /// Self-contained static musl: Rust's own rust-lld (or zig, which brings musl).
    RustLld,
    /// Mach-O: Apple's linker on a Mac; zig with the CoreFoundation stub elsewhere.
    Apple,
    /// windows-gnu: MinGW-w64's gcc, zig, or cross's image.
    MinGw,
    /// Whatever cargo uses for the target by default (the host's own, MSVC on Windows).
    Default,
}

impl Linker {
    /// The linker family of a triple outside the table (`TRIPLE=OS/ARCH`), from its name.
    pub fn of_triple(triple: &str) -> Linker {
        if let Some(platform) = PLATFORMS.iter().find(|p| p.triple == triple) {
            platform.linker
        } else if triple.contains("-linux-musl") {
            Linker::RustLld
        } else if triple.contains("-apple-darwin") {
            Linker::Apple
        } else if triple.ends_with("-windows-gnu") {
            Linker::MinGw
        } else {
            Linker::Default
        }
    }
}

/// What starts a binary of a platform on an x86_64 Linux machine.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Runner {
    /// The machine itself.
    Native,
    /// qemu-user's emulator of that name (Debian: `apt install qemu-user`).
    Qemu(&'static str),
    /// Wine (Debian: `apt install wine64 wine`).
    Wine,
    /// Only a Mac (CI's macOS job).
    Mac,
}

/// The six platforms of a Grafana release (Mage's `buildAll`).
pub const PLATFORMS: [Platform; 6] = [
    Platform {
        os: "linux",
        arch: "amd64",
        triple: "x86_64-unknown-linux-musl",
        format: Format::Elf,
        cpu: Cpu::X86_64,
        linker: Linker::RustLld,
        ci_runner: "ubuntu-latest",
        runner: Runner::Native,
    },
    Platform {
        os: "linux",
        arch: "arm64",
        triple: "aarch64-unknown-linux-musl",
        format: Format::Elf,
        cpu: Cpu::Aarch64,
        linker: Linker::RustLld,
        ci_runner: "ubuntu-latest",
        runner: Runner::Qemu("qemu-aarch64"),
    },
    Platform {
        os: "linux",
        arch: "arm",
        triple: "armv7-unknown-linux-musleabihf",
        format: Format::Elf,
        cpu: Cpu::Arm,
        linker: Linker::RustLld,
        ci_runner: "ubuntu-latest",
        runner: Runner::Qemu("qemu-arm"),
    },
    // darwin builds on Ubuntu too: through zig and the CoreFoundation stub `build` writes;
    // ci.yml's macOS job then runs those binaries.
    Platform {
        os: "darwin",
        arch: "amd64",
        triple: "x86_64-apple-darwin",
        format: Format::MachO,
        cpu: Cpu::X86_64,
        linker: Linker::Apple,
        ci_runner: "ubuntu-latest",
        runner: Runner::Mac,
    },
    Platform {
        os: "darwin",
        arch: "arm64",
        triple: "aarch64-apple-darwin",
        format: Format::MachO,
        cpu: Cpu::Aarch64,
        linker: Linker::Apple,
        ci_runner: "ubuntu-latest",
        runner: Runner::Mac,
    },
    Platform {
        os: "windows",
        arch: "amd64",
        triple: "x86_64-pc-windows-gnu",
        format: Format::Pe,
        cpu: Cpu::X86_64,
        linker: Linker::MinGw,
        ci_runner: "ubuntu-latest",
        runner: Runner::Wine,
    },
];

/// On a Windows host, windows/amd64 is built with the MSVC toolchain that host has.
pub const WINDOWS_MSVC: &str = "x86_64-pc-windows-msvc";
/// The oldest macOS the darwin binaries run on, on both CPUs: Grafana's own (Go 1.23 and
/// later, which Grafana 12 is built with, need macOS 11 Big Sur; arm64 Macs start there).
/// `build` sets it for darwin targets; `validate` refuses a binary that asks for a newer one.
pub const MACOSX_DEPLOYMENT_TARGET: &str = "11.0";

impl Platform {
    /// `linux/amd64`.
    pub fn name(&self) -> String {
        format!("{}/{}", self.os, self.arch)
    }

    /// The row of this machine, if the table has one.
    pub fn host() -> Option<&'static Platform> {
        Platform::of_rust(std::env::consts::OS, std::env::consts::ARCH)
    }

    /// The row for Rust's names of an OS and architecture (`macos`, `aarch64`), if any.
    pub fn of_rust(rust_os: &str, rust_arch: &str) -> Option<&'static Platform> {
        let os = match rust_os {
            "macos" => "darwin",
            other => other,
        };
        (PLATFORMS.iter()).find(|p| p.os == os && p.cpu.rust_arch() == rust_arch)
    }

    /// The row for Grafana's `os`/`arch`, if the table has one.
    pub fn of(os: &str, arch: &str) -> Option<&'static Platform> {
        PLATFORMS.iter().find(|p| p.os == os && p.arch == arch)
    }
}

/// What one build produces: a binary for a Grafana os/arch, from a Rust target.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BuildTarget {
    pub os: String,
    pub arch: String,
    /// `None` for this machine built without `--target` (its own flavour, e.g. glibc on
    /// Linux); otherwise the triple passed to cargo.
    pub triple: Option<String>,
}

impl BuildTarget {
    fn of(platform: &Platform, host_os: &str) -> BuildTarget {
        let triple = if platform.os == "windows" && host_os == "windows" {
            WINDOWS_MSVC
        } else {
            platform.triple
        };
        BuildTarget {
            os: platform.os.to_owned(),
            arch: platform.arch.to_owned(),
            triple: Some(triple.to_owned()),
        }
    }

    /// `linux/amd64`.
    pub fn platform_name(&self) -> String {
        format!("{}/{}", self.os, self.arch)
    }

    /// The triple, or `host` for a build without `--target`.
    pub fn triple_name(&self) -> &str {
        self.triple.as_deref().unwrap_or("host")
    }

    /// The file Grafana starts: `<executable>_<os>_<arch>`, plus `.exe` on Windows
    /// (Grafana's `ExecutablePath`).
    pub fn executable_file_name(&self, executable: &str) -> String {
        let extension = if self.os == "windows" { ".exe" } else { "" };
        format!("{executable}_{}_{}{extension}", self.os, self.arch)
    }

    /// Does the binary cargo writes for this target end in `.exe`?
    pub fn binary_has_exe_suffix(&self) -> bool {
        match &self.triple {
            Some(triple) => triple.contains("-windows"),
            None => cfg!(windows),
        }
    }

    /// How the binary is linked: the table's row for its triple, or what the triple's name
    /// says (`TRIPLE=OS/ARCH`); cargo's default for the host without `--target`.
    pub fn linker(&self) -> Linker {
        self.triple
            .as_deref()
            .map_or(Linker::Default, Linker::of_triple)
    }

    pub fn is_darwin(&self) -> bool {
        self.linker() == Linker::Apple
    }

    pub fn is_linux_musl(&self) -> bool {
        self.linker() == Linker::RustLld
    }

    pub fn is_windows_gnu(&self) -> bool {
        self.linker() == Linker::MinGw
    }
}

/// Refuses a triple given as TRIPLE=OS/ARCH that rustc does not know (`known`: `rustc
/// --print target-list`), naming the known ones that look alike, so a typo is never planned.
pub fn check_known(targets: &[BuildTarget], known: &[String]) -> Result<()> {
    for target in targets {
        let Some(triple) = &target.triple else {
            continue;
        };
        if known.iter().any(|k| k == triple) || in_table(triple) {
            continue;
        }
        let first = triple.split('-').next().unwrap_or_default();
        let mut alike: Vec<&str> = known
            .iter()
            .filter(|k| k.split('-').next() == Some(first))
            .map(String::as_str)
            .collect();
        if alike.is_empty() {
            alike = known
                .iter()
                .filter(|k| {
                    triple
                        .split('-')
                        .skip(1)
                        .any(|part| k.split('-').any(|p| p == part))
                })
                .map(String::as_str)
                .collect();
        }
        // The few closest: most parts in common, then the shortest.
        let common = |known: &str| {
            known
                .split('-')
                .filter(|part| triple.split('-').any(|p| p == *part))
                .count()
        };
        alike.sort_by_key(|known| (std::cmp::Reverse(common(known)), known.len()));
        alike.truncate(5);
        let suggestion = if alike.is_empty() {
            format!("use a platform of the table ({})", platform_names())
        } else {
            format!("known targets like it: {}", alike.join(", "))
        };
        bail!(
            "--target {triple}={}: {triple:?} is not a Rust target this rustc knows; {suggestion} (all {}: `rustc --print target-list`)",
            target.platform_name(),
            known.len()
        );
    }
    Ok(())
}

/// Whether `triple` is a target of the table (or the Windows host's MSVC one).
fn in_table(triple: &str) -> bool {
    triple == WINDOWS_MSVC || PLATFORMS.iter().any(|p| p.triple == triple)
}

/// The Grafana os/arch a file in dist/ is for, from its name `<executable>_<os>_<arch>[.exe]`.
pub fn platform_of_file(executable: &str, name: &str) -> Option<(String, String)> {
    let rest = name.strip_prefix(&executable_prefix(executable))?;
    let rest = rest.strip_suffix(".exe").unwrap_or(rest);
    let (os, arch) = rest.split_once('_')?;
    (!os.is_empty() && !arch.is_empty() && !arch.contains('_'))
        .then(|| (os.to_owned(), arch.to_owned()))
}

/// The executable format and CPU Grafana on `os`/`arch` starts; `None` for a platform
/// outside the table.
pub fn expected_binary(os: &str, arch: &str) -> Option<(Format, Cpu)> {
    Platform::of(os, arch).map(|p| (p.format, p.cpu))
}

/// The prefix shared by every platform's executable file, for finding them in dist/.
pub fn executable_prefix(executable: &str) -> String {
    format!("{executable}_")
}

/// This machine, built without `--target`.
pub fn host() -> Result<BuildTarget> {
    host_of(std::env::consts::OS, std::env::consts::ARCH)
}

/// Maps Rust's OS/ARCH names to Grafana's.
pub fn host_of(rust_os: &str, rust_arch: &str) -> Result<BuildTarget> {
    match Platform::of_rust(rust_os, rust_arch) {
        Some(platform) => Ok(BuildTarget {
            os: platform.os.to_owned(),
            arch: platform.arch.to_owned(),
            triple: None,
        }),
        None => bail!(
            "this machine ({rust_os}/{rust_arch}) is not a platform Grafana runs backend plugins \
             on; build for one with --target ({})",
            platform_names()
        ),
    }
}

/// Linux on this machine's architecture, static musl: what a Grafana container on this
/// machine runs (Docker runs Linux containers of the host's architecture).
pub fn linux_of_host() -> Result<BuildTarget> {
    let host = host()?;
    let platform = Platform::of("linux", &host.arch)
        .with_context(|| format!("no Linux platform for {}", host.arch))?;
    Ok(BuildTarget::of(platform, "linux"))
}

/// The six release platforms, as built from a host running `host_os` (Rust's name).
pub fn all(host_os: &str) -> Vec<BuildTarget> {
    PLATFORMS
        .iter()
        .map(|p| BuildTarget::of(p, host_os))
        .collect()
}

fn platform_names() -> String {
    PLATFORMS.map(|p| p.name()).join(", ")
}

/// The targets of repeated `--target` flags, or the six release platforms when there are none.
pub fn parse_or_all(specs: &[String], host_os: &str) -> Result<Vec<BuildTarget>> {
    if specs.is_empty() {
        return Ok(all(host_os));
    }
    specs.iter().map(|spec| parse(spec, host_os)).collect()
}

/// Parses a `--target`: a Grafana platform (`linux/arm64`), a triple of the table
/// (`aarch64-unknown-linux-musl`), or `TRIPLE=OS/ARCH` for any other target (Mage's
/// `build:custom`).
pub fn parse(spec: &str, host_os: &str) -> Result<BuildTarget> {
    let spec = spec.trim();
    if let Some((triple, platform)) = spec.split_once('=') {
        let Some((os, arch)) = platform.split_once('/') else {
            bail!("--target {spec}: after `=` give Grafana's OS/ARCH, e.g. {triple}=linux/riscv64");
        };
        let word = |w: &str| {
            !w.is_empty()
                && w.bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
        };
        if !word(os) || !word(arch) {
            bail!("--target {spec}: OS and ARCH are Go's names in lower case, e.g. linux/riscv64");
        }
        if triple.split('-').count() < 2
            || triple.split('-').any(str::is_empty)
            || triple.contains(char::is_whitespace)
        {
            bail!(
                "--target {spec}: {triple:?} is not a Rust target triple (see `rustc --print target-list`)"
            );
        }
        return Ok(BuildTarget {
            os: os.to_owned(),
            arch: arch.to_owned(),
            triple: Some(triple.to_owned()),
        });
    }
    let found = if spec.contains('/') {
        PLATFORMS.iter().find(|p| p.name() == spec)
    } else {
        PLATFORMS
            .iter()
            .find(|p| p.triple == spec || (spec == WINDOWS_MSVC && p.os == "windows"))
    };
    if let Some(platform) = found {
        let mut target = BuildTarget::of(platform, host_os);
        if spec == WINDOWS_MSVC {
            target.triple = Some(WINDOWS_MSVC.to_owned());
        }
        return Ok(target);
    }
    if spec.contains("-linux-gnu") {
        bail!(
            "--target {spec}: Grafana's default Docker image is Alpine, where a glibc binary does not \
             start; use the static musl target ({}), or {spec}=linux/<arch> to build it anyway",
            PLATFORMS
                .iter()
                .filter(|p| p.os == "linux")
                .map(|p| p.triple)
                .collect::<Vec<_>>()
                .join(", ")
        );
    }
    bail!(
        "--target {spec}: not a platform of the table; use one of {} (or its Rust target), or \
         TRIPLE=OS/ARCH for another target",
        platform_names()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn executable_names_follow_grafanas_executable_path() {
        let names: Vec<String> = all("linux")
            .iter()
            .map(|t| t.executable_file_name("gpx_service_checks"))
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
                .all(|n| n.starts_with(&executable_prefix("gpx_service_checks")))
        );
    }

    #[test]
    fn the_table_is_the_six_release_platforms_with_static_linux() {
        let names: Vec<String> = PLATFORMS.iter().map(Platform::name).collect();
        assert_eq!(
            names,
            [
                "linux/amd64",
                "linux/arm64",
                "linux/arm",
                "darwin/amd64",
                "darwin/arm64",
                "windows/amd64"
            ]
        );
        for platform in PLATFORMS.iter().filter(|p| p.os == "linux") {
            assert!(platform.triple.contains("-linux-musl"), "{platform:?}");
        }
    }

    #[test]
    fn windows_is_gnu_from_unix_hosts_and_msvc_on_windows() {
        let triple = |host: &str| all(host)[5].triple.clone().unwrap();
        assert_eq!(triple("linux"), "x86_64-pc-windows-gnu");
        assert_eq!(triple("macos"), "x86_64-pc-windows-gnu");
        assert_eq!(triple("windows"), "x86_64-pc-windows-msvc");
        assert!(all("windows")[5].binary_has_exe_suffix());
    }

    #[test]
    fn each_row_agrees_with_itself_and_custom_triples_are_classified_by_name() {
        for platform in PLATFORMS {
            // The triple's name says what the row says: a custom triple of the same kind
            // (TRIPLE=OS/ARCH) is built the same way.
            let custom = platform.triple.replacen("-unknown-", "-custom-", 1);
            assert_eq!(Linker::of_triple(&custom), platform.linker, "{platform:?}");
            assert!(
                platform.triple.starts_with(platform.cpu.rust_arch()),
                "{platform:?}"
            );
            let (format, linker) = match platform.os {
                "linux" => (Format::Elf, Linker::RustLld),
                "darwin" => (Format::MachO, Linker::Apple),
                "windows" => (Format::Pe, Linker::MinGw),
                other => panic!("no format for {other}"),
            };
            assert_eq!((platform.format, platform.linker), (format, linker));
            assert!(platform.cpu.numbers().is_some(), "{platform:?}");
            let runs_natively = platform.os == "linux" && platform.cpu == Cpu::X86_64;
            assert_eq!(platform.runner == Runner::Native, runs_natively);
        }
        assert_eq!(
            Linker::of_triple("riscv64gc-unknown-linux-gnu"),
            Linker::Default
        );
        assert_eq!(Linker::of_triple("x86_64-pc-windows-msvc"), Linker::Default);
        let custom = parse("riscv64gc-unknown-linux-musl=linux/riscv64", "linux").unwrap();
        assert!(custom.is_linux_musl());
        assert_eq!(host().unwrap().linker(), Linker::Default);
    }

    #[test]
    fn host_names_map_from_rust_to_go() {
        let name = |os, arch| host_of(os, arch).unwrap().platform_name();
        assert_eq!(name("linux", "x86_64"), "linux/amd64");
        assert_eq!(name("linux", "aarch64"), "linux/arm64");
        assert_eq!(name("linux", "arm"), "linux/arm");
        assert_eq!(name("macos", "aarch64"), "darwin/arm64");
        assert_eq!(name("macos", "x86_64"), "darwin/amd64");
        assert_eq!(name("windows", "x86_64"), "windows/amd64");
        assert_eq!(host_of("linux", "x86_64").unwrap().triple, None);
        let error = host_of("freebsd", "x86_64").unwrap_err().to_string();
        assert!(
            error.contains("freebsd/x86_64") && error.contains("--target"),
            "{error}"
        );
    }

    #[test]
    fn targets_parse_from_grafana_names_triples_and_custom_pairs() {
        let parsed = |spec| parse(spec, "linux").unwrap();
        assert_eq!(parsed("linux/arm64"), parsed("aarch64-unknown-linux-musl"));
        assert_eq!(
            parsed("linux/arm64").triple.as_deref(),
            Some("aarch64-unknown-linux-musl")
        );
        assert_eq!(
            parsed("darwin/amd64").triple.as_deref(),
            Some("x86_64-apple-darwin")
        );
        assert_eq!(
            parsed(" windows/amd64 ").triple.as_deref(),
            Some("x86_64-pc-windows-gnu")
        );
        assert_eq!(
            parse("windows/amd64", "windows").unwrap().triple.as_deref(),
            Some(WINDOWS_MSVC)
        );
        let msvc = parsed("x86_64-pc-windows-msvc");
        assert_eq!(
            (msvc.platform_name(), msvc.triple.as_deref()),
            ("windows/amd64".into(), Some(WINDOWS_MSVC))
        );

        let custom = parsed("riscv64gc-unknown-linux-musl=linux/riscv64");
        assert_eq!(custom.platform_name(), "linux/riscv64");
        assert_eq!(custom.executable_file_name("gpx_x"), "gpx_x_linux_riscv64");
        assert_eq!(
            custom.triple.as_deref(),
            Some("riscv64gc-unknown-linux-musl")
        );
    }

    #[test]
    fn bad_targets_say_what_to_write_instead() {
        let error = |spec| parse(spec, "linux").unwrap_err().to_string();
        assert!(error("linux/mips").starts_with("--target linux/mips: not a platform of the table; use one of linux/amd64, linux/arm64"), "{}", error("linux/mips"));
        assert!(error("amd64").contains("TRIPLE=OS/ARCH"));
        assert!(
            error("x86_64-unknown-linux-gnu")
                .contains("static musl target (x86_64-unknown-linux-musl")
        );
        assert!(
            error("x86_64-unknown-linux-gnu").contains("x86_64-unknown-linux-gnu=linux/<arch>")
        );
        assert!(error("riscv64gc-unknown-linux-musl=linux").contains("give Grafana's OS/ARCH"));
        assert!(error("riscv64gc-unknown-linux-musl=Linux/RISCV").contains("lower case"));
        assert!(error("riscv=linux/riscv64").contains("is not a Rust target triple"));
    }

    #[test]
    fn file_names_map_back_to_platforms_and_their_binaries() {
        assert_eq!(
            platform_of_file("gpx_a", "gpx_a_linux_arm64"),
            Some(("linux".into(), "arm64".into()))
        );
        assert_eq!(
            platform_of_file("gpx_a", "gpx_a_windows_amd64.exe"),
            Some(("windows".into(), "amd64".into()))
        );
        assert_eq!(platform_of_file("gpx_a", "gpx_a_linux"), None);
        assert_eq!(platform_of_file("gpx_a", "module.js"), None);
        for platform in PLATFORMS {
            assert!(
                expected_binary(platform.os, platform.arch).is_some(),
                "{platform:?}"
            );
        }
        assert_eq!(
            expected_binary("linux", "arm"),
            Some((Format::Elf, Cpu::Arm))
        );
        assert_eq!(expected_binary("linux", "riscv64"), None);
    }

    #[test]
    fn a_triple_rustc_does_not_know_is_refused_with_the_ones_like_it() {
        let known: Vec<String> = [
            "x86_64-unknown-linux-musl",
            "riscv64gc-unknown-linux-musl",
            "riscv64gc-unknown-linux-gnu",
            "aarch64-apple-darwin",
        ]
        .map(String::from)
        .to_vec();
        let good = parse("riscv64gc-unknown-linux-musl=linux/riscv64", "linux").unwrap();
        assert!(check_known(&[good, parse("linux/arm", "linux").unwrap()], &known).is_ok());
        let typo = parse("riscv64-unknown-linux-musl=linux/riscv64", "linux").unwrap();
        let error = check_known(&[typo], &known).unwrap_err().to_string();
        assert!(
            error.starts_with("--target riscv64-unknown-linux-musl=linux/riscv64: \"riscv64-unknown-linux-musl\" is not a Rust target this rustc knows; known targets like it: x86_64-unknown-linux-musl, riscv64gc-unknown-linux-musl, riscv64gc-unknown-linux-gnu"),
            "{error}"
        );
        // Many alike: the few closest, not all of them.
        let many: Vec<String> = (0..40)
            .map(|n| format!("x86_64-vendor{n}-os{n}"))
            .chain(["x86_64-unknown-linux-gnu".to_owned()])
            .collect();
        let typo = parse("x86_64-unknown-nonsense=linux/amd64", "linux").unwrap();
        let error = check_known(&[typo], &many).unwrap_err().to_string();
        let listed = error
            .split("known targets like it: ")
            .nth(1)
            .and_then(|rest| rest.split(" (all").next())
            .unwrap();
        assert_eq!(listed.split(", ").count(), 5, "{error}");
        assert!(listed.starts_with("x86_64-unknown-linux-gnu, "), "{error}");
        let nonsense = parse("foo-bar-baz=linux/amd64", "linux").unwrap();
        let error = check_known(&[nonsense], &known).unwrap_err().to_string();
        assert!(
            error.contains(
                "is not a Rust target this rustc knows; use a platform of the table (linux/amd64, "
            ) && error.ends_with("(all 4: `rustc --print target-list`)"),
            "{error}"
        );
    }
}
