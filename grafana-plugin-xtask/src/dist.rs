//! Assembling dist/: stage every file in `target/xtask/dist.staging`, then exchange it with
//! dist/ in one step where the OS can (Linux `renameat2(RENAME_EXCHANGE)`, macOS
//! `renamex_np(RENAME_SWAP)`), so there is never a moment without dist/; elsewhere two
//! renames, and a run interrupted between them is repaired by the next one before it does
//! anything else.
use std::{
    fs, io,
    path::{Path, PathBuf},
};

use anyhow::{Context, Result};

use crate::util::remove_path_if_present;

/// dist/: what `build` assembles, Grafana loads and `package` archives.
pub fn dist_dir(root: &Path) -> PathBuf {
    root.join("dist")
}

/// The xtask's own directory in a repository, beside dist/ on the same filesystem.
pub fn scratch_dir(root: &Path) -> PathBuf {
    root.join("target").join("xtask")
}

/// Where, below the scratch directory, the new dist/ is staged and the previous one waits
/// during a two-rename swap.
pub const STAGING_DIR: &str = "dist.staging";
pub const PREVIOUS_DIR: &str = "dist.previous";

/// Values for the placeholders Grafana's create-plugin tooling fills in.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Placeholders {
    pub version: String,
    /// UTC `YYYY-MM-DD`.
    pub today: String,
    pub plugin_id: String,
}

impl Placeholders {
    pub fn fill(&self, text: &str) -> String {
        text.replace("%VERSION%", &self.version)
            .replace("%TODAY%", &self.today)
            .replace("%PLUGIN_ID%", &self.plugin_id)
    }
}

/// A file to put into dist/.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StagedFile {
    pub source: PathBuf,
    /// Path inside dist/, with `/` separators.
    pub dest: String,
    /// Fill placeholders (plugin.json, README.md).
    pub fill: bool,
    /// Mode 0755 (backend binaries); 0644 otherwise.
    pub executable: bool,
    /// A file of the current dist/ kept as it is (another platform's binary): hard-linked
    /// rather than copied where the filesystem allows (debug binaries are tens of MB each).
    /// Safe because a file in dist/ is only ever replaced by a rename, never written in
    /// place; a copy where linking fails.
    pub link: bool,
}

/// Everything that goes into the new dist/, computed before anything is written.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DistPlan {
    pub dist_dir: PathBuf,
    pub staging_dir: PathBuf,
    /// Where the previous dist/ waits while the new one is renamed in.
    pub previous_dir: PathBuf,
    pub files: Vec<StagedFile>,
    pub placeholders: Placeholders,
}

/// Writes the staged tree and swaps it in. On any error dist/ is left as it was.
pub fn assemble(plan: &DistPlan) -> Result<()> {
    recover_interrupted_swap(&plan.dist_dir, &plan.previous_dir)?;
    remove_path_if_present(&plan.staging_dir)?;
    fs::create_dir_all(&plan.staging_dir)
        .with_context(|| format!("cannot create {}", plan.staging_dir.display()))?;
    for file in &plan.files {
        stage_file(&plan.staging_dir, file, &plan.placeholders)?;
    }
    swap_in(&plan.staging_dir, &plan.dist_dir, &plan.previous_dir)
}

fn stage_file(staging_dir: &Path, file: &StagedFile, placeholders: &Placeholders) -> Result<()> {
    let dest = staging_dir.join(&file.dest);
    if let Some(parent) = dest.parent() {
        fs::create_dir_all(parent)
            .with_context(|| format!("cannot create {}", parent.display()))?;
    }
    if file.link {
        // A binary kept from dist/ that is a link would bring its target into dist/.
        crate::util::refuse_link(&file.source)?;
    }
    // One inode in both trees where the file system allows it; else a copy.
    let linked = file.link && !file.fill && fs::hard_link(&file.source, &dest).is_ok();
    if !linked {
        let mut out =
            fs::File::create(&dest).with_context(|| format!("cannot create {}", dest.display()))?;
        write_contents(&mut out, file, placeholders)?;
    }
    set_mode(&dest, if file.executable { 0o755 } else { 0o644 })
}

#[cfg(unix)]
fn set_mode(path: &Path, mode: u32) -> Result<()> {
    use std::os::unix::fs::PermissionsExt;
    fs::set_permissions(path, fs::Permissions::from_mode(mode))
        .with_context(|| format!("cannot set mode {mode:o} on {}", path.display()))
}

#[cfg(not(unix))]
fn set_mode(_path: &Path, _mode: u32) -> Result<()> {
    // Windows has no mode bits; `cargo xtask package` stores Unix modes in the archive.
    Ok(())
}

/// Where dist/ is copied before a create-plugin frontend build writes into it.
pub const BEFORE_DIR: &str = "dist.before";

/// Copies dist/ (contents and modification times) to `copy`, so that a failed build can
/// put it back exactly as it was. `Ok(false)` when there is no dist/. The copy is made beside
/// `copy` and renamed to it when complete: a `copy` that exists is a whole dist/.
pub fn snapshot(dist: &Path, copy: &Path) -> Result<bool> {
    remove_path_if_present(copy)?;
    if !dist.is_dir() {
        return Ok(false);
    }
    let partial = copy.with_file_name(format!(
        "{}.partial",
        copy.file_name().unwrap_or_default().to_string_lossy()
    ));
    remove_path_if_present(&partial)?;
    copy_tree(dist, &partial)?;
    fs::rename(&partial, copy)
        .with_context(|| format!("cannot rename {} to {}", partial.display(), copy.display()))?;
    Ok(true)
}

/// Puts back the dist/ of a build that was interrupted (Ctrl-C, a crash) after its
/// [`snapshot`] and before it put dist/ back or let the copy go: webpack may have emptied or
/// half-written dist/ since, and the copy is the last good one. `Ok(true)` when it did.
pub fn recover_snapshot(dist: &Path, copy: &Path) -> Result<bool> {
    if !copy.is_dir() {
        return Ok(false);
    }
    restore(dist, copy, true)?;
    Ok(true)
}

/// Copies the tree `from` to `to`, keeping modification times.
fn copy_tree(from: &Path, to: &Path) -> Result<()> {
    fs::create_dir_all(to).with_context(|| format!("cannot create {}", to.display()))?;
    for entry in crate::util::walk(from)? {
        let dest = to.join(&entry.relative);
        if entry.is_dir {
            fs::create_dir_all(&dest)
                .with_context(|| format!("cannot create {}", dest.display()))?;
            continue;
        }
        fs::copy(&entry.path, &dest).with_context(|| {
            format!("cannot copy {} to {}", entry.path.display(), dest.display())
        })?;
        let modified = fs::metadata(&entry.path).and_then(|m| m.modified());
        if let Ok(modified) = modified {
            let file = fs::File::options()
                .write(true)
                .open(&dest)
                .with_context(|| format!("cannot open {}", dest.display()))?;
            file.set_modified(modified)
                .with_context(|| format!("cannot set the time of {}", dest.display()))?;
        }
    }
    Ok(())
}

/// Puts dist/ back from its snapshot (or removes it when there was none).
pub fn restore(dist: &Path, copy: &Path, existed: bool) -> Result<()> {
    remove_path_if_present(dist)?;
    if existed {
        fs::rename(copy, dist).with_context(|| {
            format!("cannot put {} back from {}", dist.display(), copy.display())
        })?;
    }
    Ok(())
}

/// Puts back a dist/ that an interrupted two-rename swap left aside: no dist/ but the
/// previous tree means the run stopped between its renames. A previous tree beside a dist/
/// is a leftover of a finished swap and goes.
pub fn recover_interrupted_swap(dist: &Path, previous: &Path) -> Result<()> {
    check_dist_path(dist)?;
    if !previous.is_dir() {
        // Not a tree a swap left (absent, or a stray file): nothing to put back.
        return remove_path_if_present(previous);
    }
    if dist.exists() {
        return remove_path_if_present(previous);
    }
    fs::rename(previous, dist).with_context(|| {
        format!(
            "cannot restore {} from {}, left by an interrupted build; move it back by hand",
            dist.display(),
            previous.display()
        )
    })
}

/// Replaces dist/ with the staged tree: one atomic exchange where the OS has one, else
/// `dist → previous`, `staging → dist`, delete `previous` (undoing the first rename if the
/// second fails). Both live in the repository, so the renames stay on one filesystem.
fn swap_in(staging: &Path, dist: &Path, previous: &Path) -> Result<()> {
    if dist.exists() && exchange(staging, dist).is_ok() {
        // staging/ now holds the old tree; a leftover is removed by the next build.
        let _ = fs::remove_dir_all(staging);
        return Ok(());
    }
    swap_by_renames(staging, dist, previous)
}

/// Swaps two paths in one step, where the OS can.
#[cfg(target_os = "linux")]
fn exchange(a: &Path, b: &Path) -> io::Result<()> {
    use std::{ffi::CString, os::unix::ffi::OsStrExt};
    let (a, b) = (
        CString::new(a.as_os_str().as_bytes())?,
        CString::new(b.as_os_str().as_bytes())?,
    );
    // SAFETY: two NUL-terminated paths that outlive the call; the kernel reads nothing else.
    // The raw syscall works with glibc and musl alike.
    let result = unsafe {
        libc::syscall(
            libc::SYS_renameat2,
            libc::AT_FDCWD,
            a.as_ptr(),
            libc::AT_FDCWD,
            b.as_ptr(),
            libc::RENAME_EXCHANGE,
        )
    };
    if result == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

#[cfg(target_os = "macos")]
fn exchange(a: &Path, b: &Path) -> io::Result<()> {
    use std::{ffi::CString, os::unix::ffi::OsStrExt};
    let (a, b) = (
        CString::new(a.as_os_str().as_bytes())?,
        CString::new(b.as_os_str().as_bytes())?,
    );
    // SAFETY: two NUL-terminated paths that outlive the call.
    let result = unsafe { libc::renamex_np(a.as_ptr(), b.as_ptr(), libc::RENAME_SWAP) };
    if result == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

#[cfg(not(any(target_os = "linux", target_os = "macos")))]
fn exchange(_a: &Path, _b: &Path) -> io::Result<()> {
    Err(io::ErrorKind::Unsupported.into())
}

fn swap_by_renames(staging: &Path, dist: &Path, previous: &Path) -> Result<()> {
    remove_path_if_present(previous)?;
    let had_previous = match fs::rename(dist, previous) {
        Ok(()) => true,
        Err(error) if error.kind() == io::ErrorKind::NotFound => false,
        Err(error) => {
            return Err(error).with_context(|| {
                format!(
                    "cannot move {} aside to replace it (is a program using it?)",
                    dist.display()
                )
            });
        }
    };
    // An interruption here leaves no dist/: recover_interrupted_swap puts it back.
    if let Err(error) = fs::rename(staging, dist) {
        if had_previous {
            let _ = fs::rename(previous, dist);
        }
        return Err(error)
            .with_context(|| format!("cannot rename {} to {}", staging.display(), dist.display()));
    }
    if had_previous {
        // The new dist/ is in place; a leftover is removed by the next build's first step,
        // which reports it if it still cannot be removed.
        let _ = fs::remove_dir_all(previous);
    }
    Ok(())
}

/// dist/ must be a directory of the tool's own, or absent. A symbolic link is refused, not
/// followed or silently replaced: the tool would write through it (into whatever it points
/// at) or swap a real directory in for the user's link. A file there is the user's too.
pub fn check_dist_path(dist: &Path) -> Result<()> {
    let Ok(metadata) = fs::symlink_metadata(dist) else {
        return Ok(());
    };
    if metadata.file_type().is_symlink() {
        let target = fs::read_link(dist).unwrap_or_default();
        anyhow::bail!(
            "{}: a symbolic link to {}; the tool writes dist/ as a directory of its own and \
             never through a link: remove the link (point Grafana or a bind mount at dist/ \
             instead)",
            dist.display(),
            target.display()
        );
    }
    if !metadata.is_dir() {
        anyhow::bail!(
            "{}: a file, not a directory; the tool writes the plugin there: move the file away \
             or remove it",
            dist.display()
        );
    }
    Ok(())
}

/// Rewrites files inside dist/ one by one (each written beside its place, then renamed), for
/// the development loop: a Grafana that serves from dist/ (or a container that bind-mounts
/// it) keeps seeing the same directory.
pub fn refresh_files(
    dist_dir: &Path,
    files: &[StagedFile],
    placeholders: &Placeholders,
) -> Result<()> {
    for file in files {
        let dest = dist_dir.join(&file.dest);
        if let Some(parent) = dest.parent() {
            fs::create_dir_all(parent)
                .with_context(|| format!("cannot create {}", parent.display()))?;
        }
        if file.link {
            crate::util::refuse_link(&file.source)?;
        }
        let mode = if file.executable { 0o755 } else { 0o644 };
        crate::util::replace_atomically(
            &dest,
            |out| write_contents(out, file, placeholders),
            |written| set_mode(written, mode),
        )?;
    }
    Ok(())
}

/// Writes a staged file's contents into `out`: its source, with placeholders filled when it
/// has them.
fn write_contents(
    out: &mut fs::File,
    file: &StagedFile,
    placeholders: &Placeholders,
) -> Result<()> {
    use std::io::Write as _;
    let written = match file.fill {
        true => fs::read_to_string(&file.source)
            .and_then(|text| out.write_all(placeholders.fill(&text).as_bytes())),
        false => {
            fs::File::open(&file.source).and_then(|mut source| io::copy(&mut source, out).map(drop))
        }
    };
    written.with_context(|| format!("cannot copy {} into dist/", file.source.display()))
}

/// Where `replace_binary` moves the binary it replaces (and where its process still runs
/// from until it is stopped).
pub fn aside_path(dest: &Path) -> PathBuf {
    let name = dest.file_name().unwrap_or_default().to_string_lossy();
    dest.with_file_name(format!(".{name}.old"))
}

/// Replaces a backend binary that may be running: the new file is written beside it, the
/// running one renamed aside (allowed for a running executable on every OS, unlike
/// writing over it: ETXTBSY on Linux, a lock on Windows), and the new one renamed in.
/// Returns the path the old binary now has, to delete once its process is gone.
pub fn replace_binary(built: &Path, dest: &Path) -> Result<PathBuf> {
    let aside = aside_path(dest);
    let _ = fs::remove_file(&aside);
    crate::util::replace_atomically(
        dest,
        |out| {
            fs::File::open(built)
                .and_then(|mut source| io::copy(&mut source, out).map(drop))
                .with_context(|| format!("cannot copy {}", built.display()))
        },
        |written| {
            set_mode(written, 0o755)?;
            if dest.exists() {
                fs::rename(dest, &aside)
                    .with_context(|| format!("cannot move {} aside", dest.display()))?;
            }
            Ok(())
        },
    )?;
    Ok(aside)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn placeholders() -> Placeholders {
        Placeholders {
            version: "1.2.3".into(),
            today: "2026-11-24".into(),
            plugin_id: "acme-checks-app".into(),
        }
    }

    #[test]
    fn placeholders_are_filled_everywhere_they_appear() {
        let text = r#"{"version": "%VERSION%", "updated": "%TODAY%", "path": "/a/%PLUGIN_ID%", "again": "%VERSION%"}"#;
        assert_eq!(
            placeholders().fill(text),
            r#"{"version": "1.2.3", "updated": "2026-11-24", "path": "/a/acme-checks-app", "again": "1.2.3"}"#
        );
        assert_eq!(
            placeholders().fill("no placeholders %OTHER%"),
            "no placeholders %OTHER%"
        );
    }

    fn tree(dir: &Path) -> Vec<(String, String)> {
        let mut entries: Vec<(String, String)> = fs::read_dir(dir)
            .unwrap()
            .map(|entry| {
                let entry = entry.unwrap();
                let name = entry.file_name().into_string().unwrap();
                (name, fs::read_to_string(entry.path()).unwrap_or_default())
            })
            .collect();
        entries.sort();
        entries
    }

    fn plan(root: &Path, files: Vec<StagedFile>) -> DistPlan {
        DistPlan {
            dist_dir: root.join("dist"),
            staging_dir: root.join("target/xtask/dist.staging"),
            previous_dir: root.join("target/xtask/dist.previous"),
            files,
            placeholders: placeholders(),
        }
    }

    #[cfg(unix)]
    #[test]
    fn a_kept_binary_is_linked_not_copied_and_a_link_in_dist_is_refused() {
        use std::os::unix::fs::MetadataExt;
        let root = tempfile::tempdir().unwrap();
        let dist = root.path().join("dist");
        fs::create_dir_all(&dist).unwrap();
        fs::write(dist.join("gpx_x_linux_arm64"), "arm64 binary").unwrap();
        fs::write(root.path().join("elsewhere"), "outside").unwrap();
        std::os::unix::fs::symlink(
            root.path().join("elsewhere"),
            dist.join("gpx_x_darwin_arm64"),
        )
        .unwrap();
        let inode = fs::metadata(dist.join("gpx_x_linux_arm64")).unwrap().ino();
        let kept = |name: &str| StagedFile {
            source: dist.join(name),
            dest: name.into(),
            fill: false,
            executable: true,
            link: true,
        };
        // A kept binary that is a link is refused, naming it, and dist/ stays as it was.
        let files = vec![kept("gpx_x_linux_arm64"), kept("gpx_x_darwin_arm64")];
        let error = assemble(&plan(root.path(), files)).unwrap_err().to_string();
        assert!(
            error.contains("gpx_x_darwin_arm64: a symbolic link to"),
            "{error}"
        );
        assert!(
            fs::symlink_metadata(dist.join("gpx_x_darwin_arm64"))
                .unwrap()
                .is_symlink()
        );
        fs::remove_file(dist.join("gpx_x_darwin_arm64")).unwrap();
        assemble(&plan(root.path(), vec![kept("gpx_x_linux_arm64")])).unwrap();
        let linked = fs::metadata(dist.join("gpx_x_linux_arm64")).unwrap();
        assert_eq!(
            linked.ino(),
            inode,
            "the kept binary is the same file, not a copy"
        );
        assert_eq!(
            fs::read_to_string(dist.join("gpx_x_linux_arm64")).unwrap(),
            "arm64 binary"
        );
    }

    #[test]
    fn assemble_replaces_dist_and_fills_only_marked_files() {
        let root = tempfile::tempdir().unwrap();
        fs::write(root.path().join("plugin.json"), "{\"v\": \"%VERSION%\"}").unwrap();
        fs::write(root.path().join("module.js"), "// %VERSION%").unwrap();
        fs::create_dir_all(root.path().join("dist")).unwrap();
        fs::write(root.path().join("dist/stale.txt"), "old").unwrap();
        let files = vec![
            StagedFile {
                source: root.path().join("plugin.json"),
                dest: "plugin.json".into(),
                fill: true,
                executable: false,
                link: false,
            },
            StagedFile {
                source: root.path().join("module.js"),
                dest: "module.js".into(),
                fill: false,
                executable: false,
                link: false,
            },
            StagedFile {
                source: root.path().join("module.js"),
                dest: "img/copy.js".into(),
                fill: false,
                executable: true,
                link: false,
            },
        ];
        assemble(&plan(root.path(), files)).unwrap();
        let dist = root.path().join("dist");
        assert_eq!(
            tree(&dist),
            [
                ("img".to_owned(), String::new()),
                ("module.js".to_owned(), "// %VERSION%".to_owned()),
                ("plugin.json".to_owned(), "{\"v\": \"1.2.3\"}".to_owned()),
            ]
        );
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = |p: &str| fs::metadata(dist.join(p)).unwrap().permissions().mode() & 0o777;
            assert_eq!(mode("img/copy.js"), 0o755);
            assert_eq!(mode("module.js"), 0o644);
        }
        assert!(!root.path().join("target/xtask/dist.staging").exists());
        assert!(!root.path().join("target/xtask/dist.previous").exists());
    }

    #[test]
    fn a_failure_while_staging_leaves_dist_untouched() {
        let root = tempfile::tempdir().unwrap();
        fs::create_dir_all(root.path().join("dist")).unwrap();
        fs::write(root.path().join("dist/plugin.json"), "previous").unwrap();
        let files = vec![StagedFile {
            source: root.path().join("does-not-exist.js"),
            dest: "module.js".into(),
            fill: false,
            executable: false,
            link: false,
        }];
        let error = assemble(&plan(root.path(), files)).unwrap_err();
        assert!(
            format!("{error:#}").contains("does-not-exist.js"),
            "{error:#}"
        );
        assert_eq!(
            tree(&root.path().join("dist")),
            [("plugin.json".to_owned(), "previous".to_owned())]
        );
    }

    #[test]
    fn an_interrupted_frontend_build_gets_the_last_good_dist_back() {
        let root = tempfile::tempdir().unwrap();
        let (dist, copy) = (root.path().join("dist"), root.path().join("dist.before"));
        fs::create_dir_all(dist.join("img")).unwrap();
        fs::write(dist.join("module.js"), "good").unwrap();
        fs::write(dist.join("img/logo.svg"), "<svg/>").unwrap();
        let good = tree(&dist);
        assert!(snapshot(&dist, &copy).unwrap());
        assert_eq!(tree(&copy), good);
        assert!(!root.path().join("dist.before.partial").exists());
        // The build is killed after webpack emptied dist/ and wrote half of it.
        fs::remove_dir_all(&dist).unwrap();
        fs::create_dir_all(&dist).unwrap();
        fs::write(dist.join("module.js"), "half").unwrap();
        // The next run puts the good one back before it snapshots again.
        assert!(recover_snapshot(&dist, &copy).unwrap());
        assert_eq!(tree(&dist), good);
        assert!(!copy.exists());
        assert!(!recover_snapshot(&dist, &copy).unwrap());
        assert_eq!(tree(&dist), good);
    }

    #[test]
    fn the_exchange_replaces_dist_with_no_moment_without_it() {
        let root = tempfile::tempdir().unwrap();
        let (staging, dist) = (root.path().join("staging"), root.path().join("dist"));
        fs::create_dir_all(&staging).unwrap();
        fs::create_dir_all(&dist).unwrap();
        fs::write(staging.join("new.txt"), "new").unwrap();
        fs::write(dist.join("old.txt"), "old").unwrap();
        if cfg!(any(target_os = "linux", target_os = "macos")) {
            exchange(&staging, &dist).unwrap();
            assert!(dist.join("new.txt").is_file() && staging.join("old.txt").is_file());
        } else {
            assert!(exchange(&staging, &dist).is_err());
        }
    }

    #[test]
    fn a_swap_interrupted_between_its_renames_is_repaired_by_the_next_run() {
        let root = tempfile::tempdir().unwrap();
        let source = root.path().join("module.js");
        fs::write(&source, "new").unwrap();
        let plan = plan(
            root.path(),
            vec![StagedFile {
                source,
                dest: "module.js".into(),
                fill: false,
                executable: false,
                link: false,
            }],
        );
        // What an interruption after `dist → previous` leaves: no dist/, the old tree aside.
        fs::create_dir_all(&plan.previous_dir).unwrap();
        fs::write(plan.previous_dir.join("module.js"), "old").unwrap();
        assert!(!plan.dist_dir.exists());
        // The next run, before anything else, puts it back...
        recover_interrupted_swap(&plan.dist_dir, &plan.previous_dir).unwrap();
        assert_eq!(tree(&plan.dist_dir), [("module.js".into(), "old".into())]);
        assert!(!plan.previous_dir.exists());
        // ...and assembling from the same interrupted state lands the new tree.
        fs::rename(&plan.dist_dir, &plan.previous_dir).unwrap();
        assemble(&plan).unwrap();
        assert_eq!(tree(&plan.dist_dir), [("module.js".into(), "new".into())]);
        assert!(!plan.previous_dir.exists());
        // A leftover beside a complete dist/ is removed, dist/ untouched.
        fs::create_dir_all(&plan.previous_dir).unwrap();
        recover_interrupted_swap(&plan.dist_dir, &plan.previous_dir).unwrap();
        assert!(!plan.previous_dir.exists());
        assert_eq!(tree(&plan.dist_dir), [("module.js".into(), "new".into())]);
    }

    #[test]
    fn the_two_rename_swap_works_where_there_is_no_exchange() {
        let root = tempfile::tempdir().unwrap();
        let (staging, dist, previous) = (
            root.path().join("staging"),
            root.path().join("dist"),
            root.path().join("previous"),
        );
        fs::create_dir_all(&staging).unwrap();
        fs::create_dir_all(&dist).unwrap();
        fs::write(staging.join("a"), "new").unwrap();
        fs::write(dist.join("a"), "old").unwrap();
        swap_by_renames(&staging, &dist, &previous).unwrap();
        assert_eq!(tree(&dist), [("a".into(), "new".into())]);
        assert!(!previous.exists() && !staging.exists());
    }

    #[test]
    fn a_dist_that_is_a_file_or_a_link_is_refused_and_left_alone() {
        let root = tempfile::tempdir().unwrap();
        let dist = root.path().join("dist");
        let file = StagedFile {
            source: root.path().join("module.js"),
            dest: "module.js".into(),
            fill: false,
            executable: false,
            link: false,
        };
        fs::write(&file.source, "new").unwrap();
        fs::write(&dist, "a user's file").unwrap();
        let error = assemble(&plan(root.path(), vec![file.clone()])).unwrap_err();
        assert!(
            format!("{error:#}").contains("dist: a file, not a directory; the tool writes the plugin there: move the file away or remove it"),
            "{error:#}"
        );
        assert_eq!(fs::read_to_string(&dist).unwrap(), "a user's file");
        fs::remove_file(&dist).unwrap();

        #[cfg(unix)]
        {
            let elsewhere = tempfile::tempdir().unwrap();
            fs::write(elsewhere.path().join("keep"), "theirs").unwrap();
            std::os::unix::fs::symlink(elsewhere.path(), &dist).unwrap();
            let error = assemble(&plan(root.path(), vec![file.clone()])).unwrap_err();
            assert!(
                format!("{error:#}").contains(&format!(
                    "dist: a symbolic link to {}; the tool writes dist/ as a directory of its own",
                    elsewhere.path().display()
                )),
                "{error:#}"
            );
            assert!(
                fs::symlink_metadata(&dist)
                    .unwrap()
                    .file_type()
                    .is_symlink()
            );
            assert_eq!(tree(elsewhere.path()), [("keep".into(), "theirs".into())]);
            fs::remove_file(&dist).unwrap();
        }

        // A file where the staging or the previous tree go is the tool's own: it goes.
        let scratch = root.path().join("target/xtask");
        fs::create_dir_all(&scratch).unwrap();
        fs::write(scratch.join(STAGING_DIR), "stray").unwrap();
        fs::write(scratch.join(PREVIOUS_DIR), "stray").unwrap();
        assemble(&plan(root.path(), vec![file])).unwrap();
        assert_eq!(tree(&dist), [("module.js".into(), "new".into())]);
        assert!(!scratch.join(PREVIOUS_DIR).exists());
    }
}
