#!/usr/bin/env bash
# Reruns the figures of BENCHMARKS.md for issue 20 ("fast where people wait"), side by side
# with an older tree of this repository in one run: the everyday build after a one-line
# change, a cold build on a fresh clone, `build --all` against its targets one at a time,
# the archive's binary size, and `cargo test --workspace` on fresh clones.
# Usage: bash bench/fast.sh [OLD_REF] [PHASES]   (default OLD_REF 44cb183, the tree before;
# PHASES a comma list of build,all,noop,size,tests; default all but noop). noop: `build --all`
# against one target with nothing to do, both trees as git worktrees sharing this
# repository's target directory, debug profile (whichever of its six builds are missing are
# made first). Crates come from cargo's
# download cache (fetched first); clones and their target directories live under
# target/bench/fast/ and are removed at the start of each phase that needs them fresh.
set -euo pipefail
cd "$(dirname "$0")/.."
old_ref=${1:-44cb183}
phases=${2:-build,all,size,tests}
root=$PWD
out=$root/target/bench/fast
mkdir -p "$out"
export CARGO_TERM_COLOR=never
unset RUSTC_WRAPPER

now() { date +%s.%N; }
since() { python3 -c "import sys; print(f'{float(sys.argv[2]) - float(sys.argv[1]):.1f}')" "$1" "$(now)"; }
fresh_clone() { # DIR REF
  rm -rf "$1"
  git clone -q "$root" "$1"
  git -C "$1" checkout -q "$2"
  (cd "$1" && cargo fetch -q)
}
has() { [[ ",$phases," == *",$1,"* ]]; }

echo "## $(date -u +%Y-%m-%d) on $(nproc) cores, $(uname -sm), $(rustc --version); old = $old_ref, new = $(git rev-parse --short HEAD)"

if has build; then
  echo
  echo "### cargo xtask build: cold on a fresh clone, then after a one-line change of a message (median of 3)"
  echo "| tree | cold s | one-line change s (3 edits) |"
  echo "| --- | --- | --- |"
  for tree in old new; do
    ref=$old_ref; [ $tree = new ] && ref=HEAD
    dir=$out/$tree; fresh_clone "$dir" "$ref"
    start=$(now); (cd "$dir" && cargo xtask build -q); cold=$(since "$start")
    edits=()
    for i in 1 2 3; do
      # A real one-line change: a message the binary prints (a comment alone would be
      # skipped by incremental compilation).
      sed -i "s/No targets configured yet[^:]*:/No targets configured yet (edit $i):/" \
        "$dir/plugin/src/health.rs"
      start=$(now); (cd "$dir" && cargo xtask build -q); edits+=("$(since "$start")")
    done
    median=$(printf '%s\n' "${edits[@]}" | sort -n | sed -n 2p)
    echo "| $tree | $cold | $median (${edits[*]}) |"
  done
fi

if has all; then
  echo
  echo "### build --all: the four targets this machine links, cold, in one cargo against one at a time"
  dir=$out/new; [ -d "$dir" ] || fresh_clone "$dir" HEAD
  (cd "$dir" && cargo xtask --help >/dev/null) # the xtask itself is not part of the figure
  rm -rf "$dir/target/x86_64-unknown-linux-musl" "$dir/target/aarch64-unknown-linux-musl" \
    "$dir/target/armv7-unknown-linux-musleabihf" "$dir/target/x86_64-pc-windows-gnu" "$dir/target/release"
  start=$(now); (cd "$dir" && cargo xtask build -q --all >/dev/null 2>&1 || true); together=$(since "$start")
  sum=0; parts=()
  for target in linux/amd64 linux/arm64 linux/arm windows/amd64; do
    rm -rf "$dir/target/x86_64-unknown-linux-musl" "$dir/target/aarch64-unknown-linux-musl" \
      "$dir/target/armv7-unknown-linux-musleabihf" "$dir/target/x86_64-pc-windows-gnu" "$dir/target/release"
    start=$(now); (cd "$dir" && cargo xtask build -q --target "$target"); t=$(since "$start")
    parts+=("$target $t s"); sum=$(python3 -c "print(f'{$sum + $t:.1f}')")
  done
  echo "| measurement | s |"
  echo "| --- | --- |"
  echo "| \`build --all\` (4 targets; darwin diagnosed), cold | $together |"
  echo "| the four one at a time, each cold (${parts[*]}) | $sum |"
  python3 -c "print(f'Ratio: **{$together / $sum:.2f}x** the sequential sum (target <= 0.8x).')"
  (cd "$dir" && cargo xtask build -q --all >/dev/null 2>&1 || true)
  (cd "$dir" && hyperfine --style none --warmup 2 --runs 10 --export-json "$out/all-noop.json" -i \
    -n one 'cargo xtask build -q --target linux/amd64' \
    -n all 'cargo xtask build -q --all' >/dev/null)
  python3 - "$out/all-noop.json" <<'PY'
import json, sys
r = {x["command"]: x["median"] * 1000 for x in json.load(open(sys.argv[1]))["results"]}
print(f"No-op: `build --all` {r['all']:.0f} ms, one target {r['one']:.0f} ms: **{r['all'] / r['one']:.2f}x** (target <= 1.3x).")
PY
fi

if has noop; then
  echo
  echo "### build --all with nothing to do, against one target (debug, median of 10)"
  echo "| tree | one target ms | \`build --all\` ms | ratio |"
  echo "| --- | --- | --- | --- |"
  for tree in old new; do
    ref=$old_ref; [ $tree = new ] && ref=HEAD
    dir=$out/noop-$tree
    git worktree remove --force "$dir" 2>/dev/null || rm -rf "$dir"
    git worktree add -q --detach "$dir" "$ref"
    (cd "$dir" && CARGO_TARGET_DIR=$root/target cargo xtask build -q --debug --all >/dev/null 2>&1 || true)
    (cd "$dir" && CARGO_TARGET_DIR=$root/target hyperfine --style none --warmup 2 --runs 10 \
      --export-json "$out/noop-$tree.json" -i \
      -n one 'cargo xtask build -q --debug --target linux/amd64' \
      -n all 'cargo xtask build -q --debug --all' >/dev/null)
    python3 - "$out/noop-$tree.json" "$tree" <<'PY'
import json, sys
r = {x["command"]: x["median"] * 1000 for x in json.load(open(sys.argv[1]))["results"]}
print(f"| {sys.argv[2]} | {r['one']:.0f} | {r['all']:.0f} | {r['all'] / r['one']:.2f}x |")
PY
    git worktree remove --force "$dir"
  done
fi

if has size; then
  echo
  echo "### The archive's linux_amd64 binary"
  for tree in old new; do
    ref=$old_ref; [ $tree = new ] && ref=HEAD
    dir=$out/$tree; [ -d "$dir" ] || fresh_clone "$dir" "$ref"
    if [ $tree = new ]; then args=(--profile dist); else args=(); fi
    (cd "$dir" && cargo xtask build -q "${args[@]}" --target linux/amd64)
    bytes=$(stat -c %s "$dir/dist/gpx_service_checks_linux_amd64")
    echo "- $tree (\`build ${args[*]} --target linux/amd64\`, what \`package\` ships): $bytes bytes"
  done
fi

if has tests; then
  echo
  echo "### cargo test --workspace on a fresh clone (empty target dir), then again unchanged"
  echo "| tree | cold s | second run s |"
  echo "| --- | --- | --- |"
  for tree in old new; do
    ref=$old_ref; [ $tree = new ] && ref=HEAD
    dir=$out/tests-$tree; fresh_clone "$dir" "$ref"
    start=$(now); (cd "$dir" && cargo test --workspace >"$out/tests-$tree.log" 2>&1); cold=$(since "$start")
    start=$(now); (cd "$dir" && cargo test --workspace >>"$out/tests-$tree.log" 2>&1); again=$(since "$start")
    skipped=$(grep -c '^SKIPPED' "$out/tests-$tree.log" || true)
    echo "| $tree | $cold | $again | ($skipped SKIPPED lines in the two runs)"
  done
fi
