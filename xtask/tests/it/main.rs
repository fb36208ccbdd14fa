//! `cargo xtask` end to end: the xtask binary run in scratch copies of this repository,
//! sharing the test run's target directory so only the plugin crate compiles again. One test
//! binary; each module is one command.
mod build;
mod create_plugin;
mod create_plugin_datasource;
mod cross;
#[cfg(unix)]
mod dev;
#[cfg(unix)]
mod e2e;
#[cfg(unix)]
mod e2e_owner;
#[cfg(unix)]
mod hooks;
mod init;
mod package;
mod scratch;
#[cfg(unix)]
mod secrets;
#[cfg(target_os = "linux")]
mod standin;
