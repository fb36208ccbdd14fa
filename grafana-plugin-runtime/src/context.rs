//! What Grafana sends with every call, read from the raw protocol message: who is calling
//! (org, user, role) and the instance's settings. Read here rather than by the SDK's
//! high-level types because the SDK (0.5) fails the whole call for role `"None"` (org users
//! without a basic role) and for jsonData that does not fit a type, before any handler runs,
//! and then logs the call with its decrypted secrets.
use std::collections::BTreeMap;

use grafana_plugin_sdk::pluginv2;

use crate::secret::Secret;

/// A Grafana org role, weakest first, so `role >= Role::Editor` reads as "Editor or above".
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Role {
    /// `"None"`: a member of the org without a basic role, or a role this crate does not know.
    None,
    /// `"Viewer"`.
    Viewer,
    /// `"Editor"`.
    Editor,
    /// `"Admin"` (an org admin, not necessarily a Grafana server admin).
    Admin,
}

impl Role {
    /// Never fails: an unknown or empty role gets the fewest rights (untrusted input).
    ///
    /// ```
    /// use grafana_plugin_runtime::Role;
    /// assert_eq!(Role::parse("Editor"), Role::Editor);
    /// assert_eq!(Role::parse("Superuser"), Role::None);
    /// assert!(Role::Admin > Role::Viewer);
    /// ```
    pub fn parse(role: &str) -> Role {
        match role {
            "Admin" => Role::Admin,
            "Editor" => Role::Editor,
            "Viewer" => Role::Viewer,
            _ => Role::None,
        }
    }

    /// The name Grafana uses.
    pub fn name(self) -> &'static str {
        match self {
            Role::Admin => "Admin",
            Role::Editor => "Editor",
            Role::Viewer => "Viewer",
            Role::None => "None",
        }
    }
}

/// The signed-in Grafana user a call is made for.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct User {
    /// The user's login.
    pub login: String,
    /// The user's role in the org of the call.
    pub role: Role,
}

/// Who a call is for. Through Grafana's HTTP API every caller is a signed-in identity (a
/// user, a service account, an anonymous session with a role); `user` is `None` only for
/// calls Grafana makes on its own (alerting, background queries, CollectMetrics).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Caller {
    /// The org the call is made in: an app's state is kept per org.
    pub org_id: i64,
    /// The plugin id Grafana addressed.
    pub plugin_id: String,
    /// The user, when the call has one.
    pub user: Option<User>,
}

impl User {
    /// A user, for tests of routes and handlers.
    pub fn new(login: impl Into<String>, role: Role) -> User {
        User {
            login: login.into(),
            role,
        }
    }
}

impl Caller {
    /// A caller, for tests of routes and handlers: the runtime puts it in each resource
    /// request's extensions, where a test puts it too (`request.extensions_mut().insert`).
    pub fn new(org_id: i64, plugin_id: impl Into<String>, user: Option<User>) -> Caller {
        Caller {
            org_id,
            plugin_id: plugin_id.into(),
            user,
        }
    }

    /// Reads the caller from Grafana's plugin context; a missing part stays empty.
    pub fn from_proto(context: Option<&pluginv2::PluginContext>) -> Caller {
        let Some(context) = context else {
            return Caller::default();
        };
        Caller {
            org_id: context.org_id,
            plugin_id: context.plugin_id.clone(),
            user: context.user.as_ref().map(|user| User {
                login: user.login.clone(),
                role: Role::parse(&user.role),
            }),
        }
    }

    /// The caller's role, `Role::None` without a user.
    pub fn role(&self) -> Role {
        self.user.as_ref().map_or(Role::None, |user| user.role)
    }
}

/// Which instance a call belongs to. An app has one instance per org (the Go SDK's
/// `pluginID#orgID`), a data source one per data source of the org (its uid): one never sees
/// another's state.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum InstanceKey {
    /// An app in one org.
    App {
        /// The org.
        org_id: i64,
    },
    /// One data source.
    DataSource {
        /// The org the data source belongs to.
        org_id: i64,
        /// The data source's uid.
        uid: String,
    },
}

/// A data source's own fields, beside its jsonData.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct DataSourceFields {
    /// The numeric id.
    pub id: i64,
    /// The uid, stable across Grafana instances when provisioned.
    pub uid: String,
    /// The name users pick it by.
    pub name: String,
    /// The URL field of its settings page.
    pub url: String,
    /// The user field.
    pub user: String,
    /// The database field.
    pub database: String,
    /// Whether basic authentication is on.
    pub basic_auth_enabled: bool,
    /// The basic authentication user.
    pub basic_auth_user: String,
}

/// An instance's settings as Grafana sends them with a call: the raw jsonData (parse it with
/// [`crate::settings::parse_json_data`]), the decrypted secureJsonData as [`Secret`]s, and
/// `lastUpdatedMS`, whose change means new settings.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct InstanceSettings {
    /// Whose settings these are.
    pub key: InstanceKey,
    /// jsonData as sent (untrusted; may be empty or `null`).
    pub json_data: Vec<u8>,
    /// secureJsonData, decrypted by Grafana; each value redacts itself in logs.
    pub secure_json_data: BTreeMap<String, Secret>,
    /// `lastUpdatedMS`: any change (not only a newer one) means new settings.
    pub updated_ms: i64,
    /// A data source's own fields; `None` for an app.
    pub data_source: Option<DataSourceFields>,
}

impl InstanceSettings {
    /// The settings of the call's instance: a data source's when Grafana sent them, else the
    /// app's in the call's org (empty when the org has none yet).
    pub fn from_proto(context: Option<&pluginv2::PluginContext>) -> InstanceSettings {
        let org_id = context.map_or(0, |context| context.org_id);
        let secrets = |map: &std::collections::HashMap<String, String>| {
            map.iter()
                .map(|(key, value)| (key.clone(), Secret::new(value.clone())))
                .collect()
        };
        if let Some(ds) = context.and_then(|c| c.data_source_instance_settings.as_ref()) {
            return InstanceSettings {
                key: InstanceKey::DataSource {
                    org_id,
                    uid: ds.uid.clone(),
                },
                json_data: ds.json_data.clone(),
                secure_json_data: secrets(&ds.decrypted_secure_json_data),
                updated_ms: ds.last_updated_ms,
                data_source: Some(DataSourceFields {
                    id: ds.id,
                    uid: ds.uid.clone(),
                    name: ds.name.clone(),
                    url: ds.url.clone(),
                    user: ds.user.clone(),
                    database: ds.database.clone(),
                    basic_auth_enabled: ds.basic_auth_enabled,
                    basic_auth_user: ds.basic_auth_user.clone(),
                }),
            };
        }
        let app = context.and_then(|c| c.app_instance_settings.as_ref());
        InstanceSettings {
            key: InstanceKey::App { org_id },
            json_data: app.map(|a| a.json_data.clone()).unwrap_or_default(),
            secure_json_data: app
                .map(|a| secrets(&a.decrypted_secure_json_data))
                .unwrap_or_default(),
            updated_ms: app.map_or(0, |a| a.last_updated_ms),
            data_source: None,
        }
    }

    /// The secret stored under `key` in secureJsonData, if set.
    pub fn secret(&self, key: &str) -> Option<&Secret> {
        self.secure_json_data.get(key)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn context(role: &str) -> pluginv2::PluginContext {
        pluginv2::PluginContext {
            org_id: 3,
            plugin_id: "acme-x-app".into(),
            user: Some(pluginv2::User {
                login: "ana".into(),
                role: role.into(),
                ..Default::default()
            }),
            app_instance_settings: Some(pluginv2::AppInstanceSettings {
                json_data: b"{}".to_vec(),
                decrypted_secure_json_data: [("token".to_owned(), "t0k".to_owned())].into(),
                last_updated_ms: 7,
            }),
            data_source_instance_settings: None,
        }
    }

    #[test]
    fn roles_parse_without_failing_and_order_by_rights() {
        for unknown in ["None", "", "admin", "Superuser"] {
            assert_eq!(Role::parse(unknown), Role::None, "{unknown:?}");
        }
        assert!(Role::Admin > Role::Editor && Role::Editor > Role::Viewer);
        assert!(Role::Viewer > Role::None);
    }

    #[test]
    fn the_caller_and_an_apps_settings_are_read_per_org() {
        let caller = Caller::from_proto(Some(&context("None")));
        assert_eq!((caller.org_id, caller.role()), (3, Role::None));
        let settings = InstanceSettings::from_proto(Some(&context("Viewer")));
        assert_eq!(settings.key, InstanceKey::App { org_id: 3 });
        assert_eq!(settings.updated_ms, 7);
        assert!(settings.secret("token").is_some_and(|s| s.matches(b"t0k")));
        // Nothing at all: an empty caller, empty settings; never a panic.
        assert_eq!(Caller::from_proto(None), Caller::default());
        assert!(InstanceSettings::from_proto(None).json_data.is_empty());
    }

    #[test]
    fn a_data_source_is_its_own_instance() {
        let mut context = context("Viewer");
        context.data_source_instance_settings = Some(pluginv2::DataSourceInstanceSettings {
            uid: "ds-1".into(),
            json_data: b"{\"a\":1}".to_vec(),
            last_updated_ms: 9,
            ..Default::default()
        });
        let settings = InstanceSettings::from_proto(Some(&context));
        assert_eq!(
            settings.key,
            InstanceKey::DataSource {
                org_id: 3,
                uid: "ds-1".into()
            }
        );
        assert_eq!(settings.json_data, b"{\"a\":1}");
    }
}
