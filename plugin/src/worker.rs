//! The background worker and the state it keeps: the settings last seen in a request, and the
//! latest result per target. Each target is checked on its own interval in its own task;
//! new settings (a newer `lastUpdatedMS`) restart the tasks; shutdown stops them. Request
//! handlers only read or briefly lock the results, so they never wait for a check.
use std::{
    collections::HashMap,
    sync::{Arc, RwLock},
};

use tokio::{
    sync::{Mutex, watch},
    task::JoinSet,
};

use crate::{
    checker::{self, CheckResult, Timeouts},
    settings::{self, Settings, SettingsError},
};

/// Settings as parsed from one version of the app's jsonData.
#[derive(Debug)]
pub struct Configured {
    /// Grafana's `lastUpdatedMS` of the app settings; `None` before any request.
    pub version: Option<i64>,
    pub settings: Result<Settings, SettingsError>,
}

impl Configured {
    pub fn targets(&self) -> &[settings::Target] {
        self.settings.as_ref().map_or(&[], |s| &s.targets)
    }

    /// The targets this backend connects to (all but the passive ones).
    fn checked_targets(&self) -> impl Iterator<Item = &settings::Target> {
        self.targets().iter().filter(|target| !target.passive)
    }
}

pub struct Checks {
    configured: watch::Sender<Arc<Configured>>,
    results: RwLock<HashMap<String, CheckResult>>,
    /// One "run now" at a time; callers that arrive meanwhile wait and share its results.
    running_now: Mutex<()>,
    /// Counts recorded results, so waiters learn of new ones without polling.
    updates: watch::Sender<u64>,
    timeouts: Timeouts,
}

impl Checks {
    pub fn new(timeouts: Timeouts) -> Checks {
        let (configured, _) = watch::channel(Arc::new(Configured {
            version: None,
            settings: Ok(Settings::default()),
        }));
        Checks {
            configured,
            results: RwLock::new(HashMap::new()),
            running_now: Mutex::new(()),
            updates: watch::channel(0).0,
            timeouts,
        }
    }

    /// Called with the app settings of every request: parses them only when Grafana's
    /// `lastUpdatedMS` is newer than what we have, so a late request with older settings
    /// never rolls them back.
    pub fn observe(&self, last_updated_ms: i64, json_data: &[u8]) -> Arc<Configured> {
        let newer = self
            .configured
            .borrow()
            .version
            .is_none_or(|seen| last_updated_ms > seen);
        if newer {
            let parsed = Arc::new(Configured {
                version: Some(last_updated_ms),
                settings: settings::parse(json_data),
            });
            self.configured.send_if_modified(|current| {
                // Checked again under the channel's lock: another request may have won.
                let still_newer = current.version.is_none_or(|seen| last_updated_ms > seen);
                if still_newer {
                    *current = parsed.clone();
                }
                still_newer
            });
            let configured = self.current();
            self.results
                .write()
                .unwrap()
                .retain(|name, result| is_configured(&configured, name, &result.address));
            return configured;
        }
        self.current()
    }

    pub fn current(&self) -> Arc<Configured> {
        self.configured.borrow().clone()
    }

    /// Latest results in the configured order; targets not checked yet are `pending`.
    pub fn snapshot(&self) -> Vec<CheckResult> {
        let configured = self.current();
        let results = self.results.read().unwrap();
        configured
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

    /// Stores a result unless its target was removed or changed meanwhile.
    pub fn record(&self, result: CheckResult) -> bool {
        let configured = self.current();
        if !is_configured(&configured, &result.name, &result.address) {
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

    /// Checks every target now, concurrently, and returns the results.
    pub async fn run_now(&self) -> Vec<CheckResult> {
        let _one_at_a_time = self.running_now.lock().await;
        let mut checks = JoinSet::new();
        let configured = self.current();
        for target in configured.checked_targets() {
            let (target, timeouts) = (target.clone(), self.timeouts);
            checks.spawn(async move { checker::check(&target, timeouts).await });
        }
        while let Some(done) = checks.join_next().await {
            if let Ok(result) = done {
                self.record(result);
            }
        }
        self.snapshot()
    }

    /// The worker: one task per target, restarted when settings change, stopped when `stop`
    /// turns true. Returns once every task has ended.
    pub async fn run(self: Arc<Self>, mut stop: watch::Receiver<bool>) {
        let mut changes = self.configured.subscribe();
        loop {
            let configured = changes.borrow_and_update().clone();
            let mut tasks = JoinSet::new();
            for target in configured.checked_targets().cloned() {
                let checks = self.clone();
                tasks.spawn(async move {
                    loop {
                        let result = checker::check(&target, checks.timeouts).await;
                        checks.record(result);
                        tokio::time::sleep(target.interval).await;
                    }
                });
            }
            tracing::debug!(targets = tasks.len(), "checking targets in the background");
            let keep_going = tokio::select! {
                changed = changes.changed() => changed.is_ok(),
                _ = stop.wait_for(|stop| *stop) => false,
            };
            tasks.shutdown().await;
            if !keep_going {
                tracing::debug!("background checks stopped");
                return;
            }
        }
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

    async fn open_port() -> (TcpListener, String) {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap().to_string();
        (listener, address)
    }

    #[tokio::test]
    async fn settings_are_taken_only_from_newer_versions() {
        let checks = Checks::new(FAST);
        assert_eq!(checks.current().version, None);
        checks.observe(10, &json(&[("a", "a:1")]));
        assert_eq!(checks.current().targets()[0].name, "a");
        // An older request arriving late does not roll the settings back.
        checks.observe(9, &json(&[("old", "o:1")]));
        assert_eq!(checks.current().targets()[0].name, "a");
        // The same version is not parsed again.
        checks.observe(10, b"garbage");
        assert!(checks.current().settings.is_ok());
        checks.observe(11, b"{\"targets\": 5}");
        assert!(checks.current().settings.is_err());
        assert!(checks.snapshot().is_empty());
    }

    #[tokio::test]
    async fn run_now_checks_every_target_and_results_follow_the_settings() {
        let (_open, open) = open_port().await;
        let (closed_listener, closed) = open_port().await;
        drop(closed_listener);
        let checks = Checks::new(FAST);
        checks.observe(1, &json(&[("open", &open), ("closed", &closed)]));
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

        // A removed target's result goes, and a late result for it is not recorded.
        checks.observe(2, &json(&[("open", &open)]));
        assert_eq!(checks.snapshot().len(), 1);
        assert!(!checks.record(results[1].clone()));
        assert_eq!(checks.snapshot().len(), 1);
    }

    #[tokio::test]
    async fn worker_checks_in_the_background_and_stops_on_request() {
        let (_open, open) = open_port().await;
        let checks = Arc::new(Checks::new(FAST));
        let (stop, stopping) = watch::channel(false);
        let mut updates = checks.updates();
        let worker = tokio::spawn(checks.clone().run(stopping));
        checks.observe(1, &json(&[("open", &open)]));
        tokio::time::timeout(Duration::from_secs(5), updates.changed())
            .await
            .expect("a background check ran")
            .unwrap();
        assert_eq!(checks.snapshot()[0].status, Status::Up);
        stop.send_replace(true);
        tokio::time::timeout(Duration::from_secs(2), worker)
            .await
            .expect("worker stops promptly")
            .unwrap();
    }
}
