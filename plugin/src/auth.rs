//! Authorization, decided in the plugin for every protected route from what Grafana sends:
//! the caller's role, or for machine callers a token compared with the one in secureJsonData.
use crate::{
    context::{Caller, Role},
    secret::Secret,
};

/// The header machine callers put the hook token in.
pub const HOOK_TOKEN_HEADER: &str = "x-hook-token";

/// Who may call a route.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Access {
    Anyone,
    /// A signed-in Grafana user with at least this role.
    AtLeast(Role),
    /// Whoever presents the hook token, user or not.
    HookToken,
}

/// Why a call is refused: 401 (who are you?) or 403 (not allowed).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Denied {
    pub status: u16,
    pub message: String,
}

pub fn authorize(
    access: Access,
    caller: &Caller,
    headers: &[(String, String)],
    hook_token: Option<&Secret>,
) -> Result<(), Denied> {
    match access {
        Access::Anyone => Ok(()),
        Access::AtLeast(needed) => match &caller.user {
            None => Err(Denied {
                status: 401,
                message: "this route needs a signed-in Grafana user".into(),
            }),
            Some(user) if user.role >= needed => Ok(()),
            Some(user) => Err(Denied {
                status: 403,
                message: format!(
                    "this route needs the {} role or above; you have {}",
                    role_name(needed),
                    match user.role {
                        Role::None => "no basic role in this organization".to_owned(),
                        other => role_name(other).to_owned(),
                    }
                ),
            }),
        },
        Access::HookToken => {
            let presented = headers
                .iter()
                .find(|(name, _)| name == HOOK_TOKEN_HEADER)
                .map(|(_, value)| value.as_bytes());
            // Without a configured token the hook is closed; the answer is the same as for a
            // wrong token, so callers learn nothing about the configuration.
            match (presented, hook_token) {
                (Some(presented), Some(expected)) if expected.matches(presented) => Ok(()),
                _ => Err(Denied {
                    status: 401,
                    message: format!("missing or wrong token in the {HOOK_TOKEN_HEADER} header"),
                }),
            }
        }
    }
}

fn role_name(role: Role) -> &'static str {
    match role {
        Role::Admin => "Admin",
        Role::Editor => "Editor",
        Role::Viewer => "Viewer",
        Role::None => "None",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::context::User;

    fn caller(role: Option<Role>) -> Caller {
        Caller {
            org_id: 1,
            user: role.map(|role| User {
                login: "someone".into(),
                role,
            }),
        }
    }

    #[test]
    fn roles_are_checked_against_the_route() {
        let viewer_route = Access::AtLeast(Role::Viewer);
        let editor_route = Access::AtLeast(Role::Editor);
        for (role, viewer_ok, editor_ok) in [
            (Some(Role::Admin), true, true),
            (Some(Role::Editor), true, true),
            (Some(Role::Viewer), true, false),
            (Some(Role::None), false, false),
            (None, false, false),
        ] {
            let caller = caller(role);
            assert_eq!(
                authorize(viewer_route, &caller, &[], None).is_ok(),
                viewer_ok,
                "{role:?}"
            );
            assert_eq!(
                authorize(editor_route, &caller, &[], None).is_ok(),
                editor_ok,
                "{role:?}"
            );
            assert!(authorize(Access::Anyone, &caller, &[], None).is_ok());
        }
        let none = authorize(viewer_route, &caller(Some(Role::None)), &[], None).unwrap_err();
        assert_eq!(none.status, 403);
        assert_eq!(
            none.message,
            "this route needs the Viewer role or above; you have no basic role in this organization"
        );
        let viewer = authorize(editor_route, &caller(Some(Role::Viewer)), &[], None).unwrap_err();
        assert_eq!(
            viewer.message,
            "this route needs the Editor role or above; you have Viewer"
        );
        assert_eq!(
            authorize(viewer_route, &caller(None), &[], None)
                .unwrap_err()
                .status,
            401
        );
    }

    #[test]
    fn hook_token_must_match_the_configured_one() {
        let token = Secret::new("s3cret-token".into());
        let with = |value: &str| vec![(HOOK_TOKEN_HEADER.to_owned(), value.to_owned())];
        let nobody = caller(None);
        assert!(
            authorize(
                Access::HookToken,
                &nobody,
                &with("s3cret-token"),
                Some(&token)
            )
            .is_ok()
        );
        for headers in [with("s3cret-tokem"), with("s3cret"), with(""), vec![]] {
            let denied = authorize(Access::HookToken, &nobody, &headers, Some(&token)).unwrap_err();
            assert_eq!(denied.status, 401);
            assert!(!denied.message.contains("s3cret"));
        }
        // No token configured (or an empty one): the hook is closed, even to an empty header.
        assert!(authorize(Access::HookToken, &nobody, &with(""), None).is_err());
        let empty = Secret::new(String::new());
        assert!(authorize(Access::HookToken, &nobody, &with(""), Some(&empty)).is_err());
        // An admin without the token is refused too: the hook is for machines.
        assert!(
            authorize(
                Access::HookToken,
                &caller(Some(Role::Admin)),
                &[],
                Some(&token)
            )
            .is_err()
        );
    }
}
