//! `Secret`: a value from `secureJsonData`. Its `Debug` never shows the value, so a stray
//! `{:?}` of a request cannot leak it into a log; the only way to use it is to compare a
//! presented value against it, in constant time.
use std::fmt;

#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: String) -> Secret {
        Secret(value)
    }

    /// Whether `presented` equals the secret; an empty secret matches nothing. Takes time
    /// that depends only on the lengths, not on where the bytes differ.
    pub fn matches(&self, presented: &[u8]) -> bool {
        !self.0.is_empty() && constant_time_eq(presented, self.0.as_bytes())
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret([redacted])")
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
    fn secrets_do_not_show_in_debug_output() {
        let secret = Secret::new("canary-value".into());
        assert_eq!(format!("{secret:?}"), "Secret([redacted])");
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
