//! The non-HTTP part: a raw TCP connect to a target, optionally a probe sent and the
//! service's greeting read (SMTP `220`, SSH `SSH-`, Redis `+PONG`), each with a timeout.
use std::time::{Duration, Instant};

use serde::Serialize;
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::TcpStream,
    time::timeout,
};

use crate::{allow::AllowList, settings::Target};

const MAX_BANNER: usize = 512;
const SHOWN_BANNER: usize = 120;

#[derive(Clone, Copy, Debug)]
pub struct Timeouts {
    pub connect: Duration,
    pub read: Duration,
}

impl Default for Timeouts {
    fn default() -> Self {
        Timeouts {
            connect: Duration::from_secs(3),
            read: Duration::from_secs(3),
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Up,
    Down,
    /// Configured, not checked yet.
    Pending,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Source {
    /// This backend connected to the target.
    Check,
    /// A machine caller pushed the state through `hooks/report`.
    Report,
}

/// The latest state of one target, as the app page shows it.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CheckResult {
    pub name: String,
    pub address: String,
    pub status: Status,
    /// Time to connect (and read the greeting, when one is expected), in milliseconds.
    pub latency_ms: Option<f64>,
    pub error: Option<String>,
    /// The start of the greeting, printable characters only.
    pub banner: Option<String>,
    /// RFC 3339 UTC; `None` while pending.
    pub checked_at: Option<String>,
    pub source: Source,
}

impl CheckResult {
    pub fn pending(target: &Target) -> CheckResult {
        CheckResult {
            name: target.name.clone(),
            address: target.address.clone(),
            status: Status::Pending,
            latency_ms: None,
            error: None,
            banner: None,
            checked_at: None,
            source: Source::Check,
        }
    }
}

pub async fn check(target: &Target, timeouts: Timeouts, allow: &AllowList) -> CheckResult {
    let started = Instant::now();
    let outcome = probe(target, timeouts, allow).await;
    let elapsed = started.elapsed().as_secs_f64() * 1000.0;
    let (status, error, banner) = match outcome {
        Ok(banner) => (Status::Up, None, banner),
        Err((error, banner)) => (Status::Down, Some(error), banner),
    };
    CheckResult {
        latency_ms: (status == Status::Up).then_some((elapsed * 100.0).round() / 100.0),
        status,
        error,
        banner,
        checked_at: Some(now_rfc3339()),
        ..CheckResult::pending(target)
    }
}

type ProbeError = (String, Option<String>);

/// `host:port` or `[v6]:port` (settings checked the form).
fn host_and_port(address: &str) -> Option<(&str, u16)> {
    let (host, port) = address.rsplit_once(':')?;
    Some((
        host.trim_start_matches('[').trim_end_matches(']'),
        port.parse().ok()?,
    ))
}

/// Resolves the target and connects to the first address the allow-list permits, all within
/// the connect timeout; nothing is connected to before the list said yes, by name and then by
/// each resolved address.
async fn connect(
    target: &Target,
    timeouts: Timeouts,
    allow: &AllowList,
) -> Result<TcpStream, String> {
    let (host, port) = host_and_port(&target.address)
        .ok_or_else(|| format!("{:?} is not host:port", target.address))?;
    allow.permits_name(host, port)?;
    let attempt = async {
        let addresses = tokio::net::lookup_host((host, port))
            .await
            .map_err(|error| format!("cannot resolve {host}: {error}"))?;
        let mut last = format!("{host} has no address");
        for address in addresses {
            if let Err(refused) = allow.permits_address(host, address.ip(), port) {
                last = refused;
                continue;
            }
            match TcpStream::connect(address).await {
                Ok(stream) => return Ok(stream),
                Err(error) => last = format!("cannot connect: {error}"),
            }
        }
        Err(last)
    };
    match timeout(timeouts.connect, attempt).await {
        Err(_) => Err(format!("no connection within {:?}", timeouts.connect)),
        Ok(result) => result,
    }
}

async fn probe(
    target: &Target,
    timeouts: Timeouts,
    allow: &AllowList,
) -> Result<Option<String>, ProbeError> {
    let mut stream = connect(target, timeouts, allow)
        .await
        .map_err(|error| (error, None))?;
    if let Some(send) = &target.send {
        let write = timeout(timeouts.read, stream.write_all(send.as_bytes())).await;
        if !matches!(write, Ok(Ok(()))) {
            return Err(("connected, but could not send the probe".to_owned(), None));
        }
    }
    let Some(expected) = &target.expect_banner else {
        return Ok(None);
    };
    let banner = read_banner(&mut stream, expected.len(), timeouts.read)
        .await
        .map_err(|why| (why, None))?;
    let shown = Some(printable(&banner)).filter(|text| !text.is_empty());
    if banner.starts_with(expected.as_bytes()) {
        Ok(shown)
    } else {
        Err((
            format!("the greeting does not start with {expected:?}"),
            shown,
        ))
    }
}

/// Reads until a line ends, `MAX_BANNER` bytes, or the peer closes; at least `want` bytes
/// unless the peer closes first.
async fn read_banner(
    stream: &mut TcpStream,
    want: usize,
    limit: Duration,
) -> Result<Vec<u8>, String> {
    let mut banner = Vec::new();
    let mut buffer = [0u8; MAX_BANNER];
    let deadline = tokio::time::Instant::now() + limit;
    loop {
        let room = MAX_BANNER - banner.len();
        match tokio::time::timeout_at(deadline, stream.read(&mut buffer[..room])).await {
            Err(_) if banner.is_empty() => {
                return Err(format!("connected, but no greeting within {limit:?}"));
            }
            Err(_) => return Ok(banner),
            Ok(Err(error)) => return Err(format!("connected, but reading failed: {error}")),
            Ok(Ok(0)) if banner.is_empty() => {
                return Err("connected, but the service closed without a greeting".to_owned());
            }
            Ok(Ok(0)) => return Ok(banner),
            Ok(Ok(read)) => banner.extend_from_slice(&buffer[..read]),
        }
        if banner.len() >= want && (banner.contains(&b'\n') || banner.len() >= MAX_BANNER) {
            return Ok(banner);
        }
    }
}

/// Lossy UTF-8, control characters dropped, cut to [`SHOWN_BANNER`] characters.
pub fn printable(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes)
        .chars()
        .filter(|c| !c.is_control())
        .take(SHOWN_BANNER)
        .collect()
}

pub fn now_rfc3339() -> String {
    chrono::Utc::now()
        .format("%Y-%m-%dT%H:%M:%S%.3fZ")
        .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::net::TcpListener;

    fn target(address: String, send: Option<&str>, expect: Option<&str>) -> Target {
        Target {
            name: "t".into(),
            passive: false,
            address,
            send: send.map(str::to_owned),
            expect_banner: expect.map(str::to_owned),
            interval: crate::settings::DEFAULT_INTERVAL,
        }
    }

    /// The tests' targets are all on loopback.
    fn loopback() -> AllowList {
        AllowList::parse(Some("127.0.0.0/8:*"))
    }

    const FAST: Timeouts = Timeouts {
        connect: Duration::from_millis(500),
        read: Duration::from_millis(300),
    };

    /// A local server that answers each connection with `greeting` (after reading `expect_in`
    /// bytes, if given), or stays silent when `greeting` is empty.
    async fn server(greeting: &'static [u8], expect_in: usize) -> String {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap().to_string();
        tokio::spawn(async move {
            while let Ok((mut socket, _)) = listener.accept().await {
                tokio::spawn(async move {
                    let mut input = vec![0u8; expect_in];
                    if expect_in > 0 {
                        let _ = socket.read_exact(&mut input).await;
                    }
                    if !greeting.is_empty() {
                        let _ = socket.write_all(greeting).await;
                    }
                    tokio::time::sleep(Duration::from_secs(5)).await;
                });
            }
        });
        address
    }

    #[tokio::test]
    async fn open_port_with_the_expected_banner_is_up() {
        let address = server(b"220 mail.example ESMTP ready\r\n", 0).await;
        let result = check(
            &target(address.clone(), None, Some("220")),
            FAST,
            &loopback(),
        )
        .await;
        assert_eq!(result.status, Status::Up, "{result:?}");
        assert_eq!(
            result.banner.as_deref(),
            Some("220 mail.example ESMTP ready")
        );
        assert!(result.latency_ms.is_some());
        assert_eq!(result.error, None);
        assert_eq!(result.address, address);
    }

    #[tokio::test]
    async fn probe_is_sent_before_reading_the_answer() {
        let address = server(b"+PONG\r\n", 6).await;
        let result = check(
            &target(address, Some("PING\r\n"), Some("+PONG")),
            FAST,
            &loopback(),
        )
        .await;
        assert_eq!(result.status, Status::Up, "{result:?}");
    }

    #[tokio::test]
    async fn wrong_banner_is_down_and_shows_what_came() {
        let address = server(b"-ERR unknown\r\n", 0).await;
        let result = check(&target(address, None, Some("+PONG")), FAST, &loopback()).await;
        assert_eq!(result.status, Status::Down);
        assert_eq!(
            result.error.as_deref(),
            Some("the greeting does not start with \"+PONG\"")
        );
        assert_eq!(result.banner.as_deref(), Some("-ERR unknown"));
        assert_eq!(result.latency_ms, None);
    }

    #[tokio::test]
    async fn open_port_without_expected_banner_is_up_on_connect() {
        let address = server(b"", 0).await;
        let result = check(&target(address, None, None), FAST, &loopback()).await;
        assert_eq!(result.status, Status::Up, "{result:?}");
    }

    #[tokio::test]
    async fn closed_port_is_down_with_the_connect_error() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let address = listener.local_addr().unwrap().to_string();
        drop(listener);
        let result = check(&target(address, None, None), FAST, &loopback()).await;
        assert_eq!(result.status, Status::Down);
        assert!(
            result
                .error
                .as_deref()
                .unwrap()
                .starts_with("cannot connect: "),
            "{result:?}"
        );
    }

    #[tokio::test]
    async fn silent_port_times_out_reading_the_banner() {
        let address = server(b"", 0).await;
        let started = Instant::now();
        let result = check(&target(address, None, Some("SSH-")), FAST, &loopback()).await;
        assert_eq!(result.status, Status::Down);
        assert_eq!(
            result.error.as_deref(),
            Some("connected, but no greeting within 300ms")
        );
        assert!(started.elapsed() < Duration::from_secs(3));
    }
}

#[cfg(test)]
mod allow_tests {
    use super::*;

    #[tokio::test]
    async fn a_target_outside_the_allow_list_is_refused_before_any_connection() {
        // Nothing listens here, and nothing is tried: the refusal names the list.
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let address = listener.local_addr().unwrap().to_string();
        listener.set_nonblocking(true).unwrap();
        let target = Target {
            name: "t".into(),
            passive: false,
            address,
            send: None,
            expect_banner: None,
            interval: crate::settings::DEFAULT_INTERVAL,
        };
        let timeouts = Timeouts::default();
        let result = check(&target, timeouts, &AllowList::parse(Some("127.0.0.2:*"))).await;
        assert_eq!(result.status, Status::Down);
        assert!(
            result
                .error
                .as_deref()
                .is_some_and(|e| e.contains("not in the server's allow-list")),
            "{result:?}"
        );
        assert!(listener.accept().is_err(), "no connection was made");
    }
}
