#!/usr/bin/env bash
# The style gates, run by scripts/test.sh before the tests (and on their own
# by hand): formatting, clippy with warnings as errors, rustdoc with warnings
# as errors (broken intra-doc links included), the core built with no
# optional feature and with each one alone, the CLI with no storage
# feature, and the core's one-way layers.
#
# Usage: scripts/check.sh
set -euo pipefail
cd "$(dirname "$0")/.."

step() { echo "== check: $*"; }

step "cargo fmt --all --check"
cargo fmt --all --check

# The CLI with every storage (`full`); its default set is checked below.
step "cargo clippy --workspace --all-targets --features reqcache-cli/full -- -D warnings"
cargo clippy --workspace --all-targets --features reqcache-cli/full --quiet -- -D warnings

step "cargo doc --workspace --no-deps --features reqcache-cli/full (warnings are errors)"
RUSTDOCFLAGS="-D warnings" cargo doc --workspace --no-deps --features reqcache-cli/full --quiet

# The root package's dev-dependencies turn every feature of the core on, so
# the workspace build never sees it without them: check it alone.
features=$(sed -n '/^\[features\]/,/^\[/p' crates/reqcache/Cargo.toml \
    | grep -E '^[a-z0-9-]+ *=' | cut -d= -f1 | tr -d ' ' | grep -v '^default$')
step "reqcache with no optional feature"
cargo clippy -p reqcache --no-default-features --quiet -- -D warnings
for feature in $features; do
    step "reqcache with only '$feature'"
    cargo clippy -p reqcache --no-default-features --features "$feature" --quiet -- -D warnings
done

# The binary's storages are features: check it with none, and with its
# default set (SQLite, files, Redis, PostgreSQL).
step "reqcache-cli with no storage feature"
cargo clippy -p reqcache-cli --no-default-features --quiet -- -D warnings
step "reqcache-cli with its default storages"
cargo clippy -p reqcache-cli --quiet -- -D warnings

step "core layers"
python3 scripts/check-layers.py
