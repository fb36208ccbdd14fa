//! What Grafana sends with every request, read from the raw protocol message: who is calling
//! (user, org, role) and the app's settings. Parsed here rather than by the SDK because the
//! SDK fails the whole request for role `"None"` (org users without a basic role) or for
//! jsonData that does not fit a type, before any handler runs, and then logs the request
//! with its decrypted secrets.
use grafana_plugin_sdk::pluginv2;

use crate::secret::Secret;

/// The key in `secureJsonData` that holds the token of `hooks/report`.
pub const HOOK_TOKEN_KEY: &str = "hookToken";

/// A Grafana org role, weakest first, so `role >= Role::Editor` reads as "Editor or above".
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Role {
    /// `"None"`: a member of the org without a basic role, or a role this plugin does not know.
    None,
    Viewer,
    Editor,
    Admin,
}

impl Role {
    /// Never fails: an unknown or empty role gets the fewest rights (untrusted input).
    pub fn parse(role: &str) -> Role {
        match role {
            "Admin" => Role::Admin,
            "Editor" => Role::Editor,
            "Viewer" => Role::Viewer,
            _ => Role::None,
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct User {
    pub login: String,
    pub role: Role,
}

/// The caller of a request. `user` is `None` for calls Grafana makes without a signed-in
/// user (service accounts without a user context, backend-initiated calls).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Caller {
    pub org_id: i64,
    pub user: Option<User>,
}

impl Caller {
    pub fn from_proto(context: Option<&pluginv2::PluginContext>) -> Caller {
        let Some(context) = context else {
            return Caller::default();
        };
        Caller {
            org_id: context.org_id,
            user: context.user.as_ref().map(|user| User {
                login: user.login.clone(),
                role: Role::parse(&user.role),
            }),
        }
    }
}

/// The app's settings as Grafana sends them; `json_data` is parsed by `settings`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AppSettings {
    pub last_updated_ms: i64,
    pub json_data: Vec<u8>,
    pub hook_token: Option<Secret>,
}

impl AppSettings {
    pub fn from_proto(context: Option<&pluginv2::PluginContext>) -> Option<AppSettings> {
        let settings = context?.app_instance_settings.as_ref()?;
        Some(AppSettings {
            last_updated_ms: settings.last_updated_ms,
            json_data: settings.json_data.clone(),
            hook_token: settings
                .decrypted_secure_json_data
                .get(HOOK_TOKEN_KEY)
                .map(|token| Secret::new(token.clone())),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roles_parse_without_failing_and_order_by_rights() {
        assert_eq!(Role::parse("Admin"), Role::Admin);
        assert_eq!(Role::parse("Editor"), Role::Editor);
        assert_eq!(Role::parse("Viewer"), Role::Viewer);
        for unknown in ["None", "", "admin", "Superuser"] {
            assert_eq!(Role::parse(unknown), Role::None, "{unknown:?}");
        }
        assert!(Role::Admin > Role::Editor && Role::Editor > Role::Viewer);
        assert!(Role::Viewer > Role::None);
    }

    #[test]
    fn caller_reads_user_and_org_and_tolerates_missing_parts() {
        let context = pluginv2::PluginContext {
            org_id: 3,
            user: Some(pluginv2::User {
                login: "ana".into(),
                role: "None".into(),
                ..Default::default()
            }),
            ..Default::default()
        };
        let caller = Caller::from_proto(Some(&context));
        assert_eq!(caller.org_id, 3);
        assert_eq!(
            caller.user,
            Some(User {
                login: "ana".into(),
                role: Role::None
            })
        );
        assert_eq!(Caller::from_proto(None), Caller::default());
        let no_user = pluginv2::PluginContext::default();
        assert_eq!(Caller::from_proto(Some(&no_user)).user, None);
    }

    #[test]
    fn app_settings_carry_json_data_and_only_the_hook_token() {
        let context = pluginv2::PluginContext {
            app_instance_settings: Some(pluginv2::AppInstanceSettings {
                json_data: b"null".to_vec(),
                decrypted_secure_json_data: [
                    ("hookToken".to_owned(), "t0ken".to_owned()),
                    ("other".to_owned(), "x".to_owned()),
                ]
                .into(),
                last_updated_ms: 42,
            }),
            ..Default::default()
        };
        let settings = AppSettings::from_proto(Some(&context)).unwrap();
        assert_eq!(settings.last_updated_ms, 42);
        assert_eq!(settings.json_data, b"null");
        assert_eq!(settings.hook_token, Some(Secret::new("t0ken".into())));
        assert!(!format!("{settings:?}").contains("t0ken"));
        assert_eq!(
            AppSettings::from_proto(Some(&pluginv2::PluginContext::default())),
            None
        );
        assert_eq!(AppSettings::from_proto(None), None);
    }
}
