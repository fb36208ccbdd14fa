//! Reload without a restart (Unix). Grafana restarts a plugin only when its process exits
//! (its process manager's 1 s tick, `keepPluginAlive`), and calls made meanwhile fail. On
//! SIGUSR1 (`cargo xtask dev` sends it after swapping the binary) the plugin instead:
//! stops taking new calls with HTTP/2's graceful close (GOAWAY) and lets the calls in flight
//! finish within the shutdown grace; keeps its listening socket open (connections queue in
//! the kernel); then execs the file at the path Grafana started it from, keeping its PID,
//! arguments, environment, stdout and stderr (Grafana's pipes). The new image takes the
//! listener from [`FD_VARIABLE`] and prints no second handshake line. Grafana's go-plugin
//! client reconnects to the same address (grpc-go redials after a GOAWAY or a closed
//! connection; calls made while it connects wait for it), and its process manager sees the
//! same process running. When the exec fails, the process exits and Grafana starts it again
//! from the file, as before.
use std::{
    path::{Path, PathBuf},
    sync::OnceLock,
};

/// Names the inherited listener's file descriptor in the new image.
pub(crate) const FD_VARIABLE: &str = "GF_PLUGIN_RUNTIME_HANDOVER_FD";

/// Found in the binary by `cargo xtask dev`, which signals only plugins that carry it (a
/// plugin without it would die of SIGUSR1's default action, which `dev` then would not have
/// meant).
#[used]
pub static MARKER: [u8; 34] = *b"grafana-plugin-runtime:handover:v1";

/// The path Grafana started this binary from, read before anything can replace it.
static LAUNCHED_FROM: OnceLock<Option<PathBuf>> = OnceLock::new();

/// Remembers where the binary was started from (`main` calls it first), and keeps
/// [`MARKER`] in the binary (a reference the linker cannot drop).
pub(crate) fn remember_launch_path() {
    std::hint::black_box(&MARKER);
    LAUNCHED_FROM.get_or_init(|| std::env::current_exe().ok());
}

#[cfg(unix)]
mod unix {
    use std::{
        net::TcpListener,
        os::unix::{
            io::{AsRawFd, FromRawFd},
            process::CommandExt,
        },
        path::Path,
    };

    use super::FD_VARIABLE;

    /// The listener the previous image handed over, if this image was started so.
    pub(crate) fn inherited() -> Option<TcpListener> {
        let fd: i32 = std::env::var(FD_VARIABLE).ok()?.trim().parse().ok()?;
        // Only a listening TCP socket of ours: anything else named there is ignored.
        let mut kind: libc::c_int = 0;
        let mut length = std::mem::size_of::<libc::c_int>() as libc::socklen_t;
        // SAFETY: getsockopt on an fd number writes at most `length` bytes into `kind`.
        let listening = unsafe {
            libc::getsockopt(
                fd,
                libc::SOL_SOCKET,
                libc::SO_ACCEPTCONN,
                (&mut kind as *mut libc::c_int).cast(),
                &mut length,
            )
        } == 0
            && kind == 1;
        if !listening {
            return None;
        }
        // SAFETY: the fd is an open listening socket this process owns from now on (the
        // previous image left it open for us and holds no other reference).
        let listener = unsafe { TcpListener::from_raw_fd(fd) };
        set_inheritable(&listener, false).ok()?;
        listener.set_nonblocking(true).ok()?;
        Some(listener)
    }

    fn set_inheritable(listener: &TcpListener, inheritable: bool) -> std::io::Result<()> {
        let flags = if inheritable { 0 } else { libc::FD_CLOEXEC };
        // SAFETY: F_SETFD on an fd this process owns.
        if unsafe { libc::fcntl(listener.as_raw_fd(), libc::F_SETFD, flags) } == -1 {
            return Err(std::io::Error::last_os_error());
        }
        Ok(())
    }

    /// Blocks (or unblocks) SIGUSR1 for the calling thread.
    fn mask_usr1(how: libc::c_int) {
        // SAFETY: a signal set on the stack, initialised by sigemptyset before use.
        unsafe {
            let mut set: libc::sigset_t = std::mem::zeroed();
            libc::sigemptyset(&mut set);
            libc::sigaddset(&mut set, libc::SIGUSR1);
            libc::pthread_sigmask(how, &set, std::ptr::null_mut());
        }
    }

    /// Replaces this process's image with the file at `path`, handing it `listener`; returns
    /// only when that fails. SIGUSR1 stays blocked across the exec: exec resets its handler
    /// to the default (terminate), and a reload asked for while the new image starts waits,
    /// pending, until that image listens for it (then it hands over again).
    pub(crate) fn exec(listener: &TcpListener, path: &Path) -> std::io::Error {
        if let Err(error) = set_inheritable(listener, true) {
            return error;
        }
        mask_usr1(libc::SIG_BLOCK);
        let error = std::process::Command::new(path)
            .args(std::env::args_os().skip(1))
            .env(FD_VARIABLE, listener.as_raw_fd().to_string())
            .exec();
        mask_usr1(libc::SIG_UNBLOCK);
        error
    }

    /// Resolves when SIGUSR1 arrives (never, when it cannot be listened for). Once listened
    /// for, it is unblocked (an image started by a handover starts with it blocked).
    pub(crate) async fn requested() {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::user_defined1()) {
            Ok(mut usr1) => {
                mask_usr1(libc::SIG_UNBLOCK);
                usr1.recv().await;
            }
            Err(_) => std::future::pending().await,
        }
    }
}

#[cfg(unix)]
pub(crate) use unix::{exec, inherited, requested};

/// Windows has no exec: no handover; `dev` restarts the process as before.
#[cfg(not(unix))]
pub(crate) fn inherited() -> Option<std::net::TcpListener> {
    None
}

#[cfg(not(unix))]
pub(crate) async fn requested() {
    std::future::pending().await
}

#[cfg(not(unix))]
pub(crate) fn exec(_listener: &std::net::TcpListener, _path: &Path) -> std::io::Error {
    std::io::Error::new(std::io::ErrorKind::Unsupported, "no exec on this system")
}

/// Stops the server (through `stop`) when a handover is asked for; whether one was.
pub(crate) fn on_request(
    stop: std::sync::Arc<tokio::sync::watch::Sender<bool>>,
) -> std::sync::Arc<std::sync::atomic::AtomicBool> {
    let asked = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let flag = asked.clone();
    tokio::spawn(async move {
        requested().await;
        tracing::info!("handing over to the new build");
        flag.store(true, std::sync::atomic::Ordering::SeqCst);
        stop.send_replace(true);
    });
    asked
}

/// Where to exec from: the path Grafana started the binary from.
pub(crate) fn launch_path() -> Option<&'static Path> {
    LAUNCHED_FROM.get().and_then(|path| path.as_deref())
}
