//! Who is calling: the user and org Grafana puts in every request's plugin context, read
//! from the raw protocol message. Parsed here rather than by the SDK because the SDK fails
//! the whole request for role `"None"` (org users without a basic role) before any handler runs.
use grafana_plugin_sdk::pluginv2;

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
}
