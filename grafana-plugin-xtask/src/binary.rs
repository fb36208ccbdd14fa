//! What an executable file is, read from its headers: ELF, Mach-O (thin or universal) or PE,
//! the CPU it is for, whether it needs a dynamic loader (`PT_INTERP`), and whether it
//! carries DWARF debug information. Pure; enough to tell whether Grafana can start a file
//! under the name it has, without running it.

/// An executable format.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    /// ELF (Linux).
    Elf,
    /// Mach-O (macOS), thin or universal.
    MachO,
    /// PE (Windows).
    Pe,
}

impl Format {
    /// `a PE (Windows) executable`, for messages.
    pub fn name(self) -> &'static str {
        match self {
            Format::Elf => "an ELF (Linux) executable",
            Format::MachO => "a Mach-O (macOS) executable",
            Format::Pe => "a PE (Windows) executable",
        }
    }
}

/// A CPU, as the headers name it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Cpu {
    /// x86-64 (Go's amd64).
    X86_64,
    /// 64-bit ARM (Go's arm64).
    Aarch64,
    /// 32-bit ARM.
    Arm,
    /// 32-bit x86.
    X86,
    /// Any other CPU.
    Other,
}

/// The CPUs the headers are read for, with their numbers: (CPU, ELF `e_machine`, Mach-O
/// `cputype`, PE `Machine`). The one mapping between CPUs and header numbers.
const CPU_NUMBERS: [(Cpu, u16, u32, u16); 4] = [
    (Cpu::X86_64, 62, 0x0100_0007, 0x8664),
    (Cpu::Aarch64, 183, 0x0100_000c, 0xaa64),
    (Cpu::Arm, 40, 12, 0x01c4),
    (Cpu::X86, 3, 7, 0x014c),
];

impl Cpu {
    /// The CPU an ELF `e_machine` names.
    pub fn of_elf(machine: u16) -> Cpu {
        (CPU_NUMBERS.iter().find(|row| row.1 == machine)).map_or(Cpu::Other, |row| row.0)
    }

    /// The CPU a Mach-O `cputype` names.
    pub fn of_mach_o(cpu_type: u32) -> Cpu {
        (CPU_NUMBERS.iter().find(|row| row.2 == cpu_type)).map_or(Cpu::Other, |row| row.0)
    }

    /// The CPU a PE `Machine` names.
    pub fn of_pe(machine: u16) -> Cpu {
        (CPU_NUMBERS.iter().find(|row| row.3 == machine)).map_or(Cpu::Other, |row| row.0)
    }

    /// This CPU's (ELF `e_machine`, Mach-O `cputype`, PE `Machine`); `None` for
    /// [`Cpu::Other`].
    pub fn numbers(self) -> Option<(u16, u32, u16)> {
        (CPU_NUMBERS.iter().find(|row| row.0 == self)).map(|row| (row.1, row.2, row.3))
    }

    /// Rust's name of the architecture (`std::env::consts::ARCH`).
    pub fn rust_arch(self) -> &'static str {
        match self {
            Cpu::X86_64 => "x86_64",
            Cpu::Aarch64 => "aarch64",
            Cpu::Arm => "arm",
            Cpu::X86 => "x86",
            Cpu::Other => "",
        }
    }

    /// `32-bit ARM`, for messages.
    pub fn name(self) -> &'static str {
        match self {
            Cpu::X86_64 => "x86_64",
            Cpu::Aarch64 => "aarch64",
            Cpu::Arm => "32-bit ARM",
            Cpu::X86 => "32-bit x86",
            Cpu::Other => "another CPU",
        }
    }
}

/// What the headers say.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Inspected {
    pub format: Format,
    /// One for a thin binary; every slice of a universal Mach-O.
    pub cpus: Vec<Cpu>,
    /// The dynamic loader an ELF asks for (`/lib64/ld-linux-x86-64.so.2`), if any.
    pub interpreter: Option<String>,
    /// A `.debug_info` section (ELF, PE): a debug build, or a release without stripping.
    pub debug_info: bool,
}

/// Reads the headers; `Err` says why the bytes are no executable this knows.
pub fn inspect(bytes: &[u8]) -> Result<Inspected, String> {
    match bytes {
        [0x7f, b'E', b'L', b'F', ..] => elf(bytes),
        [0xcf, 0xfa, 0xed, 0xfe, ..] | [0xce, 0xfa, 0xed, 0xfe, ..] => Ok(Inspected {
            format: Format::MachO,
            cpus: vec![Cpu::of_mach_o(read_u32(bytes, 4, Endian::Little)?)],
            interpreter: None,
            debug_info: false,
        }),
        [0xca, 0xfe, 0xba, 0xbe, ..] => universal(bytes),
        [b'M', b'Z', ..] => pe(bytes),
        _ => Err("not an executable (no ELF, Mach-O or PE header)".to_owned()),
    }
}

/// The magic that starts a Go binary's build information (`.go.buildinfo`, Go 1.13+): a
/// backend built by Mage, not by this tool.
const GO_BUILDINFO: &[u8] = b"\xff Go buildinf:";

/// Go's `buildInfoAlign`: the magic is 16-byte aligned, as Go's own `debug/buildinfo` looks
/// for it (section file offsets keep that alignment); anywhere else it is data.
const GO_ALIGN: usize = 16;

/// Bytes read at a time: a multiple of the alignment, so an aligned magic never straddles
/// two blocks.
const BLOCK: usize = 1 << 20;

/// Whether the file is a Go program's (any format), read a block at a time: a debug build of
/// another platform kept in dist/ is tens of MB, looked at on every build (memchr's search,
/// optimized even in the dev profile the xtask runs in, see Cargo.toml).
pub fn is_go_file(path: &std::path::Path) -> std::io::Result<bool> {
    use std::io::Read;
    let finder = memchr::memmem::Finder::new(GO_BUILDINFO);
    let mut file = std::fs::File::open(path)?;
    let mut block = Vec::with_capacity(BLOCK);
    loop {
        block.clear();
        let filled = file.by_ref().take(BLOCK as u64).read_to_end(&mut block)?;
        if has_aligned_magic(&finder, &block) {
            return Ok(true);
        }
        if filled < BLOCK {
            return Ok(false);
        }
    }
}

/// Whether `needle` is anywhere in the file, read a block at a time (a needle across two
/// blocks is found: each block is searched with the end of the one before).
pub fn file_contains(path: &std::path::Path, needle: &[u8]) -> std::io::Result<bool> {
    use std::io::Read;
    let finder = memchr::memmem::Finder::new(needle);
    let keep = needle.len().saturating_sub(1);
    let mut file = std::fs::File::open(path)?;
    let mut window: Vec<u8> = Vec::with_capacity(BLOCK + keep);
    loop {
        let filled = file.by_ref().take(BLOCK as u64).read_to_end(&mut window)?;
        if finder.find(&window).is_some() {
            return Ok(true);
        }
        if filled < BLOCK {
            return Ok(false);
        }
        let tail = window.len().saturating_sub(keep);
        window.drain(..tail);
    }
}

/// Whether Go's magic is in `bytes` at an aligned place (`bytes` start at an aligned offset
/// of the file).
fn has_aligned_magic(finder: &memchr::memmem::Finder, bytes: &[u8]) -> bool {
    finder.find_iter(bytes).any(|at| at % GO_ALIGN == 0)
}

#[derive(Clone, Copy)]
enum Endian {
    Little,
    Big,
}

fn read(bytes: &[u8], offset: usize, length: usize) -> Result<&[u8], String> {
    offset
        .checked_add(length)
        .and_then(|end| bytes.get(offset..end))
        .ok_or_else(|| "truncated headers".to_owned())
}

fn read_u16(bytes: &[u8], offset: usize, endian: Endian) -> Result<u16, String> {
    let raw: [u8; 2] = read(bytes, offset, 2)?.try_into().expect("2 bytes");
    Ok(match endian {
        Endian::Little => u16::from_le_bytes(raw),
        Endian::Big => u16::from_be_bytes(raw),
    })
}

fn read_u32(bytes: &[u8], offset: usize, endian: Endian) -> Result<u32, String> {
    let raw: [u8; 4] = read(bytes, offset, 4)?.try_into().expect("4 bytes");
    Ok(match endian {
        Endian::Little => u32::from_le_bytes(raw),
        Endian::Big => u32::from_be_bytes(raw),
    })
}

fn read_u64(bytes: &[u8], offset: usize, endian: Endian) -> Result<u64, String> {
    let raw: [u8; 8] = read(bytes, offset, 8)?.try_into().expect("8 bytes");
    Ok(match endian {
        Endian::Little => u64::from_le_bytes(raw),
        Endian::Big => u64::from_be_bytes(raw),
    })
}

fn to_usize(value: u64) -> Result<usize, String> {
    usize::try_from(value).map_err(|_| "offset out of range".to_owned())
}

/// A NUL-terminated name at `offset`.
fn c_string(bytes: &[u8], offset: usize) -> Result<&[u8], String> {
    let rest = bytes.get(offset..).ok_or("truncated string table")?;
    Ok(&rest[..rest.iter().position(|b| *b == 0).unwrap_or(rest.len())])
}

fn elf(bytes: &[u8]) -> Result<Inspected, String> {
    let wide = match bytes.get(4) {
        Some(1) => false,
        Some(2) => true,
        _ => return Err("an ELF file of unknown class".to_owned()),
    };
    let endian = match bytes.get(5) {
        Some(2) => Endian::Big,
        _ => Endian::Little,
    };
    let cpus = vec![Cpu::of_elf(read_u16(bytes, 18, endian)?)];
    // (offset, entry size, count) of the program and section header tables.
    let word = |offset32: usize, offset64: usize| -> Result<usize, String> {
        if wide {
            to_usize(read_u64(bytes, offset64, endian)?)
        } else {
            Ok(read_u32(bytes, offset32, endian)? as usize)
        }
    };
    let half = |offset32: usize, offset64: usize| -> Result<usize, String> {
        Ok(read_u16(bytes, if wide { offset64 } else { offset32 }, endian)? as usize)
    };
    let (program_headers, program_size, programs) = (word(28, 32)?, half(42, 54)?, half(44, 56)?);
    let (section_headers, section_size, sections) = (word(32, 40)?, half(46, 58)?, half(48, 60)?);
    let names_index = half(50, 62)?;

    let mut interpreter = None;
    for index in 0..programs {
        let header = program_headers + index * program_size;
        if read_u32(bytes, header, endian)? == 3 {
            // PT_INTERP: the loader's path is the segment's contents.
            let (offset, size) = if wide {
                (
                    to_usize(read_u64(bytes, header + 8, endian)?)?,
                    to_usize(read_u64(bytes, header + 32, endian)?)?,
                )
            } else {
                (
                    read_u32(bytes, header + 4, endian)? as usize,
                    read_u32(bytes, header + 16, endian)? as usize,
                )
            };
            let path = read(bytes, offset, size)?;
            let path = &path[..path.iter().position(|b| *b == 0).unwrap_or(path.len())];
            interpreter = Some(String::from_utf8_lossy(path).into_owned());
        }
    }

    let section = |index: usize| -> Result<(usize, usize), String> {
        let header = section_headers + index * section_size;
        let name = read_u32(bytes, header, endian)? as usize;
        let offset = if wide {
            to_usize(read_u64(bytes, header + 24, endian)?)?
        } else {
            read_u32(bytes, header + 16, endian)? as usize
        };
        Ok((name, offset))
    };
    let mut debug_info = false;
    if sections > 0 && names_index < sections {
        let (_, names) = section(names_index)?;
        for index in 0..sections {
            let (name, _) = section(index)?;
            if c_string(bytes, names + name)? == b".debug_info" {
                debug_info = true;
            }
        }
    }
    Ok(Inspected {
        format: Format::Elf,
        cpus,
        interpreter,
        debug_info,
    })
}

fn universal(bytes: &[u8]) -> Result<Inspected, String> {
    let count = read_u32(bytes, 4, Endian::Big)? as usize;
    // Java class files share the magic; a universal binary has a handful of slices.
    if count == 0 || count > 16 {
        return Err("not an executable (0xCAFEBABE without Mach-O slices)".to_owned());
    }
    let cpus = (0..count)
        .map(|index| {
            Ok(Cpu::of_mach_o(read_u32(
                bytes,
                8 + index * 20,
                Endian::Big,
            )?))
        })
        .collect::<Result<_, String>>()?;
    Ok(Inspected {
        format: Format::MachO,
        cpus,
        interpreter: None,
        debug_info: false,
    })
}

fn pe(bytes: &[u8]) -> Result<Inspected, String> {
    let header = read_u32(bytes, 0x3c, Endian::Little)? as usize;
    if read(bytes, header, 4)? != b"PE\0\0" {
        return Err("an MZ file without a PE header".to_owned());
    }
    let cpus = vec![Cpu::of_pe(read_u16(bytes, header + 4, Endian::Little)?)];
    let sections = read_u16(bytes, header + 6, Endian::Little)? as usize;
    let symbols = read_u32(bytes, header + 12, Endian::Little)? as usize;
    let symbol_count = read_u32(bytes, header + 16, Endian::Little)? as usize;
    let optional = read_u16(bytes, header + 20, Endian::Little)? as usize;
    let table = header + 24 + optional;
    let mut debug_info = false;
    for index in 0..sections {
        let raw = read(bytes, table + index * 40, 8)?;
        let raw = &raw[..raw.iter().position(|b| *b == 0).unwrap_or(8)];
        // MinGW writes long names (`.debug_info`) as `/<offset>` into the COFF string table.
        let name = match raw.strip_prefix(b"/") {
            Some(offset) => {
                let offset: usize = std::str::from_utf8(offset)
                    .ok()
                    .and_then(|text| text.parse().ok())
                    .ok_or("a bad long section name")?;
                c_string(bytes, symbols + symbol_count * 18 + offset)?
            }
            None => raw,
        };
        debug_info |= name == b".debug_info";
    }
    Ok(Inspected {
        format: Format::Pe,
        cpus,
        interpreter: None,
        debug_info,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fixtures;

    #[test]
    fn a_needle_is_found_anywhere_in_a_file_across_blocks() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("binary");
        let needle = b"grafana-plugin-runtime:handover:v1";
        for at in [0, BLOCK - 10, BLOCK, 2 * BLOCK + 3] {
            let mut bytes = vec![0u8; 3 * BLOCK];
            bytes[at..at + needle.len()].copy_from_slice(needle);
            std::fs::write(&path, &bytes).unwrap();
            assert!(file_contains(&path, needle).unwrap(), "at {at}");
        }
        std::fs::write(&path, vec![0u8; 2 * BLOCK]).unwrap();
        assert!(!file_contains(&path, needle).unwrap());
    }

    #[test]
    fn go_binaries_are_told_by_their_aligned_build_info_magic() {
        let dir = tempfile::tempdir().unwrap();
        let is_go = |bytes: &[u8]| {
            let path = dir.path().join("gpx_backend");
            std::fs::write(&path, bytes).unwrap();
            is_go_file(&path).unwrap()
        };
        for (os, arch) in [
            ("linux", "arm64"),
            ("darwin", "amd64"),
            ("windows", "amd64"),
        ] {
            assert!(is_go(&fixtures::go_for(os, arch)), "{os}/{arch}");
            assert!(!is_go(&fixtures::release_for(os, arch)), "{os}/{arch}");
        }
        // The magic anywhere else is data, not Go's header (Go's reader skips it too).
        let mut unaligned = fixtures::release_for("linux", "amd64");
        unaligned.resize(unaligned.len().next_multiple_of(16) + 3, 0);
        unaligned.extend_from_slice(GO_BUILDINFO);
        assert!(!is_go(&unaligned));
        // Found in any block: the last aligned place of the first, and past it (a large
        // binary's data section is megabytes in).
        for at in [BLOCK - GO_ALIGN, BLOCK, 3 * BLOCK + 5 * GO_ALIGN] {
            let mut large = vec![0; at];
            large.extend_from_slice(GO_BUILDINFO);
            large.extend_from_slice(&[0; 100]);
            assert!(is_go(&large), "at {at}");
            large.insert(0, 0);
            assert!(!is_go(&large), "at {at} + 1");
        }
    }

    #[test]
    fn elf_headers_tell_cpu_loader_and_debug_info() {
        let inspected = inspect(&fixtures::elf(fixtures::Cpu::X86_64, None, false)).unwrap();
        assert_eq!(
            inspected,
            Inspected {
                format: Format::Elf,
                cpus: vec![Cpu::X86_64],
                interpreter: None,
                debug_info: false
            }
        );
        let dynamic = inspect(&fixtures::elf(
            fixtures::Cpu::Aarch64,
            Some("/lib/ld-linux-aarch64.so.1"),
            true,
        ))
        .unwrap();
        assert_eq!(dynamic.cpus, vec![Cpu::Aarch64]);
        assert_eq!(
            dynamic.interpreter.as_deref(),
            Some("/lib/ld-linux-aarch64.so.1")
        );
        assert!(dynamic.debug_info);
    }

    #[test]
    fn mach_o_and_pe_headers_tell_the_cpu() {
        assert_eq!(
            inspect(&fixtures::mach_o(fixtures::Cpu::Aarch64))
                .unwrap()
                .cpus,
            vec![Cpu::Aarch64]
        );
        let windows = inspect(&fixtures::pe(fixtures::Cpu::X86_64)).unwrap();
        assert_eq!(
            (windows.format, windows.cpus),
            (Format::Pe, vec![Cpu::X86_64])
        );
        let mut universal = vec![0xca, 0xfe, 0xba, 0xbe, 0, 0, 0, 2];
        for cpu in [0x0100_0007u32, 0x0100_000c] {
            universal.extend(cpu.to_be_bytes());
            universal.extend([0u8; 16]);
        }
        assert_eq!(
            inspect(&universal).unwrap().cpus,
            vec![Cpu::X86_64, Cpu::Aarch64]
        );
    }

    #[test]
    fn other_bytes_are_not_executables() {
        for bytes in [&b"fake linux/amd64 binary"[..], b"\x7fELF", b"MZ", b""] {
            assert!(inspect(bytes).is_err(), "{bytes:?}");
        }
    }

    #[test]
    fn the_test_binary_itself_is_read() {
        // This test runs from a real executable of the host: its headers must parse.
        let me = std::fs::read(std::env::current_exe().unwrap()).unwrap();
        let inspected = inspect(&me).unwrap();
        if cfg!(target_os = "linux") {
            assert_eq!(inspected.format, Format::Elf);
            // A debug test binary carries DWARF.
            assert!(inspected.debug_info);
        }
        if cfg!(target_arch = "x86_64") {
            assert!(inspected.cpus.contains(&Cpu::X86_64));
        }
    }
}
