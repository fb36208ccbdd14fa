//! Finding and stopping plugin processes by their executable's path, on Linux, macOS and
//! Windows: the plugin is restarted by making it exit (Grafana starts it again within a
//! second), and matching the full path never hits another plugin or an unrelated process
//! the way `pgrep -f <name>` can.
use std::{
    path::{Path, PathBuf},
    time::{Duration, Instant},
};

use anyhow::{Context, Result};
use xshell::Shell;

/// Processes whose executable is one of `paths`.
pub fn running(sh: &Shell, paths: &[PathBuf]) -> Result<Vec<u32>> {
    let wanted: Vec<PathBuf> = paths
        .iter()
        .map(|p| std::path::absolute(p).unwrap_or_else(|_| p.clone()))
        .collect();
    let mut found = Vec::new();
    for (pid, executable) in list(sh)? {
        // Linux marks the executable of a process whose file was replaced " (deleted)".
        let executable = executable.trim_end_matches(" (deleted)");
        if wanted.iter().any(|w| Path::new(executable) == w) {
            found.push(pid);
        }
    }
    Ok(found)
}

#[cfg(target_os = "linux")]
fn list(_sh: &Shell) -> Result<Vec<(u32, String)>> {
    let mut processes = Vec::new();
    for entry in std::fs::read_dir("/proc").context("cannot read /proc")? {
        let Ok(entry) = entry else { continue };
        let Some(pid) = entry.file_name().to_str().and_then(|n| n.parse().ok()) else {
            continue;
        };
        if let Ok(executable) = std::fs::read_link(entry.path().join("exe")) {
            processes.push((pid, executable.to_string_lossy().into_owned()));
        }
    }
    Ok(processes)
}

#[cfg(all(unix, not(target_os = "linux")))]
fn list(sh: &Shell) -> Result<Vec<(u32, String)>> {
    // macOS and the BSDs: `comm` is the full path the process was started from.
    let output = crate::spawn::cmd!(sh, "ps -axo pid=,comm=")
        .quiet()
        .read()
        .context("cannot list processes with ps")?;
    Ok(pid_and_path_lines(&output))
}

#[cfg(windows)]
fn list(sh: &Shell) -> Result<Vec<(u32, String)>> {
    let script = "Get-Process | Where-Object Path | ForEach-Object { \"$($_.Id) $($_.Path)\" }";
    let output = crate::spawn::cmd!(sh, "powershell -NoProfile -Command {script}")
        .quiet()
        .read()
        .context("cannot list processes with PowerShell")?;
    Ok(pid_and_path_lines(&output))
}

/// `<pid> <path>` lines, as `ps` and the PowerShell listing print them.
#[cfg_attr(target_os = "linux", allow(dead_code))]
fn pid_and_path_lines(output: &str) -> Vec<(u32, String)> {
    output
        .lines()
        .filter_map(|line| {
            let (pid, path) = line.trim().split_once(' ')?;
            Some((pid.parse().ok()?, path.trim().to_owned()))
        })
        .collect()
}

/// The plugin runtime's mark of a binary that hands over in place on SIGUSR1
/// (grafana-plugin-runtime's `HANDOVER_MARKER`; the dev tests prove the two agree).
pub const HANDOVER_MARKER: &[u8] = b"grafana-plugin-runtime:handover:v1";

/// Asks each process to take the new binary at `dest` in place (SIGUSR1: the plugin runtime
/// lets its calls finish and execs the file, keeping its PID and listener); how long until
/// each ran the new file, where Linux tells (`/proc/<pid>/exe`), within 5 s.
#[cfg(unix)]
pub fn hand_over(pids: &[u32], dest: &std::path::Path) -> Option<Duration> {
    let started = Instant::now();
    for &pid in pids {
        signal(pid, Some(nix::sys::signal::Signal::SIGUSR1));
    }
    if !cfg!(target_os = "linux") {
        return None;
    }
    let runs_new_file =
        |pid: &u32| std::fs::read_link(format!("/proc/{pid}/exe")).is_ok_and(|exe| exe == dest);
    let deadline = started + Duration::from_secs(5);
    while !pids.iter().all(runs_new_file) {
        if Instant::now() >= deadline {
            return None;
        }
        std::thread::sleep(Duration::from_millis(2));
    }
    Some(started.elapsed())
}

#[cfg(not(unix))]
pub fn hand_over(_pids: &[u32], _dest: &std::path::Path) -> Option<Duration> {
    None
}

/// Asks each process to stop (SIGTERM: the plugin shuts down gracefully), then kills what
/// is still running after `grace`. Windows has no signal one process can send another's
/// console program to stop it gracefully, so there the process is ended at once
/// (`taskkill /F`), as `mage reloadPlugin`'s `kill -9` does; the plugin keeps no state that
/// a graceful stop would save.
pub fn stop(pids: &[u32], grace: Duration) {
    for &pid in pids {
        terminate(pid);
    }
    let deadline = Instant::now() + grace;
    while pids.iter().any(|pid| alive(*pid)) && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    for &pid in pids.iter().filter(|pid| alive(**pid)) {
        kill(pid);
    }
}

/// Stops `child`, started as the leader of its own process group, with everything in the
/// group (npm leaves node and webpack's workers): SIGTERM to the group, SIGKILL to the group
/// after `grace`. On Windows `taskkill /T /F` ends the tree at once. The child is reaped.
pub fn stop_group(child: &mut std::process::Child, grace: Duration) {
    let pid = child.id();
    #[cfg(unix)]
    {
        use nix::{
            sys::signal::{Signal, killpg},
            unistd::Pid,
        };
        let group = Pid::from_raw(pid as i32);
        let _ = killpg(group, Signal::SIGTERM);
        let deadline = Instant::now() + grace;
        while Instant::now() < deadline && matches!(child.try_wait(), Ok(None)) {
            std::thread::sleep(Duration::from_millis(20));
        }
        // The group, not only the child: node may have left workers behind.
        let _ = killpg(group, Signal::SIGKILL);
    }
    #[cfg(windows)]
    {
        let _ = grace;
        let _ = crate::spawn::command("taskkill")
            .args(["/T", "/F", "/PID", &pid.to_string()])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .status();
    }
    let _ = child.kill();
    let _ = child.wait();
}

#[cfg(unix)]
fn signal(pid: u32, signal: Option<nix::sys::signal::Signal>) -> bool {
    let Ok(pid) = i32::try_from(pid) else {
        return false;
    };
    nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), signal).is_ok()
}

#[cfg(unix)]
fn terminate(pid: u32) {
    signal(pid, Some(nix::sys::signal::Signal::SIGTERM));
}

#[cfg(unix)]
fn kill(pid: u32) {
    signal(pid, Some(nix::sys::signal::Signal::SIGKILL));
}

#[cfg(windows)]
fn terminate(pid: u32) {
    let _ = crate::spawn::command("taskkill")
        .args(["/F", "/PID", &pid.to_string()])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status();
}

#[cfg(windows)]
fn kill(_pid: u32) {}

/// Whether the process still runs. On Linux a zombie (exited, not yet reaped by its parent,
/// Grafana) counts as gone.
fn alive(pid: u32) -> bool {
    #[cfg(target_os = "linux")]
    {
        std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|stat| {
            !stat
                .rsplit(')')
                .next()
                .unwrap_or_default()
                .trim_start()
                .starts_with('Z')
        })
    }
    #[cfg(all(unix, not(target_os = "linux")))]
    {
        signal(pid, None)
    }
    #[cfg(windows)]
    {
        let _ = pid;
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn listings_parse_into_pids_and_paths() {
        let listing = "  412 /usr/sbin/sshd\n 9031 /work/dist/gpx_x_darwin_arm64\nnot a line\n";
        assert_eq!(
            pid_and_path_lines(listing),
            [
                (412, "/usr/sbin/sshd".to_owned()),
                (9031, "/work/dist/gpx_x_darwin_arm64".to_owned())
            ]
        );
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn a_process_is_found_by_its_executable_path_and_stopped() {
        let sh = Shell::new().unwrap();
        let dir = tempfile::tempdir().unwrap();
        // A copy of `sleep` under a unique path, as a plugin binary is under dist/.
        let sleep = dir.path().join("gpx_test_linux_amd64");
        std::fs::copy("/bin/sleep", &sleep).unwrap();
        let mut child = crate::spawn::command(&sleep).arg("30").spawn().unwrap();
        let found = running(&sh, std::slice::from_ref(&sleep)).unwrap();
        assert_eq!(found, [child.id()]);
        assert!(
            running(&sh, &[dir.path().join("other")])
                .unwrap()
                .is_empty()
        );
        // Replaced on disk (as dev replaces binaries): still found by its path.
        std::fs::rename(&sleep, dir.path().join("old")).unwrap();
        std::fs::copy("/bin/sleep", &sleep).unwrap();
        assert!(
            running(&sh, &[sleep.clone(), dir.path().join("old")])
                .unwrap()
                .contains(&child.id())
        );
        stop(&[child.id()], Duration::from_secs(2));
        assert!(child.wait().unwrap().code().is_none(), "ended by a signal");
    }
}
