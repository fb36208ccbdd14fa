#!/usr/bin/env bash
# Reruns the create-plugin figures of BENCHMARKS.md in an app made with create-plugin: by
# default fixtures/create-plugin-app with this repository's Rust workspace copied in (as
# `cargo xtask adopt` would write it), or the app given as APP (already adopted, its
# node_modules installed). Writes only under target/bench/ (and APP's dist/).
# Usage: bash bench/create-plugin.sh [APP]
#   1. no-op `cargo xtask build` against the two cargo no-ops it wraps (the alias's `cargo
#      run` and `cargo build --release -p plugin`);
#   2. a full build after touching one backend and one frontend source, against
#      `npm run build` then `cargo build --release -p plugin` run by hand.
set -euo pipefail
cd "$(dirname "$0")/.."
command -v hyperfine >/dev/null || { echo "error: hyperfine is needed (apt install hyperfine)" >&2; exit 1; }
command -v npm >/dev/null || { echo "SKIPPED create-plugin benchmark: npm is not installed"; exit 0; }
out=$PWD/target/bench
mkdir -p "$out"
export CARGO_TERM_COLOR=never CARGO_TARGET_DIR=$out/create-plugin-target
app=${1:-}
if [ -z "$app" ]; then
  app=$out/create-plugin-app
  rm -rf "$app"
  cp -R fixtures/create-plugin-app "$app"
  cp -R Cargo.toml Cargo.lock LICENSE .cargo plugin xtask grafana-plugin-xtask harness "$app"/
fi
cd "$app"
frontend=src/module.tsx
[ -f "$frontend" ] || frontend=src/module.ts
cargo xtask build -q
echo "## $(date -u +%Y-%m-%d) on $(nproc) cores, $(uname -sm), $(rustc --version): $(basename "$app")"
echo
hyperfine --style none --warmup 3 --runs 20 --export-json "$out/create-plugin-noop.json" \
  -n plugin-noop 'cargo build --release -p plugin -q' \
  -n xtask-run-noop 'cargo xtask --help' \
  -n xtask-build-noop 'cargo xtask build -q' >/dev/null
hyperfine --style none --runs 3 --export-json "$out/create-plugin-full.json" \
  --prepare "touch plugin/src/health.rs $frontend" \
  -n by-hand 'npm run build >/dev/null 2>&1 && cargo build --release -p plugin -q' \
  -n xtask 'cargo xtask build -q' >/dev/null
python3 - "$out/create-plugin-noop.json" "$out/create-plugin-full.json" <<'PY'
import json, sys
noop = {x["command"]: x["median"] * 1000 for x in json.load(open(sys.argv[1]))["results"]}
full = {x["command"]: x["median"] for x in json.load(open(sys.argv[2]))["results"]}
base = noop["plugin-noop"] + noop["xtask-run-noop"]
print("| measurement | median | ratio |")
print("| --- | --- | --- |")
print(f"| `cargo build --release -p plugin` no-op | {noop['plugin-noop']:.0f} ms | |")
print(f"| `cargo xtask --help` (the alias's `cargo run` no-op) | {noop['xtask-run-noop']:.0f} ms | |")
print(f"| `cargo xtask build` no-op (frontend fresh) | {noop['xtask-build-noop']:.0f} ms | **{noop['xtask-build-noop'] / base:.2f}x** the two no-ops |")
print(f"| `npm run build` then `cargo build --release -p plugin`, by hand | {full['by-hand']:.1f} s | |")
print(f"| `cargo xtask build`, both halves side by side | {full['xtask']:.1f} s | **{full['xtask'] / full['by-hand']:.2f}x** by hand |")
PY
