#!/usr/bin/env bash
# Reruns the cross-compilation figures of BENCHMARKS.md: `cargo xtask build --all` (release)
# from an empty target directory, with per-target time, back end and size from its JSON
# summary. What this machine cannot build is reported as missing, not timed.
# Writes target/bench/cross/ and dist/. Usage: bash bench/cross.sh
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TERM_COLOR=never
out=target/bench
mkdir -p "$out"
rm -rf "$out/cross"
echo "## $(date -u +%Y-%m-%d) on $(nproc) cores, $(uname -sm), $(rustc --version)"
echo
start=$(date +%s.%N)
CARGO_TARGET_DIR=$out/cross cargo xtask build --all --clean --message-format json \
  > "$out/cross.json" 2> "$out/cross.log" || true
end=$(date +%s.%N)
python3 - "$out/cross.json" "$start" "$end" <<'PY'
import json, sys
rows = [json.loads(line) for line in open(sys.argv[1]) if line.strip()]
print("| platform | Rust target | back end | seconds | bytes | result |")
print("| --- | --- | --- | --- | --- | --- |")
for r in rows:
    print(f"| {r['platform']} | `{r['target']}` | {r['backend'] or '-'} | {r['seconds']:.1f} | {r['bytes'] or '-'} | {r['status']} |")
wall = float(sys.argv[3]) - float(sys.argv[2])
built = [r for r in rows if r["status"] == "ok"]
print()
print(f"`--all` wall time {wall:.0f} s for {len(built)} of {len(rows)} platforms built "
      f"(sum of per-target builds {sum(r['seconds'] for r in built):.0f} s).")
for r in rows:
    if r["status"] != "ok":
        print(f"- {r['message']}")
PY
