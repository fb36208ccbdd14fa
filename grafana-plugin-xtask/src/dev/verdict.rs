//! What Grafana's answers mean for the plugin: shared by the app's and the data source's
//! checks (grafana_api.rs, datasource_api.rs).

/// What Grafana's answers mean for the plugin.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// Loaded, and CheckHealth through Grafana answered `status: "OK"` with this message.
    Serving(String),
    /// A data-source plugin: its data source `uid` is healthy and a query returned frames.
    ServingDataSource { uid: String, said: String },
    /// Loaded and reachable, but the backend's health check reports an error.
    Unhealthy(String),
    /// Grafana has the plugin but not a running backend (it did not start, or exited):
    /// what Grafana said. The caller adds what it knows of the file and where its output is.
    /// `gave_up`: Grafana lists an error for the plugin (failedBackendStart) and will not try
    /// again by itself; otherwise it may still be starting the backend.
    BackendDown { said: String, gave_up: bool },
    /// Not loaded, not Grafana, or no answer: the reason and the fix.
    NotServing(String),
    /// Ctrl-C while asking.
    Interrupted,
}
