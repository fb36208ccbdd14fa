//! What every Rust Grafana backend plugin needs and none should copy, written once and
//! versioned: a plugin depends on this crate and upgrades by a version bump.
//!
//! - **Serving** ([`main`]): go-plugin's handshake, magic cookie and port range, `TCP_NODELAY`,
//!   go-plugin's `Shutdown` and `StreamStdio`, a graceful stop within Grafana's 2 s, hclog
//!   JSON logs on stderr.
//! - **Instances** ([`Plugin::new_instance`]): an app's state per org, a data source's per
//!   data source (uid), made again when its `lastUpdatedMS` changes, the old one disposed of;
//!   one org never sees another's.
//! - **Resources** ([`Plugin::routes`], [`resource`]): an axum `Router` per instance, with the
//!   query string kept, the [`Caller`] as an extractor and [`resource::RequireRole`] as the
//!   authorization layer.
//! - **Settings and secrets** ([`settings::parse_json_data`], [`Secret`]): jsonData through
//!   serde with the field's path in errors; secure values that redact themselves.
//! - **Failures**: a panic in a call is that call's error (500 for a resource), and the
//!   process keeps serving. Each call runs in a tracing span with the plugin id, org id,
//!   endpoint and incoming `traceparent`.
//! - **Metrics** ([`Plugin::collect_metrics`]): CollectMetrics answers the Prometheus text of
//!   a `prometheus_client` registry.
//! - **Reload without a restart** (Unix): on SIGUSR1 the plugin lets its calls finish, keeps
//!   its listening socket and execs the new binary at its path, keeping its PID: Grafana's
//!   client reconnects, and no call fails. `cargo xtask dev` uses it for plugins that carry
//!   [`HANDOVER_MARKER`].
//!
//! Why not the SDK's own traits: `grafana-plugin-sdk` 0.5 rejects role `"None"` (org users
//! without a basic role) and jsonData that does not fit a type before a handler runs, logs
//! the whole request with its decrypted secrets when it does, and lacks go-plugin's
//! `Shutdown`. This crate reads the raw `pluginv2` messages instead and uses the SDK for its
//! generated protocol and its log format.
//!
//! # Example: an app with one route per org
//!
//! ```no_run
//! use std::sync::Arc;
//! use grafana_plugin_runtime::{
//!     axum::{Json, Router, extract::State, routing::{get, post}},
//!     resource::RequireRole, settings::parse_json_data, Caller, Health, InstanceSettings,
//!     Options, Plugin, Role,
//! };
//!
//! #[derive(serde::Deserialize, Default)]
//! struct Settings { #[serde(default)] greeting: String }
//!
//! /// One org's state.
//! struct Org { settings: Result<Settings, grafana_plugin_runtime::settings::SettingsError> }
//!
//! struct Hello;
//!
//! impl Plugin for Hello {
//!     type Instance = Org;
//!     fn new_instance(&self, settings: InstanceSettings) -> Org {
//!         Org { settings: parse_json_data(&settings.json_data) }
//!     }
//!     async fn check_health(&self, org: Arc<Org>, _caller: Caller) -> Health {
//!         match &org.settings {
//!             Ok(_) => Health::ok("ready"),
//!             Err(error) => Health::error(format!("Invalid settings: {error}")),
//!         }
//!     }
//!     fn routes(&self) -> Router<Arc<Org>> {
//!         Router::new()
//!             .route("/reset", post(|| async { "reset" }))
//!             .route_layer(RequireRole::at_least(Role::Admin))
//!             .route("/hello", get(|State(org): State<Arc<Org>>, caller: Caller| async move {
//!                 let greeting = org.settings.as_ref().map(|s| s.greeting.clone()).unwrap_or_default();
//!                 Json(serde_json::json!({ "greeting": greeting, "org": caller.org_id }))
//!             }))
//!     }
//! }
//!
//! fn main() -> std::process::ExitCode {
//!     grafana_plugin_runtime::main(Hello, Options::new("gpx_hello 0.1.0", "{}", "hello"))
//! }
//! ```
#![warn(missing_docs)]

mod context;
mod controller;
pub mod data;
mod go_plugin;
mod grpc;
mod handover;
mod instances;
mod metrics;
pub mod resource;
mod secret;
mod serve;
pub mod settings;
mod stop;

use std::{future::Future, sync::Arc};

pub use axum;
pub use prometheus_client;

pub use context::{Caller, DataSourceFields, InstanceKey, InstanceSettings, Role, User};
pub use handover::MARKER as HANDOVER_MARKER;
pub use secret::Secret;
pub use serve::{Options, main};

/// A backend plugin: what it keeps per instance and how it answers Grafana's calls with it.
pub trait Plugin: Send + Sync + Sized + 'static {
    /// The state of one instance: an app in one org, or one data source. It lives until its
    /// settings change or the plugin stops; work it owns (tasks, connections) should end when
    /// it is dropped or in [`Plugin::dispose`].
    type Instance: Send + Sync + 'static;

    /// Makes the instance for `settings`: on an instance's first call, and again whenever
    /// Grafana's `lastUpdatedMS` for it changes. Must not block (spawn what takes time);
    /// settings that do not parse belong in the instance (health reports them), not in a
    /// panic.
    fn new_instance(&self, settings: InstanceSettings) -> Self::Instance;

    /// Called once for an instance that was replaced by one with new settings, or when the
    /// plugin stops: stop its work here. Calls still running keep their `Arc` to it.
    fn dispose(&self, instance: &Self::Instance) {
        let _ = instance;
    }

    /// CheckHealth: the "Test" of an app's or a data source's settings page, and
    /// `/api/plugins/<id>/health`.
    fn check_health(
        &self,
        instance: Arc<Self::Instance>,
        caller: Caller,
    ) -> impl Future<Output = Health> + Send;

    /// The resource routes of an instance (`/api/plugins/<id>/resources/<path>` arrives as
    /// `/<path>`), its state the instance. Built once per instance. None by default (404).
    fn routes(&self) -> axum::Router<Arc<Self::Instance>> {
        axum::Router::new()
    }

    /// QueryData, a data source's queries (panels, alert rules, `/api/ds/query`): one
    /// answer per query, keyed by its `ref_id`, an error for one query answering only that
    /// query. By default every query gets a 501 error (an app answers none).
    fn query_data(
        &self,
        instance: Arc<Self::Instance>,
        caller: Caller,
        queries: Vec<data::DataQuery>,
    ) -> impl Future<Output = Vec<(String, data::DataResponse)>> + Send {
        let _ = (instance, caller);
        let answers = queries
            .into_iter()
            .map(|query| {
                let answer = data::DataResponse::error(501, "this plugin answers no queries");
                (query.ref_id, answer)
            })
            .collect();
        std::future::ready(answers)
    }

    /// CollectMetrics: registers the plugin's metrics, read from every live instance (with
    /// its key, for a label), in `registry`. Nothing by default.
    fn collect_metrics(
        &self,
        instances: &[(InstanceKey, Arc<Self::Instance>)],
        registry: &mut prometheus_client::registry::Registry,
    ) {
        let _ = (instances, registry);
    }
}

/// What CheckHealth answers.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub struct Health {
    /// OK, or what is wrong.
    pub status: HealthStatus,
    /// One line for the settings page.
    pub message: String,
    /// JSON details (Grafana shows them under the message); `Null` for none.
    pub details: serde_json::Value,
}

/// CheckHealth's verdict.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HealthStatus {
    /// Working.
    Ok,
    /// Not working; the message says why.
    Error,
    /// Not known.
    Unknown,
}

impl Health {
    /// Working, with a message.
    pub fn ok(message: impl Into<String>) -> Health {
        Health {
            status: HealthStatus::Ok,
            message: message.into(),
            details: serde_json::Value::Null,
        }
    }

    /// Not working, with what is wrong.
    pub fn error(message: impl Into<String>) -> Health {
        Health {
            status: HealthStatus::Error,
            message: message.into(),
            details: serde_json::Value::Null,
        }
    }

    /// The same with JSON details.
    pub fn with_details(mut self, details: serde_json::Value) -> Health {
        self.details = details;
        self
    }
}
