//! Ctrl-C (and SIGTERM) for the commands that wait: one process-wide handler (the `ctrlc`
//! crate allows one per process), installed on first use, which tells every command listening
//! at that moment. A plugin's own xtask can run `dev` or `e2e` more than once in a process
//! (`api::e2e` on two Grafana versions); each run listens while it runs.
use std::sync::{
    Arc, Mutex, OnceLock,
    atomic::{AtomicBool, AtomicU64, Ordering},
};

use anyhow::{Result, anyhow};

type Listener = (u64, Arc<AtomicBool>, Box<dyn Fn() + Send>);

static LISTENERS: Mutex<Vec<Listener>> = Mutex::new(Vec::new());
static NEXT: AtomicU64 = AtomicU64::new(0);
static INSTALLED: OnceLock<Result<(), String>> = OnceLock::new();

/// A command's subscription: its flag is set, and its callback run, on every Ctrl-C until it
/// is dropped.
pub struct Listening {
    id: u64,
    flag: Arc<AtomicBool>,
}

impl Listening {
    /// The flag every wait of the command looks at.
    pub fn flag(&self) -> Arc<AtomicBool> {
        self.flag.clone()
    }
}

impl Drop for Listening {
    fn drop(&mut self) {
        let mut listeners = LISTENERS
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        listeners.retain(|(id, _, _)| *id != self.id);
    }
}

/// Listens for Ctrl-C from now on; `then` runs on the handler's thread after the flag is set.
pub fn listen(then: impl Fn() + Send + 'static) -> Result<Listening> {
    let installed = INSTALLED.get_or_init(|| {
        ctrlc::set_handler(|| {
            let listeners = LISTENERS
                .lock()
                .unwrap_or_else(|poisoned| poisoned.into_inner());
            for (_, flag, then) in listeners.iter() {
                flag.store(true, Ordering::SeqCst);
                then();
            }
        })
        .map_err(|error| error.to_string())
    });
    if let Err(error) = installed {
        return Err(anyhow!(
            "cannot install the Ctrl-C handler ({error}); a plugin's own xtask that installs one \
             itself cannot run dev or e2e in the same process"
        ));
    }
    let id = NEXT.fetch_add(1, Ordering::SeqCst);
    let flag = Arc::new(AtomicBool::new(false));
    LISTENERS
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
        .push((id, flag.clone(), Box::new(then)));
    Ok(Listening { id, flag })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn two_runs_in_one_process_each_get_their_own_flag() {
        let first = listen(|| {}).unwrap();
        let second = listen(|| {}).unwrap();
        assert!(!first.flag().load(Ordering::SeqCst));
        let first_id = first.id;
        drop(first);
        let listeners = LISTENERS.lock().unwrap();
        assert!(listeners.iter().all(|(id, _, _)| *id != first_id));
        assert!(listeners.iter().any(|(id, _, _)| *id == second.id));
    }
}
