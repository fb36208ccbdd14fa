//! Instance management, as the Go SDK's `instancemgmt` does it: one instance per
//! [`InstanceKey`] (an app per org, a data source per uid), made by the plugin from the
//! instance's settings on its first call, made again when Grafana's `lastUpdatedMS` for it
//! changes (any change, not only a newer one), the old one disposed of. A call never sees
//! another key's instance.
use std::{
    collections::HashMap,
    sync::{Arc, Mutex, PoisonError},
    time::{Duration, Instant},
};

use crate::{InstanceKey, InstanceSettings, Plugin};

/// A live instance, with the resource routes bound to it.
pub(crate) struct Live<I> {
    pub instance: Arc<I>,
    pub routes: axum::Router,
}

impl<I> Clone for Live<I> {
    fn clone(&self) -> Self {
        Live {
            instance: self.instance.clone(),
            routes: self.routes.clone(),
        }
    }
}

struct Entry<I> {
    updated_ms: i64,
    live: Live<I>,
    /// The last call that used it.
    used: Instant,
}

/// The instances of one plugin process.
pub(crate) struct Instances<P: Plugin> {
    entries: Mutex<HashMap<InstanceKey, Entry<P::Instance>>>,
}

impl<P: Plugin> Default for Instances<P> {
    fn default() -> Self {
        Instances {
            entries: Mutex::new(HashMap::new()),
        }
    }
}

impl<P: Plugin> Instances<P> {
    /// The instance for `settings.key`, made (again) when its settings changed. The old one
    /// is handed to [`Plugin::dispose`] and dropped once the calls still using it end.
    pub fn get(&self, plugin: &Arc<P>, settings: InstanceSettings) -> Live<P::Instance> {
        let mut entries = self.entries.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(entry) = entries.get_mut(&settings.key)
            && entry.updated_ms == settings.updated_ms
        {
            entry.used = Instant::now();
            return entry.live.clone();
        }
        let key = settings.key.clone();
        let updated_ms = settings.updated_ms;
        tracing::debug!(?key, updated_ms, "new instance");
        let instance = Arc::new(plugin.new_instance(settings));
        let routes = plugin.routes().with_state(instance.clone());
        let live = Live { instance, routes };
        let old = entries.insert(
            key,
            Entry {
                updated_ms,
                live: live.clone(),
                used: Instant::now(),
            },
        );
        drop(entries);
        if let Some(old) = old {
            plugin.dispose(&old.live.instance);
        }
        live
    }

    /// Every live instance, for CollectMetrics.
    pub fn all(&self) -> Vec<(InstanceKey, Arc<P::Instance>)> {
        let entries = self.entries.lock().unwrap_or_else(PoisonError::into_inner);
        let mut all: Vec<_> = (entries.iter())
            .map(|(key, entry)| (key.clone(), entry.live.instance.clone()))
            .collect();
        all.sort_by(|a, b| a.0.cmp(&b.0));
        all
    }

    /// Disposes of the instances no call has used for `idle`. Grafana never tells a plugin
    /// that an app was disabled in an org or a data source deleted; it only stops calling.
    /// The Go SDK's TTL instance manager evicts such instances after an hour; so does this.
    pub fn dispose_idle(&self, plugin: &P, idle: Duration) -> usize {
        let now = Instant::now();
        let mut idle_entries = Vec::new();
        {
            let mut entries = self.entries.lock().unwrap_or_else(PoisonError::into_inner);
            entries.retain(|key, entry| {
                let keep = now.duration_since(entry.used) < idle;
                if !keep {
                    tracing::debug!(?key, "instance idle; disposed of");
                    idle_entries.push(entry.live.instance.clone());
                }
                keep
            });
        }
        for instance in &idle_entries {
            plugin.dispose(instance);
        }
        idle_entries.len()
    }

    /// Disposes of every instance (the plugin is stopping).
    pub fn dispose_all(&self, plugin: &P) {
        let entries =
            std::mem::take(&mut *self.entries.lock().unwrap_or_else(PoisonError::into_inner));
        for entry in entries.into_values() {
            plugin.dispose(&entry.live.instance);
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::*;
    use crate::{Caller, Health};

    /// Counts what it made and disposed of; an instance is its settings' jsonData.
    #[derive(Default)]
    struct Counting {
        made: AtomicUsize,
        disposed: Mutex<Vec<String>>,
    }

    impl Plugin for Counting {
        type Instance = String;
        fn new_instance(&self, settings: InstanceSettings) -> String {
            self.made.fetch_add(1, Ordering::SeqCst);
            String::from_utf8(settings.json_data).unwrap()
        }
        fn dispose(&self, instance: &String) {
            self.disposed.lock().unwrap().push(instance.clone());
        }
        async fn check_health(&self, _: Arc<String>, _: Caller) -> Health {
            Health::ok("")
        }
    }

    fn settings(org_id: i64, updated_ms: i64, json: &str) -> InstanceSettings {
        InstanceSettings {
            key: InstanceKey::App { org_id },
            json_data: json.as_bytes().to_vec(),
            secure_json_data: Default::default(),
            updated_ms,
            data_source: None,
        }
    }

    #[tokio::test]
    async fn one_instance_per_org_replaced_when_its_settings_change() {
        let plugin = Arc::new(Counting::default());
        let instances = Instances::<Counting>::default();
        let org1 = instances.get(&plugin, settings(1, 10, "one"));
        let org2 = instances.get(&plugin, settings(2, 10, "two"));
        assert_eq!((*org1.instance).as_str(), "one");
        assert_eq!((*org2.instance).as_str(), "two");
        // The same version again: the same instance.
        let again = instances.get(&plugin, settings(1, 10, "ignored"));
        assert!(Arc::ptr_eq(&again.instance, &org1.instance));
        assert_eq!(plugin.made.load(Ordering::SeqCst), 2);
        // Any change of lastUpdatedMS, older included: a new instance, the old one disposed
        // of, the other org untouched.
        let older = instances.get(&plugin, settings(1, 9, "one, restored"));
        assert_eq!((*older.instance).as_str(), "one, restored");
        assert_eq!(*plugin.disposed.lock().unwrap(), ["one"]);
        let keys: Vec<_> = instances.all().into_iter().map(|(key, _)| key).collect();
        assert_eq!(
            keys,
            [
                InstanceKey::App { org_id: 1 },
                InstanceKey::App { org_id: 2 }
            ]
        );
        instances.dispose_all(&plugin);
        assert_eq!(plugin.disposed.lock().unwrap().len(), 3);
    }

    #[tokio::test]
    async fn instances_no_call_used_for_the_idle_time_are_disposed_of() {
        let plugin = Arc::new(Counting::default());
        let instances = Instances::<Counting>::default();
        instances.get(&plugin, settings(1, 10, "one"));
        std::thread::sleep(Duration::from_millis(30));
        instances.get(&plugin, settings(2, 10, "two"));
        assert_eq!(
            instances.dispose_idle(&plugin, Duration::from_millis(20)),
            1
        );
        assert_eq!(*plugin.disposed.lock().unwrap(), ["one"]);
        // The next call of org 1 makes it again.
        instances.get(&plugin, settings(1, 10, "one"));
        assert_eq!(plugin.made.load(Ordering::SeqCst), 3);
    }
}
