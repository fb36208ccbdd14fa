#!/usr/bin/env bash
# Per-call latency of the release plugin as Grafana's own client sees it: HashiCorp's
# go-plugin client over grpc-go (bench/go-plugin-client), sequential calls on one
# connection, side by side with a grpc-go server that answers the same methods with fixed
# bytes (bench/go-plugin-floor; over TCP like this plugin, and over a Unix socket where
# go-plugin's servers listen on Linux and macOS). Writes only under target/go-plugin/.
# Needs Go and Debian's go-plugin and grpc-go sources (REFERENCE §9):
#   apt-get install golang-go golang-github-hashicorp-go-plugin-dev golang-google-grpc-dev
# Usage: bash bench/go-plugin.sh [CALLS] [OTHER_PLUGIN_BINARY...]
#   OTHER_PLUGIN_BINARY: more builds to measure in the same run (e.g. an older release).
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TERM_COLOR=never
calls=${1:-1000}
shift || true
out=target/go-plugin
if ! bench/go-plugin-build.sh "$out" >/dev/null; then
  echo "SKIPPED go-plugin latency benchmark: bench/go-plugin-build.sh could not build Grafana's client (see above)"
  exit 0
fi
cargo build -q --release -p plugin
binary=${CARGO_TARGET_DIR:-target}/release/plugin
export PLUGIN_ID=acme-servicechecks-app

echo "## $(date -u +%Y-%m-%d) on $(nproc) cores, $(uname -sm), $(go version | cut -d' ' -f3): $calls sequential calls per method"
echo
{
  echo "this plugin (release)|$("$out/client" latency "$binary" "$calls")"
  for other in "$@"; do
    echo "$other|$("$out/client" latency "$other" "$calls")"
  done
  echo "grpc-go floor, TCP|$(FLOOR_NETWORK=tcp "$out/client" latency "$out/floor" "$calls")"
  echo "grpc-go floor, Unix socket|$(FLOOR_NETWORK=unix "$out/client" latency "$out/floor" "$calls")"
} > "$out/latency.txt"
python3 - "$out/latency.txt" <<'PY'
import json, sys
rows = [line.rstrip("\n").split("|", 1) for line in open(sys.argv[1])]
rows = [(name, json.loads(data)) for name, data in rows]
floor = dict(rows)["grpc-go floor, TCP"]
print("| server | method | p50 ms | p99 ms | max ms | calls over 30 ms | p50 / TCP floor |")
print("| --- | --- | --- | --- | --- | --- | --- |")
for name, result in rows:
    for method in ("CheckHealth", "CallResource GET ping"):
        r = result[method]
        ratio = r["p50"] / floor[method]["p50"]
        print("| %s | %s | %.3f | %.3f | %.2f | %d | %.2fx |"
              % (name, method, r["p50"], r["p99"], r["max"], r["over30ms"], ratio))
PY
