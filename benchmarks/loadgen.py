"""Load-generator ceiling: ``hsctl loadtest`` (Locust, FastHttpUser) against wrk, same trivial endpoint, one run.

A trivial server (uvloop, a fixed JSON answer to ``POST /predict``, no framework)
runs on loopback, pinned to its own CPU core; the generators share the other
core(s), so each gets the same CPU. wrk is the reference: C, event loop, no
per-request bookkeeping. The ratio ``hsctl / wrk`` says how much of a server's
capacity one hsctl load-generator process can drive: a server that answers
faster than hsctl's ceiling is limited by the client, not by itself (add
``--workers`` or machines). Install wrk from Debian's packages first::

    sudo apt-get install wrk
    python benchmarks/loadgen.py [--duration 10] [--users 64]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import parse_wrk

TRIVIAL_SERVER = r"""
import asyncio, sys
import uvloop

BODY = b'{"label":"non-hate","label_id":0,"hate_probability":0.01}'
HEAD = (b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: "
        + str(len(BODY)).encode() + b"\r\n\r\n")
READY = b'HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 14\r\n\r\n{"ready":true}'


class Http(asyncio.Protocol):
    def connection_made(self, transport):
        self.t, self.buf = transport, b""

    def data_received(self, data):
        self.buf += data
        while True:
            end = self.buf.find(b"\r\n\r\n")
            if end < 0:
                return
            head = self.buf[:end].lower()
            i = head.find(b"content-length:")
            length = int(head[i + 15:head.find(b"\r\n", i) if head.find(b"\r\n", i) > 0 else None]) if i >= 0 else 0
            if len(self.buf) < end + 4 + length:
                return
            self.buf = self.buf[end + 4 + length:]
            self.t.write(READY if head.startswith(b"get /v2/health/ready") else HEAD + BODY)


async def main(port):
    server = await asyncio.get_running_loop().create_server(Http, "127.0.0.1", port, backlog=1024)
    await server.serve_forever()

uvloop.run(main(int(sys.argv[1])))
"""

WRK_SCRIPT = """
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.body = '{"text": "what a lovely morning in the park"}'
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def pinned(cpus: set[int]):
    return lambda: os.sched_setaffinity(0, cpus)


def wait_ready(url: str) -> None:
    for _ in range(100):
        try:
            with urllib.request.urlopen(url + "/v2/health/ready", timeout=1) as response:
                if response.status == 200:
                    return
        except OSError:
            time.sleep(0.05)
    raise SystemExit("the trivial server did not start")


def run_wrk(url: str, users: int, duration: int, script: Path, cpus: set[int]) -> dict[str, float]:
    out = subprocess.run(
        ["wrk", "-t", "1", "-c", str(users), "-d", f"{duration}s", "--latency", "-s", str(script), url + "/predict"],
        capture_output=True, text=True, check=True, preexec_fn=pinned(cpus),
    ).stdout  # fmt: skip

    return parse_wrk(out)


def run_hsctl(url: str, users: int, duration: int, workers: int, cpus: set[int], work: Path) -> dict[str, float]:
    out = subprocess.run(
        [sys.executable, "-m", "hsctl", "loadtest", "--url", url, "--users", str(users), "--duration", f"{duration}s",
         "--warmup", "2s", "--workers", str(workers), "--output", str(work / f"hsctl-{workers}"), "--json"],
        capture_output=True, text=True, preexec_fn=pinned(cpus),
        env={k: v for k, v in os.environ.items() if not k.startswith("HSCTL_")},
    )  # fmt: skip
    if out.returncode != 0:
        raise SystemExit(f"hsctl loadtest failed: {out.stderr.strip()}")
    report = json.loads(out.stdout)
    client = report["client"]
    return {
        "rps": client["throughput_rps"],
        "p50_ms": client["latency_ms"]["p50"],
        "p99_ms": client["latency_ms"]["p99"],
        "errors": client["failures"],
        "cpu_percent": client["generator_cpu_percent"],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--duration", type=int, default=10, help="seconds per measurement")
    parser.add_argument("--users", type=int, default=64, help="concurrent connections / users")
    args = parser.parse_args()
    if not shutil.which("wrk"):
        raise SystemExit("needs wrk: sudo apt-get install wrk")
    cpus = sorted(os.sched_getaffinity(0))
    server_cpus = {cpus[0]}
    client_cpus = set(cpus[1:]) or server_cpus
    work = Path(tempfile.mkdtemp(prefix="hsctl-loadgen-"))
    (work / "server.py").write_text(TRIVIAL_SERVER)
    script = work / "post.lua"
    script.write_text(WRK_SCRIPT)
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    server = subprocess.Popen([sys.executable, str(work / "server.py"), str(port)], preexec_fn=pinned(server_cpus))
    try:
        wait_ready(url)
        run_wrk(url, args.users, 2, script, client_cpus)  # warm-up
        results = {"wrk (C, 1 thread)": run_wrk(url, args.users, args.duration, script, client_cpus)}
        results["hsctl loadtest (1 process)"] = run_hsctl(url, args.users, args.duration, 0, client_cpus, work)
        if len(client_cpus) > 1:
            name = f"hsctl loadtest --workers {len(client_cpus)}"
            results[name] = run_hsctl(url, args.users, args.duration, len(client_cpus), client_cpus, work)
    finally:
        server.terminate()
        server.wait(10)
        shutil.rmtree(work, ignore_errors=True)
    print(
        f"trivial endpoint on loopback, {args.users} connections/users, {args.duration}s each; "
        f"server on CPU {sorted(server_cpus)}, generators on CPU {sorted(client_cpus)}"
    )
    print("| generator | req/s | p50 ms | p99 ms |")
    print("| --- | --- | --- | --- |")
    for name, r in results.items():
        print(f"| {name} | {r['rps']:.0f} | {r['p50_ms']:.2f} | {r['p99_ms']:.2f} |")
    reference = results["wrk (C, 1 thread)"]["rps"]
    for name, r in results.items():
        if name.startswith("hsctl"):
            print(f"{name} / wrk: {r['rps'] / reference:.2f} (generator CPU {r['cpu_percent']:.0f}% of a core)")


if __name__ == "__main__":
    main()
