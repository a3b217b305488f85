#!/usr/bin/env bash
# The HTTP caching test suite against `reqcache proxy` with its default
# settings, in shared and private mode; fails when a score drops below its
# floor. Run by scripts/test.sh; on its own: scripts/conformance.sh [REQCACHE_BIN]
#
# The suite is npm's http-cache-tests 0.4.5 (the release a fresh machine can
# install; CONFORMANCE.md also scores the newer suite behind the published
# results). It is installed with npm under target/conformance (node and npm
# from apt when node 20+ is missing), never copied into the project. Its
# origin is started on a free loopback port with scripts/conformance/loopback.mjs
# preloaded (it would listen on every interface), the proxy on another, and
# both are stopped by PID. Scores count dependencies as the suite's results
# page does (scripts/conformance/score.mjs).
set -euo pipefail
cd "$(dirname "$0")/.."

# Floors: just under what main reaches (CONFORMANCE.md), a test or two of
# slack for the suite's timing-dependent tests.
SHARED_MIN_PASSED=${SHARED_MIN_PASSED:-211}
SHARED_MIN_REQUIRED=${SHARED_MIN_REQUIRED:-138}
PRIVATE_MIN_PASSED=${PRIVATE_MIN_PASSED:-188}
PRIVATE_MIN_REQUIRED=${PRIVATE_MIN_REQUIRED:-128}
SUITE_VERSION=0.4.5

BIN=${1:-target/debug/reqcache}
WORK=$PWD/target/conformance
HERE=$PWD/scripts/conformance
# apt_install and free_port, shared with the backend servers' script.
# shellcheck source=scripts/test-services.sh
source scripts/test-services.sh
log() { echo "conformance: $*" >&2; }

node_major() { node -e 'console.log(process.versions.node.split(".")[0])' 2>/dev/null || echo 0; }
if ! command -v npm >/dev/null || [ "$(node_major)" -lt 20 ]; then
    apt_install nodejs npm
fi
[ "$(node_major)" -ge 20 ] || { log "node 20 or newer is needed (have $(node --version 2>&1))"; exit 1; }
[ -x "$BIN" ] || { log "no reqcache binary at $BIN (cargo build -p reqcache-cli)"; exit 1; }

SUITE=$WORK/node_modules/http-cache-tests
mkdir -p "$WORK"
if [ "$(node -p "require('$SUITE/package.json').version" 2>/dev/null)" != "$SUITE_VERSION" ]; then
    log "npm install http-cache-tests@$SUITE_VERSION"
    npm install --prefix "$WORK" --omit=dev --no-audit --no-fund --loglevel=error \
        "http-cache-tests@$SUITE_VERSION" >&2
fi

PIDS=()
stop_all() {
    for pid in "${PIDS[@]:-}"; do [ -n "$pid" ] && kill "$pid" 2>/dev/null || true; done
    for pid in "${PIDS[@]:-}"; do [ -n "$pid" ] && wait "$pid" 2>/dev/null || true; done
    PIDS=()
}
trap stop_all EXIT

# Waits (at most 10 s) until $1 answers HTTP at all (any status).
wait_for() {
    python3 - "$1" <<'PY' || { log "nothing answers at $1"; return 1; }
import sys, time, urllib.error, urllib.request
for _ in range(100):
    try:
        urllib.request.urlopen(sys.argv[1], timeout=2)
        sys.exit(0)
    except urllib.error.HTTPError:
        sys.exit(0)
    except OSError:
        time.sleep(0.1)
sys.exit(1)
PY
}

origin_port=$(free_port)
(cd "$SUITE" && exec env npm_package_config_protocol=http npm_package_config_port="$origin_port" \
    npm_package_config_pidfile="$WORK/origin.pid" \
    node --import "file://$HERE/loopback.mjs" server/server.mjs >"$WORK/origin.log" 2>&1) &
PIDS+=($!)
wait_for "http://127.0.0.1:$origin_port/state/probe"

status=0
for mode in shared private; do
    proxy_port=$(free_port)
    "$BIN" proxy --listen "127.0.0.1:$proxy_port" --upstream "http://127.0.0.1:$origin_port" \
        --storage memory --mode "$mode" >"$WORK/proxy-$mode.log" 2>&1 &
    proxy_pid=$!
    PIDS+=($proxy_pid)
    wait_for "http://127.0.0.1:$proxy_port/"
    log "running the $mode selection"
    (cd "$SUITE" && node --no-warnings "$HERE/run.mjs" "$SUITE" "http://127.0.0.1:$proxy_port" "$mode") \
        >"$WORK/$mode.json" 2>"$WORK/client-$mode.log"
    kill "$proxy_pid" 2>/dev/null || true
    wait "$proxy_pid" 2>/dev/null || true
    if [ "$mode" = shared ]; then
        floor=("$SHARED_MIN_PASSED" "$SHARED_MIN_REQUIRED")
    else
        floor=("$PRIVATE_MIN_PASSED" "$PRIVATE_MIN_REQUIRED")
    fi
    node "$HERE/score.mjs" "$SUITE" "$WORK/$mode.json" "$mode" "${floor[@]}" || status=1
done
exit $status
