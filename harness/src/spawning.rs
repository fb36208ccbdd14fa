//! How the harness starts a plugin: tied to the thread that starts it, and again while its
//! file is busy.
use std::{process::Command, thread, time::Duration};

/// On Linux the child is killed when the thread that started it ends (the test, or the
/// stand-in's runtime, however it was stopped): no plugin outlives the run that started it.
pub(crate) fn die_with_parent(command: &mut Command) {
    #[cfg(target_os = "linux")]
    {
        use std::os::unix::process::CommandExt;
        let parent = std::process::id();
        // SAFETY: prctl and getppid are async-signal-safe; nothing else runs between fork and
        // exec here.
        unsafe {
            command.pre_exec(move || {
                if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) != 0 {
                    return Err(std::io::Error::last_os_error());
                }
                // The parent may have died before the prctl: then exit now.
                if libc::getppid() as u32 != parent {
                    libc::_exit(1);
                }
                Ok(())
            });
        }
    }
    #[cfg(not(target_os = "linux"))]
    let _ = command;
}

/// Spawns `command`, again while the file is busy: a test that copies a binary while another
/// test's thread forks leaves the copy's write handle open in that child until it execs
/// (ETXTBSY, the classic race of copy-then-run in a multi-threaded process).
pub(crate) fn spawn(command: &mut Command) -> std::io::Result<std::process::Child> {
    let mut attempts = 0;
    loop {
        match command.spawn() {
            Err(error)
                if error.kind() == std::io::ErrorKind::ExecutableFileBusy && attempts < 50 =>
            {
                attempts += 1;
                thread::sleep(Duration::from_millis(20));
            }
            result => return result,
        }
    }
}
