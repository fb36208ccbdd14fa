#!/usr/bin/env bash
# Builds Grafana's client (bench/go-plugin-client) and the grpc-go floor server
# (bench/go-plugin-floor) into DIR (default target/go-plugin), in GOPATH mode from Debian's
# Go sources: no module download. Exits 2 naming the missing piece when Go or the sources
# are absent, 1 when they are there and the build fails.
set -euo pipefail
cd "$(dirname "$0")/.."
out=${1:-target/go-plugin}
gopath=/usr/share/gocode
command -v go >/dev/null || { echo "go is not installed (apt-get install golang-go)" >&2; exit 2; }
for package in github.com/hashicorp/go-plugin google.golang.org/grpc; do
  [ -d "$gopath/src/$package" ] || {
    echo "$gopath/src/$package is missing (apt-get install golang-github-hashicorp-go-plugin-dev golang-google-grpc-dev)" >&2
    exit 2
  }
done
mkdir -p "$out"
out=$(cd "$out" && pwd)
# GOPATH mode, and Go's build cache under target/ rather than the user's home.
export GO111MODULE=off GOPATH=$gopath GOCACHE=$out/cache GOFLAGS=
go build -o "$out/client" ./bench/go-plugin-client
go build -o "$out/floor" ./bench/go-plugin-floor
echo "$out/client $out/floor"
