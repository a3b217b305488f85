#!/usr/bin/env python3
"""Fills a `reqcache proxy` on a disk storage with unique responses and
reports how large the storage gets on disk (issue 27's measure).

    python3 benches/bounded_disk.py --bin target/release/reqcache \
        --storage sqlite:/tmp/bd/c [--max-size 16MiB] [--requests 6000]

A loopback origin answers every path with BODY bytes and
`Cache-Control: public, max-age=2`; CLIENTS threads send REQUESTS GETs for
unique paths through the proxy. The storage's files are measured (apparent
bytes, as `du -sb`) every 20 ms during the run, at its end, and again
after every entry has expired. At the end the last path is asked for again
and must be a hit. Prints one line of JSON, with the proxy's CPU time
(user and system, from /proc) over the whole run.
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


def apparent_bytes(path):
    """Bytes of every file under the storage's path (a folder, or a
    database with its -wal and -shm beside it)."""
    total = 0
    if os.path.isdir(path):
        for root, _, files in os.walk(path):
            for name in files:
                try:
                    total += os.lstat(os.path.join(root, name)).st_size
                except FileNotFoundError:
                    pass
        return total
    for suffix in ("", "-wal", "-shm"):
        try:
            total += os.stat(path + suffix).st_size
        except FileNotFoundError:
            pass
    return total


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--bin", required=True)
    parser.add_argument("--storage", required=True, help="sqlite:PATH or fs:DIR")
    parser.add_argument("--max-size", default=None)
    parser.add_argument("--requests", type=int, default=6000)
    parser.add_argument("--body", type=int, default=16 * 1024)
    parser.add_argument("--clients", type=int, default=8)
    args = parser.parse_args()

    kind, path = args.storage.split(":", 1)
    path = path.split("?", 1)[0]
    measured = path + ".sqlite" if kind == "sqlite" and "." not in os.path.basename(path) else path
    parent = os.path.dirname(measured) if kind == "sqlite" else measured
    shutil.rmtree(parent if kind == "fs" else os.path.dirname(measured), ignore_errors=True)
    os.makedirs(os.path.dirname(measured), exist_ok=True)

    body = b"x" * args.body

    class Origin(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_GET(self):
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.send_header("Cache-Control", "public, max-age=2")
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *_):
            pass

    origin = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Origin)
    threading.Thread(target=origin.serve_forever, daemon=True).start()

    port = free_port()
    command = [args.bin, "proxy", "--listen", f"127.0.0.1:{port}",
               "--upstream", f"http://127.0.0.1:{origin.server_address[1]}",
               "--storage", args.storage]
    if args.max_size:
        command += ["--max-size", args.max_size]
    proxy = subprocess.Popen(command, stderr=subprocess.PIPE)
    proxy.stderr.readline()  # the start line: listening
    logged = []
    threading.Thread(target=lambda: logged.extend(proxy.stderr), daemon=True).start()

    peak = [0]
    running = [True]

    def sample():
        while running[0]:
            peak[0] = max(peak[0], apparent_bytes(measured))
            time.sleep(0.02)

    sampler = threading.Thread(target=sample)
    sampler.start()

    answered = [0] * args.clients
    failed = [0] * args.clients

    def client(index):
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        for i in range(index, args.requests, args.clients):
            try:
                connection.request("GET", f"/item/{i}")
                response = connection.getresponse()
                data = response.read()
                if response.status == 200 and len(data) == len(body):
                    answered[index] += 1
                else:
                    failed[index] += 1
            except Exception:
                failed[index] += 1
                connection.close()
                connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)

    started = time.monotonic()
    threads = [threading.Thread(target=client, args=(i,)) for i in range(args.clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.monotonic() - started

    # The write-behind lands within a moment; a repeated request is a hit.
    time.sleep(0.3)
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    connection.request("GET", f"/item/{args.requests - 1}")
    response = connection.getresponse()
    response.read()
    repeat = response.getheader("Cache-Status", "")
    end = apparent_bytes(measured)
    time.sleep(2.0 + 11.0)  # every entry expired, and 11 s more
    after_expiry = apparent_bytes(measured)
    running[0] = False
    sampler.join()
    with open(f"/proc/{proxy.pid}/stat") as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    cpu = (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    proxy.terminate()
    proxy.wait()
    print(json.dumps({
        "storage": args.storage, "max_size": args.max_size,
        "requests": args.requests, "answered": sum(answered), "failed": sum(failed),
        "seconds": round(elapsed, 1), "proxy_cpu_s": round(cpu, 2),
        "peak_mib": round(peak[0] / 2**20, 1), "end_mib": round(end / 2**20, 1),
        "after_expiry_mib": round(after_expiry / 2**20, 1),
        "repeat": repeat, "log_lines": len(logged),
    }))


if __name__ == "__main__":
    sys.exit(main())
