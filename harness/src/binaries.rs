//! Executable headers of every platform for tests: the build tool's own fixtures, made from
//! the platform table and CPU numbers its reader uses.
pub use grafana_plugin_xtask::fixtures::*;
