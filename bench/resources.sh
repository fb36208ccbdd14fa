#!/usr/bin/env bash
# Reruns the resource-path figures of BENCHMARKS.md: the release plugin from `cargo xtask
# build`, driven over real gRPC by 100 concurrent callers on one connection (as Grafana
# forwards browser calls), `GET ping` (transport floor) beside `GET checks`.
# Usage: bash bench/resources.sh [CALLERS] [SECONDS]
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TERM_COLOR=never
callers=${1:-100}
seconds=${2:-10}
cargo xtask build -q
binary=$(ls dist/gpx_service_checks_linux_* dist/gpx_service_checks_darwin_* 2>/dev/null | head -n 1)
[ -n "$binary" ] || { echo "error: no host binary in dist/ (this script runs on Linux or macOS)" >&2; exit 1; }
echo "## $(date -u +%Y-%m-%d) on $(nproc 2>/dev/null || sysctl -n hw.ncpu) cores, $(uname -sm): $callers callers for ${seconds}s each"
echo
cargo run -q --release -p harness --example resource_load -- "$binary" "$callers" "$seconds"
