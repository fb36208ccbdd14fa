//! Starts each plugin binary given the way Grafana does (go-plugin handshake with Grafana's
//! environment) and checks that it serves: CheckHealth OK, `GET ping` 200 through
//! CallResource, a clean exit on Shutdown. Exits non-zero on the first that does not.
//! `cargo run -p harness --example serves -- PLUGIN_ID BINARY...`
//! CI's macOS job runs it on the darwin binaries built on Linux.
use std::path::PathBuf;

use anyhow::{Context, Result, ensure};

#[tokio::main]
async fn main() -> Result<()> {
    let mut args = std::env::args().skip(1);
    let usage = "usage: serves PLUGIN_ID BINARY...";
    let plugin_id = args.next().context(usage)?;
    let binaries: Vec<PathBuf> = args.map(PathBuf::from).collect();
    ensure!(!binaries.is_empty(), "{usage}");
    for binary in &binaries {
        harness::assert_serves(None, binary, &plugin_id)
            .await
            .with_context(|| format!("{} does not serve", binary.display()))?;
        println!(
            "{}: handshake, CheckHealth OK, GET ping 200, Shutdown",
            binary.display()
        );
    }
    Ok(())
}
