//! The whole HTTP client `dev` and `e2e` need to ask Grafana about the plugin, over HTTP/1.0
//! (the answer is never chunked and ends with the connection), bounded in every way a
//! server can misbehave. Each call has one deadline for the whole answer (connect, headers
//! and body) and a size cap, and gives up within a fraction of a second of Ctrl-C: a server
//! that trickles bytes, never ends its body or is not Grafana at all cannot hold `dev` or
//! grow it.
use std::{
    io::{ErrorKind, Read, Write},
    net::{SocketAddr, TcpStream, ToSocketAddrs},
    sync::atomic::{AtomicBool, Ordering},
    time::{Duration, Instant},
};

use anyhow::{Context, Result, bail};

/// The longest one call may take, connect to last byte.
pub const DEADLINE: Duration = Duration::from_secs(5);
/// The largest answer read (headers and body); Grafana's are a few kilobytes.
pub const SIZE_CAP: usize = 1024 * 1024;
/// How often a blocked read looks at the deadline and Ctrl-C.
const TICK: Duration = Duration::from_millis(200);
/// The longest one connection attempt waits for the other side.
const CONNECT_SLICE: Duration = Duration::from_secs(1);

/// Where Grafana answers, and the service-account token to send (never printed).
#[derive(Clone, Debug)]
pub struct Endpoint {
    host: String,
    port: u16,
    prefix: String,
    token: Option<String>,
    /// [`DEADLINE`]; shorter in this module's tests.
    deadline: Duration,
}

/// One HTTP answer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Answer {
    pub status: u16,
    pub body: String,
}

/// One call: method, path (with its query), Basic credentials, a JSON body.
#[derive(Clone, Copy, Debug)]
pub struct Request<'a> {
    pub method: &'a str,
    pub path: &'a str,
    pub basic: Option<(&'a str, &'a str)>,
    /// More header lines (name, value), e.g. a plugin's own token header.
    pub headers: &'a [(&'a str, &'a str)],
    pub body: Option<&'a [u8]>,
}

impl<'a> Request<'a> {
    pub fn get(path: &'a str) -> Request<'a> {
        Request {
            method: "GET",
            path,
            basic: None,
            headers: &[],
            body: None,
        }
    }
}

/// Standard base64 with padding (RFC 4648), for a Basic `Authorization` header.
fn base64(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let n = chunk
            .iter()
            .enumerate()
            .fold(0u32, |n, (i, b)| n | (u32::from(*b) << (16 - 8 * i)));
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(ALPHABET[(n >> (18 - 6 * i) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// Why a call gave no answer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Failure {
    /// Nothing accepted the connection (not started yet, wrong port).
    Unreachable(String),
    /// The answer did not end `within` the call's deadline; `received` bytes had come.
    Deadline { received: usize, within: Duration },
    /// The answer grew past [`SIZE_CAP`].
    TooLarge,
    /// Bytes came, but not an HTTP answer.
    NotHttp(String),
    /// Ctrl-C.
    Interrupted,
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Failure::Unreachable(error) => write!(f, "nothing answers ({error})"),
            Failure::Deadline { received, within } => write!(
                f,
                "no complete answer within {} s (deadline; {received} bytes came)",
                within.as_secs_f64()
            ),
            Failure::TooLarge => write!(
                f,
                "the answer is larger than {} KiB (size cap); Grafana's are a few KiB",
                SIZE_CAP / 1024
            ),
            Failure::NotHttp(what) => write!(f, "the answer is not HTTP ({what})"),
            Failure::Interrupted => write!(f, "interrupted"),
        }
    }
}

impl Endpoint {
    /// `http://host[:port][/prefix]`. Only plain HTTP: the development Grafana listens on
    /// localhost; for a remote https Grafana, open the plugin's page yourself.
    pub fn parse(url: &str, token: Option<String>) -> Result<Endpoint> {
        let Some(rest) = url.strip_prefix("http://") else {
            bail!(
                "GRAFANA_URL {url:?}: only http:// URLs can be checked (a local Grafana, e.g. http://localhost:3000)"
            );
        };
        let (authority, prefix) = rest.split_once('/').unwrap_or((rest, ""));
        // An IPv6 address is written in brackets: `[::1]:3000`.
        let (host, port) = match authority.strip_prefix('[') {
            Some(bracketed) => match bracketed.split_once(']') {
                Some((host, "")) => (host, None),
                Some((host, port)) if port.starts_with(':') => (host, Some(&port[1..])),
                _ => bail!(
                    "GRAFANA_URL {url:?}: an IPv6 address is written [address]:port, e.g. \
                     http://[::1]:3000"
                ),
            },
            None => match authority.rsplit_once(':') {
                Some((host, port)) => (host, Some(port)),
                None => (authority, None),
            },
        };
        let port = match port {
            Some(port) => port
                .parse()
                .with_context(|| format!("GRAFANA_URL {url:?}: {port:?} is not a port"))?,
            None => 80,
        };
        if host.is_empty() {
            bail!("GRAFANA_URL {url:?} names no host; e.g. http://localhost:3000");
        }
        Ok(Endpoint {
            host: host.to_owned(),
            port,
            prefix: prefix.trim_end_matches('/').to_owned(),
            token: token.filter(|token| !token.is_empty()),
            deadline: DEADLINE,
        })
    }

    pub fn url(&self) -> String {
        format!(
            "http://{}:{}{}",
            self.host_in_url(),
            self.port,
            self.path_prefix()
        )
    }

    /// The host as a URL or a `Host` header writes it: an IPv6 address in brackets.
    fn host_in_url(&self) -> String {
        match self.host.contains(':') {
            true => format!("[{}]", self.host),
            false => self.host.clone(),
        }
    }

    fn path_prefix(&self) -> String {
        if self.prefix.is_empty() {
            String::new()
        } else {
            format!("/{}", self.prefix)
        }
    }

    /// `GET path`, within [`DEADLINE`] and [`SIZE_CAP`], abandoned when `stop` is set.
    pub fn get(&self, path: &str, stop: &AtomicBool) -> Result<Answer, Failure> {
        self.send(&Request::get(path), stop)
    }

    /// Sends `request` (with the endpoint's token unless it brings its own credentials),
    /// within [`DEADLINE`] and [`SIZE_CAP`], abandoned when `stop` is set.
    pub fn send(&self, request: &Request<'_>, stop: &AtomicBool) -> Result<Answer, Failure> {
        let deadline = Instant::now() + self.deadline;
        let mut stream = self.connect(deadline, stop)?;
        let Request {
            method,
            path,
            basic,
            headers,
            body,
        } = request;
        let mut head = format!(
            "{method} {}{path} HTTP/1.0\r\nHost: {}:{}\r\nAccept: application/json\r\n",
            self.path_prefix(),
            self.host_in_url(),
            self.port
        );
        match (basic, &self.token) {
            (Some((user, password)), _) => head.push_str(&format!(
                "Authorization: Basic {}\r\n",
                base64(format!("{user}:{password}").as_bytes())
            )),
            (None, Some(token)) => head.push_str(&format!("Authorization: Bearer {token}\r\n")),
            (None, None) => {}
        }
        for (name, value) in *headers {
            head.push_str(&format!("{name}: {value}\r\n"));
        }
        if let Some(body) = body {
            head.push_str(&format!(
                "Content-Type: application/json\r\nContent-Length: {}\r\n",
                body.len()
            ));
        }
        head.push_str("\r\n");
        let mut request = head.into_bytes();
        request.extend_from_slice(body.unwrap_or_default());
        let unreachable = |error: std::io::Error| Failure::Unreachable(error.to_string());
        stream.set_write_timeout(Some(TICK)).map_err(unreachable)?;
        stream.write_all(&request).map_err(unreachable)?;
        stream.set_read_timeout(Some(TICK)).map_err(unreachable)?;
        let response = read_bounded(&mut stream, (deadline, self.deadline), SIZE_CAP, stop)?;
        parse_response(&response)
    }

    /// The first address that accepts, trying each for up to [`CONNECT_SLICE`] at a time
    /// until the deadline.
    fn connect(&self, deadline: Instant, stop: &AtomicBool) -> Result<TcpStream, Failure> {
        // localhost may resolve to ::1 and 127.0.0.1; Grafana may listen on either.
        let addresses = resolve(&self.host, self.port, deadline, stop)?;
        let mut last_error = format!("{} has no address", self.host);
        loop {
            let mut slow = false;
            for address in &addresses {
                if stop.load(Ordering::Relaxed) {
                    return Err(Failure::Interrupted);
                }
                let remaining = deadline.saturating_duration_since(Instant::now());
                if remaining.is_zero() {
                    return Err(Failure::Unreachable(format!(
                        "no connection within {} s",
                        self.deadline.as_secs_f64()
                    )));
                }
                // A second per attempt: long enough for any round trip, short enough
                // for Ctrl-C to be heard within one.
                match TcpStream::connect_timeout(address, remaining.min(CONNECT_SLICE)) {
                    Ok(stream) => return Ok(stream),
                    Err(error) => {
                        // Refused is final; a slow network gets another slice.
                        slow |= error.kind() == ErrorKind::TimedOut;
                        last_error = error.to_string();
                    }
                }
            }
            if !slow {
                return Err(Failure::Unreachable(last_error));
            }
        }
    }
}

/// The addresses of `host`, looked up within `deadline`: the system's resolver has no
/// deadline of its own, so a lookup runs on a thread of its own and is abandoned when the
/// deadline passes (or on `stop`). An address literal needs no lookup.
fn resolve(
    host: &str,
    port: u16,
    deadline: Instant,
    stop: &AtomicBool,
) -> Result<Vec<SocketAddr>, Failure> {
    if let Ok(address) = host.parse::<std::net::IpAddr>() {
        return Ok(vec![SocketAddr::new(address, port)]);
    }
    let (sender, answer) = std::sync::mpsc::channel();
    let name = host.to_owned();
    std::thread::spawn(move || {
        let _ = sender.send((name.as_str(), port).to_socket_addrs().map(Vec::from_iter));
    });
    loop {
        if stop.load(Ordering::Relaxed) {
            return Err(Failure::Interrupted);
        }
        let remaining = deadline.saturating_duration_since(Instant::now());
        if remaining.is_zero() {
            return Err(Failure::Unreachable(format!(
                "cannot resolve {host}: no answer from the resolver in time"
            )));
        }
        match answer.recv_timeout(remaining.min(TICK)) {
            Ok(Ok(addresses)) => return Ok(addresses),
            Ok(Err(error)) => {
                return Err(Failure::Unreachable(format!(
                    "cannot resolve {host}: {error}"
                )));
            }
            Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {}
            Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => {
                return Err(Failure::Unreachable(format!("cannot resolve {host}")));
            }
        }
    }
}

/// Reads to the end of the stream, giving up at `deadline` (the instant, and the length it
/// was set to for the message), past `cap` bytes, or on `stop`. The reader's own timeout
/// must be short (it is how often the limits are looked at).
fn read_bounded(
    reader: &mut impl Read,
    (deadline, within): (Instant, Duration),
    cap: usize,
    stop: &AtomicBool,
) -> Result<Vec<u8>, Failure> {
    let mut response = Vec::new();
    let mut chunk = [0u8; 8192];
    loop {
        if stop.load(Ordering::Relaxed) {
            return Err(Failure::Interrupted);
        }
        if Instant::now() >= deadline {
            return Err(Failure::Deadline {
                received: response.len(),
                within,
            });
        }
        match reader.read(&mut chunk) {
            Ok(0) => return Ok(response),
            Ok(read) => {
                response.extend_from_slice(&chunk[..read]);
                if response.len() > cap {
                    return Err(Failure::TooLarge);
                }
            }
            Err(error)
                if matches!(
                    error.kind(),
                    ErrorKind::WouldBlock | ErrorKind::TimedOut | ErrorKind::Interrupted
                ) => {}
            Err(error) => return Err(Failure::Unreachable(error.to_string())),
        }
    }
}

pub fn parse_response(response: &[u8]) -> Result<Answer, Failure> {
    let text = String::from_utf8_lossy(response);
    let Some((head, body)) = text.split_once("\r\n\r\n") else {
        return Err(Failure::NotHttp(format!(
            "no end of headers in {} bytes",
            response.len()
        )));
    };
    let mut words = head.split_whitespace();
    let status = match (words.next(), words.next()) {
        (Some(version), Some(status)) if version.starts_with("HTTP/") => status.parse().ok(),
        _ => None,
    };
    let Some(status) = status else {
        return Err(Failure::NotHttp("no status line".to_owned()));
    };
    Ok(Answer {
        status,
        body: body.to_owned(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::{io::BufRead, net::TcpListener, sync::Arc};

    #[test]
    fn endpoints_parse_from_urls_with_ports_and_prefixes() {
        let endpoint = Endpoint::parse("http://localhost:3000", None).unwrap();
        assert_eq!(endpoint.url(), "http://localhost:3000");
        let endpoint = Endpoint::parse("http://grafana/sub/", Some(String::new())).unwrap();
        assert_eq!(endpoint.url(), "http://grafana:80/sub");
        assert!(endpoint.token.is_none());
        // IPv6 addresses in brackets, with or without a port.
        let endpoint = Endpoint::parse("http://[::1]:3000/grafana", None).unwrap();
        assert_eq!((endpoint.host.as_str(), endpoint.port), ("::1", 3000));
        assert_eq!(endpoint.url(), "http://[::1]:3000/grafana");
        let endpoint = Endpoint::parse("http://[fe80::1]", None).unwrap();
        assert_eq!((endpoint.host.as_str(), endpoint.port), ("fe80::1", 80));
        for bad in [
            "https://grafana",
            "http://:3000",
            "http://localhost:x",
            "http://[::1",
            "http://[::1]3000",
            "http://[]:3000",
        ] {
            assert!(Endpoint::parse(bad, None).is_err(), "{bad}");
        }
    }

    #[test]
    fn names_are_resolved_within_the_deadline_and_literals_not_at_all() {
        let never = AtomicBool::new(false);
        let soon = Instant::now() + Duration::from_secs(5);
        let literal = resolve("127.0.0.1", 3000, soon, &never).unwrap();
        assert_eq!(literal, [SocketAddr::from(([127, 0, 0, 1], 3000))]);
        // A deadline already past gives up before any answer is waited for.
        let failure = resolve("localhost", 3000, Instant::now(), &never).unwrap_err();
        assert!(
            failure
                .to_string()
                .contains("no answer from the resolver in time")
        );
        let stopped = resolve("localhost", 3000, soon, &AtomicBool::new(true));
        assert!(matches!(stopped, Err(Failure::Interrupted)));
        let found = resolve("localhost", 3000, soon, &never).unwrap();
        assert!(found.iter().all(|address| address.ip().is_loopback()));
    }

    #[test]
    fn base64_is_rfc_4648() {
        for (plain, encoded) in [
            ("", ""),
            ("f", "Zg=="),
            ("fo", "Zm8="),
            ("foo", "Zm9v"),
            ("foobar", "Zm9vYmFy"),
            ("admin:admin", "YWRtaW46YWRtaW4="),
        ] {
            assert_eq!(base64(plain.as_bytes()), encoded, "{plain}");
        }
    }

    #[test]
    fn http_answers_parse_into_status_and_body() {
        let answer = parse_response(b"HTTP/1.0 404 Not Found\r\nA: b\r\n\r\n{\"x\":1}").unwrap();
        assert_eq!(answer.status, 404);
        assert_eq!(answer.body, "{\"x\":1}");
        assert!(matches!(
            parse_response(b"garbage"),
            Err(Failure::NotHttp(_))
        ));
        assert!(matches!(
            parse_response(b"SSH-2.0-OpenSSH\r\n\r\n"),
            Err(Failure::NotHttp(_))
        ));
    }

    /// A server on a free port that reads the request, then runs `answer` on the connection.
    fn serve(answer: impl Fn(&mut TcpStream) + Send + 'static) -> Endpoint {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        std::thread::spawn(move || {
            for mut stream in listener.incoming().map_while(Result::ok) {
                let mut reader = std::io::BufReader::new(stream.try_clone().unwrap());
                let mut line = String::new();
                while reader.read_line(&mut line).is_ok_and(|n| n > 2) {
                    line.clear();
                }
                answer(&mut stream);
            }
        });
        Endpoint::parse(&format!("http://127.0.0.1:{port}"), None).unwrap()
    }

    #[test]
    fn a_server_that_trickles_is_left_at_the_deadline() {
        let mut endpoint = serve(|stream| {
            let _ = stream.write_all(b"HTTP/1.0 200 OK\r\n");
            for _ in 0..40 {
                std::thread::sleep(Duration::from_millis(90));
                if stream.write_all(b"x").is_err() {
                    return;
                }
            }
        });
        // [`DEADLINE`] scaled down ten times: the server goes on for 3.6 s and would then end
        // a valid answer, so getting Deadline is being let go at the deadline.
        endpoint.deadline = DEADLINE / 10;
        let failure = endpoint.get("/api/health", &AtomicBool::new(false));
        assert!(
            matches!(failure, Err(Failure::Deadline { received, .. }) if received >= 17),
            "{failure:?}"
        );
        assert!(
            failure
                .unwrap_err()
                .to_string()
                .contains("within 0.5 s (deadline"),
            "says which limit"
        );
        let five = Failure::Deadline {
            received: 3,
            within: DEADLINE,
        };
        assert!(
            five.to_string()
                .contains("within 5 s (deadline; 3 bytes came)")
        );
    }

    #[test]
    fn an_endless_body_stops_at_the_size_cap() {
        let endpoint = serve(|stream| {
            let _ = stream.write_all(b"HTTP/1.0 200 OK\r\n\r\n");
            let block = [b'{'; 64 * 1024];
            while stream.write_all(&block).is_ok() {}
        });
        let failure = endpoint.get("/api/health", &AtomicBool::new(false));
        assert_eq!(failure, Err(Failure::TooLarge));
        assert!(
            Failure::TooLarge.to_string().contains("size cap"),
            "says which limit"
        );
    }

    #[test]
    fn ctrl_c_abandons_a_call_within_a_fraction_of_a_second() {
        let endpoint = serve(|stream| {
            std::thread::sleep(Duration::from_secs(4));
            let _ = stream.write_all(b"HTTP/1.0 200 OK\r\n\r\n{}");
        });
        let stop = Arc::new(AtomicBool::new(false));
        let setter = stop.clone();
        std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(500));
            setter.store(true, Ordering::Relaxed);
        });
        // The answer would come at 4 s, before the deadline: Interrupted is Ctrl-C heard.
        assert_eq!(endpoint.get("/", &stop), Err(Failure::Interrupted));
    }

    #[test]
    fn nothing_listening_is_unreachable() {
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let endpoint = Endpoint::parse(&format!("http://127.0.0.1:{port}"), None).unwrap();
        assert!(matches!(
            endpoint.get("/", &AtomicBool::new(false)),
            Err(Failure::Unreachable(_))
        ));
    }
}
