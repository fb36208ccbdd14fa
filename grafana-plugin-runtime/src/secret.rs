//! [`Secret`]: a value from secureJsonData. Its `Debug` and `Display` never show the value, so
//! a stray `{:?}` of a request or of settings cannot leak it into a log; it is compared in
//! constant time, and read only through [`Secret::expose`], where it is used.
use std::fmt;

/// A secret from secureJsonData (a token, a password, an API key).
///
/// ```
/// use grafana_plugin_runtime::Secret;
/// let token = Secret::new("s3cret".to_owned());
/// assert_eq!(format!("{token:?} {token}"), "Secret([redacted]) [redacted]");
/// assert!(token.matches(b"s3cret"));
/// assert_eq!(token.expose(), "s3cret");
/// ```
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// Wraps a value.
    pub fn new(value: String) -> Secret {
        Secret(value)
    }

    /// Whether `presented` equals the secret; an empty secret matches nothing. Takes time
    /// that depends only on the lengths, not on where the bytes differ.
    pub fn matches(&self, presented: &[u8]) -> bool {
        !self.0.is_empty() && constant_time_eq(presented, self.0.as_bytes())
    }

    /// The value, for the one place that uses it (an `Authorization` header to a service).
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// Whether the value is empty (an unset field Grafana sent as "").
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret([redacted])")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}

/// Compares in time that depends only on the lengths, not on where the bytes differ.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    let difference = a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y));
    std::hint::black_box(difference) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_do_not_show_in_debug_or_display_output() {
        let secret = Secret::new("canary-value".into());
        assert_eq!(format!("{secret:?}"), "Secret([redacted])");
        assert_eq!(format!("{secret}"), "[redacted]");
        assert_eq!(format!("{:?}", Some(&secret)), "Some(Secret([redacted]))");
    }

    #[test]
    fn constant_time_eq_is_equality() {
        assert!(constant_time_eq(b"abc", b"abc"));
        assert!(!constant_time_eq(b"abc", b"abd"));
        assert!(!constant_time_eq(b"abc", b"abcd"));
        assert!(constant_time_eq(b"", b""));
    }

    #[test]
    fn an_empty_secret_matches_nothing() {
        assert!(Secret::new("t".into()).matches(b"t"));
        assert!(!Secret::new("t".into()).matches(b"u"));
        assert!(!Secret::new(String::new()).matches(b""));
    }
}
