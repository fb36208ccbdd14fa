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

/// Names the inherited listener's file descriptor in the new image (Unix only; elsewhere a
/// reload restarts the plugin).
#[cfg_attr(not(unix), allow(dead_code))]
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
        ffi::CString,
        net::TcpListener,
        os::unix::io::{AsRawFd, FromRawFd},
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
    /// pending, until that image listens for it (then it hands over again). `execve` itself:
    /// std's `Command::exec` promises nothing about the mask, and some releases empty it.
    pub(crate) fn exec(listener: &TcpListener, path: &Path) -> std::io::Error {
        let (path, arguments, environment) = match exec_strings(listener, path) {
            Ok(strings) => strings,
            Err(error) => return error,
        };
        if let Err(error) = set_inheritable(listener, true) {
            return error;
        }
        let arguments = null_terminated(&arguments);
        let environment = null_terminated(&environment);
        mask_usr1(libc::SIG_BLOCK);
        // SAFETY: every pointer is to a NUL-terminated string that outlives the call, and
        // both arrays end with a null pointer.
        unsafe { libc::execve(path.as_ptr(), arguments.as_ptr(), environment.as_ptr()) };
        let error = std::io::Error::last_os_error();
        mask_usr1(libc::SIG_UNBLOCK);
        let _ = set_inheritable(listener, false);
        error
    }

    /// The path, the same arguments, and the same environment with [`FD_VARIABLE`] naming
    /// the listener, as C strings.
    fn exec_strings(
        listener: &TcpListener,
        path: &Path,
    ) -> std::io::Result<(CString, Vec<CString>, Vec<CString>)> {
        use std::os::unix::ffi::OsStrExt;
        let c_string = |bytes: &[u8]| {
            CString::new(bytes).map_err(|_| {
                std::io::Error::new(
                    std::io::ErrorKind::InvalidInput,
                    "a NUL byte in exec's input",
                )
            })
        };
        let arguments = std::env::args_os()
            .map(|argument| c_string(argument.as_bytes()))
            .collect::<std::io::Result<Vec<_>>>()?;
        let mut environment = std::env::vars_os()
            .filter(|(name, _)| name != FD_VARIABLE)
            .map(|(name, value)| {
                let mut entry = name.as_bytes().to_vec();
                entry.push(b'=');
                entry.extend_from_slice(value.as_bytes());
                c_string(&entry)
            })
            .collect::<std::io::Result<Vec<_>>>()?;
        environment.push(c_string(
            format!("{FD_VARIABLE}={}", listener.as_raw_fd()).as_bytes(),
        )?);
        Ok((
            c_string(path.as_os_str().as_bytes())?,
            arguments,
            environment,
        ))
    }

    fn null_terminated(strings: &[CString]) -> Vec<*const libc::c_char> {
        strings
            .iter()
            .map(|string| string.as_ptr())
            .chain(std::iter::once(std::ptr::null()))
            .collect()
    }

    /// Listens for SIGUSR1 from now on (once listened for, it is unblocked: an image
    /// started by a handover starts with it blocked); the future resolves when it arrives,
    /// or never when it cannot be listened for.
    pub(crate) fn listen() -> impl std::future::Future<Output = ()> {
        use tokio::signal::unix::{SignalKind, signal};
        let usr1 = signal(SignalKind::user_defined1());
        if usr1.is_ok() {
            mask_usr1(libc::SIG_UNBLOCK);
        }
        async move {
            match usr1 {
                Ok(mut usr1) => {
                    usr1.recv().await;
                }
                Err(_) => std::future::pending().await,
            }
        }
    }
}

#[cfg(unix)]
pub(crate) use unix::{exec, inherited, listen};

/// Windows has no exec: no handover; `dev` restarts the process as before.
#[cfg(not(unix))]
pub(crate) fn inherited() -> Option<std::net::TcpListener> {
    None
}

#[cfg(not(unix))]
pub(crate) fn listen() -> impl std::future::Future<Output = ()> {
    std::future::pending()
}

#[cfg(not(unix))]
pub(crate) fn exec(_listener: &std::net::TcpListener, _path: &Path) -> std::io::Error {
    std::io::Error::new(std::io::ErrorKind::Unsupported, "no exec on this system")
}

/// Asks the server to hand over (through `stop`) when SIGUSR1 arrives. Listens from the
/// moment it is called: before the handshake line, since `dev` may signal any time after it
/// (and SIGUSR1's default action would kill the plugin).
pub(crate) fn on_request(stop: crate::stop::Stopper) {
    let requested = listen();
    tokio::spawn(async move {
        requested.await;
        tracing::info!("handing over to the new build");
        crate::stop::ask(&stop, crate::stop::Stop::HandOver);
    });
}

/// Where to exec from: the path Grafana started the binary from.
pub(crate) fn launch_path() -> Option<&'static Path> {
    LAUNCHED_FROM.get().and_then(|path| path.as_deref())
}
