//! The data source backend Grafana starts: the plugin runtime serves it (`datasource.rs`).
//! Written by `cargo xtask init --type datasource` or `cargo xtask adopt`; yours from now on.
mod build_info;
mod datasource;

use std::process::ExitCode;

use grafana_plugin_runtime::Options;

fn main() -> ExitCode {
    let options = Options::new(
        build_info::version_line(),
        build_info::as_json().to_string(),
        env!("CARGO_CRATE_NAME"),
    );
    grafana_plugin_runtime::main(datasource::DataSource, options)
}
