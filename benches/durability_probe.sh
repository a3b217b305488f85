#!/usr/bin/env bash
# Whole programs, the requests-cache way: `reqcache get` runs twice on one
# storage against a loopback origin; the second run should be a hit. Counts
# the hits per body size (issue 26's figure).
#
# Usage: benches/durability_probe.sh [BIN] [ROUNDS] [STORAGE]
#   BIN      the reqcache binary (default target/debug/reqcache)
#   ROUNDS   rounds per size (default 10)
#   STORAGE  a storage URL with DIR for a fresh temporary folder per round
#            (default sqlite:DIR/c; try fs:DIR/c)
# Needs python3 (the origin: http.server on 127.0.0.1, stopped by PID).
set -euo pipefail
bin=${1:-target/debug/reqcache}
rounds=${2:-10}
prefix=${3:-sqlite:DIR/c}
www=$(mktemp -d)
trap 'kill "$origin" 2>/dev/null || true; rm -rf "$www"' EXIT
head -c 2700 /dev/urandom >"$www/s2k7"
head -c 100000 /dev/urandom >"$www/s100k"
head -c 300000 /dev/urandom >"$www/s300k"
head -c 1048576 /dev/urandom >"$www/s1m"
head -c 5242880 /dev/urandom >"$www/s5m"
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
python3 -m http.server "$port" --bind 127.0.0.1 --directory "$www" >/dev/null 2>&1 &
origin=$!
for _ in $(seq 50); do
    curl -s -o /dev/null "http://127.0.0.1:$port/s2k7" 2>/dev/null && break
    sleep 0.1
done
for size in s2k7 s100k s300k s1m s5m; do
    hits=0
    for _ in $(seq "$rounds"); do
        dir=$(mktemp -d)
        storage=${prefix/DIR/$dir}
        url="http://127.0.0.1:$port/$size"
        RUST_LOG=off "$bin" get --storage "$storage" --expire-after 3600 -o /dev/null "$url" 2>/dev/null || true
        second=$(RUST_LOG=off "$bin" get --storage "$storage" --expire-after 3600 -o /dev/null "$url" 2>&1 >/dev/null | tail -1)
        case "$second" in *Hit*) hits=$((hits + 1)) ;; esac
        rm -rf "$dir"
    done
    echo "$size: $hits of $rounds second runs were hits"
done
