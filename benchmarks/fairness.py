"""Fair admission, measured: heavy clients sending the largest requests beside one light client.

Starts ``hsctl serve`` on 127.0.0.1 (one worker, a given model folder), then for
each mode runs three heavy clients (own source addresses 127.0.0.2-4, several
connections each, 64 texts a request, closed loop) and one light client
(127.0.0.5, one connection, one text a request) and prints, per client kind,
the share of requests answered 200 and shed 503, and the light client's latency.
``--mode before`` disables the per-client share (as before fair admission);
``after`` is the server as shipped. Linux only (source addresses on loopback).

    python benchmarks/fairness.py MODEL_DIR [--seconds 15] [--delay-ms 500] [--connections 16]
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import socket
import statistics
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

import httpx

HEAVY = ["127.0.0.2", "127.0.0.3", "127.0.0.4"]
LIGHT = "127.0.0.5"


def serve(model: str, port: int, delay_ms: float, fair: bool) -> None:
    """The server process: hsctl's app under uvicorn with hsctl serve's connection options."""
    import uvicorn

    from hsctl.serve.app import create_app
    from hsctl.serve.batching import MicroBatcher
    from hsctl.serve.connection import uvicorn_options
    from hsctl.settings import load_settings

    if not fair:
        MicroBatcher.over_share = lambda self, client, texts=1: False  # type: ignore[method-assign]
    overrides = {
        "paths.artifacts": tempfile.mkdtemp(prefix="hsctl-fairness-"),
        "serve.backend": "onnx-auto",
        "serve.log_predictions": False,
        "serve.max_queue_delay_ms": delay_ms,
    }
    settings = load_settings(overrides).settings
    app = create_app(settings, Path(model), own_process=True)
    uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning", **uvicorn_options(settings.serve))


async def client_loop(
    address: str, url: str, body: dict[str, Any], stop: float, counts: Counter[int], latencies: list[float]
) -> None:
    transport = httpx.AsyncHTTPTransport(local_address=address)
    async with httpx.AsyncClient(transport=transport, timeout=30) as c:
        while time.monotonic() < stop:
            started = time.perf_counter()
            try:
                r = await c.post(url, json=body)
                status = r.status_code
            except httpx.HTTPError:
                status = 0
            counts[status] += 1
            if status == 200:
                latencies.append(time.perf_counter() - started)


async def load(port: int, seconds: float, connections: int) -> dict[str, Any]:
    url = f"http://127.0.0.1:{port}/predict"
    heavy_body = {"texts": [f"a heavy client's text number {i} about nothing" for i in range(64)]}
    light_body = {"text": "a light client's one text"}
    stop = time.monotonic() + seconds
    heavy: Counter[int] = Counter()
    light: Counter[int] = Counter()
    heavy_lat: list[float] = []
    light_lat: list[float] = []
    loops = [client_loop(a, url, heavy_body, stop, heavy, heavy_lat) for a in HEAVY for _ in range(connections)]
    loops.append(client_loop(LIGHT, url, light_body, stop, light, light_lat))
    await asyncio.gather(*loops)

    def summary(counts: Counter[int], lat: list[float], texts: int) -> dict[str, Any]:
        total = sum(counts.values()) or 1
        q = statistics.quantiles(lat, n=100) if len(lat) >= 2 else [float("nan")] * 99
        return {
            "requests": sum(counts.values()),
            "texts_per_s": round(counts[200] * texts / seconds),
            "ok": round(counts[200] / total, 3),
            "shed": round(counts[503] / total, 3),
            "other": {k: v for k, v in counts.items() if k not in (200, 503)},
            "p50_ms": round(q[49] * 1000, 1),
            "p99_ms": round(q[98] * 1000, 1),
        }

    return {"heavy": summary(heavy, heavy_lat, 64), "light": summary(light, light_lat, 1)}


def wait_ready(port: int, limit_s: float = 60) -> None:
    deadline = time.monotonic() + limit_s
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/v2/health/ready", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise SystemExit("the server did not become ready")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("model", help="a model folder with onnx/ (e.g. a tiny test model)")
    parser.add_argument("--seconds", type=float, default=15.0)
    parser.add_argument("--delay-ms", type=float, default=500.0, help="serve.max_queue_delay_ms")
    parser.add_argument("--connections", type=int, default=16, help="connections per heavy client")
    parser.add_argument("--mode", choices=["before", "after", "both"], default="both")
    args = parser.parse_args()
    modes = ["before", "after"] if args.mode == "both" else [args.mode]
    for mode in modes:
        port = free_port()
        server = multiprocessing.get_context("spawn").Process(
            target=serve, args=(args.model, port, args.delay_ms, mode == "after"), daemon=True
        )
        server.start()
        try:
            wait_ready(port)
            result = asyncio.run(load(port, args.seconds, args.connections))
        finally:
            server.terminate()
            server.join(10)
        print(mode, result, flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
