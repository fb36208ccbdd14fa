#!/usr/bin/env bash
# Reruns the figures of BENCHMARKS.md for `cargo xtask build`, side by side with what a user
# would otherwise run. Writes only under target/bench/. Usage: bash bench/build.sh [--quick]
#   --quick  skips the clean release builds of the profile comparison (minutes each).
set -euo pipefail
cd "$(dirname "$0")/.."
command -v hyperfine >/dev/null || {
  echo "error: hyperfine is needed: apt install hyperfine, brew install hyperfine or cargo install hyperfine" >&2
  exit 1
}
command -v python3 >/dev/null || { echo "error: python3 is needed to summarise results" >&2; exit 1; }
out=target/bench
mkdir -p "$out"
export CARGO_TERM_COLOR=never

echo "## $(date -u +%Y-%m-%d) on $(nproc) cores, $(uname -sm), $(rustc --version)"
echo

# 1. No-op build: `cargo xtask build` against the two cargo no-ops it wraps.
cargo xtask build -q
hyperfine --style none --warmup 3 --runs 30 --export-json "$out/noop.json" \
  -n plugin-noop 'cargo build --release -p plugin -q' \
  -n xtask-run-noop 'cargo xtask --help' \
  -n xtask-build-noop 'cargo xtask build -q' >/dev/null
python3 - "$out/noop.json" <<'PY'
import json, sys
r = {x["command"]: x for x in json.load(open(sys.argv[1]))["results"]}
ms = lambda n: r[n]["median"] * 1000
base = ms("plugin-noop") + ms("xtask-run-noop")
print("### No-op build (median of 30)")
print("| command | median ms |")
print("| --- | --- |")
print(f"| `cargo build --release -p plugin` (no-op) | {ms('plugin-noop'):.0f} |")
print(f"| `cargo xtask --help` (the alias's `cargo run` no-op) | {ms('xtask-run-noop'):.0f} |")
print(f"| sum of the two cargo no-ops | {base:.0f} |")
print(f"| `cargo xtask build` (no-op) | {ms('xtask-build-noop'):.0f} |")
print()
print(f"Ratio: **{ms('xtask-build-noop') / base:.2f}x** the two cargo no-ops (target <= 1.3x); "
      f"the xtask's own overhead is **{ms('xtask-build-noop') - base:.0f} ms** "
      f"(`cargo metadata`, plan, staging and swapping dist/).")
print(f"Against the bare `cargo build --release -p plugin` no-op alone: {ms('xtask-build-noop') / ms('plugin-noop'):.2f}x.")
print()
PY

# 2. Cold compile of the xtask: a fresh clone's first `cargo xtask --help`, empty target dir
#    (crates already in cargo's download cache, as after any earlier build).
hyperfine --style none --runs 3 --export-json "$out/cold.json" \
  --prepare "rm -rf $out/cold-target" \
  -n xtask-cold "CARGO_TARGET_DIR=$out/cold-target cargo xtask --help" >/dev/null
python3 - "$out/cold.json" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))["results"][0]
print("### Cold compile of the xtask (time to first `cargo xtask --help`, 3 runs)")
print(f"Median **{r['median']:.1f} s** (min {r['min']:.1f} s, max {r['max']:.1f} s); target <= 25 s.")
print()
PY

# 3. Release profile: stripped size against clean and incremental build time.
[ "${1:-}" = "--quick" ] && exit 0
echo "### Release profile: size against build time (host target, stripped)"
echo "| profile | clean build s | rebuild after a one-line change s | binary bytes |"
echo "| --- | --- | --- | --- |"
profile() {
  local name=$1; shift
  local dir="$out/profile-$name"
  rm -rf "$dir"
  local start end clean incremental size
  start=$(date +%s.%N)
  CARGO_TARGET_DIR=$dir cargo build --release -p plugin -q "$@"
  end=$(date +%s.%N)
  clean=$(python3 -c "print(f'{$end - $start:.0f}')")
  touch plugin/src/health.rs
  start=$(date +%s.%N)
  CARGO_TARGET_DIR=$dir cargo build --release -p plugin -q "$@"
  end=$(date +%s.%N)
  incremental=$(python3 -c "print(f'{$end - $start:.1f}')")
  size=$(wc -c < "$dir/release/plugin")
  echo "| $name | $clean | $incremental | $size |"
  rm -rf "$dir"
}
profile "cargo default + strip" --config 'profile.release.lto=false' --config 'profile.release.codegen-units=16'
profile "thin LTO" --config 'profile.release.lto="thin"' --config 'profile.release.codegen-units=16'
profile "fat LTO, 1 CGU (chosen)"
profile "fat LTO, 1 CGU, opt-level s" --config 'profile.release.opt-level="s"'
