#!/usr/bin/env python3
"""A large object through `reqcache proxy` on a disk storage: what the
proxy's memory does, and whether the object comes back whole (issue 28's
measure).

    python3 benches/large_object.py --bin target/release/reqcache \
        --storage sqlite:/tmp/lo/c [--size-mib 512] [--max-size 4GiB] \
        [--max-body-size BYTES]

A loopback origin sends SIZE MiB (`Content-Length`, `max-age=600`, an
`ETag`), made of 1 MiB blocks, block i being `random.Random(i)`'s bytes, so
any byte can be checked without holding the body. The client sends a GET
(the miss), waits a second for the write behind it, then two GETs and a
Range request across a block boundary, checking every byte as it streams.
The proxy's resident memory is read from /proc before the first request
(idle) and its peak (`VmHWM`) after each. Prints one line of JSON: the
origin's request count, each answer's status, `Cache-Status` and whether
its bytes were right, the peak growth over idle in MiB, and the proxy's CPU
seconds for the hits.
"""

import argparse
import http.client
import http.server
import json
import os
import random
import shutil
import socket
import subprocess
import sys
import threading
import time

BLOCK = 1 << 20


def block(i):
    return random.Random(i).randbytes(BLOCK)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def proc_status(pid, field):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1]) * 1024
    return 0


def cpu_seconds(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def check(response, start, length):
    """Reads the body, checking it is bytes start..start+length of the
    object; returns (right, bytes read)."""
    at, right = start, True
    cached = None
    while True:
        data = response.read(256 * 1024)
        if not data:
            break
        offset = 0
        while offset < len(data):
            index, within = divmod(at, BLOCK)
            if cached is None or cached[0] != index:
                cached = (index, block(index))
            take = min(BLOCK - within, len(data) - offset)
            if data[offset:offset + take] != cached[1][within:within + take]:
                right = False
            offset += take
            at += take
    return right and at - start == length, at - start


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--bin", required=True)
    parser.add_argument("--storage", required=True, help="sqlite:PATH or fs:DIR")
    parser.add_argument("--size-mib", type=int, default=512)
    parser.add_argument("--max-size", default="4GiB")
    parser.add_argument("--max-body-size", default=None)
    args = parser.parse_args()
    size = args.size_mib * BLOCK

    kind, path = args.storage.split(":", 1)
    path = path.split("?", 1)[0]
    shutil.rmtree(path if kind == "fs" else os.path.dirname(path), ignore_errors=True)
    os.makedirs(path if kind == "fs" else os.path.dirname(path), exist_ok=True)

    origin_hits = [0]

    class Origin(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_GET(self):
            origin_hits[0] += 1
            self.send_response(200)
            self.send_header("Content-Length", str(size))
            self.send_header("Cache-Control", "public, max-age=600")
            self.send_header("ETag", '"large-v1"')
            self.send_header("Content-Type", "application/octet-stream")
            self.end_headers()
            for i in range(args.size_mib):
                self.wfile.write(block(i))

        def log_message(self, *a):
            pass

    origin = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Origin)
    threading.Thread(target=origin.serve_forever, daemon=True).start()
    port = free_port()
    command = [
        args.bin, "proxy", "--listen", f"127.0.0.1:{port}",
        "--upstream", f"http://127.0.0.1:{origin.server_address[1]}",
        "--storage", args.storage, "--max-size", args.max_size,
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
        idle = proc_status(proxy.pid, "VmRSS")
        answers = []

        def get(headers=None, start=0, length=size):
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=600)
            conn.request("GET", "/large.bin", headers=headers or {})
            response = conn.getresponse()
            right, read = check(response, start, length)
            conn.close()
            answers.append({
                "status": response.status,
                "cache_status": response.getheader("Cache-Status"),
                "right": right,
                "bytes": read,
                "peak_over_idle_mib": round((proc_status(proxy.pid, "VmHWM") - idle) / BLOCK, 1),
            })

        started = time.monotonic()
        get()
        miss_secs = time.monotonic() - started
        time.sleep(1)
        cpu = cpu_seconds(proxy.pid)
        started = time.monotonic()
        get()
        get()
        hit_secs = (time.monotonic() - started) / 2
        hit_cpu = (cpu_seconds(proxy.pid) - cpu) / 2
        start = 3 * BLOCK - 1000
        get({"Range": f"bytes={start}-{start + 2 * BLOCK - 1}"}, start, 2 * BLOCK)
        print(json.dumps({
            "storage": kind,
            "size_mib": args.size_mib,
            "origin_requests": origin_hits[0],
            "answers": answers,
            "idle_rss_mib": round(idle / BLOCK, 1),
            "peak_over_idle_mib": round((proc_status(proxy.pid, "VmHWM") - idle) / BLOCK, 1),
            "miss_secs": round(miss_secs, 2),
            "hit_secs": round(hit_secs, 2),
            "hit_cpu_secs_per_gib": round(hit_cpu * 1024 / args.size_mib, 2),
        }))
    finally:
        proxy.terminate()
        proxy.wait(timeout=30)
        origin.shutdown()


if __name__ == "__main__":
    main()
