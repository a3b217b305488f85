#!/usr/bin/env bash
# Runs every test of the workspace: the one test command (README, .ci/run).
#
# It installs and starts what the tests need, and stops what it started on
# exit. Today every test is self-contained (SQLite is embedded, memory needs
# nothing); the backend issues add their servers here: redis-server (Debian),
# SecantusDB and moto (PyPI, in a venv under .test-services/), each started on
# a free loopback port, its URL exported as REQCACHE_REDIS_URL,
# REQCACHE_MONGODB_URL or REQCACHE_DYNAMODB_URL, and stopped by PID.
#
# Usage: scripts/test.sh [extra cargo test arguments]
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v cargo >/dev/null 2>&1; then
    if [ -x "$HOME/.cargo/bin/cargo" ]; then
        export PATH="$HOME/.cargo/bin:$PATH"
    else
        echo "scripts/test.sh: cargo is not installed; install Rust (https://rustup.rs) first" >&2
        exit 1
    fi
fi

# Servers started below are recorded here and stopped on exit, by PID.
PIDS=()
stop_servers() {
    for pid in "${PIDS[@]:-}"; do
        [ -n "$pid" ] && kill "$pid" 2>/dev/null || true
    done
}
trap stop_servers EXIT

LOG_DIR=target/test-logs
mkdir -p "$LOG_DIR"
LOG="$LOG_DIR/test.log"
: > "$LOG"

echo "== benchmarks, each run once as a smoke test"
cargo test --bench hit_path 2>&1 | tee -a "$LOG"

echo "== every unit, integration and doc test"
cargo test --workspace "$@" 2>&1 | tee -a "$LOG"

# One closing line over every test binary above.
awk '/^test result:/ {
        for (i = 1; i <= NF; i++) {
            if ($(i + 1) ~ /^passed/) passed += $i
            if ($(i + 1) ~ /^failed/) failed += $i
            if ($(i + 1) ~ /^ignored/) ignored += $i
        }
     }
     END { printf "tests: %d passed, %d failed, %d skipped\n", passed, failed, ignored }' "$LOG"
