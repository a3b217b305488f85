#!/usr/bin/env bash
# Server CPU per cache hit: `reqcache proxy` (default settings; memory and
# SQLite storage) beside nginx's proxy_cache, all in front of one origin,
# driven by wrk in the same run, for each body size; the ratios are what
# BENCHMARKS.md reports.
#
# usage: benches/proxy_vs_nginx.sh [SECONDS] [CONNECTIONS]   (default 10 s, 16)
#   SIZES="1024 102400"                  body sizes in bytes (default 1024)
#   STORAGES="memory sqlite fs"          reqcache storages (default memory)
#   NGINX_SENDFILE=on                    nginx serves its cached files with
#                                        sendfile (default off, nginx's own)
#   ROUNDS=2                             rounds of every measurement
#   BASELINE_BIN=path/to/other/reqcache  also measures that build of the proxy
#                                        in the same run (before/after figures)
#   NO_BUILD=1                           measure target/release/reqcache as it is
#   KEEP=1                               print the servers' logs on exit
#
# nginx and wrk come from apt when missing. Everything listens on 127.0.0.1
# ports picked here; every process started is stopped by PID on exit. The
# reqcache binary is built in release mode first.
set -euo pipefail
cd "$(dirname "$0")/.."
SECONDS_PER_RUN=${1:-10}
CONNECTIONS=${2:-16}

# apt_install and free_port, shared with the test command's server script.
# shellcheck source=scripts/test-services.sh
source scripts/test-services.sh
command -v wrk >/dev/null || apt_install wrk
command -v nginx >/dev/null || [ -x /usr/sbin/nginx ] || apt_install nginx-light
NGINX=$(command -v nginx || echo /usr/sbin/nginx)
[ -n "${NO_BUILD:-}" ] || cargo build --release -q -p reqcache-cli --bin reqcache

work=$(mktemp -d "${TMPDIR:-/tmp}/proxy-bench.XXXXXX")
PIDS=()
cleanup() {
    for pid in "${PIDS[@]:-}"; do [ -n "$pid" ] && kill "$pid" 2>/dev/null || true; done
    [ -f "$work/nginx.pid" ] && kill "$(cat "$work/nginx.pid")" 2>/dev/null || true
    wait 2>/dev/null || true
    [ -n "${KEEP:-}" ] && { cat "$work"/*.log >&2; } || true
    rm -rf "$work"
}
trap cleanup EXIT

origin_port=$(free_port)
reqcache_port=$(free_port)
nginx_port=$(free_port)

SIZES=${SIZES:-1024}
STORAGES=${STORAGES:-memory}

# The origin: /hit-N is N bytes (/hit: 1 KiB), max-age=3600 (only the first
# request of each cache reaches it).
python3 - "$origin_port" >"$work/origin.log" 2>&1 <<'PY' &
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def do_GET(self):
        size = int(self.path.split("-", 1)[1]) if self.path.startswith("/hit-") else 1024
        body = b"x" * size
        self.send_response(200)
        self.send_header("Cache-Control", "max-age=3600")
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
    def log_message(self, *args):
        pass
ThreadingHTTPServer(("127.0.0.1", int(sys.argv[1])), Handler).serve_forever()
PY
PIDS+=($!)

# One reqcache per storage: REQCACHE_PORT[storage], REQCACHE_PID[storage].
declare -A REQCACHE_PORT REQCACHE_PID
for storage in $STORAGES; do
    case $storage in
        memory) spec=memory ;;
        sqlite) spec="sqlite:$work/cache" ;;
        fs) spec="fs:$work/files" ;;
        *) echo "unknown storage $storage (memory, sqlite, fs)" >&2; exit 2 ;;
    esac
    port=$(free_port)
    target/release/reqcache proxy --listen "127.0.0.1:$port" \
        --upstream "http://127.0.0.1:$origin_port" --storage "$spec" >"$work/reqcache-$storage.log" 2>&1 &
    REQCACHE_PORT[$storage]=$port
    REQCACHE_PID[$storage]=$!
    PIDS+=($!)
done
baseline_port=
if [ -n "${BASELINE_BIN:-}" ]; then
    baseline_port=$(free_port)
    "$BASELINE_BIN" proxy --listen "127.0.0.1:$baseline_port" \
        --upstream "http://127.0.0.1:$origin_port" --storage memory >"$work/baseline.log" 2>&1 &
    baseline_pid=$!
    PIDS+=($baseline_pid)
fi

mkdir -p "$work/nginx-cache" "$work/nginx-temp"
# Run as root, nginx's workers would switch to an unprivileged user that
# cannot open the temporary folder: keep them as root.
[ "$(id -u)" -eq 0 ] && run_as="user root;" || run_as=""
cat >"$work/nginx.conf" <<CONF
$run_as
worker_processes 2;
pid $work/nginx.pid;
error_log $work/nginx-error.log;
events { worker_connections 1024; }
http {
    access_log off;
    sendfile ${NGINX_SENDFILE:-off};
    client_body_temp_path $work/nginx-temp;
    proxy_temp_path $work/nginx-temp;
    fastcgi_temp_path $work/nginx-temp;
    uwsgi_temp_path $work/nginx-temp;
    scgi_temp_path $work/nginx-temp;
    proxy_cache_path $work/nginx-cache keys_zone=bench:10m;
    upstream origin { server 127.0.0.1:$origin_port; keepalive 16; }
    server {
        listen 127.0.0.1:$nginx_port;
        location / {
            proxy_pass http://origin;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_cache bench;
            add_header X-Cache-Status \$upstream_cache_status;
        }
    }
}
CONF
"$NGINX" -c "$work/nginx.conf" -e "$work/nginx-error.log" 2>/dev/null || "$NGINX" -c "$work/nginx.conf"

wait_for() {
    for _ in $(seq 1 100); do
        python3 -c "import urllib.request,sys; urllib.request.urlopen(sys.argv[1], timeout=2)" "$1" 2>/dev/null && return 0
        sleep 0.1
    done
    echo "nothing answers at $1" >&2
    return 1
}
wait_for "http://127.0.0.1:$origin_port/hit"
for storage in $STORAGES; do wait_for "http://127.0.0.1:${REQCACHE_PORT[$storage]}/hit"; done
wait_for "http://127.0.0.1:$nginx_port/hit"
[ -z "$baseline_port" ] || wait_for "http://127.0.0.1:$baseline_port/hit"
# Every cache holds every size once asked; check that the next request is
# a hit in each (the write behind the first answer may take a moment: ask
# a few times).
python3 - "$SIZES" "$nginx_port" "${baseline_port:-}" "${REQCACHE_PORT[@]}" <<'PY'
import sys, time, urllib.request
def hit(port, path, header, value):
    for _ in range(50):
        # Read through: a body left unread is not stored.
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}") as response:
            response.read()
            if response.headers[header] == value:
                return
        time.sleep(0.1)
    sys.exit(f"no {header}: {value} from 127.0.0.1:{port}{path}")
for size in sys.argv[1].split():
    path = f"/hit-{size}"
    hit(sys.argv[2], path, "x-cache-status", "HIT")
    for port in sys.argv[4:] + ([sys.argv[3]] if sys.argv[3] else []):
        hit(port, path, "x-reqcache", "Hit")
PY

# CPU seconds (user + system) of the given PIDs so far.
cpu_of() {
    local ticks=0 pid
    for pid in "$@"; do
        read -r -a stat <"/proc/$pid/stat"
        ticks=$((ticks + stat[13] + stat[14]))
    done
    echo "$ticks"
}
nginx_pids() { pgrep -P "$(cat "$work/nginx.pid")" | tr '\n' ' '; cat "$work/nginx.pid"; }
hz=$(getconf CLK_TCK)

# wrk on one core's worth (1 thread), CONNECTIONS keep-alive connections,
# on /hit-$SIZE.
measure() {
    local name=$1 port=$2; shift 2
    local before after requests
    before=$(cpu_of "$@")
    requests=$(wrk -t1 -c"$CONNECTIONS" -d"${SECONDS_PER_RUN}s" "http://127.0.0.1:$port/hit-$SIZE" |
        awk '/requests in/ {print $1}')
    after=$(cpu_of "$@")
    awk -v n="$name" -v r="$requests" -v t=$((after - before)) -v hz="$hz" -v s="$SECONDS_PER_RUN" \
        'BEGIN { printf "%-16s %9d requests  %8.0f req/s  server CPU %6.2f s  %6.2f us per hit\n", n, r, r / s, t / hz, t / hz / r * 1e6 }'
}
for SIZE in $SIZES; do
    echo "$SIZE-byte hits, wrk -t1 -c$CONNECTIONS -d${SECONDS_PER_RUN}s, $(nproc) cores, $(uname -m)"
    for round in $(seq 1 "${ROUNDS:-2}"); do
        # shellcheck disable=SC2046
        n=$(measure nginx "$nginx_port" $(nginx_pids))
        echo "$n"
        for storage in $STORAGES; do
            r=$(measure "reqcache/$storage" "${REQCACHE_PORT[$storage]}" "${REQCACHE_PID[$storage]}")
            echo "$r"
            awk -v a="$(echo "$r" | awk '{print $(NF-3)}')" -v b="$(echo "$n" | awk '{print $(NF-3)}')" \
                -v round="$round" -v storage="$storage" -v size="$SIZE" \
                'BEGIN { printf "round %d, %d bytes: reqcache/%s / nginx server CPU per hit = %.2f\n", round, size, storage, a / b }'
        done
        if [ -n "$baseline_port" ]; then
            measure baseline "$baseline_port" "$baseline_pid"
        fi
    done
done
