//! Minimal, well-formed executable headers (ELF, Mach-O, PE) for tests that need a binary of
//! a given kind without a toolchain for it: what `validate`, `package` and `dev` read. Next to
//! the reader ([`crate::binary`]) and built from the same tables: the CPU numbers of
//! [`Cpu`] and the platforms of [`crate::targets::PLATFORMS`].
//!
//! Compiled for this crate's tests, and for other crates with the `fixtures` feature (this
//! repository's test harness); not part of the tool.

pub use crate::binary::Cpu;
use crate::{binary::Format, targets::Platform};

/// The header numbers of `cpu` (a fixture is only made for a CPU of the table).
fn numbers(cpu: Cpu) -> (u16, u32, u16) {
    cpu.numbers()
        .unwrap_or_else(|| panic!("no header numbers for {cpu:?}"))
}

/// A 64-bit little-endian ELF for `cpu`, with a PT_INTERP when `interpreter` is given and a
/// `.debug_info` section when `debug` is set.
pub fn elf(cpu: Cpu, interpreter: Option<&str>, debug: bool) -> Vec<u8> {
    let mut file = vec![0u8; 64];
    file[..4].copy_from_slice(b"\x7fELF");
    file[4] = 2; // 64-bit
    file[5] = 1; // little-endian
    file[18..20].copy_from_slice(&numbers(cpu).0.to_le_bytes());
    let interp = interpreter.map(|path| format!("{path}\0"));
    let programs = u16::from(interp.is_some());
    file[32..40].copy_from_slice(&64u64.to_le_bytes());
    file[54..56].copy_from_slice(&56u16.to_le_bytes());
    file[56..58].copy_from_slice(&programs.to_le_bytes());
    let names = b"\0.shstrtab\0.debug_info\0";
    let interp_offset = 64 + 56 * usize::from(programs);
    let names_offset = interp_offset + interp.as_ref().map_or(0, String::len);
    let sections_offset = names_offset + names.len();
    if let Some(path) = &interp {
        let mut header = vec![0u8; 56];
        header[..4].copy_from_slice(&3u32.to_le_bytes()); // PT_INTERP
        header[8..16].copy_from_slice(&(interp_offset as u64).to_le_bytes());
        header[32..40].copy_from_slice(&(path.len() as u64).to_le_bytes());
        file.extend(header);
        file.extend(path.as_bytes());
    }
    file.extend(names);
    // Sections: null, .shstrtab, and .debug_info when asked for.
    let count: u16 = if debug { 3 } else { 2 };
    file[40..48].copy_from_slice(&(sections_offset as u64).to_le_bytes());
    file[58..60].copy_from_slice(&64u16.to_le_bytes());
    file[60..62].copy_from_slice(&count.to_le_bytes());
    file[62..64].copy_from_slice(&1u16.to_le_bytes());
    file.extend([0u8; 64]);
    let mut strtab = vec![0u8; 64];
    strtab[..4].copy_from_slice(&1u32.to_le_bytes());
    strtab[24..32].copy_from_slice(&(names_offset as u64).to_le_bytes());
    file.extend(strtab);
    if debug {
        let mut debug_info = vec![0u8; 64];
        debug_info[..4].copy_from_slice(&11u32.to_le_bytes());
        file.extend(debug_info);
    }
    file
}

/// What a thin 64-bit Mach-O fixture says in its load commands.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MachO {
    /// The CPU of the header.
    pub cpu: Cpu,
    /// LC_BUILD_VERSION's minimum macOS, major and minor.
    pub minos: (u32, u32),
    /// An LC_CODE_SIGNATURE (what linkers write ad hoc).
    pub signed: bool,
    /// LC_LOAD_DYLIB install names.
    pub dylibs: Vec<&'static str>,
}

impl MachO {
    /// What Rust's aarch64-apple-darwin release build is: macOS 11, signed, libSystem.
    pub fn arm64_release() -> MachO {
        MachO {
            cpu: Cpu::Aarch64,
            minos: (11, 0),
            signed: true,
            dylibs: vec!["/usr/lib/libSystem.B.dylib"],
        }
    }

    /// What Rust's x86_64-apple-darwin release build is: macOS 10.12, libSystem.
    pub fn amd64_release() -> MachO {
        MachO {
            cpu: Cpu::X86_64,
            minos: (10, 12),
            ..MachO::arm64_release()
        }
    }
}

/// A thin 64-bit Mach-O executable with the load commands `spec` describes.
pub fn mach_o_with(spec: &MachO) -> Vec<u8> {
    let u32s = |values: &[u32]| {
        values
            .iter()
            .flat_map(|v| v.to_le_bytes())
            .collect::<Vec<u8>>()
    };
    let mut commands: Vec<Vec<u8>> = Vec::new();
    let minos = (spec.minos.0 << 16) | (spec.minos.1 << 8);
    // LC_BUILD_VERSION: platform macOS, minos, sdk, no tools.
    commands.push(u32s(&[0x32, 24, 1, minos, minos, 0]));
    for name in &spec.dylibs {
        // LC_LOAD_DYLIB: the name right after the 24-byte command, padded to 8.
        let size = (24 + name.len() + 1).div_ceil(8) * 8;
        let mut command = u32s(&[0xc, size as u32, 24, 2, 0x0001_0000, 0x0001_0000]);
        command.extend(name.as_bytes());
        command.resize(size, 0);
        commands.push(command);
    }
    if spec.signed {
        // LC_CODE_SIGNATURE: where the signature is (not read by the checks).
        commands.push(u32s(&[0x1d, 16, 0, 0]));
    }
    let size: usize = commands.iter().map(Vec::len).sum();
    // mach_header_64: magic, cputype, cpusubtype, MH_EXECUTE, ncmds, sizeofcmds, flags
    // (PIE), reserved.
    let mut file = u32s(&[
        0xfeed_facf,
        numbers(spec.cpu).1,
        0,
        2,
        commands.len() as u32,
        size as u32,
        0x0020_0000,
        0,
    ]);
    file.extend(commands.concat());
    file
}

/// A thin 64-bit Mach-O release executable for `cpu`, as Rust's darwin targets build it.
pub fn mach_o(cpu: Cpu) -> Vec<u8> {
    let spec = if cpu == Cpu::Aarch64 {
        MachO::arm64_release()
    } else {
        MachO {
            cpu,
            ..MachO::amd64_release()
        }
    };
    mach_o_with(&spec)
}

/// A PE for `cpu` with no sections.
pub fn pe(cpu: Cpu) -> Vec<u8> {
    let mut file = vec![0u8; 0x40];
    file[..2].copy_from_slice(b"MZ");
    file[0x3c..0x40].copy_from_slice(&0x40u32.to_le_bytes());
    file.extend(b"PE\0\0");
    file.extend(numbers(cpu).2.to_le_bytes());
    file.extend([0u8; 18]);
    file
}

/// A release binary with the headers Grafana on `os`/`arch` (Go's names) needs, from the
/// platform table: static ELF, Mach-O or PE for its CPU.
pub fn release_for(os: &str, arch: &str) -> Vec<u8> {
    let platform =
        Platform::of(os, arch).unwrap_or_else(|| panic!("{os}/{arch} is not in the table"));
    match platform.format {
        Format::Elf => elf(platform.cpu, None, false),
        Format::MachO => mach_o(platform.cpu),
        Format::Pe => pe(platform.cpu),
    }
}

/// What a Go backend's build (Mage) leaves for `os`/`arch`: the same headers, and Go's
/// build-information magic at a 16-byte aligned offset, where Go's linker puts it.
pub fn go_for(os: &str, arch: &str) -> Vec<u8> {
    let mut file = release_for(os, arch);
    file.resize(file.len().next_multiple_of(16), 0);
    file.extend_from_slice(b"\xff Go buildinf:\x08\x02");
    file
}
