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
# The host binary cargo built, which `cargo xtask build` copied into dist/ under Grafana's name.
binary=${CARGO_TARGET_DIR:-target}/release/plugin
[ -x "$binary" ] || { echo "error: no release binary at $binary" >&2; exit 1; }
echo "## $(date -u +%Y-%m-%d) on $(nproc 2>/dev/null || sysctl -n hw.ncpu) cores, $(uname -sm): $callers callers for ${seconds}s each"
echo
cargo run -q --release -p harness --example resource_load -- "$binary" "$callers" "$seconds"
