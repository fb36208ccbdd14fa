//! One org's app: its checks, its hook token and its worker, which ends with it. The
//! runtime keeps one per org (`app.rs` makes it); the routes (`routes.rs`) serve it.
use std::sync::Arc;

use grafana_plugin_runtime::Secret;
use tokio::task::AbortHandle;

use crate::worker::Checks;
#[cfg(test)]
use crate::{allow::AllowList, checker::Timeouts, worker::Configured};

/// One org's app: its checks, its hook token, and its worker, which ends with it.
pub struct Org {
    pub checks: Arc<Checks>,
    pub hook_token: Option<Secret>,
    worker: AbortHandle,
}

impl Org {
    /// An org with these settings and its worker running, for tests of the routes.
    #[cfg(test)]
    pub fn for_test(json_data: &str, hook_token: Option<&str>) -> Arc<Org> {
        let loopback = Arc::new(AllowList::parse(Some("127.0.0.0/8:*")));
        let timeouts = Timeouts {
            connect: std::time::Duration::from_millis(500),
            read: std::time::Duration::from_millis(300),
        };
        let checks = Arc::new(Checks::new(
            Configured::parse(json_data.as_bytes()),
            timeouts,
            loopback,
        ));
        Arc::new(Org::start(
            checks,
            hook_token.map(|token| Secret::new(token.to_owned())),
        ))
    }

    /// An org with its worker started on the current runtime.
    pub fn start(checks: Arc<Checks>, hook_token: Option<Secret>) -> Org {
        let worker = tokio::spawn(checks.clone().run()).abort_handle();
        Org {
            checks,
            hook_token,
            worker,
        }
    }

    /// Stops its worker (disposal; dropping it does too).
    pub fn stop(&self) {
        self.worker.abort();
    }
}

impl Drop for Org {
    fn drop(&mut self) {
        self.worker.abort();
    }
}
