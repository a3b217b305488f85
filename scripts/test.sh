#!/usr/bin/env bash
# Runs every test of the workspace: the one test command (README, .ci/run).
#
# It runs the style gates first (scripts/check.sh: fmt, clippy and rustdoc
# with warnings as errors, the core with each optional feature alone, the
# core's import layers).
#
# It installs and starts the servers the tests need (scripts/test-services.sh:
# redis-server from Debian, standalone and a 3-node cluster; moto (DynamoDB)
# and SecantusDB (MongoDB) from PyPI in the venv .venv/; a PostgreSQL
# cluster of its own from Debian's postgresql), each on a free loopback port
# with its URL exported (REQCACHE_REDIS_URL, REQCACHE_REDIS_CLUSTER_URLS,
# REQCACHE_DYNAMODB_URL, REQCACHE_MONGODB_URL, REQCACHE_POSTGRES_URL),
# and stops them by PID on exit. SQLite, memory and files need nothing.
#
# Last, the HTTP caching test suite (npm http-cache-tests, with node from apt
# when missing) runs against `reqcache proxy` in shared and private mode and
# fails the run below its floors (scripts/conformance.sh).
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

# The style gates first: formatting, clippy, rustdoc, the core's feature
# combinations and its one-way layers (scripts/check.sh).
bash scripts/check.sh

# Install and start the backends' servers; stop them however this script ends.
# shellcheck source=scripts/test-services.sh
source scripts/test-services.sh
trap stop_services EXIT
start_services

LOG_DIR=target/test-logs
mkdir -p "$LOG_DIR"
LOG="$LOG_DIR/test.log"
: > "$LOG"

echo "== benchmarks, each run once as a smoke test"
cargo test --bench hit_path --bench server_hit --bench hit_scaling --bench serializers --bench reqwest_hit 2>&1 | tee -a "$LOG"

echo "== every unit, integration and doc test"
# `reqcache-cli/full`: the CLI with every storage, MongoDB and DynamoDB
# included (its default set leaves them out).
cargo test --workspace --features reqcache-cli/full "$@" 2>&1 | tee -a "$LOG"

echo "== every example, run once against the servers above"
# `cargo test` has built them (target/debug/examples); each checks what it
# shows and exits non-zero when something is off. The backend examples find
# their servers through the REQCACHE_*_URL variables exported above.
example_failures=0
examples_run=0
for source in examples/*.rs; do
    name=$(basename "$source" .rs)
    examples_run=$((examples_run + 1))
    echo "-- example $name" | tee -a "$LOG"
    if ! timeout 120 "target/debug/examples/$name" >>"$LOG" 2>&1; then
        echo "example $name FAILED (output in $LOG)" | tee -a "$LOG"
        example_failures=$((example_failures + 1))
    fi
done
echo "examples: $examples_run run, $example_failures failed"

echo "== the HTTP caching test suite against reqcache proxy (scripts/conformance.sh)"
# `cargo test` has built the binary (the CLI's integration tests need it).
conformance_failed=0
if ! bash scripts/conformance.sh target/debug/reqcache 2>&1 | tee -a "$LOG"; then
    echo "the HTTP caching test suite scored below its floor (details in $LOG)"
    conformance_failed=1
fi

# One closing line over every test binary above.
awk '/^test result:/ {
        for (i = 1; i <= NF; i++) {
            if ($(i + 1) ~ /^passed/) passed += $i
            if ($(i + 1) ~ /^failed/) failed += $i
            if ($(i + 1) ~ /^ignored/) ignored += $i
        }
     }
     END { printf "tests: %d passed, %d failed, %d skipped\n", passed, failed, ignored }' "$LOG"
[ "$example_failures" -eq 0 ] && [ "$conformance_failed" -eq 0 ]
