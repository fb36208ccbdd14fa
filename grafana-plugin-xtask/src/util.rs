//! Small helpers more than one command needs, each spelled once: the running cargo, walking
//! a directory tree, SOURCE_DATE_EPOCH, UTC dates, looking up tools, hex.
use std::{
    env,
    fs::{self, File},
    path::{Path, PathBuf},
    time::SystemTime,
};

use anyhow::{Context, Result, bail};

/// The cargo that runs us (`CARGO`, set by `cargo run`), or the one on PATH.
pub fn cargo() -> String {
    env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned())
}

/// One entry below a walked directory: its path relative to it, `/`-separated.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TreeEntry {
    pub relative: String,
    pub path: PathBuf,
    pub is_dir: bool,
}

/// Everything below `dir`, sorted by relative path: directories and regular files only. A
/// symbolic link (it could point outside the repository) or another special file is an
/// error naming it, as is a name that is not UTF-8.
pub fn walk(dir: &Path) -> Result<Vec<TreeEntry>> {
    let mut entries = Vec::new();
    for item in walkdir::WalkDir::new(dir).min_depth(1).sort_by_file_name() {
        let item = item.with_context(|| format!("cannot list {}", dir.display()))?;
        let path = item.path();
        let relative = path
            .strip_prefix(dir)
            .expect("walkdir yields paths below its root")
            .to_str()
            .with_context(|| format!("{}: the file name is not UTF-8; rename it", path.display()))?
            .replace('\\', "/");
        let kind = item.file_type();
        refuse_link(path)?;
        if !kind.is_dir() && !kind.is_file() {
            bail!(
                "{}: not a regular file or directory; only those are shipped, remove it",
                path.display()
            );
        }
        entries.push(TreeEntry {
            relative,
            path: path.to_owned(),
            is_dir: kind.is_dir(),
        });
    }
    Ok(entries)
}

/// Refuses a symbolic link at `path`, saying where it points: nothing reaches dist/ or an
/// archive through a link, which could leave the project (`CHANGELOG.md -> /etc/shadow`).
/// Absent paths and everything else pass.
pub fn refuse_link(path: &Path) -> Result<()> {
    let is_link = std::fs::symlink_metadata(path).is_ok_and(|m| m.file_type().is_symlink());
    if is_link {
        let target = std::fs::read_link(path).map_or_else(
            |_| "an unreadable target".to_owned(),
            |t| t.display().to_string(),
        );
        bail!(
            "{}: a symbolic link to {target}; nothing is shipped through a link (it could \
             leave the project): replace it with a copy of the file",
            path.display()
        );
    }
    Ok(())
}

/// Removes what is at `path`, a directory tree, a file or a link (never what a link points
/// to); nothing there is fine. For the tool's own scratch paths under target/.
/// Writes `contents` to `path` whole or not at all, through [`write_atomically`]; creates
/// the parent directories.
pub fn write_atomic(path: &Path, contents: &[u8]) -> Result<()> {
    let parent = path.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(parent)
        .with_context(|| format!("cannot create {}", parent.display()))?;
    write_atomically(
        path,
        |file| {
            std::io::Write::write_all(file, contents)
                .with_context(|| format!("cannot write {}", path.display()))
        },
        |_| Ok(()),
    )
}

/// Runs `fill` on a temporary file beside `out`, `check` on the written file, then renames
/// it to `out`; removes the temporary file on any failure. The file is flushed to disk before
/// the rename (what ships and what the user wrote).
pub fn write_atomically(
    out: &Path,
    fill: impl FnOnce(&mut File) -> Result<()>,
    check: impl FnOnce(&Path) -> Result<()>,
) -> Result<()> {
    write_then_rename(out, true, fill, check)
}

/// [`write_atomically`] without flushing to disk first: for `dist/`'s files during `dev`, which
/// the next build writes again anyway (a debug binary's flush costs a reload tens of ms).
pub fn replace_atomically(
    out: &Path,
    fill: impl FnOnce(&mut File) -> Result<()>,
    check: impl FnOnce(&Path) -> Result<()>,
) -> Result<()> {
    write_then_rename(out, false, fill, check)
}

/// The one write-then-rename of the crate: a temporary `.<name>.<pid>.partial` beside `out`
/// (earlier runs' leftovers removed first), removed again on every failure.
fn write_then_rename(
    out: &Path,
    sync: bool,
    fill: impl FnOnce(&mut File) -> Result<()>,
    check: impl FnOnce(&Path) -> Result<()>,
) -> Result<()> {
    let name = out
        .file_name()
        .context("an output path needs a file name")?
        .to_string_lossy();
    let temporary = out.with_file_name(format!(".{name}.{}.partial", std::process::id()));
    remove_leftover_partials(out, &name)?;
    let result = (|| {
        let mut file = File::create(&temporary)
            .with_context(|| format!("cannot create {}", temporary.display()))?;
        fill(&mut file)?;
        if sync {
            file.sync_all()
                .with_context(|| format!("cannot write {}", temporary.display()))?;
        }
        drop(file);
        check(&temporary)?;
        fs::rename(&temporary, out)
            .with_context(|| format!("cannot rename {} to {}", temporary.display(), out.display()))
    })();
    if result.is_err() {
        let _ = fs::remove_file(&temporary);
    }
    result
}

/// Removes the temporary files of earlier runs that were interrupted before their rename
/// (`.<name>.<pid>.partial` beside `out`).
fn remove_leftover_partials(out: &Path, name: &str) -> Result<()> {
    let dir = match out.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir,
        _ => Path::new("."),
    };
    let Ok(entries) = fs::read_dir(dir) else {
        return Ok(());
    };
    for entry in entries.flatten() {
        let file_name = entry.file_name();
        if file_name.to_str().and_then(partial_of) == Some(name) {
            remove_path_if_present(&entry.path())?;
        }
    }
    Ok(())
}

/// The file a write-then-rename temporary named `file_name` (`.<name>.<pid>.partial`) was
/// being written for, or `None` when `file_name` is not such a temporary.
pub fn partial_of(file_name: &str) -> Option<&str> {
    let (name, pid) = file_name
        .strip_prefix('.')?
        .strip_suffix(".partial")?
        .rsplit_once('.')?;
    (!name.is_empty() && !pid.is_empty() && pid.bytes().all(|b| b.is_ascii_digit())).then_some(name)
}

/// Whether process `pid` still runs (on Unix; elsewhere assumed so, which keeps what it owns).
pub fn process_alive(pid: u32) -> bool {
    #[cfg(unix)]
    {
        let Ok(pid) = i32::try_from(pid) else {
            return false;
        };
        // Signal 0 checks existence (EPERM: it exists, owned by someone else).
        !matches!(
            nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), None),
            Err(nix::errno::Errno::ESRCH)
        )
    }
    #[cfg(not(unix))]
    {
        let _ = pid;
        true
    }
}

pub fn remove_path_if_present(path: &Path) -> Result<()> {
    let Ok(metadata) = std::fs::symlink_metadata(path) else {
        return Ok(());
    };
    let removed = if metadata.is_dir() {
        std::fs::remove_dir_all(path)
    } else {
        std::fs::remove_file(path)
    };
    match removed {
        Err(error) if error.kind() != std::io::ErrorKind::NotFound => {
            Err(error).with_context(|| format!("cannot remove {}", path.display()))
        }
        _ => Ok(()),
    }
}

/// `SOURCE_DATE_EPOCH` (reproducible builds pin the time with it), when set.
pub fn source_date_epoch() -> Result<Option<i64>> {
    match env::var("SOURCE_DATE_EPOCH") {
        Ok(value) => value.trim().parse().map(Some).with_context(|| {
            format!(
                "environment variable SOURCE_DATE_EPOCH is {value:?}; set it to Unix seconds or unset it"
            )
        }),
        Err(_) => Ok(None),
    }
}

/// Now, or `SOURCE_DATE_EPOCH` when set, in Unix seconds.
pub fn now_or_source_date_epoch() -> Result<i64> {
    Ok(source_date_epoch()?.unwrap_or_else(|| {
        SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs() as i64)
    }))
}

/// UTC `YYYY-MM-DD` of a Unix time.
pub fn utc_date(unix_seconds: i64) -> String {
    let (year, month, day, ..) = civil(unix_seconds);
    format!("{year:04}-{month:02}-{day:02}")
}

/// UTC (year, month, day, hour, minute, second) of a Unix time (Howard Hinnant's
/// `civil_from_days`).
pub fn civil(unix_seconds: i64) -> (i64, u8, u8, u8, u8, u8) {
    let days = unix_seconds.div_euclid(86_400);
    let second_of_day = unix_seconds.rem_euclid(86_400);
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let day_of_era = z.rem_euclid(146_097);
    let year_of_era =
        (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let month_index = (5 * day_of_year + 2) / 153;
    let day = day_of_year - (153 * month_index + 2) / 5 + 1;
    let month = if month_index < 10 {
        month_index + 3
    } else {
        month_index - 9
    };
    let year = year_of_era + era * 400 + i64::from(month <= 2);
    let (hour, minute, second) = (
        second_of_day / 3600,
        second_of_day % 3600 / 60,
        second_of_day % 60,
    );
    (
        year,
        month as u8,
        day as u8,
        hour as u8,
        minute as u8,
        second as u8,
    )
}

/// The first `name` (`name.exe` on Windows) in a PATH directory.
pub fn on_path(name: &str) -> Option<PathBuf> {
    let path = env::var_os("PATH")?;
    env::split_paths(&path)
        .map(|dir| dir.join(format!("{name}{}", env::consts::EXE_SUFFIX)))
        .find(|candidate| candidate.is_file())
}

/// Whether a container engine (`docker`, `podman`) is installed and its daemon answers.
/// Whether a container engine answers `ENGINE info` within 10 s (a stuck engine socket
/// makes it hang: that counts as no engine).
pub fn engine_answers(engine: &str) -> bool {
    on_path(engine).is_some() && {
        let mut info = crate::spawn::command(engine);
        info.arg("info");
        matches!(
            crate::spawn::output_within(info, std::time::Duration::from_secs(10), 64 * 1024),
            Ok(Some(output)) if output.status.success()
        )
    }
}

/// `fs::canonicalize` without Windows' verbatim prefix (`\\?\C:\…` becomes `C:\…`, and
/// `\\?\UNC\server\…` becomes `\\server\…`): paths as cargo and the user write them, so
/// they compare with cargo's and can be written into a manifest.
pub fn canonical(path: &Path) -> std::io::Result<PathBuf> {
    fs::canonicalize(path).map(|path| without_verbatim_prefix(&path))
}

fn without_verbatim_prefix(path: &Path) -> PathBuf {
    let Some(text) = path.to_str() else {
        return path.to_owned();
    };
    if let Some(unc) = text.strip_prefix(r"\\?\UNC\") {
        return PathBuf::from(format!(r"\\{unc}"));
    }
    match text.strip_prefix(r"\\?\") {
        Some(rest) if rest.as_bytes().get(1) == Some(&b':') => PathBuf::from(rest),
        _ => path.to_owned(),
    }
}

pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn windows_verbatim_prefixes_are_dropped_and_nothing_else() {
        for (verbatim, plain) in [
            (r"\\?\C:\work\app", r"C:\work\app"),
            (r"\\?\UNC\server\share\app", r"\\server\share\app"),
            (r"\\?\Volume{0}\app", r"\\?\Volume{0}\app"),
            (r"C:\work\app", r"C:\work\app"),
            ("/home/me/app", "/home/me/app"),
        ] {
            assert_eq!(
                without_verbatim_prefix(Path::new(verbatim)),
                PathBuf::from(plain)
            );
        }
    }

    #[test]
    fn utc_dates_match_known_days() {
        assert_eq!(utc_date(0), "1970-01-01");
        assert_eq!(utc_date(951_782_400), "2000-02-29");
        assert_eq!(utc_date(1_795_478_399), "2026-11-23");
        assert_eq!(utc_date(1_795_478_400), "2026-11-24");
        assert_eq!(utc_date(-1), "1969-12-31");
        assert_eq!(utc_date(4_107_542_400), "2100-03-01");
        assert_eq!(civil(1_795_485_845), (2026, 11, 24, 2, 4, 5));
    }

    #[test]
    fn walk_lists_directories_and_files_sorted_and_refuses_links() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("img")).unwrap();
        std::fs::write(dir.path().join("module.js"), "").unwrap();
        std::fs::write(dir.path().join("img/logo.svg"), "").unwrap();
        let entries: Vec<(String, bool)> = walk(dir.path())
            .unwrap()
            .into_iter()
            .map(|e| (e.relative, e.is_dir))
            .collect();
        assert_eq!(
            entries,
            vec![
                ("img".to_owned(), true),
                ("img/logo.svg".to_owned(), false),
                ("module.js".to_owned(), false)
            ]
        );
        #[cfg(unix)]
        {
            std::os::unix::fs::symlink("/etc/passwd", dir.path().join("img/link")).unwrap();
            let error = walk(dir.path()).unwrap_err().to_string();
            assert!(
                error.contains("img/link: a symbolic link to /etc/passwd; nothing is shipped"),
                "{error}"
            );
        }
    }
}
