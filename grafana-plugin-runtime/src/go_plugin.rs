//! The server side of HashiCorp's go-plugin, as a Go plugin built with `plugin.Serve` behaves
//! where Grafana or a person can tell: the magic-cookie check, a listener inside
//! `PLUGIN_MIN_PORT..=PLUGIN_MAX_PORT`, `TCP_NODELAY` on every accepted connection, and the
//! handshake line. (The Rust SDK's `backend::initialize` does only the last, on any port.)
use std::{ffi::OsString, net::Ipv4Addr};

use tokio::net::TcpListener;
use tonic::transport::server::TcpIncoming;

/// go-plugin's magic cookie as Grafana sets it, for every plugin type.
pub(crate) const MAGIC_COOKIE_KEY: &str = "grafana_plugin_type";
pub(crate) const MAGIC_COOKIE_VALUE: &str = "datasource";

/// What go-plugin prints, word for word, when its binary is started by hand.
pub(crate) const NOT_STARTED_BY_GRAFANA: &str = "This binary is a plugin. These are not meant to be \
executed directly.\nPlease execute the program that consumes these plugins, which will\nload \
any plugins automatically\n";

/// Whether the process was started by a go-plugin host (Grafana): the magic cookie is set.
pub(crate) fn started_by_host(cookie: Option<OsString>) -> bool {
    cookie.is_some_and(|value| value == MAGIC_COOKIE_VALUE)
}

/// The ports to try, from `PLUGIN_MIN_PORT` and `PLUGIN_MAX_PORT` as go-plugin reads them:
/// a missing or empty bound is 0, so neither set means one try at port 0 (any free port).
pub(crate) fn port_range(
    min: Option<&str>,
    max: Option<&str>,
) -> Result<std::ops::RangeInclusive<u16>, String> {
    let bound = |name: &str, value: Option<&str>| -> Result<u16, String> {
        match value.map(str::trim) {
            None | Some("") => Ok(0),
            Some(value) => value
                .parse()
                .map_err(|_| format!("{name}={value:?} is not a port number (0 to 65535)")),
        }
    };
    let (min, max) = (
        bound("PLUGIN_MIN_PORT", min)?,
        bound("PLUGIN_MAX_PORT", max)?,
    );
    if min > max {
        return Err(format!(
            "PLUGIN_MIN_PORT value of {min} is greater than PLUGIN_MAX_PORT value of {max}"
        ));
    }
    Ok(min..=max)
}

/// Binds the first free port of the range on 127.0.0.1, as go-plugin does.
pub(crate) async fn listen(ports: std::ops::RangeInclusive<u16>) -> Result<TcpListener, String> {
    let (first, last) = (*ports.start(), *ports.end());
    for port in ports {
        if let Ok(listener) = TcpListener::bind((Ipv4Addr::LOCALHOST, port)).await {
            return Ok(listener);
        }
    }
    Err(format!(
        "cannot bind the plugin's TCP listener: no free port on 127.0.0.1 from {first} to {last}"
    ))
}

/// The handshake line Grafana reads from the first line of stdout: core protocol 1, plugin
/// protocol 2, TCP, gRPC.
pub(crate) fn handshake_line(listener: &TcpListener) -> std::io::Result<String> {
    Ok(format!("1|2|tcp|{}|grpc", listener.local_addr()?))
}

/// The connections the gRPC server accepts, each with `TCP_NODELAY`. Without it the server's
/// small response frames wait for the client's delayed ACK: grpc-go (Grafana) then sees
/// ~40 ms per call instead of tens of microseconds. tonic's own `tcp_nodelay` setting does
/// not apply to an incoming stream handed to `serve_with_incoming`, hence this.
pub(crate) fn incoming(listener: TcpListener) -> TcpIncoming {
    TcpIncoming::from_listener(listener, true, None)
        .expect("from_listener wraps an open listener and cannot fail")
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio_stream::StreamExt;

    #[test]
    fn only_grafanas_cookie_counts_as_started_by_grafana() {
        assert!(started_by_host(Some("datasource".into())));
        assert!(!started_by_host(None));
        assert!(!started_by_host(Some("app".into())));
        assert!(!started_by_host(Some("".into())));
    }

    #[test]
    fn port_range_reads_the_bounds_as_go_plugin_does() {
        assert_eq!(port_range(None, None), Ok(0..=0));
        assert_eq!(port_range(Some(""), Some("")), Ok(0..=0));
        assert_eq!(port_range(Some("10000"), Some("25000")), Ok(10000..=25000));
        assert_eq!(
            port_range(Some("25000"), Some("10000")),
            Err(
                "PLUGIN_MIN_PORT value of 25000 is greater than PLUGIN_MAX_PORT value of 10000"
                    .into()
            )
        );
        assert_eq!(
            port_range(Some("x"), Some("1")),
            Err("PLUGIN_MIN_PORT=\"x\" is not a port number (0 to 65535)".into())
        );
        assert!(port_range(Some("1"), Some("70000")).is_err());
    }

    #[tokio::test]
    async fn listen_takes_the_next_free_port_of_the_range() {
        let taken = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).await.unwrap();
        let port = taken.local_addr().unwrap().port();
        let Some(next) = port.checked_add(1) else {
            return; // the last port: nothing above it to take
        };
        match listen(port..=next).await {
            Ok(listener) => assert_eq!(listener.local_addr().unwrap().port(), next),
            // Another process may hold the next port too; then the range is exhausted.
            Err(error) => assert!(error.contains(&format!("from {port} to {next}")), "{error}"),
        }
        let error = listen(port..=port).await.unwrap_err();
        assert_eq!(
            error,
            format!(
                "cannot bind the plugin's TCP listener: no free port on 127.0.0.1 from {port} to {port}"
            )
        );
    }

    #[tokio::test]
    async fn accepted_connections_have_tcp_nodelay() {
        let listener = listen(0..=0).await.unwrap();
        let address = listener.local_addr().unwrap();
        assert_eq!(
            handshake_line(&listener).unwrap(),
            format!("1|2|tcp|{address}|grpc")
        );
        let mut incoming = incoming(listener);
        let _client = tokio::net::TcpStream::connect(address).await.unwrap();
        let accepted = incoming.next().await.unwrap().unwrap();
        assert!(
            accepted.nodelay().unwrap(),
            "the server side of an accepted connection must have TCP_NODELAY"
        );
    }
}
