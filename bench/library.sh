#!/usr/bin/env bash
# The library's cost to a plugin repository (issue 19), side by side with an older tree in
# one run: the cold compile of the xtask (a fresh clone's first `cargo xtask --help`, empty
# target directory, crates from cargo's download cache), the no-op `cargo xtask build`, and
# how many crates the library's own tests compile. Writes only under target/bench/library/.
# Usage: bash bench/library.sh OLD_REV
set -euo pipefail
cd "$(dirname "$0")/.."
old_rev=${1:?usage: bash bench/library.sh OLD_REV (e.g. 687e076, the tree before issue 19)}
command -v hyperfine >/dev/null || {
  echo "error: hyperfine is needed: apt install hyperfine, brew install hyperfine or cargo install hyperfine" >&2
  exit 1
}
out=$PWD/target/bench/library
rm -rf "$out" && mkdir -p "$out"
export CARGO_TERM_COLOR=never
git worktree add -q --detach "$out/old" "$old_rev"
git worktree add -q --detach "$out/new" HEAD
trap 'git worktree remove --force "$out/old"; git worktree remove --force "$out/new"' EXIT

echo "## $(date -u +%Y-%m-%d) on $(nproc) cores, $(uname -sm), $(rustc --version)"
echo "old: $(git log -1 --format='%h %s' "$old_rev" | cut -c1-80)"
echo "new: $(git log -1 --format='%h %s' HEAD | cut -c1-80)"
echo

# 1. Cold compile, alternating old and new, 3 runs each.
hyperfine --style none --runs 3 --export-json "$out/cold.json" \
  --prepare "rm -rf $out/old-target $out/new-target" \
  -n old "cd $out/old && CARGO_TARGET_DIR=$out/old-target cargo xtask --help" \
  -n new "cd $out/new && CARGO_TARGET_DIR=$out/new-target cargo xtask --help" >/dev/null

# 2. No-op build: each tree built once (debug, host), then 30 no-ops each.
for tree in old new; do
  (cd "$out/$tree" && CARGO_TARGET_DIR=$out/$tree-target cargo xtask build --debug -q)
done
hyperfine --style none --warmup 3 --runs 30 --export-json "$out/noop.json" \
  -n old "cd $out/old && CARGO_TARGET_DIR=$out/old-target cargo xtask build --debug -q" \
  -n new "cd $out/new && CARGO_TARGET_DIR=$out/new-target cargo xtask build --debug -q" >/dev/null

# 3. Crates the library's tests compile (normal and dev dependencies, the library included).
crates() {
  (cd "$out/$1" && cargo tree -q -p grafana-plugin-xtask -e normal,dev --prefix none) \
    | sed 's/ (\*)//' | sort -u | wc -l
}
old_crates=$(crates old)
new_crates=$(crates new)

python3 - "$out/cold.json" "$out/noop.json" "$old_crates" "$new_crates" <<'PY'
import json, sys
cold = {r["command"]: r for r in json.load(open(sys.argv[1]))["results"]}
noop = {r["command"]: r for r in json.load(open(sys.argv[2]))["results"]}
print("| measurement | old | new | new / old |")
print("| --- | --- | --- | --- |")
o, n = cold["old"], cold["new"]
print(f"| cold compile of the xtask, median of 3 s (min-max) | {o['median']:.1f} ({o['min']:.1f}-{o['max']:.1f}) "
      f"| {n['median']:.1f} ({n['min']:.1f}-{n['max']:.1f}) | {n['median'] / o['median']:.2f}x |")
o, n = noop["old"], noop["new"]
print(f"| no-op `cargo xtask build --debug`, median of 30 ms (stddev) | {o['median'] * 1000:.0f} ({o['stddev'] * 1000:.0f}) "
      f"| {n['median'] * 1000:.0f} ({n['stddev'] * 1000:.0f}) | {n['median'] / o['median']:.2f}x |")
print(f"| crates the library's tests compile | {sys.argv[3]} | {sys.argv[4]} | |")
PY
