//! One org's checks: its settings (fixed for the instance's life: new settings make a new
//! instance), the latest result per target, and the worker that checks each target on its
//! own interval in its own task until the instance is disposed of. Request handlers only
//! read or briefly lock the results, so they never wait for a check.
use std::{
    collections::HashMap,
    sync::{Arc, RwLock},
};

use tokio::{
    sync::{Mutex, watch},
    task::JoinSet,
};

use crate::{
    allow::AllowList,
    checker::{self, CheckResult, Timeouts},
    settings::{self, Settings, SettingsError},
};

/// Settings as parsed from one version of the app's jsonData.
#[derive(Debug)]
pub struct Configured {
    pub settings: Result<Settings, SettingsError>,
}

impl Configured {
    pub fn parse(json_data: &[u8]) -> Configured {
        Configured {
            settings: settings::parse(json_data),
        }
    }

    pub fn targets(&self) -> &[settings::Target] {
        self.settings.as_ref().map_or(&[], |s| &s.targets)
    }

    /// The targets this backend connects to (all but the passive ones).
    fn checked_targets(&self) -> impl Iterator<Item = &settings::Target> {
        self.targets().iter().filter(|target| !target.passive)
    }
}

pub struct Checks {
    pub configured: Configured,
    results: RwLock<HashMap<String, CheckResult>>,
    /// One "run now" at a time; callers that arrive meanwhile wait for it and share its
    /// results instead of starting another round.
    running_now: Mutex<()>,
    /// Counts recorded results, so waiters learn of new ones without polling.
    updates: watch::Sender<u64>,
    timeouts: Timeouts,
    allow: Arc<AllowList>,
}

impl Checks {
    pub fn new(configured: Configured, timeouts: Timeouts, allow: Arc<AllowList>) -> Checks {
        Checks {
            configured,
            results: RwLock::new(HashMap::new()),
            running_now: Mutex::new(()),
            updates: watch::channel(0).0,
            timeouts,
            allow,
        }
    }

    /// Latest results in the configured order; targets not checked yet are `pending`.
    pub fn snapshot(&self) -> Vec<CheckResult> {
        let results = self.results.read().unwrap();
        self.configured
            .targets()
            .iter()
            .map(|target| {
                results
                    .get(&target.name)
                    .cloned()
                    .unwrap_or_else(|| CheckResult::pending(target))
            })
            .collect()
    }

    /// Stores a result of a configured target.
    pub fn record(&self, result: CheckResult) -> bool {
        if !is_configured(&self.configured, &result.name, &result.address) {
            return false;
        }
        self.results
            .write()
            .unwrap()
            .insert(result.name.clone(), result);
        self.updates.send_modify(|count| *count += 1);
        true
    }

    /// Changes each time a result is recorded.
    #[cfg(test)]
    pub fn updates(&self) -> watch::Receiver<u64> {
        self.updates.subscribe()
    }

    /// Checks every target now, concurrently, and returns the results. A caller that comes
    /// while a round runs waits for that round and gets its results.
    pub async fn run_now(&self) -> Vec<CheckResult> {
        let Ok(_round) = self.running_now.try_lock() else {
            let _finished = self.running_now.lock().await;
            return self.snapshot();
        };
        let mut checks = JoinSet::new();
        for target in self.configured.checked_targets() {
            let (target, timeouts, allow) = (target.clone(), self.timeouts, self.allow.clone());
            checks.spawn(async move { checker::check(&target, timeouts, &allow).await });
        }
        while let Some(done) = checks.join_next().await {
            if let Ok(result) = done {
                self.record(result);
            }
        }
        self.snapshot()
    }

    /// The worker: one task per checked target, until the instance is disposed of (the
    /// caller aborts this task, which ends every target's task with it).
    pub async fn run(self: Arc<Self>) {
        let mut tasks = JoinSet::new();
        for target in self.configured.checked_targets().cloned() {
            let checks = self.clone();
            tasks.spawn(async move {
                loop {
                    // Each check in a task of its own: a panic there is that round's
                    // failure, and the target is checked again at its next interval.
                    let check = {
                        let (target, timeouts, allow) =
                            (target.clone(), checks.timeouts, checks.allow.clone());
                        tokio::spawn(async move { checker::check(&target, timeouts, &allow).await })
                    };
                    let result = match check.await {
                        Ok(result) => result,
                        Err(failed) => {
                            tracing::error!(target = %target.name, panicked = failed.is_panic(), "a check failed");
                            CheckResult {
                                status: checker::Status::Down,
                                error: Some("the check failed inside the plugin; see Grafana's log".to_owned()),
                                checked_at: Some(checker::now_rfc3339()),
                                ..CheckResult::pending(&target)
                            }
                        }
                    };
                    checks.record(result);
                    tokio::time::sleep(target.interval).await;
                }
            });
        }
        tracing::debug!(targets = tasks.len(), "checking targets in the background");
        while tasks.join_next().await.is_some() {}
    }
}

fn is_configured(configured: &Configured, name: &str, address: &str) -> bool {
    configured
        .targets()
        .iter()
        .any(|target| target.name == name && target.address == address)
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use tokio::net::TcpListener;

    use super::*;
    use crate::checker::Status;

    const FAST: Timeouts = Timeouts {
        connect: Duration::from_millis(500),
        read: Duration::from_millis(300),
    };

    fn json(targets: &[(&str, &str)]) -> Vec<u8> {
        let targets: Vec<serde_json::Value> = targets
            .iter()
            .map(|(name, address)| serde_json::json!({ "name": name, "address": address, "intervalSeconds": 5 }))
            .collect();
        serde_json::to_vec(&serde_json::json!({ "targets": targets })).unwrap()
    }

    fn checks(targets: &[(&str, &str)]) -> Checks {
        let loopback = Arc::new(AllowList::parse(Some("127.0.0.0/8:*")));
        Checks::new(Configured::parse(&json(targets)), FAST, loopback)
    }

    async fn open_port() -> (TcpListener, String) {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap().to_string();
        (listener, address)
    }

    #[tokio::test]
    async fn run_now_checks_every_target_and_late_results_of_others_are_not_recorded() {
        let (_open, open) = open_port().await;
        let (closed_listener, closed) = open_port().await;
        drop(closed_listener);
        let checks = checks(&[("open", &open), ("closed", &closed)]);
        assert!(
            checks
                .snapshot()
                .iter()
                .all(|r| r.status == Status::Pending)
        );
        let results = checks.run_now().await;
        let statuses: Vec<(&str, Status)> = results
            .iter()
            .map(|r| (r.name.as_str(), r.status))
            .collect();
        assert_eq!(statuses, [("open", Status::Up), ("closed", Status::Down)]);
        // A result for a target this org does not have is not recorded.
        let other = self::checks(&[("open", &open)]);
        assert!(!other.record(results[1].clone()));
        assert_eq!(other.snapshot().len(), 1);
    }

    #[tokio::test]
    async fn callers_during_a_run_share_its_results() {
        let (_open, open) = open_port().await;
        let checks = Arc::new(checks(&[("open", &open)]));
        let mut updates = checks.updates();
        let (first, second) = tokio::join!(checks.run_now(), checks.run_now());
        assert_eq!(first, second);
        // One round: one result recorded, not two.
        assert_eq!(*updates.borrow_and_update(), 1);
    }

    #[tokio::test]
    async fn the_worker_checks_in_the_background_until_aborted() {
        let (_open, open) = open_port().await;
        let checks = Arc::new(checks(&[("open", &open)]));
        let mut updates = checks.updates();
        let worker = tokio::spawn(checks.clone().run());
        tokio::time::timeout(Duration::from_secs(5), updates.changed())
            .await
            .expect("a background check ran")
            .unwrap();
        assert_eq!(checks.snapshot()[0].status, Status::Up);
        worker.abort();
        assert!(worker.await.unwrap_err().is_cancelled());
    }
}
