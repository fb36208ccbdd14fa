//! A plugin's `xtask/src/main.rs` that generates code before every build of the backend:
//! `cargo xtask build`, `package` and each `dev --watch` cycle run the hook first. It writes
//! Rust the plugin can `include!` and tells the build where (an environment variable its
//! build script and `env!` see), and a file under `static/` that the same build ships in
//! `dist/`. Compiled and run by the library's tests.
use std::process::ExitCode;

use grafana_plugin_xtask::{BuildEvent, Context, Xtask, anyhow::Context as _};

fn main() -> ExitCode {
    Xtask::new()
        .before_build(|context: &Context, event: &mut BuildEvent| {
            // What a protobuf or OpenAPI generator would write; here, the platforms built.
            let out = event.target_dir.join("generated");
            std::fs::create_dir_all(&out)?;
            let code = format!(
                "// generated before `{}`\npub const BUILT_FOR: &[&str] = &{:?};\n",
                event.command, event.platforms
            );
            std::fs::write(out.join("platforms.rs"), code)
                .with_context(|| format!("cannot write {}", out.display()))?;
            event
                .changes
                .env("GENERATED_DIR", out.display().to_string());
            // A frontend asset made at build time, shipped by this very build.
            let static_dir = event.root.join("static");
            if static_dir.is_dir() {
                let info = format!(
                    "{{\"command\": {:?}, \"profile\": {:?}}}\n",
                    event.command, event.profile
                );
                std::fs::write(static_dir.join("build-info.json"), info)?;
            }
            context.status("Generated", out.join("platforms.rs").display());
            Ok(())
        })
        .run()
}
