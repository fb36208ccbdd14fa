//! The app on the plugin runtime: one [`Org`] per org (its settings, its checks and its
//! worker), made from the settings Grafana sends and disposed of, worker and all, when they
//! change. CheckHealth and the metrics read the org's results; routes are in `routes.rs`.
use std::sync::Arc;

use grafana_plugin_runtime::{
    Caller, Health, InstanceKey, InstanceSettings, Plugin, Secret,
    axum::Router,
    prometheus_client::{
        metrics::{family::Family, gauge::Gauge},
        registry::Registry,
    },
};
use tokio::task::AbortHandle;

use crate::{
    allow::AllowList,
    checker::{Status, Timeouts},
    health, routes,
    worker::{Checks, Configured},
};

/// The key in `secureJsonData` that holds the token of `hooks/report`.
pub const HOOK_TOKEN_KEY: &str = "hookToken";

/// The plugin: what every org's checks share (timeouts, the operator's allow-list).
pub struct ServiceChecks {
    timeouts: Timeouts,
    allow: Arc<AllowList>,
}

impl ServiceChecks {
    pub fn new(timeouts: Timeouts, allow: AllowList) -> ServiceChecks {
        ServiceChecks {
            timeouts,
            allow: Arc::new(allow),
        }
    }
}

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
        Arc::new(Org {
            worker: tokio::spawn(checks.clone().run()).abort_handle(),
            checks,
            hook_token: hook_token.map(|token| Secret::new(token.to_owned())),
        })
    }
}

impl Drop for Org {
    fn drop(&mut self) {
        self.worker.abort();
    }
}

impl Plugin for ServiceChecks {
    type Instance = Org;

    fn new_instance(&self, settings: InstanceSettings) -> Org {
        let configured = Configured::parse(&settings.json_data);
        if let Err(error) = &configured.settings {
            tracing::warn!(key = ?settings.key, %error, "invalid app settings");
        }
        let checks = Arc::new(Checks::new(configured, self.timeouts, self.allow.clone()));
        let worker = tokio::spawn(checks.clone().run()).abort_handle();
        Org {
            checks,
            hook_token: settings
                .secret(HOOK_TOKEN_KEY)
                .filter(|token| !token.is_empty())
                .cloned(),
            worker,
        }
    }

    fn dispose(&self, org: &Org) {
        org.worker.abort();
    }

    async fn check_health(&self, org: Arc<Org>, _caller: Caller) -> Health {
        let report = health::check(&org.checks.configured, &org.checks.snapshot(), &self.allow);
        let health = if report.ok {
            Health::ok(report.message)
        } else {
            Health::error(report.message)
        };
        health.with_details(report.details)
    }

    fn routes(&self) -> Router<Arc<Org>> {
        routes::router()
    }

    /// `service_check_up` (1 up, 0 down; a target not checked yet has none) and
    /// `service_check_latency_seconds` per org and target.
    fn collect_metrics(&self, orgs: &[(InstanceKey, Arc<Org>)], registry: &mut Registry) {
        let up = Family::<Labels, Gauge>::default();
        let latency = Family::<Labels, Gauge<f64, std::sync::atomic::AtomicU64>>::default();
        for (key, org) in orgs {
            let InstanceKey::App { org_id } = key else {
                continue;
            };
            for result in org.checks.snapshot() {
                let labels = vec![
                    ("org_id".to_owned(), org_id.to_string()),
                    ("target".to_owned(), result.name.clone()),
                ];
                match result.status {
                    Status::Up => up.get_or_create(&labels).set(1),
                    Status::Down => up.get_or_create(&labels).set(0),
                    Status::Pending => continue,
                };
                if let Some(ms) = result.latency_ms {
                    latency.get_or_create(&labels).set(ms / 1000.0);
                }
            }
        }
        registry.register(
            "service_check_up",
            "Whether the target answered its last check",
            up,
        );
        registry.register(
            "service_check_latency_seconds",
            "Time to connect (and read the greeting) at the last successful check",
            latency,
        );
    }
}

/// `org_id` and `target`.
type Labels = Vec<(String, String)>;
