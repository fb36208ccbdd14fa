//! What macOS checks before it runs a thin 64-bit Mach-O executable, read from its load
//! commands: the oldest macOS it asks for (`LC_BUILD_VERSION` or `LC_VERSION_MIN_MACOSX`),
//! whether it carries a code signature (`LC_CODE_SIGNATURE`: arm64 Macs run only signed
//! code; the ad-hoc signature linkers write is enough), and the dynamic libraries it loads.
//! Pure, like `binary`; checked by `validate` and `package` for every darwin binary.

/// The load commands read.
const LC_LOAD_DYLIB: u32 = 0xc;
const LC_CODE_SIGNATURE: u32 = 0x1d;
const LC_VERSION_MIN_MACOSX: u32 = 0x24;
const LC_BUILD_VERSION: u32 = 0x32;
const LC_LOAD_WEAK_DYLIB: u32 = 0x8000_0018;
const LC_REEXPORT_DYLIB: u32 = 0x8000_001f;
const LC_LOAD_UPWARD_DYLIB: u32 = 0x8000_0023;
/// `LC_BUILD_VERSION`'s platform number for macOS.
const PLATFORM_MACOS: u32 = 1;

/// A macOS version, `major.minor.patch`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Version(pub u32, pub u32, pub u32);

impl Version {
    /// Mach-O's encoding: `xxxx.yy.zz` in nibbles, 0xXXXXYYZZ.
    fn decode(raw: u32) -> Version {
        Version(raw >> 16, (raw >> 8) & 0xff, raw & 0xff)
    }

    /// `11.0`, `10.12`: what MACOSX_DEPLOYMENT_TARGET takes.
    pub fn parse(text: &str) -> Option<Version> {
        let mut parts = text.split('.').map(|part| part.parse::<u32>().ok());
        let major = parts.next()??;
        let minor = parts.next().unwrap_or(Some(0))?;
        let patch = parts.next().unwrap_or(Some(0))?;
        Some(Version(major, minor, patch))
    }
}

impl std::fmt::Display for Version {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.2 {
            0 => write!(f, "{}.{}", self.0, self.1),
            patch => write!(f, "{}.{}.{patch}", self.0, self.1),
        }
    }
}

/// What the load commands say.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct LoadCommands {
    /// The oldest macOS the binary runs on, if it says.
    pub minos: Option<Version>,
    pub code_signature: bool,
    /// Install names of the libraries it loads (`/usr/lib/libSystem.B.dylib`).
    pub dylibs: Vec<String>,
}

/// Reads a thin, little-endian, 64-bit Mach-O's load commands (what Rust's darwin targets
/// produce); `Err` for anything else.
pub fn load_commands(bytes: &[u8]) -> Result<LoadCommands, String> {
    if bytes.get(..4) != Some(&[0xcf, 0xfa, 0xed, 0xfe][..]) {
        return Err("not a thin 64-bit Mach-O".to_owned());
    }
    let count = u32_at(bytes, 16)?;
    let mut offset = 32usize;
    let mut found = LoadCommands::default();
    for _ in 0..count {
        let command = u32_at(bytes, offset)?;
        let size = u32_at(bytes, offset + 4)? as usize;
        if size < 8 || offset.checked_add(size).is_none_or(|end| end > bytes.len()) {
            return Err("a load command runs past the end of the file".to_owned());
        }
        match command {
            LC_BUILD_VERSION if u32_at(bytes, offset + 8)? == PLATFORM_MACOS => {
                found.minos = Some(Version::decode(u32_at(bytes, offset + 12)?));
            }
            LC_VERSION_MIN_MACOSX => {
                found.minos = Some(Version::decode(u32_at(bytes, offset + 8)?));
            }
            LC_CODE_SIGNATURE => found.code_signature = true,
            LC_LOAD_DYLIB | LC_LOAD_WEAK_DYLIB | LC_REEXPORT_DYLIB | LC_LOAD_UPWARD_DYLIB => {
                let name_offset = u32_at(bytes, offset + 8)? as usize;
                let command_bytes = &bytes[offset..offset + size];
                let name = command_bytes
                    .get(name_offset..)
                    .ok_or("a dylib name outside its load command")?;
                let end = name.iter().position(|b| *b == 0).unwrap_or(name.len());
                found
                    .dylibs
                    .push(String::from_utf8_lossy(&name[..end]).into_owned());
            }
            _ => {}
        }
        offset += size;
    }
    Ok(found)
}

fn u32_at(bytes: &[u8], offset: usize) -> Result<u32, String> {
    let raw = offset
        .checked_add(4)
        .and_then(|end| bytes.get(offset..end))
        .ok_or("truncated load commands")?;
    Ok(u32::from_le_bytes(raw.try_into().expect("4 bytes")))
}

/// Whether an install name is part of macOS itself, present on every Mac.
pub fn is_system_library(name: &str) -> bool {
    name.starts_with("/usr/lib/") || name.starts_with("/System/Library/Frameworks/")
}

/// What keeps macOS from starting `name` (a darwin binary whose oldest allowed macOS is
/// `minimum`) on every Mac Grafana supports, each with the fix; empty when nothing does.
pub fn problems(name: &str, bytes: &[u8], arm64: bool, minimum: Version) -> Vec<String> {
    let commands = match load_commands(bytes) {
        Ok(commands) => commands,
        Err(why) => return vec![format!("{name}: its Mach-O load commands: {why}")],
    };
    let mut problems = Vec::new();
    if let Some(minos) = commands.minos.filter(|minos| *minos > minimum) {
        problems.push(format!(
            "{name} asks for macOS {minos} or newer, above the {minimum} Grafana's Macs are \
             promised; build it with MACOSX_DEPLOYMENT_TARGET={minimum} (`cargo xtask build` \
             sets it)"
        ));
    }
    if arm64 && !commands.code_signature {
        problems.push(format!(
            "{name} has no code signature, and arm64 Macs run only signed code; link it with \
             a linker that signs ad hoc (Apple's, zig's or rust-lld's, as `cargo xtask build` \
             does), or sign it: `codesign -s - {name}`"
        ));
    }
    let foreign: Vec<&str> = (commands.dylibs.iter())
        .map(String::as_str)
        .filter(|dylib| !is_system_library(dylib))
        .collect();
    if !foreign.is_empty() {
        problems.push(format!(
            "{name} loads libraries a Mac does not have: {}; only /usr/lib/ and \
             /System/Library/Frameworks/ are on every Mac: link them statically",
            foreign.join(", ")
        ));
    }
    problems
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fixtures::{self as binaries, MachO};

    #[test]
    fn versions_parse_and_compare_as_macos_numbers_them() {
        assert_eq!(Version::parse("11.0"), Some(Version(11, 0, 0)));
        assert_eq!(Version::parse("10.12"), Some(Version(10, 12, 0)));
        assert_eq!(Version::decode(0x000f_0000), Version(15, 0, 0));
        assert_eq!(Version::decode(0x000a_0c00).to_string(), "10.12");
        assert!(Version(15, 0, 0) > Version(11, 0, 0));
        assert!(Version(10, 12, 0) < Version(11, 0, 0));
        assert_eq!(Version::parse("x"), None);
    }

    #[test]
    fn a_signed_binary_of_the_minimum_with_system_libraries_passes() {
        let file = binaries::mach_o_with(&MachO::arm64_release());
        let commands = load_commands(&file).unwrap();
        assert_eq!(commands.minos, Some(Version(11, 0, 0)));
        assert!(commands.code_signature);
        assert_eq!(commands.dylibs, ["/usr/lib/libSystem.B.dylib"]);
        assert!(problems("gpx_a_darwin_arm64", &file, true, Version(11, 0, 0)).is_empty());
    }

    #[test]
    fn a_newer_minimum_no_signature_or_a_foreign_library_is_refused_with_the_fix() {
        let newer = binaries::mach_o_with(&MachO {
            minos: (15, 0),
            ..MachO::arm64_release()
        });
        let found = problems("gpx_a_darwin_arm64", &newer, true, Version(11, 0, 0));
        assert_eq!(found.len(), 1, "{found:?}");
        assert!(
            found[0].contains("asks for macOS 15.0 or newer, above the 11.0")
                && found[0].contains("MACOSX_DEPLOYMENT_TARGET=11.0"),
            "{found:?}"
        );
        let unsigned = binaries::mach_o_with(&MachO {
            signed: false,
            ..MachO::arm64_release()
        });
        let found = problems("gpx_a_darwin_arm64", &unsigned, true, Version(11, 0, 0));
        assert!(
            found.len() == 1 && found[0].contains("has no code signature"),
            "{found:?}"
        );
        // x86_64 Macs run unsigned code.
        assert!(problems("gpx_a_darwin_amd64", &unsigned, false, Version(11, 0, 0)).is_empty());
        let brew = binaries::mach_o_with(&MachO {
            dylibs: vec![
                "/usr/lib/libSystem.B.dylib",
                "/opt/homebrew/opt/openssl@3/lib/libssl.3.dylib",
            ],
            ..MachO::arm64_release()
        });
        let found = problems("gpx_a_darwin_arm64", &brew, true, Version(11, 0, 0));
        assert!(
            found.len() == 1 && found[0].contains("/opt/homebrew/opt/openssl@3/lib/libssl.3.dylib"),
            "{found:?}"
        );
        let truncated = &binaries::mach_o_with(&MachO::arm64_release())[..40];
        assert!(load_commands(truncated).is_err());
    }
}
