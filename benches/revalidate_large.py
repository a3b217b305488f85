#!/usr/bin/env python3
"""What a `304` costs on a large stored object (issue 28, item 3).

    python3 benches/revalidate_large.py --bin target/release/reqcache \
        --storage sqlite:/tmp/rv/c [--size-mib 64] [--max-body-size BYTES]

A loopback origin sends SIZE MiB with `max-age=1` and an `ETag`, and `304`
to a matching `If-None-Match`. The client GETs it (the miss), waits two
seconds (stale, and the write behind done), then GETs it again: the proxy
revalidates, the origin answers `304`, the proxy answers the stored body.
Prints one line of JSON: for the revalidating GET, its wall time, the
proxy's CPU seconds and the bytes the proxy wrote to disk
(`/proc/PID/io` `write_bytes`, measured until the write behind it is done),
and the proxy's peak memory over idle.
"""

import argparse
import http.client
import http.server
import json
import os
import shutil
import socket
import subprocess
import sys
import threading
import time


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def io_written(pid):
    with open(f"/proc/{pid}/io") as f:
        for line in f:
            if line.startswith("write_bytes:"):
                return int(line.split()[1])
    return 0


def cpu_seconds(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def rss(pid, field):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1]) * 1024
    return 0


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--bin", required=True)
    parser.add_argument("--storage", required=True)
    parser.add_argument("--size-mib", type=int, default=64)
    parser.add_argument("--max-body-size", default=None)
    args = parser.parse_args()
    size = args.size_mib << 20
    block = os.urandom(1 << 20)

    kind, path = args.storage.split(":", 1)
    path = path.split("?", 1)[0]
    shutil.rmtree(path if kind == "fs" else os.path.dirname(path), ignore_errors=True)
    os.makedirs(path if kind == "fs" else os.path.dirname(path), exist_ok=True)
    seen = {"full": 0, "not_modified": 0}

    class Origin(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_GET(self):
            if self.headers.get("If-None-Match") == '"big-v1"':
                seen["not_modified"] += 1
                self.send_response(304)
                self.send_header("ETag", '"big-v1"')
                self.send_header("Cache-Control", "public, max-age=1")
                self.end_headers()
                return
            seen["full"] += 1
            self.send_response(200)
            self.send_header("Content-Length", str(size))
            self.send_header("Cache-Control", "public, max-age=1")
            self.send_header("ETag", '"big-v1"')
            self.end_headers()
            for _ in range(args.size_mib):
                self.wfile.write(block)

        def log_message(self, *a):
            pass

    origin = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Origin)
    threading.Thread(target=origin.serve_forever, daemon=True).start()
    port = free_port()
    command = [
        args.bin, "proxy", "--listen", f"127.0.0.1:{port}",
        "--upstream", f"http://127.0.0.1:{origin.server_address[1]}",
        "--storage", args.storage, "--max-size", "4GiB",
    ]
    if args.max_body_size:
        command += ["--max-body-size", args.max_body_size]
    proxy = subprocess.Popen(command, stderr=subprocess.PIPE, text=True)
    try:
        line = proxy.stderr.readline()
        if "reqcache proxy on" not in line:
            sys.exit(f"proxy did not start: {line}")
        threading.Thread(target=proxy.stderr.read, daemon=True).start()
        time.sleep(0.5)
        idle = rss(proxy.pid, "VmRSS")

        def get():
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=600)
            conn.request("GET", "/big.bin")
            response = conn.getresponse()
            n = 0
            while True:
                data = response.read(1 << 20)
                if not data:
                    break
                n += len(data)
            conn.close()
            return response.getheader("Cache-Status"), n

        get()
        time.sleep(2)
        written, cpu = io_written(proxy.pid), cpu_seconds(proxy.pid)
        started = time.monotonic()
        status, n = get()
        wall = time.monotonic() - started
        time.sleep(1)  # the rewrite behind the answer
        print(json.dumps({
            "storage": kind,
            "size_mib": args.size_mib,
            "cache_status": status,
            "bytes": n,
            "origin": seen,
            "revalidation_wall_secs": round(wall, 3),
            "revalidation_cpu_secs": round(cpu_seconds(proxy.pid) - cpu, 3),
            "revalidation_disk_write_mib": round((io_written(proxy.pid) - written) / (1 << 20), 2),
            "peak_over_idle_mib": round((rss(proxy.pid, "VmHWM") - idle) / (1 << 20), 1),
        }))
    finally:
        proxy.terminate()
        proxy.wait(timeout=30)
        origin.shutdown()


if __name__ == "__main__":
    main()
