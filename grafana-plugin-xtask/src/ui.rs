//! Output that reads like cargo's: right-aligned bold green status verbs, `error:`,
//! `warning:` and `note:` prefixes, colour only where wanted (`CARGO_TERM_COLOR`, `NO_COLOR`, a terminal).
use std::{fmt::Display, io::IsTerminal};

#[derive(Clone, Copy)]
pub struct Ui {
    quiet: bool,
    color: bool,
}

impl Ui {
    pub fn from_env(quiet: bool) -> Ui {
        let term_color = std::env::var("CARGO_TERM_COLOR").ok();
        let no_color = std::env::var("NO_COLOR").ok();
        Ui {
            quiet,
            color: color_wanted(
                term_color.as_deref(),
                no_color.as_deref(),
                std::io::stderr().is_terminal(),
            ),
        }
    }

    pub fn quiet(&self) -> bool {
        self.quiet
    }

    /// `   Assembling dist/ …`: a step of progress, hidden by `--quiet`.
    pub fn status(&self, verb: &str, message: impl Display) {
        if !self.quiet {
            eprintln!("{} {message}", self.paint("1;32", &format!("{verb:>12}")));
        }
    }

    pub fn warning(&self, message: impl Display) {
        if !self.quiet {
            eprintln!("{} {message}", self.paint("1;33", "warning:"));
        }
    }

    pub fn note(&self, message: impl Display) {
        if !self.quiet {
            eprintln!("{} {message}", self.paint("1;36", "note:"));
        }
    }

    /// Always printed, even with `--quiet`.
    pub fn error(&self, message: impl Display) {
        eprintln!("{} {message}", self.paint("1;31", "error:"));
    }

    fn paint(&self, style: &str, text: &str) -> String {
        if self.color {
            format!("\x1b[{style}m{text}\x1b[0m")
        } else {
            text.to_owned()
        }
    }
}

/// Cargo's rule: `CARGO_TERM_COLOR=always|never` wins; otherwise colour on a terminal
/// unless `NO_COLOR` is set to something.
pub fn color_wanted(term_color: Option<&str>, no_color: Option<&str>, is_terminal: bool) -> bool {
    match term_color {
        Some("always") => true,
        Some("never") => false,
        _ => is_terminal && no_color.is_none_or(str::is_empty),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn color_follows_cargo_term_color_then_no_color_then_the_terminal() {
        assert!(color_wanted(Some("always"), Some("1"), false));
        assert!(!color_wanted(Some("never"), None, true));
        assert!(color_wanted(Some("auto"), None, true));
        assert!(!color_wanted(None, Some("1"), true));
        assert!(color_wanted(None, Some(""), true));
        assert!(!color_wanted(None, None, false));
    }
}
