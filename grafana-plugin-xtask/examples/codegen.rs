//! A plugin's `xtask/src/main.rs` that generates code before every build of the backend:
//! `cargo xtask build`, `package` and each `dev --watch` cycle run the hook first, so the
//! plugin can `include!` what it writes. Compiled by the library's tests.
use std::process::ExitCode;

use grafana_plugin_xtask::{BuildEvent, Xtask, anyhow::Context as _};

fn main() -> ExitCode {
    Xtask::new()
        .before_build(|event: &BuildEvent| {
            // What a protobuf or OpenAPI generator would write; here, the platforms built.
            let out = event.root.join("target").join("generated");
            std::fs::create_dir_all(&out)?;
            let code = format!(
                "// generated before `{}`\npub const BUILT_FOR: &[&str] = &{:?};\n",
                event.command, event.platforms
            );
            std::fs::write(out.join("platforms.rs"), code)
                .with_context(|| format!("cannot write {}", out.display()))?;
            Ok(())
        })
        .run()
}
