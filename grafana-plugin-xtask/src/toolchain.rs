//! Which build back end builds which target, and what is missing when none can. The probe of
//! the machine (`Environment::probe`) is the I/O half; `choose` is pure and tested with faked
//! environments.
use std::{
    env,
    path::{Path, PathBuf},
};

use anyhow::{Context, Result};
use xshell::Shell;

use crate::{
    spawn::cmd,
    targets::BuildTarget,
    util::{self, on_path},
};

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Backend {
    /// cargo itself; musl targets link with rust-lld, no C cross compiler needed.
    Cargo,
    /// cargo-zigbuild: zig as the linker (linux, windows-gnu; darwin with SDKROOT).
    Zigbuild,
    /// cross: builds in a container; needs a running Docker or Podman engine.
    Cross,
}

impl Backend {
    pub fn name(self) -> &'static str {
        match self {
            Backend::Cargo => "cargo",
            Backend::Zigbuild => "zigbuild",
            Backend::Cross => "cross",
        }
    }
}

/// What this machine offers, probed once before planning.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Environment {
    /// Rust's name of the host OS (`linux`, `macos`, `windows`).
    pub host_os: String,
    /// `rustc -vV`'s release, e.g. `1.95.0`; the toolchain cross is pinned to.
    pub rustc_release: String,
    /// Targets whose standard library is in the sysroot.
    pub installed_std: Vec<String>,
    pub rustup: bool,
    pub rust_lld: bool,
    pub zigbuild: bool,
    pub cross: bool,
    /// `docker info` or `podman info` answered.
    pub container_engine: bool,
    /// `x86_64-w64-mingw32-gcc`, cargo's default linker for windows-gnu.
    pub mingw_linker: bool,
    /// A nightly toolchain with rust-src, for `-Zbuild-std`.
    pub nightly_rust_src: bool,
    /// `SDKROOT` points at a macOS SDK (darwin from a non-macOS host).
    pub sdkroot: bool,
    /// Without one, darwin links through zig against the CoreFoundation stub written here
    /// (`<target>/xtask/macos-sdk`).
    pub stub_sdk: Option<std::path::PathBuf>,
    /// `cargo-auditable` is on PATH: optimized builds embed their dependency list (set by
    /// the build, whether the machine was probed or not).
    pub auditable: bool,
}

/// The one framework the plugin links that zig does not ship (core-foundation-sys, through
/// chrono's iana-time-zone), as a text-based stub (TAPI v4): names only, the symbols the
/// crates reference, no code of Apple's. With fat LTO none of them stays bound.
const COREFOUNDATION_TBD: &str = "--- !tapi-tbd
tbd-version:     4
targets:         [ x86_64-macos, arm64-macos, arm64e-macos ]
install-name:    '/System/Library/Frameworks/CoreFoundation.framework/Versions/A/CoreFoundation'
current-version: 1971
compatibility-version: 150
exports:
  - targets:         [ x86_64-macos, arm64-macos, arm64e-macos ]
    symbols:         [ _CFRelease, _CFStringGetBytes, _CFStringGetCStringPtr, _CFStringGetLength,
                       _CFTimeZoneCopySystem, _CFTimeZoneGetName, _CFTimeZoneResetSystem ]
...
";

/// Writes the stub SDK folder zig links darwin binaries against (SDKROOT), unless it is
/// there already as written.
pub fn write_stub_sdk(dir: &std::path::Path) -> anyhow::Result<()> {
    let framework = dir.join("System/Library/Frameworks/CoreFoundation.framework");
    let file = framework.join("CoreFoundation.tbd");
    if std::fs::read_to_string(&file).is_ok_and(|text| text == COREFOUNDATION_TBD) {
        return Ok(());
    }
    crate::util::write_atomic(&file, COREFOUNDATION_TBD.as_bytes())
}

/// How one target will be built.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Choice {
    pub backend: Backend,
    /// The standard library is built from source with nightly `-Zbuild-std`.
    pub build_std: bool,
    /// `rustup target add` must run first.
    pub install_std: bool,
}

/// Picks the back end for `target`, or says what is missing and how to get it.
pub fn choose(
    target: &BuildTarget,
    env: &Environment,
    forced: Option<Backend>,
    check_only: bool,
) -> Result<Choice, String> {
    let Some(triple) = target.triple.as_deref() else {
        return Ok(Choice {
            backend: Backend::Cargo,
            build_std: false,
            install_std: false,
        });
    };
    let platform = target.platform_name();
    let backend = match forced {
        Some(Backend::Zigbuild) if !env.zigbuild => {
            return Err(format!(
                "{platform}: cargo-zigbuild is not installed; run `pip install cargo-zigbuild` (it brings zig)"
            ));
        }
        Some(Backend::Cross) if !env.cross => {
            return Err(format!(
                "{platform}: cross is not installed; run `cargo install cross`"
            ));
        }
        Some(Backend::Cross) if !env.container_engine => {
            return Err(format!(
                "{platform}: cross needs a running Docker or Podman engine and none answered; start one, or use --backend cargo/zigbuild"
            ));
        }
        Some(backend) => backend,
        None if check_only => Backend::Cargo,
        None if target.is_darwin() => {
            if env.host_os == "macos" {
                Backend::Cargo
            } else if env.zigbuild && (env.sdkroot || env.stub_sdk.is_some()) {
                // zig links Mach-O; the one framework it lacks comes from SDKROOT or the stub.
                Backend::Zigbuild
            } else {
                return Err(format!(
                    "{platform}: linking for macOS from {} needs zig: `pip install \
                     cargo-zigbuild` (it brings zig; this tool writes the CoreFoundation stub it \
                     links against), or build darwin on a Mac; `--check-only` type-checks it here",
                    env.host_os
                ));
            }
        }
        None if target.is_windows_gnu() => {
            if env.host_os == "windows" || env.mingw_linker {
                Backend::Cargo
            } else if env.zigbuild {
                Backend::Zigbuild
            } else if env.cross && env.container_engine {
                Backend::Cross
            } else {
                return Err(format!(
                    "{platform}: no linker for {triple}; install MinGW-w64 (`apt install gcc-mingw-w64-x86-64`, \
                     `brew install mingw-w64`) or cargo-zigbuild (`pip install cargo-zigbuild`)"
                ));
            }
        }
        None if target.is_linux_musl() && !env.rust_lld => {
            if env.zigbuild {
                Backend::Zigbuild
            } else {
                return Err(format!(
                    "{platform}: rust-lld is not in this toolchain (install Rust with rustup) and cargo-zigbuild \
                     is not installed (`pip install cargo-zigbuild`)"
                ));
            }
        }
        None => Backend::Cargo,
    };
    // cross brings the standard library inside its image.
    if backend == Backend::Cross || env.installed_std.iter().any(|t| t == triple) {
        return Ok(Choice {
            backend,
            build_std: false,
            install_std: false,
        });
    }
    if env.rustup {
        return Ok(Choice {
            backend,
            build_std: false,
            install_std: true,
        });
    }
    build_std_choice(target, env).ok_or_else(|| {
        format!("{platform}: the standard library for {triple} is not installed; run `rustup target add {triple}`")
    })
}

/// Building std from source needs nightly with rust-src; for musl targets also zig, because
/// `-Zbuild-std` builds Rust's std but not musl's C library and start files, which only the
/// (missing) rust-std component ships and zig brings.
fn build_std_choice(target: &BuildTarget, env: &Environment) -> Option<Choice> {
    if !env.nightly_rust_src {
        return None;
    }
    let backend = if target.is_linux_musl() {
        env.zigbuild.then_some(Backend::Zigbuild)?
    } else {
        Backend::Cargo
    };
    Some(Choice {
        backend,
        build_std: true,
        install_std: false,
    })
}

/// The answer when `rustup target add` failed: build std from source if the machine allows.
pub fn after_failed_install(
    target: &BuildTarget,
    env: &Environment,
    rustup_error: &str,
) -> Result<Choice, String> {
    let triple = target.triple_name();
    build_std_choice(target, env).ok_or_else(|| {
        let needs = if target.is_linux_musl() {
            "a nightly toolchain with its source (`rustup toolchain install nightly --component rust-src`) \
             and cargo-zigbuild (`pip install cargo-zigbuild`), whose zig brings musl's C library"
        } else {
            "a nightly toolchain with its source (`rustup toolchain install nightly --component rust-src`)"
        };
        format!(
            "{}: `rustup target add {triple}` failed: {rustup_error}. Where rustup ships no standard \
             library for a target, the xtask builds it from source with -Zbuild-std, given {needs}",
            target.platform_name()
        )
    })
}

impl Environment {
    /// Looks at the machine: compiler, sysroot, tools on PATH, a container engine.
    /// Runs only when targets are given, so a plain host build stays fast.
    pub fn probe(
        sh: &Shell,
        needs: &[BuildTarget],
        forced: Option<Backend>,
    ) -> Result<Environment> {
        let rustc = env::var("RUSTC").unwrap_or_else(|_| "rustc".to_owned());
        let version = cmd!(sh, "{rustc} -vV")
            .quiet()
            .read()
            .context("cannot run `rustc -vV`")?;
        let field = |name: &str| {
            version
                .lines()
                .find_map(|line| line.strip_prefix(name))
                .unwrap_or_default()
                .trim()
                .to_owned()
        };
        let host = field("host:");
        let sysroot = PathBuf::from(
            cmd!(sh, "{rustc} --print sysroot")
                .quiet()
                .read()
                .context("cannot run `rustc --print sysroot`")?,
        );
        let installed_std: Vec<String> = needs
            .iter()
            .filter_map(|t| t.triple.clone())
            .filter(|triple| {
                sysroot
                    .join("lib/rustlib")
                    .join(triple)
                    .join("lib")
                    .is_dir()
            })
            .collect();
        let wants = |name: &str| {
            needs.iter().any(|t| match name {
                "windows" => t.is_windows_gnu(),
                "darwin" => t.is_darwin(),
                _ => false,
            })
        };
        let cross = on_path("cross").is_some();
        let container_engine = (cross && (wants("windows") || forced == Some(Backend::Cross)))
            && ["docker", "podman"]
                .iter()
                .any(|engine| util::engine_answers(engine));
        let rustup = on_path("rustup").is_some();
        // Only a target without its std may need nightly's -Zbuild-std: asking rustup about
        // nightly costs a tenth of a second on every build otherwise.
        let nightly_rust_src = rustup
            && std_missing(needs, &installed_std)
            && cmd!(sh, "rustup run nightly rustc --print sysroot")
                .quiet()
                .ignore_stderr()
                .read()
                .is_ok_and(|root| {
                    Path::new(root.trim())
                        .join("lib/rustlib/src/rust/library")
                        .is_dir()
                });
        Ok(Environment {
            host_os: env::consts::OS.to_owned(),
            rustc_release: field("release:"),
            installed_std,
            rustup,
            rust_lld: sysroot
                .join("lib/rustlib")
                .join(&host)
                .join("bin")
                .join(exe("rust-lld"))
                .is_file(),
            zigbuild: on_path("cargo-zigbuild").is_some(),
            cross,
            container_engine,
            mingw_linker: wants("windows") && on_path("x86_64-w64-mingw32-gcc").is_some(),
            nightly_rust_src,
            sdkroot: env::var_os("SDKROOT").is_some_and(|root| !root.is_empty()),
            // Where the stub SDK goes and whether cargo-auditable is there are the build's to
            // say (build::run), for a probed environment and a plain host build alike.
            ..Environment::default()
        })
    }
}

/// Whether a target among `needs` has no standard library installed (the only case where
/// nightly's `-Zbuild-std` may be wanted).
fn std_missing(needs: &[BuildTarget], installed_std: &[String]) -> bool {
    needs
        .iter()
        .filter_map(|t| t.triple.as_ref())
        .any(|triple| !installed_std.contains(triple))
}

/// Every target this rustc knows (`rustc --print target-list`).
pub fn target_list() -> Result<Vec<String>> {
    let rustc = env::var("RUSTC").unwrap_or_else(|_| "rustc".to_owned());
    let output = crate::spawn::command(&rustc)
        .args(["--print", "target-list"])
        .output()
        .with_context(|| format!("cannot run `{rustc} --print target-list`"))?;
    anyhow::ensure!(
        output.status.success(),
        "`{rustc} --print target-list` failed: {}",
        String::from_utf8_lossy(&output.stderr).trim()
    );
    Ok(String::from_utf8_lossy(&output.stdout)
        .lines()
        .map(str::to_owned)
        .collect())
}

fn exe(name: &str) -> String {
    format!("{name}{}", env::consts::EXE_SUFFIX)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::targets;

    fn linux() -> Environment {
        Environment {
            host_os: "linux".into(),
            rustc_release: "1.95.0".into(),
            installed_std: vec![
                "x86_64-unknown-linux-musl".into(),
                "aarch64-unknown-linux-musl".into(),
            ],
            rustup: true,
            rust_lld: true,
            ..Environment::default()
        }
    }

    fn target(spec: &str, env: &Environment) -> BuildTarget {
        targets::parse(spec, &env.host_os).unwrap()
    }

    fn backend(spec: &str, env: &Environment) -> Result<Backend, String> {
        choose(&target(spec, env), env, None, false).map(|c| c.backend)
    }

    #[test]
    fn musl_builds_with_plain_cargo_and_rust_lld() {
        let env = linux();
        let choice = choose(&target("linux/amd64", &env), &env, None, false).unwrap();
        assert_eq!(
            choice,
            Choice {
                backend: Backend::Cargo,
                build_std: false,
                install_std: false
            }
        );
        let host = targets::host_of("linux", "x86_64").unwrap();
        assert_eq!(
            choose(&host, &Environment::default(), None, false)
                .unwrap()
                .backend,
            Backend::Cargo
        );
    }

    #[test]
    fn nightly_is_asked_about_only_for_a_target_without_its_std() {
        let env = linux();
        let amd64 = target("linux/amd64", &env);
        let arm = target("linux/arm", &env);
        let host = targets::host_of("linux", "x86_64").unwrap();
        assert!(!std_missing(&[amd64.clone(), host], &env.installed_std));
        assert!(std_missing(&[amd64, arm], &env.installed_std));
    }

    #[test]
    fn a_missing_std_is_installed_with_rustup_or_built_from_source() {
        let env = linux();
        let arm = choose(&target("linux/arm", &env), &env, None, false).unwrap();
        assert!(arm.install_std && !arm.build_std);
        let failed =
            after_failed_install(&target("linux/arm", &env), &env, "HTTP 404").unwrap_err();
        assert!(
            failed.starts_with(
                "linux/arm: `rustup target add armv7-unknown-linux-musleabihf` failed: HTTP 404. "
            ),
            "{failed}"
        );
        assert!(failed.contains("rustup toolchain install nightly --component rust-src"));
        assert!(
            failed.contains("pip install cargo-zigbuild"),
            "musl needs zig's C library: {failed}"
        );
        // Nightly alone cannot link musl (no C library or start files); with zig it can.
        let nightly = Environment {
            nightly_rust_src: true,
            ..linux()
        };
        assert!(after_failed_install(&target("linux/arm", &nightly), &nightly, "404").is_err());
        let nightly_zig = Environment {
            nightly_rust_src: true,
            zigbuild: true,
            ..linux()
        };
        let fallback =
            after_failed_install(&target("linux/arm", &nightly_zig), &nightly_zig, "404").unwrap();
        assert_eq!(
            fallback,
            Choice {
                backend: Backend::Zigbuild,
                build_std: true,
                install_std: false
            }
        );
        // A custom non-musl target builds std with plain cargo.
        let custom = target("riscv64gc-unknown-freebsd=freebsd/riscv64", &nightly);
        assert_eq!(
            after_failed_install(&custom, &nightly, "404")
                .unwrap()
                .backend,
            Backend::Cargo
        );

        let no_rustup = Environment {
            rustup: false,
            ..linux()
        };
        let error = backend("linux/arm", &no_rustup).unwrap_err();
        assert_eq!(
            error,
            "linux/arm: the standard library for armv7-unknown-linux-musleabihf is not installed; run `rustup target add armv7-unknown-linux-musleabihf`"
        );
        let no_rustup_nightly_zig = Environment {
            nightly_rust_src: true,
            zigbuild: true,
            ..no_rustup
        };
        assert!(
            choose(
                &target("linux/arm", &no_rustup_nightly_zig),
                &no_rustup_nightly_zig,
                None,
                false
            )
            .unwrap()
            .build_std
        );
    }

    #[test]
    fn darwin_links_natively_on_a_mac_and_through_zig_elsewhere() {
        let error = backend("darwin/arm64", &linux()).unwrap_err();
        assert!(
            error.starts_with(
                "darwin/arm64: linking for macOS from linux needs zig: `pip install cargo-zigbuild`"
            ),
            "{error}"
        );
        assert!(error.contains("on a Mac") && error.contains("--check-only"));
        // zig with the stub the build writes, no SDK needed.
        let zig = Environment {
            zigbuild: true,
            stub_sdk: Some("/repo/target/xtask/macos-sdk".into()),
            ..linux()
        };
        assert_eq!(backend("darwin/arm64", &zig), Ok(Backend::Zigbuild));
        let mac = Environment {
            host_os: "macos".into(),
            ..linux()
        };
        assert_eq!(backend("darwin/arm64", &mac), Ok(Backend::Cargo));
        let sdk = Environment {
            zigbuild: true,
            sdkroot: true,
            ..linux()
        };
        assert_eq!(backend("darwin/amd64", &sdk), Ok(Backend::Zigbuild));
        // Type-checking needs no linker.
        let check = choose(&target("darwin/arm64", &linux()), &linux(), None, true).unwrap();
        assert_eq!(check.backend, Backend::Cargo);
    }

    #[test]
    fn windows_gnu_uses_mingw_then_zig_then_cross() {
        let env = linux();
        let error = backend("windows/amd64", &env).unwrap_err();
        assert!(
            error.contains("install MinGW-w64") && error.contains("pip install cargo-zigbuild"),
            "{error}"
        );
        assert_eq!(
            backend(
                "windows/amd64",
                &Environment {
                    mingw_linker: true,
                    ..linux()
                }
            ),
            Ok(Backend::Cargo)
        );
        assert_eq!(
            backend(
                "windows/amd64",
                &Environment {
                    zigbuild: true,
                    ..linux()
                }
            ),
            Ok(Backend::Zigbuild)
        );
        let cross_up = Environment {
            cross: true,
            container_engine: true,
            ..linux()
        };
        assert_eq!(backend("windows/amd64", &cross_up), Ok(Backend::Cross));
        let cross_down = Environment {
            cross: true,
            container_engine: false,
            ..linux()
        };
        assert!(backend("windows/amd64", &cross_down).is_err());
        let windows = Environment {
            host_os: "windows".into(),
            ..linux()
        };
        assert_eq!(backend("windows/amd64", &windows), Ok(Backend::Cargo));
    }

    #[test]
    fn a_forced_backend_must_be_there() {
        let env = linux();
        let forced = |backend, env: &Environment| {
            choose(&target("linux/arm64", env), env, Some(backend), false)
        };
        assert!(
            forced(Backend::Zigbuild, &env)
                .unwrap_err()
                .contains("pip install cargo-zigbuild")
        );
        assert!(
            forced(Backend::Cross, &env)
                .unwrap_err()
                .contains("cargo install cross")
        );
        let cross_down = Environment {
            cross: true,
            ..linux()
        };
        assert!(
            forced(Backend::Cross, &cross_down)
                .unwrap_err()
                .contains("none answered")
        );
        let cross_up = Environment {
            cross: true,
            container_engine: true,
            ..linux()
        };
        let choice = forced(Backend::Cross, &cross_up).unwrap();
        assert_eq!(
            choice,
            Choice {
                backend: Backend::Cross,
                build_std: false,
                install_std: false
            }
        );
        assert_eq!(
            forced(
                Backend::Zigbuild,
                &Environment {
                    zigbuild: true,
                    ..linux()
                }
            )
            .unwrap()
            .backend,
            Backend::Zigbuild
        );
    }

    #[test]
    fn without_rust_lld_musl_falls_back_to_zig() {
        let no_lld = Environment {
            rust_lld: false,
            ..linux()
        };
        assert!(
            backend("linux/arm64", &no_lld)
                .unwrap_err()
                .contains("rust-lld is not in this toolchain")
        );
        assert_eq!(
            backend(
                "linux/arm64",
                &Environment {
                    zigbuild: true,
                    ..no_lld
                }
            ),
            Ok(Backend::Zigbuild)
        );
    }
}
