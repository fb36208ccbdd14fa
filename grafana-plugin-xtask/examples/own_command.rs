//! The README's own-command example: a plugin's `xtask/src/main.rs` with `cargo xtask lint`
//! beside the built-in commands. Compiled by the library's tests, which also check that the
//! README shows this code as it is here.
use grafana_plugin_xtask::clap;

#[derive(Debug, clap::Subcommand)]
enum Own {
    /// Check formatting and lints as CI does.
    Lint,
}

fn main() -> std::process::ExitCode {
    grafana_plugin_xtask::main_with(|command: Own, context| match command {
        Own::Lint => context.cargo(&["clippy", "--workspace", "--", "-D", "warnings"]),
    })
}
