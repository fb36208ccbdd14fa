//! The frontend watcher of a create-plugin app during `dev --watch`: its `dev` script
//! (`webpack -w`) as a child in its own process group, every line it prints prefixed, and the
//! whole group stopped when `dev` stops, so no `node` process outlives it. A frontend change
//! is webpack's alone: it rewrites dist/'s frontend files and keeps the backend binaries.
use std::{
    io::{BufRead, BufReader, Read},
    path::Path,
    process::{Child, Stdio},
    thread,
};

use anyhow::{Context, Result};

use crate::layout::PackageManager;

/// How long the watcher gets to exit after it is asked to.
const GRACE: std::time::Duration = std::time::Duration::from_secs(3);

/// webpack's watcher, stopped (with everything it started) when this is dropped.
pub struct FrontendWatcher {
    child: Child,
    stopped: bool,
}

impl FrontendWatcher {
    /// Starts `<manager> run dev` in `root`.
    pub fn start(root: &Path, manager: PackageManager) -> Result<FrontendWatcher> {
        let program = manager.program();
        let args = manager.run_args("dev");
        let mut command = crate::spawn::command(program);
        command
            .args(args)
            .current_dir(root)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        #[cfg(unix)]
        std::os::unix::process::CommandExt::process_group(&mut command, 0);
        let mut child = command
            .spawn()
            .with_context(|| format!("cannot start `{program} {}`", args.join(" ")))?;
        for pipe in [
            child
                .stdout
                .take()
                .map(|p| Box::new(p) as Box<dyn Read + Send>),
            child
                .stderr
                .take()
                .map(|p| Box::new(p) as Box<dyn Read + Send>),
        ]
        .into_iter()
        .flatten()
        {
            // Every line is shown, also one that is not UTF-8 (a stopped read would leave
            // webpack writing into a closed pipe): read as bytes, shown lossily.
            thread::spawn(move || {
                let mut reader = BufReader::new(pipe);
                let mut line = Vec::new();
                while reader
                    .read_until(b'\n', &mut line)
                    .is_ok_and(|read| read > 0)
                {
                    let text = String::from_utf8_lossy(&line);
                    eprintln!("[frontend] {}", text.trim_end_matches(['\r', '\n']));
                    line.clear();
                }
            });
        }
        Ok(FrontendWatcher {
            child,
            stopped: false,
        })
    }

    pub fn id(&self) -> u32 {
        self.child.id()
    }

    /// Stops the watcher and everything it started (npm, node, webpack's workers); once.
    pub fn stop(&mut self) {
        if std::mem::replace(&mut self.stopped, true) {
            return;
        }
        super::process::stop_group(&mut self.child, GRACE);
    }
}

impl Drop for FrontendWatcher {
    fn drop(&mut self) {
        self.stop();
    }
}
