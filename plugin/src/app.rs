//! The app on the plugin runtime: one [`Org`] per org (its settings, its checks and its
//! worker), made from the settings Grafana sends and disposed of, worker and all, when they
//! change. CheckHealth and the metrics read the org's results; routes are in `routes.rs`.
use std::sync::Arc;

use crate::org::Org;
use crate::{
    allow::AllowList,
    checker::{Status, Timeouts},
    health, routes,
    worker::{Checks, Configured},
};
use grafana_plugin_runtime::{
    Caller, Health, InstanceKey, InstanceSettings, Plugin,
    axum::Router,
    prometheus_client::{
        metrics::{family::Family, gauge::Gauge},
        registry::Registry,
    },
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

impl Plugin for ServiceChecks {
    type Instance = Org;

    fn new_instance(&self, settings: InstanceSettings) -> Org {
        let configured = Configured::parse(&settings.json_data);
        if let Err(error) = &configured.settings {
            tracing::warn!(key = ?settings.key, %error, "invalid app settings");
        }
        let checks = Arc::new(Checks::new(configured, self.timeouts, self.allow.clone()));
        let hook_token = settings
            .secret(HOOK_TOKEN_KEY)
            .filter(|token| !token.is_empty())
            .cloned();
        Org::start(checks, hook_token)
    }

    fn dispose(&self, org: &Org) {
        org.stop();
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
