//! CheckHealth (`/api/plugins/<id>/health`, per org): a summary when the settings are valid,
//! the precise problem when they are not (the org's settings, or the server's allow-list).
//! Always an answer, never a gRPC error.
use serde_json::{Value, json};

use crate::{
    allow::AllowList,
    build_info,
    checker::{CheckResult, Status},
    worker::Configured,
};

#[derive(Clone, Debug, PartialEq)]
pub struct HealthReport {
    pub ok: bool,
    pub message: String,
    pub details: Value,
}

pub fn check(configured: &Configured, results: &[CheckResult], allow: &AllowList) -> HealthReport {
    let plugin = build_info::as_json();
    if let Some(error) = allow.error() {
        return HealthReport {
            ok: false,
            message: format!("Invalid server setting: {error}"),
            details: json!({ "plugin": plugin, "allowListError": error }),
        };
    }
    let settings = match &configured.settings {
        Err(error) => {
            return HealthReport {
                ok: false,
                message: format!("Invalid settings: {error}"),
                details: json!({ "plugin": plugin, "settingsError": error.to_string() }),
            };
        }
        Ok(settings) => settings,
    };
    let count = |status| results.iter().filter(|r| r.status == status).count();
    let (up, down, pending) = (
        count(Status::Up),
        count(Status::Down),
        count(Status::Pending),
    );
    let mut message = if settings.targets.is_empty() {
        "No targets configured yet: an org Admin adds them to jsonData.targets (provisioning/plugins/ or POST /api/plugins/<id>/settings)"
            .to_owned()
    } else {
        format!(
            "{} target{} configured: {up} up, {down} down, {pending} not checked yet",
            settings.targets.len(),
            if settings.targets.len() == 1 { "" } else { "s" }
        )
    };
    if !settings.unknown_fields.is_empty() {
        message.push_str(&format!(
            " (ignored unknown settings: {})",
            settings.unknown_fields.join(", ")
        ));
    }
    HealthReport {
        ok: true,
        message,
        details: json!({
            "plugin": plugin,
            "targets": settings.targets.len(),
            "up": up,
            "down": down,
            "pending": pending,
            "unknownFields": settings.unknown_fields,
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn configured(json: &str) -> Configured {
        Configured::parse(json.as_bytes())
    }

    #[test]
    fn an_invalid_allow_list_is_what_health_reports() {
        let allow = AllowList::parse(Some("db.internal"));
        let report = check(&configured("{}"), &[], &allow);
        assert!(!report.ok);
        assert!(
            report
                .message
                .starts_with("Invalid server setting: GF_PLUGIN_ALLOWED_TARGETS"),
            "{}",
            report.message
        );
    }

    #[test]
    fn valid_settings_give_a_summary() {
        let configured = configured(
            r#"{"targets": [{"name": "a", "address": "a:1"}, {"name": "b", "address": "b:2"}], "x": 1}"#,
        );
        let targets = &configured.settings.as_ref().unwrap().targets;
        let mut down = CheckResult::pending(&targets[1]);
        down.status = Status::Down;
        let results = [CheckResult::pending(&targets[0]), down];
        let report = check(&configured, &results, &AllowList::default());
        assert!(report.ok);
        assert_eq!(
            report.message,
            "2 targets configured: 0 up, 1 down, 1 not checked yet (ignored unknown settings: x)"
        );
        assert_eq!(report.details["plugin"]["pluginID"], build_info::PLUGIN_ID);
    }

    #[test]
    fn empty_settings_are_ok_and_say_what_to_do() {
        for json in ["", "null", "{}"] {
            let report = check(&configured(json), &[], &AllowList::default());
            assert!(report.ok);
            assert!(
                report.message.starts_with("No targets configured yet"),
                "{}",
                report.message
            );
        }
    }

    #[test]
    fn invalid_settings_are_an_error_with_the_precise_problem() {
        let report = check(
            &configured(r#"{"targets": [{"name": "db", "address": "db.internal"}]}"#),
            &[],
            &AllowList::default(),
        );
        assert!(!report.ok);
        assert_eq!(
            report.message,
            "Invalid settings: jsonData.targets[0].address: \"db.internal\" has no port; write host:port, e.g. \"db.internal:5432\""
        );
    }
}
