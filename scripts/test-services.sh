#!/usr/bin/env bash
# The servers the backend tests need: installed when missing, started on free
# loopback ports, their URLs exported, stopped by PID. Sourced by test.sh.
#
#   redis-server    Debian package redis-server; one standalone server
#                   (REQCACHE_REDIS_URL) and a 3-node cluster
#                   (REQCACHE_REDIS_CLUSTER_URLS, comma-separated).
#   moto            PyPI package moto[server], in the venv .venv/: a
#                   DynamoDB-API server (REQCACHE_DYNAMODB_URL).
#   SecantusDB      PyPI package secantusdb, in the same venv: a MongoDB
#                   wire-protocol server (REQCACHE_MONGODB_URL); its Python
#                   is exported too (REQCACHE_SECANTUS_PYTHON) for the test
#                   that stops and restarts a server of its own.
#   postgres        Debian package postgresql: an unprivileged cluster in a
#                   temp dir (initdb, then the postgres server itself, so its
#                   PID is ours to stop), trust auth on loopback only
#                   (REQCACHE_POSTGRES_URL).
#
# Every server keeps its files under $SERVICES_DIR and writes its log there.

SERVICES_DIR="${SERVICES_DIR:-$PWD/.test-services}"
SERVICE_PIDS=()

log() { echo "test-services: $*" >&2; }

# A TCP port nothing listens on now.
free_port() {
    python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'
}

# A port for a cluster node: at most 55535, with the bus port 10000 above it
# free too.
free_cluster_port() {
    python3 - <<'PY'
import random, socket
for _ in range(1000):
    port = random.randint(20000, 45000)
    try:
        for p in (port, port + 10000):
            s = socket.socket(); s.bind(("127.0.0.1", p)); s.close()
    except OSError:
        continue
    print(port)
    break
PY
}

# Runs apt-get install for the given packages, as root or through sudo.
apt_install() {
    local sudo=""
    [ "$(id -u)" -eq 0 ] || sudo="sudo"
    log "installing $* (apt)"
    $sudo apt-get update -qq >/dev/null
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "$@" >/dev/null
}

# Waits until redis at port $1 answers PING (bounded: 10 s).
wait_for_redis() {
    local port=$1
    for _ in $(seq 1 200); do
        if redis-cli -p "$port" ping 2>/dev/null | grep -q PONG; then
            return 0
        fi
        sleep 0.05
    done
    log "redis-server on port $port did not start; its log:"
    cat "$SERVICES_DIR/redis-$port.log" >&2 || true
    return 1
}

# Starts one redis-server on port $1, with extra arguments after it.
start_redis_on() {
    local port=$1
    shift
    local dir="$SERVICES_DIR/redis-$port"
    mkdir -p "$dir"
    redis-server --port "$port" --bind 127.0.0.1 --save "" --appendonly no \
        --dir "$dir" --logfile "$SERVICES_DIR/redis-$port.log" "$@" &
    SERVICE_PIDS+=("$!")
    wait_for_redis "$port"
}

start_redis() {
    if ! command -v redis-server >/dev/null 2>&1 || ! command -v redis-cli >/dev/null 2>&1; then
        apt_install redis-server redis-tools
    fi
    mkdir -p "$SERVICES_DIR"

    local port
    port=$(free_port)
    start_redis_on "$port"
    export REQCACHE_REDIS_URL="redis://127.0.0.1:$port"
    export REQCACHE_REDIS_SERVER="$(command -v redis-server)"
    log "redis-server on $REQCACHE_REDIS_URL"

    local nodes=() urls=()
    for _ in 1 2 3; do
        port=$(free_cluster_port)
        start_redis_on "$port" --cluster-enabled yes --cluster-config-file "nodes-$port.conf" \
            --cluster-node-timeout 5000
        nodes+=("127.0.0.1:$port")
        urls+=("redis://127.0.0.1:$port")
    done
    redis-cli --cluster create "${nodes[@]}" --cluster-replicas 0 --cluster-yes >"$SERVICES_DIR/cluster-create.log" 2>&1
    local first=${nodes[0]#127.0.0.1:}
    for _ in $(seq 1 200); do
        if redis-cli -p "$first" cluster info 2>/dev/null | grep -q 'cluster_state:ok'; then
            break
        fi
        sleep 0.05
    done
    redis-cli -p "$first" cluster info | grep -q 'cluster_state:ok' || {
        log "the redis cluster did not come up"; cat "$SERVICES_DIR/cluster-create.log" >&2; return 1; }
    REQCACHE_REDIS_CLUSTER_URLS=$(IFS=,; echo "${urls[*]}")
    export REQCACHE_REDIS_CLUSTER_URLS
    log "redis cluster on $REQCACHE_REDIS_CLUSTER_URLS"
}

# The Python venv for PyPI-packaged servers; created and filled when missing.
VENV_DIR="${VENV_DIR:-$PWD/.venv}"
MOTO_SPEC='moto[server]>=5,<6'
SECANTUS_SPEC='secantusdb==0.7.0b3'

ensure_venv() {
    if [ ! -x "$VENV_DIR/bin/python" ]; then
        log "creating the Python venv $VENV_DIR"
        python3 -m venv "$VENV_DIR" 2>/dev/null || { apt_install python3-venv; python3 -m venv "$VENV_DIR"; }
    fi
}

# Waits until an HTTP server answers at $1 (bounded: 30 s).
wait_for_http() {
    local url=$1 log_file=$2
    for _ in $(seq 1 300); do
        if python3 -c "import urllib.request, sys; urllib.request.urlopen(sys.argv[1], timeout=1)" "$url" 2>/dev/null; then
            return 0
        fi
        sleep 0.1
    done
    log "no answer from $url; its log:"
    cat "$log_file" >&2 || true
    return 1
}

start_moto() {
    ensure_venv
    if [ ! -x "$VENV_DIR/bin/moto_server" ]; then
        log "installing $MOTO_SPEC (pip)"
        "$VENV_DIR/bin/pip" install -q "$MOTO_SPEC"
    fi
    local port
    port=$(free_port)
    "$VENV_DIR/bin/moto_server" -H 127.0.0.1 -p "$port" >"$SERVICES_DIR/moto.log" 2>&1 &
    SERVICE_PIDS+=("$!")
    wait_for_http "http://127.0.0.1:$port/moto-api/" "$SERVICES_DIR/moto.log"
    export REQCACHE_DYNAMODB_URL="http://127.0.0.1:$port"
    log "moto (DynamoDB API) on $REQCACHE_DYNAMODB_URL"
}

# Waits until something accepts TCP connections on port $1 (bounded: 30 s).
wait_for_port() {
    local port=$1 log_file=$2
    for _ in $(seq 1 300); do
        if python3 -c "import socket, sys; socket.create_connection(('127.0.0.1', int(sys.argv[1])), 1).close()" "$port" 2>/dev/null; then
            return 0
        fi
        sleep 0.1
    done
    log "nothing listens on port $port; the log:"
    cat "$log_file" >&2 || true
    return 1
}

start_secantus() {
    ensure_venv
    if ! "$VENV_DIR/bin/python" -c "import secantus" 2>/dev/null; then
        log "installing $SECANTUS_SPEC (pip)"
        "$VENV_DIR/bin/pip" install -q "$SECANTUS_SPEC"
    fi
    local port
    port=$(free_port)
    # In memory, the data lives in WiredTiger's cache: 4 GiB holds every
    # test's entries, the durability tests' forty 8 MiB bodies included
    # (the default 1 GiB fills: WT_CACHE_FULL).
    "$VENV_DIR/bin/python" -m secantus --host 127.0.0.1 --port "$port" --storage-path :memory: \
        --cache-size 4G >"$SERVICES_DIR/secantus.log" 2>&1 &
    SERVICE_PIDS+=("$!")
    wait_for_port "$port" "$SERVICES_DIR/secantus.log"
    export REQCACHE_MONGODB_URL="mongodb://127.0.0.1:$port"
    export REQCACHE_SECANTUS_PYTHON="$VENV_DIR/bin/python"
    log "SecantusDB (MongoDB wire protocol) on $REQCACHE_MONGODB_URL"
}

# The folder of PostgreSQL's server programs (initdb, postgres): Debian keeps
# them under /usr/lib/postgresql/VERSION/bin, off the PATH.
postgres_bin_dir() {
    local dir
    for dir in $(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V -r); do
        [ -x "$dir/initdb" ] && [ -x "$dir/postgres" ] && { echo "$dir"; return 0; }
    done
    command -v initdb >/dev/null 2>&1 && dirname "$(readlink -f "$(command -v initdb)")"
}

start_postgres() {
    local bin
    bin=$(postgres_bin_dir || true)
    if [ -z "$bin" ]; then
        apt_install postgresql
        bin=$(postgres_bin_dir)
    fi
    # initdb and postgres refuse to run as root: as root, the cluster belongs
    # to the Debian package's postgres user (created if missing).
    local run_as=()
    POSTGRES_DIR=$(mktemp -d /tmp/reqcache-postgres.XXXXXX)
    if [ "$(id -u)" -eq 0 ]; then
        id postgres >/dev/null 2>&1 || useradd --system --no-create-home postgres
        chown postgres: "$POSTGRES_DIR"
        run_as=(setpriv --reuid=postgres --regid="$(id -g postgres)" --clear-groups --)
    fi
    "${run_as[@]}" "$bin/initdb" -D "$POSTGRES_DIR/data" -U reqcache --auth=trust \
        --encoding=UTF8 --no-sync >"$SERVICES_DIR/initdb.log" 2>&1 || {
        log "initdb failed; its log:"; cat "$SERVICES_DIR/initdb.log" >&2; return 1; }
    local port
    port=$(free_port)
    # Started directly (not by pg_ctl) so that $! is the server's own PID.
    "${run_as[@]}" "$bin/postgres" -D "$POSTGRES_DIR/data" -p "$port" \
        -c listen_addresses=127.0.0.1 -c unix_socket_directories="$POSTGRES_DIR" \
        -c fsync=off -c max_connections=200 >"$SERVICES_DIR/postgres.log" 2>&1 &
    SERVICE_PIDS+=("$!")
    wait_for_port "$port" "$SERVICES_DIR/postgres.log"
    export REQCACHE_POSTGRES_URL="postgres://reqcache@127.0.0.1:$port/postgres"
    log "PostgreSQL ($("$bin/postgres" --version)) on $REQCACHE_POSTGRES_URL"
}

stop_services() {
    for pid in "${SERVICE_PIDS[@]:-}"; do
        [ -n "$pid" ] && kill "$pid" 2>/dev/null || true
    done
    for pid in "${SERVICE_PIDS[@]:-}"; do
        [ -n "$pid" ] && wait "$pid" 2>/dev/null || true
    done
    SERVICE_PIDS=()
    if [ -n "${POSTGRES_DIR:-}" ]; then
        rm -rf "$POSTGRES_DIR"
        POSTGRES_DIR=""
    fi
}

start_services() {
    rm -rf "$SERVICES_DIR"
    mkdir -p "$SERVICES_DIR"
    start_redis
    start_moto
    start_secantus
    start_postgres
}
