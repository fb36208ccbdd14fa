#!/usr/bin/env bash
# Issue 22's figures: all six platforms from this Linux machine, darwin through zig.
# `build --all` cold (empty target directory, crates from cargo's download cache) and warm
# (nothing changed: hyperfine, median of 10), then `package` (the dist profile, fat LTO,
# every binary checked, the archive written and validated), cold. A fresh clone of HEAD
# under target/bench/darwin/. Usage: bash bench/darwin.sh
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
out=$root/target/bench/darwin
export CARGO_TERM_COLOR=never
unset RUSTC_WRAPPER SDKROOT
now() { date +%s.%N; }
since() { python3 -c "import sys; print(f'{float(sys.argv[2]) - float(sys.argv[1]):.1f}')" "$1" "$(now)"; }

rm -rf "$out"; mkdir -p "$out"
dir=$out/clone
git clone -q "$root" "$dir"
(cd "$dir" && cargo fetch -q && cargo xtask --help >/dev/null) # the xtask itself is not timed
echo "## $(date -u +%Y-%m-%d) on $(nproc) cores, $(uname -sm), $(rustc --version), $(cargo-zigbuild --version 2>/dev/null || echo cargo-zigbuild), HEAD $(git rev-parse --short HEAD)"
echo
echo "| measurement | result |"
echo "| --- | --- |"
start=$(now); (cd "$dir" && cargo xtask build --all > "$out/all.log" 2>&1); cold=$(since "$start")
echo "| \`build --all\` (6 targets), cold | $cold s |"
grep -E "^(linux|darwin|windows)/" "$out/all.log" | sed 's/^/    /' > "$out/summary.txt" || true
(cd "$dir" && hyperfine --style none --warmup 2 --runs 10 --export-json "$out/noop.json" \
  -n all 'cargo xtask build -q --all' -n one 'cargo xtask build -q --target linux/amd64' >/dev/null)
python3 - "$out/noop.json" <<'PY'
import json, sys
r = {x["command"]: x["median"] * 1000 for x in json.load(open(sys.argv[1]))["results"]}
print(f"| `build --all`, nothing changed (median of 10) | {r['all']:.0f} ms ({r['all'] / r['one']:.2f}x one target's {r['one']:.0f} ms) |")
PY
start=$(now); (cd "$dir" && cargo xtask package > "$out/package.log" 2>&1); package=$(since "$start")
echo "| \`package\` (6 targets, dist profile), after the above | $package s |"
for arch in arm64 amd64; do
  size=$(stat -c %s "$dir/dist/gpx_service_checks_darwin_$arch")
  echo "| darwin/$arch binary in the archive | $size bytes |"
done
echo
echo "Per target (\`build --all\`):"
cat "$out/summary.txt"
