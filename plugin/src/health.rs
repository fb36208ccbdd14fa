//! CheckHealth ("Test" on the app's config page): what is reported, decided without gRPC.
use serde_json::{Value, json};

use crate::build_info;

#[derive(Clone, Debug, PartialEq)]
pub struct HealthReport {
    pub ok: bool,
    pub message: String,
    pub details: Value,
}

pub fn check() -> HealthReport {
    HealthReport {
        ok: true,
        message: format!(
            "{} {} is running",
            build_info::PLUGIN_ID,
            build_info::VERSION
        ),
        details: json!({ "plugin": build_info::as_json() }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn healthy_report_names_the_plugin_and_version() {
        let report = check();
        assert!(report.ok);
        assert!(
            report.message.contains(build_info::VERSION),
            "{}",
            report.message
        );
        assert_eq!(report.details["plugin"]["pluginID"], build_info::PLUGIN_ID);
    }
}
