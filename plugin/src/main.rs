//! The backend binary Grafana starts: the plugin runtime serves the app (`app.rs`); this
//! crate holds only the app's own logic: settings, checks, routes, the worker.
mod allow;
mod app;
mod build_info;
mod checker;
mod health;
mod org;
mod routes;
mod settings;
mod worker;

use std::process::ExitCode;

use grafana_plugin_runtime::Options;

fn main() -> ExitCode {
    let allow = allow::AllowList::parse(std::env::var(allow::VARIABLE).ok().as_deref());
    let plugin = app::ServiceChecks::new(checker::Timeouts::default(), allow);
    let options = Options::new(
        build_info::version_line(),
        build_info::as_json().to_string(),
        env!("CARGO_CRATE_NAME"),
    );
    grafana_plugin_runtime::main(plugin, options)
}
