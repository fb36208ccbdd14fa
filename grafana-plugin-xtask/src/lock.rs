//! One run at a time in `target/xtask/`: `build`, `package` and each cycle of `dev` stage
//! `dist/` and archives there (`dist.staging`, `dist.previous`, `dist.before`, `package/`), and
//! a second run at the same time would delete the first one's half-written files. A run holds
//! an OS file lock on `target/xtask/lock` (`flock` on Unix, `LockFileEx` on Windows: released
//! by the OS when the process dies, so a killed run leaves nothing to clean up), and another
//! run waits for it, saying who holds it, as cargo does for its build directory.
use std::{
    cell::{Cell, RefCell},
    fs::{self, File, TryLockError},
    path::Path,
};

use anyhow::{Context as _, Result};

use crate::ui::Ui;

/// The lock of one command's run; it may be taken again while held (`package` builds, `dev`'s
/// first cycle is a build): only the outermost hold locks and unlocks the file.
#[derive(Default)]
pub(crate) struct ScratchLock {
    depth: Cell<usize>,
    file: RefCell<Option<File>>,
}

/// Held until dropped.
#[must_use = "the lock is released when this is dropped"]
pub(crate) struct Held<'a>(&'a ScratchLock);

impl Drop for Held<'_> {
    fn drop(&mut self) {
        let depth = self.0.depth.get() - 1;
        self.0.depth.set(depth);
        if depth == 0 {
            // Closing the file releases the lock.
            self.0.file.borrow_mut().take();
        }
    }
}

impl ScratchLock {
    /// Takes the lock of `dir` (created when missing) for `command`, waiting for another run
    /// that holds it.
    pub(crate) fn hold(&self, ui: &Ui, dir: &Path, command: &str) -> Result<Held<'_>> {
        if self.depth.get() == 0 {
            *self.file.borrow_mut() = lock(ui, dir, command)?;
        }
        self.depth.set(self.depth.get() + 1);
        Ok(Held(self))
    }
}

/// `None` where the file system has no locks (some network file systems): said, not fatal.
fn lock(ui: &Ui, dir: &Path, command: &str) -> Result<Option<File>> {
    fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let path = dir.join("lock");
    let file = File::options()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(&path)
        .with_context(|| format!("cannot open {}", path.display()))?;
    // Who holds it is written beside the lock: Windows' locks keep others from reading the
    // locked file itself.
    let owner = dir.join("lock.owner");
    match file.try_lock() {
        Ok(()) => {}
        Err(TryLockError::WouldBlock) => {
            let holder = fs::read_to_string(&owner)
                .ok()
                .filter(|text| !text.trim().is_empty() && text.len() < 200)
                .map_or_else(|| "another run".to_owned(), |text| text.trim().to_owned());
            ui.status(
                "Waiting",
                format!(
                    "for {holder} to finish with {} (one run at a time stages dist/ there)",
                    dir.display()
                ),
            );
            file.lock()
                .with_context(|| format!("cannot lock {}", path.display()))?;
        }
        Err(TryLockError::Error(error)) => {
            ui.warning(format!(
                "{}: cannot be locked ({error}); another run at the same time could delete \
                 this one's files",
                path.display()
            ));
            return Ok(None);
        }
    }
    let _ = fs::write(
        &owner,
        format!("`cargo xtask {command}` (pid {})\n", std::process::id()),
    );
    Ok(Some(file))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::{
        sync::mpsc,
        time::{Duration, Instant},
    };

    #[test]
    fn a_second_run_waits_for_the_first_and_the_first_may_hold_again() {
        let dir = tempfile::tempdir().unwrap();
        let first = ScratchLock::default();
        let held = first
            .hold(&Ui::from_env(true), dir.path(), "package")
            .unwrap();
        // package's build takes it again without waiting for itself.
        let again = first
            .hold(&Ui::from_env(true), dir.path(), "build")
            .unwrap();
        let owner = fs::read_to_string(dir.path().join("lock.owner")).unwrap();
        assert!(owner.contains("`cargo xtask package`"), "{owner}");

        let (sender, taken) = mpsc::channel();
        let path = dir.path().to_owned();
        let second = std::thread::spawn(move || {
            let lock = ScratchLock::default();
            let _held = lock.hold(&Ui::from_env(true), &path, "build").unwrap();
            sender.send(Instant::now()).unwrap();
        });
        // Still held by the outer hold after the inner one is dropped.
        drop(again);
        assert!(taken.recv_timeout(Duration::from_millis(300)).is_err());
        let released = Instant::now();
        drop(held);
        let got = taken.recv_timeout(Duration::from_secs(10)).unwrap();
        assert!(got >= released);
        second.join().unwrap();
    }
}
