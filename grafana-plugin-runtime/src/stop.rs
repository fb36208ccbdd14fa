//! Why the server stops. Grafana's `Shutdown`, SIGTERM and Ctrl-C mean exit; `dev`'s SIGUSR1
//! means hand over to the new build. An exit asked for during a handover wins: Grafana is
//! stopping the plugin, and a new image would outlive its wish (and be killed 2 s later).
use std::sync::Arc;

use tokio::sync::watch;

/// What the server is asked to do, in rising precedence.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Stop {
    Serve,
    HandOver,
    Exit,
}

/// The one place a stop is asked for; shared by the controller, the signal handlers and the
/// handover.
pub(crate) type Stopper = Arc<watch::Sender<Stop>>;

/// A new stopper, serving.
pub(crate) fn stopper() -> Stopper {
    Arc::new(watch::channel(Stop::Serve).0)
}

/// Asks for `what` unless something that outranks it was asked for already.
pub(crate) fn ask(stopper: &Stopper, what: Stop) {
    stopper.send_if_modified(|now| {
        let raise = what > *now;
        if raise {
            *now = what;
        }
        raise
    });
}

/// Resolves once any stop is asked for.
pub(crate) async fn asked(mut stopping: watch::Receiver<Stop>) {
    let _ = stopping.wait_for(|stop| *stop != Stop::Serve).await;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_exit_outranks_a_handover_in_either_order() {
        let stopper = stopper();
        ask(&stopper, Stop::HandOver);
        ask(&stopper, Stop::Exit);
        assert_eq!(*stopper.borrow(), Stop::Exit);
        ask(&stopper, Stop::HandOver);
        assert_eq!(*stopper.borrow(), Stop::Exit);
    }
}
