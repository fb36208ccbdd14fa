//! Grafana plugin archives: one root directory named after the plugin, entries (directories
//! included) in sorted order, Unix modes (0755 for backend binaries and directories, 0644
//! otherwise) marked as made on Unix, one fixed timestamp, deflate level 9 compressed on
//! every core. Written to a temporary file, read back and verified, then renamed into place.
use std::{
    fs::{self, File},
    io::{self, BufWriter, Read, Write},
    path::{Path, PathBuf},
    thread,
};

use anyhow::{Context, Result, ensure};

use crate::util;
pub(crate) use crate::util::write_atomically;
use sha1::Sha1;
use sha2::{Digest, Sha256};
use zip::{
    CompressionMethod, DateTime, HasZipMetadata, PreparedZipFile, System, ZipArchive, ZipWriter,
    write::SimpleFileOptions,
};

/// One entry of the archive. Paths use `/` and start with the root directory.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Entry {
    pub path: String,
    /// The file to store; `None` for a directory.
    pub source: Option<PathBuf>,
    pub mode: u32,
}

/// The entries of `dir` below the root directory `root`: directories and files, sorted by
/// path; files whose name starts with `executable_prefix` are backend binaries (0755).
pub fn entries_of(dir: &Path, root: &str, executable_prefix: &str) -> Result<Vec<Entry>> {
    let mut entries = vec![Entry {
        path: format!("{root}/"),
        source: None,
        mode: 0o755,
    }];
    for item in util::walk(dir)? {
        let name = item.relative.rsplit('/').next().unwrap_or_default();
        entries.push(if item.is_dir {
            Entry {
                path: format!("{root}/{}/", item.relative),
                source: None,
                mode: 0o755,
            }
        } else {
            Entry {
                path: format!("{root}/{}", item.relative),
                mode: if name.starts_with(executable_prefix) {
                    0o755
                } else {
                    0o644
                },
                source: Some(item.path),
            }
        });
    }
    entries.sort_by(|a, b| a.path.cmp(&b.path));
    Ok(entries)
}

/// A timestamp for every entry: DOS time, so clamped to 1980..=2107 and even seconds.
pub fn dos_time(unix_seconds: i64) -> DateTime {
    let (year, month, day, hour, minute, second) = crate::util::civil(unix_seconds);
    DateTime::from_date_and_time(
        year.clamp(1980, 2107) as u16,
        month,
        day,
        hour,
        minute,
        second,
    )
    .unwrap_or_default()
}

fn options(mode: u32, time: DateTime) -> SimpleFileOptions {
    SimpleFileOptions::default()
        .compression_method(CompressionMethod::Deflated)
        .compression_level(Some(9))
        .last_modified_time(time)
        .unix_permissions(mode)
        // Made on Unix whatever the host: an archive marked as made on FAT/NTFS extracts
        // without its modes, and a backend binary that is not 0755 fails validation.
        .system(System::Unix)
}

/// Writes the archive to `out` atomically: a temporary file beside it, read back and
/// verified against `entries`, then checked by `accept` (package validates it), then renamed.
/// On any error nothing is left under `out` or the temporary name.
pub fn write(
    out: &Path,
    entries: &[Entry],
    time: DateTime,
    accept: impl FnOnce(&Path) -> Result<()>,
) -> Result<()> {
    write_atomically(
        out,
        |file| write_zip(file, entries, time),
        |written| {
            verify(written, entries)?;
            accept(written)
        },
    )
}

fn write_zip(file: &mut File, entries: &[Entry], time: DateTime) -> Result<()> {
    let prepared = compress_in_parallel(entries, time)?;
    let mut zip = ZipWriter::new(BufWriter::new(file));
    for (entry, prepared) in entries.iter().zip(prepared) {
        match prepared {
            None => {
                zip.add_directory(entry.path.trim_end_matches('/'), options(entry.mode, time))?
            }
            Some(prepared) => zip.add_prepared_file(prepared)?,
        }
    }
    zip.finish()?.flush()?;
    Ok(())
}

/// Deflates every file on its own core share; results come back in entry order.
fn compress_in_parallel(entries: &[Entry], time: DateTime) -> Result<Vec<Option<PreparedZipFile>>> {
    let threads = thread::available_parallelism()
        .map_or(1, |n| n.get())
        .min(entries.len().max(1));
    // Largest files first, dealt round-robin, so the threads finish together.
    let mut order: Vec<usize> = (0..entries.len()).collect();
    let size = |i: &usize| {
        entries[*i]
            .source
            .as_ref()
            .and_then(|p| fs::metadata(p).ok())
            .map_or(0, |m| m.len())
    };
    order.sort_by_key(|i| std::cmp::Reverse(size(i)));
    let mut results: Vec<Option<PreparedZipFile>> = (0..entries.len()).map(|_| None).collect();
    thread::scope(|scope| -> Result<()> {
        let workers: Vec<_> = (0..threads)
            .map(|worker| {
                let mine: Vec<usize> = order
                    .iter()
                    .copied()
                    .skip(worker)
                    .step_by(threads)
                    .collect();
                scope.spawn(move || -> Result<Vec<(usize, PreparedZipFile)>> {
                    let mut done = Vec::new();
                    for index in mine {
                        let entry = &entries[index];
                        if let Some(source) = &entry.source {
                            let prepared = PreparedZipFile::from_path(
                                &entry.path,
                                source,
                                options(entry.mode, time),
                            )
                            .with_context(|| format!("cannot compress {}", source.display()))?;
                            done.push((index, prepared));
                        }
                    }
                    Ok(done)
                })
            })
            .collect();
        for worker in workers {
            for (index, prepared) in worker.join().expect("a compression thread panicked")? {
                results[index] = Some(prepared);
            }
        }
        Ok(())
    })?;
    Ok(results)
}

/// What an entry of an archive says about itself, read back.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReadEntry {
    pub path: String,
    pub is_dir: bool,
    /// Unix mode bits, when the entry was made on Unix.
    pub unix_mode: Option<u32>,
    pub made_on_unix: bool,
    /// The contents (a link's target, for a symbolic link); empty when `oversized`.
    pub data: Vec<u8>,
    /// Larger than [`ENTRY_CAP`], or past [`ARCHIVE_CAP`]: not read (the size it declared,
    /// or at least the cap).
    pub oversized: Option<u64>,
}

impl ReadEntry {
    /// A symbolic link (Unix mode `S_IFLNK`): its target is its contents.
    pub fn is_symlink(&self) -> bool {
        self.unix_mode
            .is_some_and(|mode| mode & 0o170000 == 0o120000)
    }
}

/// Where `package` writes archives unless told otherwise: `<root>/target/package/`.
pub fn out_dir(root: &Path) -> std::path::PathBuf {
    root.join("target").join("package")
}

/// The release archive's name: `<id>-<version>.zip`; with a platform, the archive of that
/// platform's binary alone (`--per-platform`): `<id>-<version>.<os>_<arch>.zip`.
pub fn archive_name(
    id: &str,
    version: &str,
    platform: Option<&crate::targets::BuildTarget>,
) -> String {
    match platform {
        None => format!("{id}-{version}.zip"),
        Some(target) => format!("{id}-{version}.{}_{}.zip", target.os, target.arch),
    }
}

/// The most one entry may hold, uncompressed, to be read: far above any plugin's file (a
/// Go plugin's binary is tens of megabytes), far below what a zip bomb declares.
pub const ENTRY_CAP: u64 = 128 << 20;
/// The most read from one archive in all: what validate holds in memory stays below it.
pub const ARCHIVE_CAP: u64 = 192 << 20;

/// Reads every entry, contents included, as untrusted input: an entry larger than
/// [`ENTRY_CAP`] (declared or found while reading) and everything past [`ARCHIVE_CAP`] is
/// left unread and marked `oversized`, so memory stays bounded whatever sizes the archive
/// declares. The zip reader checks each CRC-32 of what it reads whole.
pub fn read(path: &Path) -> Result<Vec<ReadEntry>> {
    let file = File::open(path).with_context(|| format!("cannot open {}", path.display()))?;
    let mut archive = ZipArchive::new(io::BufReader::new(file))
        .with_context(|| format!("{}: not a zip archive", path.display()))?;
    let mut entries = Vec::with_capacity(archive.len().min(4096));
    let mut total = 0u64;
    for index in 0..archive.len() {
        let entry = archive.by_index(index)?;
        let name = entry.name()?.into_owned();
        let (is_dir, unix_mode) = (entry.is_dir(), entry.unix_mode());
        let made_on_unix = entry.get_metadata().system == System::Unix;
        let cap = ENTRY_CAP.min(ARCHIVE_CAP.saturating_sub(total));
        let declared = entry.size();
        let mut data = Vec::new();
        let mut oversized = (declared > cap).then_some(declared);
        if oversized.is_none() {
            // At most cap + 1 bytes, whatever the header said: one more than the cap tells
            // a lying header.
            let mut limited = entry.take(cap + 1);
            data.reserve(declared.min(1 << 20) as usize);
            limited
                .read_to_end(&mut data)
                .with_context(|| format!("{}: entry {name} is corrupt", path.display()))?;
            if data.len() as u64 > cap {
                oversized = Some(data.len() as u64);
                data = Vec::new();
            }
        }
        total += data.len() as u64;
        entries.push(ReadEntry {
            path: name,
            is_dir,
            unix_mode,
            made_on_unix,
            data,
            oversized,
        });
    }
    Ok(entries)
}

/// Checks a written archive against the entries it was made from: names and order, modes,
/// and contents (through their CRC-32 and a byte comparison).
pub fn verify(path: &Path, entries: &[Entry]) -> Result<()> {
    let read = read(path)?;
    let names: Vec<&str> = read.iter().map(|e| e.path.as_str()).collect();
    let expected: Vec<&str> = entries.iter().map(|e| e.path.as_str()).collect();
    ensure!(
        names == expected,
        "{}: entries read back differ from those written",
        path.display()
    );
    for (entry, got) in entries.iter().zip(&read) {
        ensure!(
            got.made_on_unix,
            "{}: {} is not marked as made on Unix",
            path.display(),
            got.path
        );
        let mode = got.unix_mode.map(|m| m & 0o777);
        let shown = mode.map_or("none".to_owned(), |m| format!("{m:o}"));
        ensure!(
            mode == Some(entry.mode),
            "{}: {} has mode {shown}, not {:o}",
            path.display(),
            got.path,
            entry.mode
        );
        if let Some(source) = &entry.source {
            let original =
                fs::read(source).with_context(|| format!("cannot read {}", source.display()))?;
            ensure!(
                original == got.data,
                "{}: {} differs from {}",
                path.display(),
                got.path,
                source.display()
            );
        }
    }
    Ok(())
}

/// `(sha1 hex, sha256 hex)` of a file.
pub fn digests(path: &Path) -> Result<(String, String)> {
    let mut file = File::open(path).with_context(|| format!("cannot open {}", path.display()))?;
    let (mut sha1, mut sha256) = (Sha1::new(), Sha256::new());
    let mut buffer = vec![0u8; 1 << 16];
    loop {
        let read = file
            .read(&mut buffer)
            .with_context(|| format!("cannot read {}", path.display()))?;
        if read == 0 {
            break;
        }
        sha1.update(&buffer[..read]);
        sha256.update(&buffer[..read]);
    }
    Ok((util::hex(&sha1.finalize()), util::hex(&sha256.finalize())))
}

pub fn sha256_hex(data: &[u8]) -> String {
    util::hex(&Sha256::digest(data))
}

/// Where the checksums of `archive` go: `<archive>.sha1` and `<archive>.sha256`.
pub fn checksum_paths(archive: &Path) -> [PathBuf; 2] {
    ["sha1", "sha256"].map(|kind| {
        let mut name = archive.as_os_str().to_owned();
        name.push(format!(".{kind}"));
        PathBuf::from(name)
    })
}

/// An archive's digests (hex) and the files that carry them.
#[derive(Clone, Debug)]
pub struct Checksums {
    pub sha1: String,
    pub sha256: String,
    /// `<archive>.sha1`, `<archive>.sha256`.
    pub files: [PathBuf; 2],
}

/// Writes `<archive>.sha1` (the hex digest, as plugin-actions and Grafana's submission form
/// use) and `<archive>.sha256` (`sha256sum --check` format), each atomically.
pub fn write_checksums(archive: &Path) -> Result<Checksums> {
    let (sha1, sha256) = digests(archive)?;
    let name = archive
        .file_name()
        .context("archive without a file name")?
        .to_string_lossy()
        .into_owned();
    let files = checksum_paths(archive);
    write_atomically(&files[0], |file| Ok(writeln!(file, "{sha1}")?), |_| Ok(()))?;
    write_atomically(
        &files[1],
        |file| Ok(writeln!(file, "{sha256}  {name}")?),
        |_| Ok(()),
    )?;
    Ok(Checksums {
        sha1,
        sha256,
        files,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::util::hex;
    use anyhow::bail;

    /// A dist-like tree with fake binaries: no real build needed.
    fn fake_tree() -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        fs::create_dir_all(root.join("img")).unwrap();
        fs::write(root.join("plugin.json"), "{}").unwrap();
        fs::write(
            root.join("module.js"),
            "define([], function () {});\n".repeat(200),
        )
        .unwrap();
        fs::write(root.join("img/logo.svg"), "<svg/>").unwrap();
        fs::write(
            root.join("gpx_x_linux_amd64"),
            b"\x7fELF binary ".repeat(5000),
        )
        .unwrap();
        fs::write(
            root.join("gpx_x_windows_amd64.exe"),
            b"MZ binary ".repeat(5000),
        )
        .unwrap();
        dir
    }

    const TIME: i64 = 1_795_478_400;

    fn entries(tree: &Path) -> Vec<Entry> {
        entries_of(tree, "acme-x-app", "gpx_x_").unwrap()
    }

    #[test]
    fn entries_are_sorted_with_directories_and_modes() {
        let tree = fake_tree();
        let listed: Vec<(String, u32)> = entries(tree.path())
            .into_iter()
            .map(|e| (e.path, e.mode))
            .collect();
        let expected: Vec<(String, u32)> = [
            ("acme-x-app/", 0o755),
            ("acme-x-app/gpx_x_linux_amd64", 0o755),
            ("acme-x-app/gpx_x_windows_amd64.exe", 0o755),
            ("acme-x-app/img/", 0o755),
            ("acme-x-app/img/logo.svg", 0o644),
            ("acme-x-app/module.js", 0o644),
            ("acme-x-app/plugin.json", 0o644),
        ]
        .map(|(p, m)| (p.to_owned(), m))
        .to_vec();
        assert_eq!(listed, expected);
    }

    #[test]
    fn the_same_inputs_give_the_same_bytes_and_modes_read_back() {
        let tree = fake_tree();
        let out = tempfile::tempdir().unwrap();
        let (first, second) = (out.path().join("a.zip"), out.path().join("b.zip"));
        write(&first, &entries(tree.path()), dos_time(TIME), |_| Ok(())).unwrap();
        write(&second, &entries(tree.path()), dos_time(TIME), |_| Ok(())).unwrap();
        assert_eq!(
            fs::read(&first).unwrap(),
            fs::read(&second).unwrap(),
            "not reproducible"
        );
        let read = read(&first).unwrap();
        assert!(read.iter().all(|e| e.made_on_unix));
        let mode = |path: &str| {
            read.iter()
                .find(|e| e.path == path)
                .unwrap()
                .unix_mode
                .unwrap()
                & 0o777
        };
        assert_eq!(mode("acme-x-app/gpx_x_linux_amd64"), 0o755);
        assert_eq!(mode("acme-x-app/module.js"), 0o644);
        assert_eq!(mode("acme-x-app/img/"), 0o755);
        // A different time is a different archive.
        let third = out.path().join("c.zip");
        write(
            &third,
            &entries(tree.path()),
            dos_time(TIME + 86_400),
            |_| Ok(()),
        )
        .unwrap();
        assert_ne!(fs::read(&first).unwrap(), fs::read(&third).unwrap());
    }

    #[cfg(unix)]
    #[test]
    fn extracted_files_keep_their_modes() {
        use std::os::unix::fs::PermissionsExt;
        let tree = fake_tree();
        let out = tempfile::tempdir().unwrap();
        let zip_path = out.path().join("a.zip");
        write(&zip_path, &entries(tree.path()), dos_time(TIME), |_| Ok(())).unwrap();
        let mode = |path: &Path| fs::metadata(path).unwrap().permissions().mode() & 0o777;

        let by_crate = out.path().join("by-crate");
        ZipArchive::new(File::open(&zip_path).unwrap())
            .unwrap()
            .extract(&by_crate)
            .unwrap();
        assert_eq!(mode(&by_crate.join("acme-x-app/gpx_x_linux_amd64")), 0o755);
        assert_eq!(mode(&by_crate.join("acme-x-app/module.js")), 0o644);

        // Info-ZIP's unzip is what most people (and scripts) extract with.
        let by_unzip = out.path().join("by-unzip");
        match crate::spawn::command("unzip")
            .arg("-q")
            .arg(&zip_path)
            .arg("-d")
            .arg(&by_unzip)
            .status()
        {
            Ok(status) => {
                assert!(status.success());
                assert_eq!(mode(&by_unzip.join("acme-x-app/gpx_x_linux_amd64")), 0o755);
                assert_eq!(mode(&by_unzip.join("acme-x-app/plugin.json")), 0o644);
            }
            Err(error) => {
                use std::io::Write as _;
                let _ = writeln!(
                    io::stderr(),
                    "SKIPPED extraction with unzip: not installed ({error})"
                );
            }
        }
    }

    #[test]
    fn checksum_files_verify() {
        let tree = fake_tree();
        let out = tempfile::tempdir().unwrap();
        let zip_path = out.path().join("acme-x-app-1.0.0.zip");
        write(&zip_path, &entries(tree.path()), dos_time(TIME), |_| Ok(())).unwrap();
        let checksums = write_checksums(&zip_path).unwrap();
        let [sha1_path, sha256_path] = &checksums.files;
        let bytes = fs::read(&zip_path).unwrap();
        assert_eq!(checksums.sha1, hex(&Sha1::digest(&bytes)));
        assert_eq!(checksums.sha256, sha256_hex(&bytes));
        assert_eq!(
            fs::read_to_string(sha1_path).unwrap(),
            format!("{}\n", hex(&Sha1::digest(&bytes)))
        );
        assert_eq!(
            fs::read_to_string(sha256_path).unwrap(),
            format!("{}  acme-x-app-1.0.0.zip\n", sha256_hex(&bytes))
        );
        // And in the format `sha256sum --check` reads, when it is installed.
        if let Ok(output) = crate::spawn::command("sha256sum")
            .arg("--check")
            .arg(sha256_path)
            .current_dir(out.path())
            .output()
        {
            assert!(
                output.status.success(),
                "{}",
                String::from_utf8_lossy(&output.stderr)
            );
        }
    }

    #[test]
    fn a_failure_mid_write_or_in_verification_leaves_no_file() {
        let out = tempfile::tempdir().unwrap();
        let target = out.path().join("plugin.zip");
        let error = write_atomically(
            &target,
            |file| {
                file.write_all(b"PK half an archive")?;
                bail!("disk full (simulated)")
            },
            |_| Ok(()),
        )
        .unwrap_err();
        assert_eq!(error.to_string(), "disk full (simulated)");
        assert_eq!(
            fs::read_dir(out.path()).unwrap().count(),
            0,
            "a partial file was left"
        );

        let error = write_atomically(
            &target,
            |file| Ok(file.write_all(b"not a zip")?),
            |written| verify(written, &[]),
        )
        .unwrap_err();
        assert!(error.to_string().contains("not a zip archive"), "{error:#}");
        assert_eq!(
            fs::read_dir(out.path()).unwrap().count(),
            0,
            "an unverified file was left"
        );

        // An existing archive under the final name survives a failed rewrite.
        fs::write(&target, "previous").unwrap();
        let _ = write_atomically(&target, |_| bail!("interrupted"), |_| Ok(()));
        assert_eq!(fs::read_to_string(&target).unwrap(), "previous");

        // An archive that its caller refuses (package's validation) never takes the name.
        let tree = fake_tree();
        let error = write(&target, &entries(tree.path()), dos_time(TIME), |written| {
            assert!(written != target.as_path() && written.is_file());
            bail!("[readme] README.md is empty")
        })
        .unwrap_err();
        assert_eq!(error.to_string(), "[readme] README.md is empty");
        assert_eq!(fs::read_to_string(&target).unwrap(), "previous");
        assert_eq!(
            fs::read_dir(out.path()).unwrap().count(),
            1,
            "a temporary was left"
        );
    }

    #[test]
    fn an_entry_over_the_cap_is_left_unread_and_the_others_are_read() {
        let out = tempfile::tempdir().unwrap();
        let path = out.path().join("bomb.zip");
        let mut zip = ZipWriter::new(File::create(&path).unwrap());
        let options = SimpleFileOptions::default().compression_method(CompressionMethod::Deflated);
        zip.start_file("plugin/README.md", options).unwrap();
        zip.write_all(b"# Plugin\n").unwrap();
        // Compresses to a fraction of a megabyte; declares its size honestly.
        zip.start_file("plugin/img/screenshot.png", options)
            .unwrap();
        let zeros = vec![0u8; 1 << 20];
        for _ in 0..(ENTRY_CAP >> 20) + 1 {
            zip.write_all(&zeros).unwrap();
        }
        zip.finish().unwrap();
        assert!(fs::metadata(&path).unwrap().len() < 2 << 20);
        let entries = read(&path).unwrap();
        assert_eq!(entries[0].data, b"# Plugin\n");
        assert_eq!(entries[0].oversized, None);
        assert_eq!(entries[1].oversized, Some(ENTRY_CAP + (1 << 20)));
        assert!(entries[1].data.is_empty());
    }

    #[test]
    fn an_interrupted_runs_partial_file_is_removed_by_the_next_run() {
        let out = tempfile::tempdir().unwrap();
        let target = out.path().join("plugin.zip");
        // What a run killed mid-write leaves (its pid differs from ours), beside a user's file
        // that merely looks alike.
        fs::write(out.path().join(".plugin.zip.4242.partial"), "half").unwrap();
        fs::write(out.path().join(".plugin.zip.notes.partial"), "mine").unwrap();
        write_atomically(&target, |file| Ok(file.write_all(b"whole")?), |_| Ok(())).unwrap();
        let mut left: Vec<String> = fs::read_dir(out.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        left.sort();
        assert_eq!(left, [".plugin.zip.notes.partial", "plugin.zip"]);
    }

    #[test]
    fn verification_catches_a_wrong_mode_or_content() {
        let tree = fake_tree();
        let out = tempfile::tempdir().unwrap();
        let zip_path = out.path().join("a.zip");
        let mut entries = entries(tree.path());
        write(&zip_path, &entries, dos_time(TIME), |_| Ok(())).unwrap();
        entries[5].mode = 0o755;
        assert!(
            verify(&zip_path, &entries)
                .unwrap_err()
                .to_string()
                .contains("has mode 644, not 755")
        );
        entries[5].mode = 0o644;
        fs::write(tree.path().join("module.js"), "changed").unwrap();
        assert!(
            verify(&zip_path, &entries)
                .unwrap_err()
                .to_string()
                .contains("differs from")
        );
    }
}
