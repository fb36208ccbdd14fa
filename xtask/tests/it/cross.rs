//! Cross builds that need a piece this machine may not have: each test checks for it first
//! and, when it is missing, prints `SKIPPED <test>: <reason>` and returns. With the piece
//! present the binary is built by `cargo xtask build --target …` in a scratch copy of the
//! repository, checked, and launched through the handshake/gRPC harness.
use std::{
    fs,
    path::{Path, PathBuf},
    process::Command,
};

use grafana_plugin_xtask::api::{Platform, Runner};

use crate::scratch::{PLUGIN_ID, Scratch, text};

pub fn sysroot_has_std(triple: &str) -> bool {
    let Ok(output) = Command::new("rustc").args(["--print", "sysroot"]).output() else {
        return false;
    };
    let sysroot = PathBuf::from(String::from_utf8_lossy(&output.stdout).trim());
    sysroot
        .join("lib/rustlib")
        .join(triple)
        .join("lib")
        .is_dir()
}

pub fn on_path(name: &str) -> Option<PathBuf> {
    std::env::split_paths(&std::env::var_os("PATH")?)
        .map(|dir| dir.join(name))
        .find(|candidate| candidate.is_file())
}

/// The ELF program header types of a 64-bit little-endian binary.
fn elf_program_header_types(binary: &Path) -> Vec<u32> {
    let bytes = fs::read(binary).unwrap();
    assert_eq!(&bytes[..4], b"\x7fELF", "{} is not ELF", binary.display());
    assert_eq!(bytes[4], 2, "64-bit");
    let read_u16 = |at: usize| u16::from_le_bytes([bytes[at], bytes[at + 1]]) as usize;
    let phoff = u64::from_le_bytes(bytes[0x20..0x28].try_into().unwrap()) as usize;
    let (entry_size, count) = (read_u16(0x36), read_u16(0x38));
    (0..count)
        .map(|index| {
            let at = phoff + index * entry_size;
            u32::from_le_bytes(bytes[at..at + 4].try_into().unwrap())
        })
        .collect()
}

const PT_INTERP: u32 = 3;

/// Builds `platform` in a scratch copy (debug profile, shared target dir) and returns the
/// binary in the scratch dist/.
fn build(scratch: &Scratch, platform: &str, file: &str) -> PathBuf {
    let output = scratch.xtask(&["build", "--debug", "--target", platform]);
    assert!(output.status.success(), "{}", text(&output.stderr));
    let stderr = text(&output.stderr);
    assert!(
        stderr.contains(&format!("{platform} (")) && stderr.contains("with cargo + rust-lld"),
        "{stderr}"
    );
    let binary = scratch.root().join("dist").join(file);
    assert!(binary.is_file(), "{stderr}");
    binary
}

#[tokio::test]
async fn linux_amd64_is_static_musl_and_serves() {
    const TEST: &str = "linux_amd64_is_static_musl_and_serves";
    if !cfg!(all(target_os = "linux", target_arch = "x86_64")) {
        return harness::skip(TEST, "runs only on an x86_64 Linux host");
    }
    if !sysroot_has_std("x86_64-unknown-linux-musl") {
        return harness::skip(
            TEST,
            "no std for x86_64-unknown-linux-musl; run `rustup target add x86_64-unknown-linux-musl`",
        );
    }
    let scratch = Scratch::new();
    let binary = build(&scratch, "linux/amd64", "gpx_service_checks_linux_amd64");
    let headers = elf_program_header_types(&binary);
    assert!(
        !headers.contains(&PT_INTERP),
        "has a program interpreter, so it is not static: {headers:?}"
    );
    harness::assert_serves(None, &binary, PLUGIN_ID)
        .await
        .unwrap();
}

#[tokio::test]
async fn linux_arm64_is_static_musl_and_serves_under_qemu() {
    const TEST: &str = "linux_arm64_is_static_musl_and_serves_under_qemu";
    if !cfg!(target_os = "linux") {
        return harness::skip(TEST, "runs only on a Linux host");
    }
    if !sysroot_has_std("aarch64-unknown-linux-musl") {
        return harness::skip(
            TEST,
            "no std for aarch64-unknown-linux-musl; run `rustup target add aarch64-unknown-linux-musl`",
        );
    }
    // What runs it on an x86_64 machine, from the platform table the tool builds from.
    let Some(Runner::Qemu(emulator)) =
        Platform::of("linux", "arm64").map(|platform| platform.runner)
    else {
        panic!("the table runs linux/arm64 under qemu");
    };
    let runner = if cfg!(target_arch = "aarch64") {
        None
    } else {
        on_path(emulator)
    };
    if runner.is_none() && !cfg!(target_arch = "aarch64") {
        return harness::skip(
            TEST,
            &format!("{emulator} is not installed (Debian: apt install qemu-user)"),
        );
    }
    let scratch = Scratch::new();
    let binary = build(&scratch, "linux/arm64", "gpx_service_checks_linux_arm64");
    let headers = elf_program_header_types(&binary);
    assert!(!headers.contains(&PT_INTERP), "not static: {headers:?}");
    harness::assert_serves(runner.as_deref(), &binary, PLUGIN_ID)
        .await
        .unwrap();
}

/// A WINEPREFIX that runs Rust (1.78+) Windows binaries, made once under the test run's
/// target directory (never `~/.wine`): `wineboot --init`, then a `bcryptprimitives.dll`
/// exporting `ProcessPrng` (which Wine 8 lacks) built from `harness/wine/` with MinGW into
/// its system32. Returns the variables to run Wine with, or why it cannot be made.
fn wine_environment(wine: &Path) -> Result<Vec<(&'static str, String)>, String> {
    let dir = crate::scratch::shared_target_dir().join("wine");
    let (prefix, home) = (dir.join("prefix"), dir.join("home"));
    fs::create_dir_all(&home).map_err(|e| e.to_string())?;
    let env = vec![
        ("WINEPREFIX", prefix.display().to_string()),
        ("HOME", home.display().to_string()),
        ("WINEDEBUG", "-all".to_owned()),
        // No Mono or Gecko installer, no desktop menu entries.
        (
            "WINEDLLOVERRIDES",
            "mscoree,mshtml=;winemenubuilder.exe=d".to_owned(),
        ),
    ];
    let run = |program: &Path, args: &[&str]| -> Result<(), String> {
        let output = Command::new(program)
            .args(args)
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .envs(env.iter().map(|(k, v)| (k, v)))
            .output()
            .map_err(|e| format!("cannot run {}: {e}", program.display()))?;
        if output.status.success() {
            Ok(())
        } else {
            Err(format!(
                "{} {} failed: {}",
                program.display(),
                args.join(" "),
                text(&output.stderr).trim()
            ))
        }
    };
    let dll = dir.join("bcryptprimitives.dll");
    let source = Path::new(env!("CARGO_MANIFEST_DIR")).join("../harness/wine/bcryptprimitives.c");
    let gcc = on_path("x86_64-w64-mingw32-gcc").ok_or("no MinGW C compiler")?;
    run(
        &gcc,
        &[
            "-shared",
            "-O2",
            "-o",
            dll.to_str().unwrap(),
            source.to_str().unwrap(),
            "-ladvapi32",
        ],
    )?;
    if !prefix.join("system.reg").is_file() {
        run(wine, &["wineboot", "--init"])?;
    }
    let system32 = prefix.join("drive_c/windows/system32");
    fs::copy(&dll, system32.join("bcryptprimitives.dll"))
        .map_err(|e| format!("cannot copy the DLL into {}: {e}", system32.display()))?;
    Ok(env)
}

#[tokio::test]
async fn windows_amd64_serves_under_wine() {
    const TEST: &str = "windows_amd64_serves_under_wine";
    let Some(wine) = on_path("wine64").or_else(|| on_path("wine")) else {
        return harness::skip(
            TEST,
            "wine is not installed (Debian: apt install wine64 wine gcc-mingw-w64-x86-64)",
        );
    };
    if !sysroot_has_std("x86_64-pc-windows-gnu") || on_path("x86_64-w64-mingw32-gcc").is_none() {
        return harness::skip(
            TEST,
            "no windows-gnu std or MinGW (rustup target add x86_64-pc-windows-gnu; apt install gcc-mingw-w64-x86-64)",
        );
    }
    let env = match wine_environment(&wine) {
        Ok(env) => env,
        Err(reason) => return harness::skip(TEST, &format!("no usable WINEPREFIX: {reason}")),
    };
    let scratch = Scratch::new();
    let output = scratch.xtask(&["build", "--debug", "--target", "windows/amd64"]);
    assert!(output.status.success(), "{}", text(&output.stderr));
    let binary = scratch
        .root()
        .join("dist/gpx_service_checks_windows_amd64.exe");
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    harness::assert_serves_with(Some(&wine), &binary, PLUGIN_ID, &env)
        .await
        .unwrap();
}

#[test]
fn missing_pieces_are_reported_before_building() {
    // darwin from a non-macOS host without SDKROOT and zig: diagnosed, nothing built.
    if cfg!(target_os = "macos") {
        return harness::skip(
            "missing_pieces_are_reported_before_building",
            "a macOS host can link darwin",
        );
    }
    let Some(path) = crate::scratch::path_without("cargo-zigbuild") else {
        return harness::skip(
            "missing_pieces_are_reported_before_building",
            "cargo-zigbuild sits beside cargo; this machine cannot be shown without zig",
        );
    };
    let no_zig = [("SDKROOT", ""), ("PATH", path.as_str())];
    let scratch = Scratch::new();
    let output = scratch.xtask_env(&["build", "--target", "darwin/arm64"], &no_zig);
    assert!(!output.status.success());
    let stderr = text(&output.stderr);
    let errors: Vec<&str> = stderr.lines().filter(|l| l.starts_with("error:")).collect();
    assert_eq!(errors.len(), 1, "{stderr}");
    assert!(
        errors[0].contains(
            "darwin/arm64: linking for macOS from linux needs zig: `pip install cargo-zigbuild`"
        ),
        "{stderr}"
    );
    assert!(!stderr.contains("Building"), "{stderr}");
    assert!(!scratch.root().join("dist").exists());

    // The plan says the same, as JSON for machines, and exits non-zero: not everything can
    // be built here.
    let output = scratch.xtask_env(
        &["build", "--all", "--dry-run", "--message-format", "json"],
        &no_zig,
    );
    assert!(!output.status.success(), "{}", text(&output.stderr));
    assert!(
        text(&output.stderr)
            .contains("targets cannot be built here (\"missing\" in the JSON above)"),
        "{}",
        text(&output.stderr)
    );
    let plan: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    let platforms: Vec<&str> = plan["targets"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["platform"].as_str().unwrap())
        .collect();
    assert_eq!(
        platforms,
        [
            "linux/amd64",
            "linux/arm64",
            "linux/arm",
            "darwin/amd64",
            "darwin/arm64",
            "windows/amd64"
        ]
    );
    assert!(
        plan["targets"][4]["missing"]
            .as_str()
            .unwrap()
            .contains("pip install cargo-zigbuild")
    );
}

/// Several targets plain cargo can build are built by one cargo invocation; one that fails
/// (a compile error only on aarch64) is reported with its platform while the other is
/// built and assembled, and the failed one's previous binary stays in dist/.
#[test]
fn targets_build_together_and_one_failing_leaves_the_others() {
    const TEST: &str = "targets_build_together_and_one_failing_leaves_the_others";
    for triple in ["x86_64-unknown-linux-musl", "aarch64-unknown-linux-musl"] {
        if !sysroot_has_std(triple) {
            return harness::skip(
                TEST,
                &format!("no std for {triple}; run `rustup target add {triple}`"),
            );
        }
    }
    let scratch = Scratch::new();
    let args = [
        "build",
        "--debug",
        "--target",
        "linux/amd64",
        "--target",
        "linux/arm64",
    ];
    let output = scratch.xtask(&args);
    let stderr = text(&output.stderr);
    assert!(output.status.success(), "{stderr}");
    assert!(
        stderr.contains("Building [1/2] linux/amd64 (x86_64-unknown-linux-musl)")
            && stderr.contains("Building [2/2] linux/arm64 (aarch64-unknown-linux-musl)"),
        "{stderr}"
    );
    let dist = scratch.root().join("dist");
    let (amd64, arm64) = (
        dist.join("gpx_service_checks_linux_amd64"),
        dist.join("gpx_service_checks_linux_arm64"),
    );
    // e_machine: 62 x86-64, 183 AArch64.
    let machine = |path: &Path| {
        let bytes = fs::read(path).unwrap();
        u16::from_le_bytes([bytes[18], bytes[19]])
    };
    assert_eq!((machine(&amd64), machine(&arm64)), (62, 183));

    // A target refused up front (darwin on Linux without zig) is said once and not counted:
    // the two that build are [1/2] and [2/2].
    if let (true, Some(path)) = (
        cfg!(target_os = "linux"),
        crate::scratch::path_without("cargo-zigbuild"),
    ) {
        let mut with_darwin = args.to_vec();
        with_darwin.extend(["--target", "darwin/arm64"]);
        let output = scratch.xtask_env(&with_darwin, &[("SDKROOT", ""), ("PATH", &path)]);
        let stderr = text(&output.stderr);
        assert!(!output.status.success(), "{stderr}");
        assert!(
            stderr.contains("Building [1/2] linux/amd64")
                && stderr.contains("Building [2/2] linux/arm64")
                && !stderr.contains("/3]"),
            "{stderr}"
        );
    }

    let old_amd64 = fs::read(&amd64).unwrap();
    let old_arm64 = fs::read(&arm64).unwrap();
    scratch.edit("plugin/src/health.rs", |s| {
        s.replace(
            "No targets configured yet",
            "No targets configured (edited)",
        ) + "\n#[cfg(target_arch = \"aarch64\")]\ncompile_error!(\"arm64 broken on purpose\");\n"
    });
    let output = scratch.xtask(&args);
    let stderr = text(&output.stderr);
    assert!(!output.status.success(), "{stderr}");
    assert!(stderr.contains("arm64 broken on purpose"), "{stderr}");
    assert!(
        stderr.contains("1 of 2 targets were not built (linux/arm64)"),
        "{stderr}"
    );
    assert_ne!(
        fs::read(&amd64).unwrap(),
        old_amd64,
        "amd64 was not rebuilt"
    );
    assert_eq!(
        fs::read(&arm64).unwrap(),
        old_arm64,
        "arm64's old binary was not kept"
    );
}

/// Both darwin binaries from this (non-macOS) machine, through zig and the CoreFoundation
/// stub the build writes: Mach-O for the right CPU, macOS 11 at most, signed (arm64), only
/// system libraries. Checked by `package`, which refuses a darwin binary failing any of those
/// (the same reader `validate` uses). Debug builds: the link resolves every CoreFoundation
/// symbol through the stub, which a fat-LTO build optimizes away.
#[test]
fn darwin_binaries_build_here_through_zig_and_pass_the_mac_checks() {
    const TEST: &str = "darwin_binaries_build_here_through_zig_and_pass_the_mac_checks";
    if cfg!(target_os = "macos") {
        return harness::skip(
            TEST,
            "a Mac builds darwin natively (tested by CI's macOS job)",
        );
    }
    if on_path("cargo-zigbuild").is_none() {
        return harness::skip(
            TEST,
            "cargo-zigbuild is not installed (`pip install cargo-zigbuild`)",
        );
    }
    for triple in ["aarch64-apple-darwin", "x86_64-apple-darwin"] {
        if !sysroot_has_std(triple) {
            return harness::skip(
                TEST,
                &format!("no std for {triple}; run `rustup target add {triple}`"),
            );
        }
    }
    let scratch = Scratch::new();
    let targets = ["--target", "darwin/arm64", "--target", "darwin/amd64"];
    let mut build = vec!["build", "--debug"];
    build.extend(targets);
    let output = scratch.xtask_env(&build, &[("SDKROOT", "")]);
    let stderr = text(&output.stderr);
    assert!(output.status.success(), "{stderr}");
    assert!(
        stderr.contains("darwin/arm64 (aarch64-apple-darwin) with zigbuild"),
        "{stderr}"
    );
    let stub = crate::scratch::shared_target_dir().join(
        "xtask/macos-sdk/System/Library/Frameworks/CoreFoundation.framework/CoreFoundation.tbd",
    );
    assert!(
        stub.is_file(),
        "the stub SDK was not written at {}",
        stub.display()
    );
    let dist = scratch.root().join("dist");
    for (name, cpu) in [
        ("darwin_arm64", 0x0100_000cu32),
        ("darwin_amd64", 0x0100_0007),
    ] {
        let bytes = fs::read(dist.join(format!("gpx_service_checks_{name}"))).unwrap();
        assert_eq!(
            &bytes[..4],
            &[0xcf, 0xfa, 0xed, 0xfe],
            "{name}: thin 64-bit Mach-O"
        );
        assert_eq!(
            u32::from_le_bytes(bytes[4..8].try_into().unwrap()),
            cpu,
            "{name}"
        );
    }
    let mut package = vec!["package", "--no-build"];
    package.extend(targets);
    let output = scratch.xtask(&package);
    assert!(output.status.success(), "{}", text(&output.stderr));
    assert!(
        scratch
            .root()
            .join(format!("target/package/{PLUGIN_ID}-0.1.0.zip"))
            .is_file()
    );
}
