#!/usr/bin/env bash
# Reruns the packaging figures of BENCHMARKS.md: `cargo xtask package --no-build` against
# what plugin-actions runs (`zip -r -9` + `sha1sum` + `sha256sum`) on the same dist/ with six
# release binaries, side by side. Platforms this machine cannot build (darwin off macOS) get
# a stand-in copied from the Linux binary of the same architecture, and the script says so.
# Writes dist/ and target/bench/package/. Usage: bash bench/package.sh
set -euo pipefail
cd "$(dirname "$0")/.."
for tool in hyperfine zip sha1sum sha256sum python3; do
  command -v "$tool" >/dev/null || { echo "error: $tool is needed" >&2; exit 1; }
done
export CARGO_TERM_COLOR=never
id=$(python3 -c "import json; print(json.load(open('plugin.json'))['id'])")
executable=$(python3 -c "import json; print(json.load(open('plugin.json'))['executable'])")
cargo xtask build --all -q 2>/dev/null || true
for pair in darwin_amd64:linux_amd64 darwin_arm64:linux_arm64 linux_arm:linux_arm64; do
  want=dist/${executable}_${pair%%:*}
  [ -f "$want" ] && continue
  cp "dist/${executable}_${pair##*:}" "$want"
  echo "note: $want is a stand-in copied from ${pair##*:} (not buildable here)"
done
ls dist/${executable}_* >/dev/null

out=target/bench/package
rm -rf "$out" && mkdir -p "$out/info-zip" "$out/xtask"
cp -r dist "$out/info-zip/$id"
echo "## $(date -u +%Y-%m-%d) on $(nproc) cores, $(uname -sm); dist/ $(du -sh dist | cut -f1) with six binaries"
echo
hyperfine --style none --warmup 1 --runs 10 --export-json "$out/times.json" \
  -n xtask "cargo xtask package --no-build -q --out-dir $out/xtask" \
  -n info-zip --prepare "rm -f $out/info-zip/p.zip*" \
  "cd $out/info-zip && zip -q -r -9 p.zip $id && sha1sum p.zip > p.zip.sha1 && sha256sum p.zip > p.zip.sha256" >/dev/null
python3 - "$out" "$id" <<'PY'
import json, os, sys
out, id_ = sys.argv[1], sys.argv[2]
r = {x["command"]: x for x in json.load(open(f"{out}/times.json"))["results"]}
ours = [f for f in os.listdir(f"{out}/xtask") if f.endswith(".zip")][0]
ours_size = os.path.getsize(f"{out}/xtask/{ours}")
theirs_size = os.path.getsize(f"{out}/info-zip/p.zip")
x, z = r["xtask"]["median"], r["info-zip"]["median"]
print("| command | median s | archive bytes |")
print("| --- | --- | --- |")
print(f"| `cargo xtask package --no-build` (stage, deflate -9 on all cores, verify, checksums, validate) | {x:.2f} | {ours_size} |")
print(f"| `zip -r -9` + `sha1sum` + `sha256sum` | {z:.2f} | {theirs_size} |")
print()
print(f"Time: **{x / z:.2f}x** Info-ZIP's (target <= 0.8x). Size: **{ours_size / theirs_size:.3f}x** (target <= 1.02x).")
PY
