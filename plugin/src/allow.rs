//! Where this backend may connect, decided by the Grafana server's operator, not by an org
//! Admin: saving app settings needs only an org Admin, and a target makes the Grafana host
//! open a connection and show the answer to Viewers. The list comes from grafana.ini,
//! `[plugin.acme-servicechecks-app] allowed_targets = …`, which Grafana hands to the plugin
//! as `GF_PLUGIN_ALLOWED_TARGETS` (pkg/plugins/envvars/envvars.go). Entries, comma-separated:
//! `host:port`, `host:*`, `*.example.com:443` (any subdomain), an IP or CIDR with a port or
//! `*` (`10.0.0.0/8:*`, `[::1]:6379`). A target is checked by its name before it is resolved
//! and by each address it resolves to before any connection; link-local and cloud metadata
//! addresses are refused unless an entry names that very address or network. Without a list,
//! nothing is allowed. Pure: the checker does the I/O.
use std::net::IpAddr;

/// The environment variable Grafana sets from `allowed_targets`.
pub const VARIABLE: &str = "GF_PLUGIN_ALLOWED_TARGETS";

/// The operator's allow-list, or why there is none.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AllowList {
    entries: Vec<Entry>,
    /// Set when the variable could not be read; every target is then refused with it.
    error: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
enum HostPattern {
    /// A name, lower case.
    Name(String),
    /// `*.suffix`: any name ending in `.suffix`.
    Subdomains(String),
    /// An address or network (prefix length).
    Network(IpAddr, u8),
}

#[derive(Clone, Debug, PartialEq, Eq)]
struct Entry {
    host: HostPattern,
    /// `None` for `*`.
    port: Option<u16>,
}

/// How to allow a target, for messages.
fn fix() -> String {
    format!(
        "a Grafana server admin allows targets in grafana.ini: [plugin.acme-servicechecks-app] \
         allowed_targets = host:port, *.example.com:443, 10.0.0.0/8:* ({VARIABLE})"
    )
}

impl AllowList {
    /// Reads the variable's value; `None` (unset) allows nothing.
    pub fn parse(value: Option<&str>) -> AllowList {
        let Some(value) = value else {
            return AllowList::default();
        };
        let mut entries = Vec::new();
        for item in value
            .split(',')
            .map(str::trim)
            .filter(|item| !item.is_empty())
        {
            match parse_entry(item) {
                Ok(entry) => entries.push(entry),
                Err(why) => {
                    return AllowList {
                        entries: Vec::new(),
                        error: Some(format!("{VARIABLE}: {item:?} {why}")),
                    };
                }
            }
        }
        AllowList {
            entries,
            error: None,
        }
    }

    /// Whether the list could be read, for CheckHealth.
    pub fn error(&self) -> Option<&str> {
        self.error.as_deref()
    }

    /// The first check, by the target's name and port as configured, before any lookup.
    pub fn permits_name(&self, host: &str, port: u16) -> Result<(), String> {
        if let Some(error) = &self.error {
            return Err(format!("refused: the allow-list is invalid ({error})"));
        }
        let host = host.trim_start_matches('[').trim_end_matches(']');
        let named = match host.parse::<IpAddr>() {
            Ok(ip) => self.entries.iter().any(|e| e.matches_ip(ip, port)),
            Err(_) => self.entries.iter().any(|e| e.matches_name(host, port)),
        };
        if named {
            Ok(())
        } else {
            Err(format!(
                "refused: {host}:{port} is not in the server's allow-list; {}",
                fix()
            ))
        }
    }

    /// The second check, for each address the name resolved to, before connecting to it: an
    /// address in a network the list names is allowed; a name-allowed target may resolve
    /// anywhere but to link-local and cloud metadata addresses (DNS could point a harmless
    /// name there), which only an entry naming that network allows.
    pub fn permits_address(&self, host: &str, ip: IpAddr, port: u16) -> Result<(), String> {
        self.permits_name(host, port)?;
        let by_network = self
            .entries
            .iter()
            .any(|e| matches!(e.host, HostPattern::Network(..)) && e.matches_ip(ip, port));
        if is_link_local_or_metadata(ip) && !by_network {
            return Err(format!(
                "refused: {host} resolves to {ip}, a link-local or cloud metadata address, which \
                 is allowed only when an allowed_targets entry names that address"
            ));
        }
        Ok(())
    }
}

impl Entry {
    fn matches_port(&self, port: u16) -> bool {
        self.port.is_none_or(|allowed| allowed == port)
    }

    fn matches_name(&self, host: &str, port: u16) -> bool {
        let host = host.to_ascii_lowercase();
        let host = host.trim_end_matches('.');
        self.matches_port(port)
            && match &self.host {
                HostPattern::Name(name) => name == host,
                HostPattern::Subdomains(suffix) => host
                    .strip_suffix(suffix.as_str())
                    .is_some_and(|rest| rest.ends_with('.') && rest.len() > 1),
                HostPattern::Network(..) => false,
            }
    }

    fn matches_ip(&self, ip: IpAddr, port: u16) -> bool {
        self.matches_port(port)
            && match &self.host {
                HostPattern::Network(network, prefix) => in_network(ip, *network, *prefix),
                HostPattern::Name(name) => name.parse::<IpAddr>().is_ok_and(|named| named == ip),
                HostPattern::Subdomains(_) => false,
            }
    }
}

/// `host:port`, `[v6]:port`, `net/len:port`, port `*`.
fn parse_entry(item: &str) -> Result<Entry, &'static str> {
    let (host, port) = item
        .rsplit_once(':')
        .ok_or("needs a port or `*` after a colon (host:port)")?;
    let port = match port {
        "*" => None,
        port => Some(port.parse::<u16>().map_err(|_| "has no valid port")?),
    };
    let host = host.trim_start_matches('[').trim_end_matches(']');
    if host.is_empty() {
        return Err("has no host");
    }
    let host = if let Some((network, prefix)) = host.split_once('/') {
        let network: IpAddr = network
            .parse()
            .map_err(|_| "has no valid network address")?;
        let max = if network.is_ipv4() { 32 } else { 128 };
        let prefix: u8 = prefix
            .parse()
            .ok()
            .filter(|prefix| *prefix <= max)
            .ok_or("has no valid prefix length")?;
        HostPattern::Network(network, prefix)
    } else if let Ok(ip) = host.parse::<IpAddr>() {
        HostPattern::Network(ip, if ip.is_ipv4() { 32 } else { 128 })
    } else if let Some(suffix) = host.strip_prefix("*.") {
        HostPattern::Subdomains(suffix.to_ascii_lowercase())
    } else if host.contains('*') {
        return Err("may use `*` only as `*.domain`");
    } else {
        HostPattern::Name(host.to_ascii_lowercase())
    };
    Ok(Entry { host, port })
}

fn in_network(ip: IpAddr, network: IpAddr, prefix: u8) -> bool {
    match (ip, network) {
        (IpAddr::V4(ip), IpAddr::V4(network)) => {
            let mask = u32::MAX.checked_shl(32 - u32::from(prefix)).unwrap_or(0);
            u32::from(ip) & mask == u32::from(network) & mask
        }
        (IpAddr::V6(ip), IpAddr::V6(network)) => {
            let mask = u128::MAX.checked_shl(128 - u32::from(prefix)).unwrap_or(0);
            u128::from(ip) & mask == u128::from(network) & mask
        }
        (IpAddr::V6(ip), IpAddr::V4(_)) => ip
            .to_ipv4_mapped()
            .is_some_and(|ip| in_network(IpAddr::V4(ip), network, prefix)),
        (IpAddr::V4(_), IpAddr::V6(_)) => false,
    }
}

/// 169.254.0.0/16 and fe80::/10 (link-local, where AWS, GCP and Azure serve instance
/// metadata at 169.254.169.254), AWS's IPv6 metadata fd00:ec2::254, Alibaba's 100.100.100.200.
fn is_link_local_or_metadata(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => v4.is_link_local() || v4.octets() == [100, 100, 100, 200],
        IpAddr::V6(v6) => {
            if let Some(v4) = v6.to_ipv4_mapped() {
                return is_link_local_or_metadata(IpAddr::V4(v4));
            }
            (v6.segments()[0] & 0xffc0) == 0xfe80
                || v6 == std::net::Ipv6Addr::new(0xfd00, 0xec2, 0, 0, 0, 0, 0, 0x254)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(text: &str) -> IpAddr {
        text.parse().unwrap()
    }

    #[test]
    fn without_a_list_nothing_is_allowed_and_the_fix_is_named() {
        let error = AllowList::parse(None)
            .permits_name("db.internal", 5432)
            .unwrap_err();
        assert!(error.contains("not in the server's allow-list"), "{error}");
        assert!(
            error.contains("allowed_targets") && error.contains(VARIABLE),
            "{error}"
        );
    }

    #[test]
    fn names_ports_subdomains_and_networks_are_matched() {
        let list = AllowList::parse(Some(
            "db.internal:5432, cache:*, *.corp.example:443, 10.0.0.0/8:*, [::1]:6379, 127.0.0.1:*",
        ));
        assert_eq!(list.error(), None);
        assert!(list.permits_name("db.internal", 5432).is_ok());
        assert!(list.permits_name("DB.Internal.", 5432).is_ok());
        assert!(list.permits_name("db.internal", 5433).is_err());
        assert!(list.permits_name("cache", 1).is_ok());
        assert!(list.permits_name("a.b.corp.example", 443).is_ok());
        assert!(list.permits_name("corp.example", 443).is_err());
        assert!(list.permits_name("evilcorp.example", 443).is_err());
        assert!(list.permits_name("10.1.2.3", 22).is_ok());
        assert!(list.permits_name("11.1.2.3", 22).is_err());
        assert!(list.permits_name("[::1]", 6379).is_ok());
        assert!(list.permits_name("127.0.0.1", 9).is_ok());
    }

    #[test]
    fn metadata_and_link_local_addresses_are_refused_unless_listed() {
        // Decided from the address alone: no test connects to it.
        let list = AllowList::parse(Some("metadata.internal:80, *.example.com:*"));
        for address in [
            "169.254.169.254",
            "169.254.1.1",
            "100.100.100.200",
            "fe80::1",
            "fd00:ec2::254",
            "::ffff:169.254.169.254",
        ] {
            let error = list
                .permits_address("metadata.internal", ip(address), 80)
                .unwrap_err();
            assert!(
                error.contains("link-local or cloud metadata"),
                "{address}: {error}"
            );
        }
        assert!(
            list.permits_address("metadata.internal", ip("10.0.0.5"), 80)
                .is_ok()
        );
        let listed = AllowList::parse(Some("169.254.169.254:80"));
        assert!(
            listed
                .permits_address("169.254.169.254", ip("169.254.169.254"), 80)
                .is_ok()
        );
        // A name allowed by name does not open the address it resolves to in another port.
        assert!(
            list.permits_address("metadata.internal", ip("10.0.0.5"), 81)
                .is_err()
        );
    }

    #[test]
    fn a_bad_entry_refuses_everything_and_says_which() {
        for bad in ["db.internal", "db:port", "10.0.0.0/33:*", "a*b:1", ":80"] {
            let list = AllowList::parse(Some(bad));
            let error = list.error().unwrap_or_else(|| panic!("{bad} was accepted"));
            assert!(error.starts_with(VARIABLE), "{error}");
            assert!(
                list.permits_name("anything", 1)
                    .unwrap_err()
                    .contains("invalid")
            );
        }
    }
}
