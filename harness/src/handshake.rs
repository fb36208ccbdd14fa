//! go-plugin's handshake line, parsed as Grafana's client parses it.
use std::net::SocketAddr;

use anyhow::{Context, Result, ensure};

/// go-plugin's handshake line: `CORE|APP|NETWORK|ADDRESS|PROTOCOL`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Handshake {
    pub core_protocol: u32,
    pub app_protocol: u32,
    pub address: SocketAddr,
}

impl Handshake {
    /// Parses the line as go-plugin's client does, accepting only what Grafana accepts:
    /// core protocol 1, plugin protocol 2, TCP, gRPC.
    pub fn parse(line: &str) -> Result<Handshake> {
        let line = line.trim_end_matches(['\r', '\n']);
        let parts: Vec<&str> = line.split('|').collect();
        ensure!(
            parts.len() == 5,
            "handshake {line:?} does not have the 5 fields CORE|APP|NETWORK|ADDRESS|PROTOCOL"
        );
        let core_protocol: u32 = parts[0]
            .parse()
            .with_context(|| format!("core protocol {:?} is not a number", parts[0]))?;
        ensure!(
            core_protocol == 1,
            "core protocol {core_protocol}, expected 1"
        );
        let app_protocol: u32 = parts[1]
            .parse()
            .with_context(|| format!("plugin protocol {:?} is not a number", parts[1]))?;
        ensure!(
            app_protocol == 2,
            "plugin protocol {app_protocol}, expected 2"
        );
        ensure!(parts[2] == "tcp", "network {:?}, expected tcp", parts[2]);
        let address: SocketAddr = parts[3]
            .parse()
            .with_context(|| format!("address {:?} is not host:port", parts[3]))?;
        ensure!(parts[4] == "grpc", "protocol {:?}, expected grpc", parts[4]);
        Ok(Handshake {
            core_protocol,
            app_protocol,
            address,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn handshake_parses_grafanas_accepted_form() {
        let handshake = Handshake::parse("1|2|tcp|127.0.0.1:40123|grpc\n").unwrap();
        assert_eq!(handshake.address, "127.0.0.1:40123".parse().unwrap());
        assert_eq!((handshake.core_protocol, handshake.app_protocol), (1, 2));
    }

    #[test]
    fn handshake_rejects_what_grafana_rejects() {
        for (line, why) in [
            ("hello world", "5 fields"),
            ("2|2|tcp|127.0.0.1:1|grpc", "core protocol 2"),
            ("1|1|tcp|127.0.0.1:1|grpc", "plugin protocol 1"),
            ("1|2|udp|127.0.0.1:1|grpc", "network"),
            ("1|2|tcp|localhost|grpc", "host:port"),
            ("1|2|tcp|127.0.0.1:1|netrpc", "protocol"),
        ] {
            let error = Handshake::parse(line).unwrap_err().to_string();
            assert!(error.contains(why), "{line:?}: {error}");
        }
    }
}
