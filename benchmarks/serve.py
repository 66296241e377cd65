"""Serving benchmark: hsctl serve (ONNX int8, torch) against the naive one-request-per-inference app,
then hsctl serve under overload and under a poison mix.

One run, same machine, same model, same real tweets, load from wrk (install it:
``apt-get install wrk``) on loopback:

* at 1, 16 and 64 concurrent connections: ``hsctl serve --onnx`` (int8,
  micro-batching), ``hsctl serve --backend torch``, and the naive baseline written
  below (FastAPI, one ``async def`` endpoint that tokenises and runs the ONNX
  session per request, no batching: the usual tutorial design), once with the fp32
  and once with the int8 model;
* overload: ``hsctl serve --onnx`` with its default settings at 512 connections,
  with 1 and with 8 texts per request: p50/p99 latency of the accepted (200)
  requests, the share of 503s, and goodput (texts answered 200 per second) against
  the same request mix at 64 connections;
* poison mix at 64 connections, prediction log on: 10% of the requests hold a text
  that is not valid Unicode (a lone surrogate, alone, inside a URL, or as one of 8
  texts); every other request must be answered 200, the poisoned ones 422, the log
  must hold every answered text and count no drop, and readiness must stay green;
* the model's in-process int8 throughput at its best batch size, as the ceiling.

Latency per status comes from the wrk script itself: each request carries its send
time in ``X-Request-ID``, which the server echoes on its answers.

    python benchmarks/serve.py --model artifacts/models/<run> [--duration 15] [--only hsctl]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import parse_wrk
from inference import tweets

NAIVE_APP = """
import os
import numpy as np
import onnxruntime as ort
from fastapi import FastAPI
from pydantic import BaseModel
from tokenizers import Tokenizer

MODEL = os.environ["NAIVE_MODEL"]
tokenizer = Tokenizer.from_file(os.environ["NAIVE_TOKENIZER"])
tokenizer.enable_truncation(max_length=64)
session = ort.InferenceSession(MODEL, providers=["CPUExecutionProvider"])
names = {i.name for i in session.get_inputs()}
app = FastAPI()


class Item(BaseModel):
    text: str


@app.post("/predict")
async def predict(item: Item):
    enc = tokenizer.encode(item.text)
    feed = {
        "input_ids": np.array([enc.ids], dtype=np.int64),
        "attention_mask": np.array([enc.attention_mask], dtype=np.int64),
        "token_type_ids": np.array([enc.type_ids], dtype=np.int64),
    }
    logits = session.run(None, {k: v for k, v in feed.items() if k in names})[0][0]
    p = float(np.exp(logits[1]) / np.exp(logits).sum())
    return {"label": "hate" if p >= 0.5 else "non-hate", "hate_probability": p}
"""

# Each line of BODIES is "<texts in the request>\t<JSON body>". The send time (µs, monotonic) and the
# text count travel in X-Request-ID; hsctl echoes it on its answers, so latency is known per status.
WRK_SCRIPT = """
local ffi = require("ffi")
ffi.cdef[[
typedef struct { long tv_sec; long tv_nsec; } hsctl_timespec;
int clock_gettime(int clk_id, hsctl_timespec *tp);
]]
local ts = ffi.new("hsctl_timespec")
local function now_us()
  ffi.C.clock_gettime(1, ts)
  return tonumber(ts.tv_sec) * 1000000 + math.floor(tonumber(ts.tv_nsec) / 1000)
end

local bodies, sizes = {}, {}
for line in io.lines(os.getenv("BODIES")) do
  local n, body = line:match("^(%d+)\\t(.*)$")
  bodies[#bodies + 1] = body
  sizes[#sizes + 1] = n
end
local i = math.random(#bodies)
local threads = {}
latencies, counts, texts_ok = {}, {}, 0

setup = function(thread) threads[#threads + 1] = thread end

request = function()
  i = i % #bodies + 1
  local headers = {["Content-Type"] = "application/json",
                   ["X-Request-ID"] = string.format("%d-%s", now_us(), sizes[i])}
  return wrk.format("POST", "/predict", headers, bodies[i])
end

response = function(status, headers, body)
  counts[status] = (counts[status] or 0) + 1
  local rid = headers["x-request-id"] or headers["X-Request-ID"]
  if status == 200 and rid then
    local sent, n = rid:match("^(%d+)-(%d+)$")
    if sent then
      latencies[#latencies + 1] = now_us() - tonumber(sent)
      texts_ok = texts_ok + tonumber(n)
    end
  end
end

done = function(summary, latency, requests)
  local all, statuses, ok_texts = {}, {}, 0
  for _, thread in ipairs(threads) do
    for _, v in ipairs(thread:get("latencies")) do all[#all + 1] = v end
    for k, v in pairs(thread:get("counts")) do statuses[tostring(k)] = (statuses[tostring(k)] or 0) + v end
    ok_texts = ok_texts + thread:get("texts_ok")
  end
  table.sort(all)
  local function pct(p)
    if #all == 0 then return -1 end
    return all[math.max(1, math.ceil(#all * p))] / 1000
  end
  local parts = {}
  for k, v in pairs(statuses) do parts[#parts + 1] = string.format('"%s": %d', k, v) end
  io.write(string.format(
    'HSCTL_STATS {"seconds": %.3f, "ok_p50_ms": %.2f, "ok_p99_ms": %.2f, "ok_max_ms": %.2f, '
      .. '"ok_texts": %d, "timeouts": %d, "statuses": {%s}}\\n',
    summary.duration / 1e6, pct(0.5), pct(0.99), pct(1.0), ok_texts, summary.errors.timeout,
    table.concat(parts, ", ")))
end
"""

POISONS = [
    "\\ud800",
    "what a day \\udfff, honestly",
    "look at this https://example.org/\\ud83d now",
]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_ready(url: str, proc: subprocess.Popen[bytes], timeout: float = 180) -> float:
    started = time.perf_counter()
    last = "no answer"
    while time.perf_counter() - started < timeout:
        if proc.poll() is not None:
            raise SystemExit(f"server {proc.args} exited with {proc.returncode}")
        try:
            response = httpx.post(url + "/predict", json={"text": "warm up"}, timeout=5)
            if response.status_code == 200:
                return time.perf_counter() - started
            last = f"{response.status_code} {response.text[:200]}"
        except httpx.HTTPError as exc:
            last = repr(exc)
        time.sleep(0.05)
    proc.kill()
    raise SystemExit(f"server {proc.args} did not become ready in {timeout:.0f} s (last: {last})")


def wrk(url: str, connections: int, duration: int, script: Path, bodies: Path) -> dict[str, Any]:
    out = subprocess.run(
        ["wrk", "-t", "1", "-c", str(connections), "-d", f"{duration}s", "--timeout", "5s", "--latency",
         "-s", str(script), url],
        capture_output=True, text=True, env={**os.environ, "BODIES": str(bodies)}, check=True,
    ).stdout  # fmt: skip
    result: dict[str, Any] = dict(parse_wrk(out))
    for line in out.splitlines():
        if line.startswith("HSCTL_STATS "):
            stats = json.loads(line.split(" ", 1)[1])
            result.update(stats)
            result["goodput"] = stats["ok_texts"] / stats["seconds"]
            total = sum(stats["statuses"].values())
            result["shed_share"] = stats["statuses"].get("503", 0) / total if total else 0.0
    return result


def start(cmd: list[str], env: dict[str, str] | None = None) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env={**os.environ, **(env or {})}
    )


def ceiling(model: Path, threads: int | None) -> tuple[float, str]:
    """The model's best in-process int8 throughput: one call at a time on every core, or one
    single-threaded call per core at the same time, at the best batch size; texts sorted by length
    over the whole set (less padding than any server sees), so it is an upper bound."""
    from concurrent.futures import ThreadPoolExecutor

    from inference import rate

    from hsctl.core.env import usable_cpus
    from hsctl.inference import load_predictor

    best = (0.0, "")
    texts = tweets(2048)
    cores = usable_cpus() or 1
    for size in (4, 8, 16, 32, 64):
        predictor = load_predictor(model, "onnx-int8", batch_size=size, threads=threads)
        best = max(best, (rate(predictor.logits, texts), f"batch {size}, 1 call on {threads or cores} threads"))
    if cores > 1:
        pool = ThreadPoolExecutor(cores)
        for size in (4, 8, 16, 32):
            single = load_predictor(model, "onnx-int8", batch_size=size, threads=1)

            def concurrent(items: list[str], single: Any = single) -> None:
                share = -(-len(items) // cores)
                list(pool.map(single.logits, [items[i : i + share] for i in range(0, len(items), share)]))

            best = max(best, (rate(concurrent, texts), f"batch {size}, {cores} single-threaded calls at once"))
        pool.shutdown()
    return best


def write_bodies(path: Path, texts: list[str], per_request: int, poison_every: int = 0) -> None:
    """One body per line, prefixed with its text count; every ``poison_every``-th request is poisoned."""
    lines = []
    for n, start_at in enumerate(range(0, len(texts) - per_request, per_request)):
        group = texts[start_at : start_at + per_request]
        poisoned = poison_every and n % poison_every == poison_every - 1
        if per_request == 1:
            body = json.dumps({"text": group[0]})
            if poisoned:
                body = '{"text": "' + POISONS[(n // poison_every) % len(POISONS)] + '"}'
        else:
            items = [json.dumps(t) for t in group]
            if poisoned:
                items[n % per_request] = '"' + POISONS[(n // poison_every) % len(POISONS)] + '"'
            body = '{"texts": [' + ", ".join(items) + "]}"
        lines.append(f"{len(group)}\t{body}")
    path.write_text("\n".join(lines) + "\n")


def hsctl_server(model: Path, *extra: str, env: dict[str, str] | None = None) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    cmd = [sys.executable, "-m", "hsctl", "serve", "--onnx", "--model", str(model), "--port", str(port), *extra]
    proc = start(cmd, env)
    url = f"http://127.0.0.1:{port}"
    wait_ready(url, proc)
    return proc, url


def stop(proc: subprocess.Popen[bytes]) -> None:
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(60)
    except subprocess.TimeoutExpired:
        proc.kill()


def overload_runs(model: Path, work: Path, script: Path, texts: list[str], duration: int) -> dict[str, Any]:
    """64 and 512 connections, 1 and 8 texts per request, default settings."""
    out: dict[str, Any] = {}
    for per_request in (1, 8):
        bodies = work / f"bodies-{per_request}.tsv"
        write_bodies(bodies, texts, per_request)
        proc, url = hsctl_server(model, "--no-log")
        try:
            wrk(url, 16, 3, script, bodies)  # warm-up
            for connections in (64, 512):
                out[f"{per_request}x{connections}"] = wrk(url, connections, duration, script, bodies)
        finally:
            stop(proc)
    return out


def poison_run(model: Path, work: Path, script: Path, texts: list[str], duration: int) -> dict[str, Any]:
    """64 connections, 10% poisoned requests (1 and 8 texts), prediction log on."""
    bodies = work / "bodies-poison.tsv"
    singles, eights = work / "p1.tsv", work / "p8.tsv"
    write_bodies(singles, texts, 1, poison_every=10)
    write_bodies(eights, texts[: len(texts) // 2], 8, poison_every=10)
    bodies.write_text(singles.read_text() + eights.read_text())
    log_dir = work / "predictions"
    proc, url = hsctl_server(model, "--log-url", str(log_dir))
    try:
        wrk(url, 8, 2, script, bodies)  # warm-up (its texts are logged too)
        result = wrk(url, 64, duration, script, bodies)
        metrics = httpx.get(url + "/metrics", timeout=10).text
        result["ready_after"] = httpx.get(url + "/v2/health/ready", timeout=10).status_code
        result["log_dropped"] = sum(
            float(line.rsplit(" ", 1)[1])
            for line in metrics.splitlines()
            if line.startswith("hsctl_prediction_log_dropped_total")
        )
        result["answered_texts_server"] = sum(
            float(line.rsplit(" ", 1)[1]) for line in metrics.splitlines() if line.startswith("hsctl_predictions_total")
        )
    finally:
        stop(proc)
    result["log_lines"] = sum(len(f.read_text().splitlines()) for f in log_dir.glob("*.jsonl"))
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", type=Path, required=True)
    parser.add_argument("--duration", type=int, default=15)
    parser.add_argument("--clients", default="1,16,64")
    parser.add_argument("--only", default="", help="run only servers whose name contains this text")
    parser.add_argument("--skip-adversity", action="store_true", help="skip the overload and poison-mix runs")
    args = parser.parse_args()
    if not shutil.which("wrk"):
        raise SystemExit("needs wrk: apt-get install wrk")
    work = Path(tempfile.mkdtemp(prefix="hsctl-serve-bench-"))
    texts = tweets(5000)
    bodies = work / "bodies.tsv"
    write_bodies(bodies, texts, 1)
    script = work / "post.lua"
    script.write_text(WRK_SCRIPT)
    (work / "naive_app.py").write_text(NAIVE_APP)
    onnx = args.model / "onnx"
    servers = {
        "hsctl serve --onnx (int8)": (["hsctl", "serve", "--onnx"], {}),
        "hsctl serve --onnx --lanes 1": (["hsctl", "serve", "--onnx"], {"HSCTL_SERVE__BATCH_LANES": "1"}),
        "hsctl serve --onnx --workers 2": (["hsctl", "serve", "--onnx"], {"HSCTL_SERVE__WORKERS": "2"}),
        "hsctl serve --backend torch": (["hsctl", "serve", "--backend", "torch"], {}),
        "naive FastAPI, fp32 ONNX": (["naive"], {"NAIVE_MODEL": str(onnx / "model.onnx")}),
        "naive FastAPI, int8 ONNX": (["naive"], {"NAIVE_MODEL": str(onnx / "model.int8.onnx")}),
    }
    clients = [int(c) for c in args.clients.split(",")]
    results: dict[str, dict[int, dict[str, Any]]] = {}
    ready: dict[str, float] = {}
    for name, (kind, env) in servers.items():
        if args.only not in name:
            continue
        port = free_port()
        if kind[0] == "naive":
            cmd = [sys.executable, "-m", "uvicorn", "naive_app:app", "--port", str(port), "--log-level", "warning",
                   "--no-access-log", "--app-dir", str(work)]  # fmt: skip
            env = {**env, "NAIVE_TOKENIZER": str(onnx / "tokenizer.json")}
        else:
            cmd = [sys.executable, "-m", "hsctl", *kind[1:], "--model", str(args.model), "--port", str(port)]
            cmd.append("--no-log")
        proc = start(cmd, env)
        url = f"http://127.0.0.1:{port}"
        try:
            ready[name] = wait_ready(url, proc)
            wrk(url, 8, 3, script, bodies)  # warm-up
            results[name] = {c: wrk(url, c, args.duration, script, bodies) for c in clients}
        finally:
            proc.terminate()
            proc.wait(30)
    adversity = {} if args.skip_adversity else overload_runs(args.model, work, script, texts, args.duration)
    poison = {} if args.skip_adversity else poison_run(args.model, work, script, texts, args.duration)
    best, size = ceiling(args.model, None)

    print(f"wrk, {args.duration}s per level, real tweets, model {args.model}")
    print("| server | clients | req/s | p50 ms | p99 ms | non-2xx | timeouts |")
    print("| --- | --- | --- | --- | --- | --- | --- |")
    for name, by_clients in results.items():
        for c, r in by_clients.items():
            print(
                f"| {name} | {c} | {r['rps']:.0f} | {r['p50_ms']:.1f} | {r['p99_ms']:.1f} | "
                f"{r['errors']:.0f} | {r['timeouts']:.0f} |"
            )
    print(f"in-process int8 ceiling: {best:.0f} samples/s ({size})")
    ours_name = "hsctl serve --onnx (int8)"
    for name in (ours_name, "hsctl serve --onnx --lanes 1", "hsctl serve --onnx --workers 2"):
        if name not in results or 64 not in results[name]:
            continue
        r = results[name][64]
        good = r["rps"] / best >= 0.8 and r["p99_ms"] < 150 and r["errors"] + r["timeouts"] == 0
        verdict = "met" if good else "MISSED"
        print(
            f"{name} at 64 clients: {r['rps']:.0f} req/s = {r['rps'] / best:.0%} of the in-process ceiling, "
            f"p99 {r['p99_ms']:.1f} ms, errors {r['errors'] + r['timeouts']:.0f} "
            f"(target: >= 80%, p99 < 150 ms, no errors: {verdict})"
        )
    # Little's law: 64 closed-loop clients at throughput X wait 64 / X on average, so even a server at the
    # ceiling cannot answer faster than this on this machine; p99 is above the mean.
    print(f"Little's law floor at 64 clients: mean latency >= 64 / {best:.0f} = {64 / best * 1000:.0f} ms")
    if adversity:
        print()
        print("overload, hsctl serve --onnx with default settings (503 = shed; goodput = texts answered 200 per s)")
        print("| texts/request | connections | accepted p50 ms | accepted p99 ms | accepted max ms | 503 share | "
              "goodput texts/s | goodput vs 64 conns | timeouts |")  # fmt: skip
        print("| --- | --- | --- | --- | --- | --- | --- | --- | --- |")
        for per_request in (1, 8):
            base = adversity[f"{per_request}x64"]["goodput"]
            for connections in (64, 512):
                r = adversity[f"{per_request}x{connections}"]
                print(
                    f"| {per_request} | {connections} | {r['ok_p50_ms']:.1f} | {r['ok_p99_ms']:.1f} | "
                    f"{r['ok_max_ms']:.1f} | {r['shed_share']:.1%} | {r['goodput']:.0f} | "
                    f"{r['goodput'] / base:.0%} | {r['timeouts']:.0f} |"
                )
        worst_p99 = max(adversity[f"{n}x512"]["ok_p99_ms"] for n in (1, 8))
        worst_ratio = min(adversity[f"{n}x512"]["goodput"] / adversity[f"{n}x64"]["goodput"] for n in (1, 8))
        verdict = "met" if worst_p99 <= 1000 and worst_ratio >= 0.7 else "MISSED"
        print(f"512 connections: worst accepted p99 {worst_p99:.0f} ms, worst goodput ratio {worst_ratio:.0%} "
              f"(target: p99 <= 1000 ms, goodput >= 70% of 64 connections: {verdict})")  # fmt: skip
    if poison:
        statuses = poison["statuses"]
        print()
        print("poison mix, 64 connections, 10% of requests hold a lone surrogate, prediction log on")
        print("| requests | 200 | 422 | 503 | other | 200 p50 ms | 200 p99 ms | texts answered/s | log lines | "
              "texts answered (server) | log drops | ready after |")  # fmt: skip
        print("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |")
        other = sum(v for k, v in statuses.items() if k not in ("200", "422", "503"))
        print(
            f"| {sum(statuses.values())} | {statuses.get('200', 0)} | {statuses.get('422', 0)} | "
            f"{statuses.get('503', 0)} | {other} | "
            f"{poison['ok_p50_ms']:.1f} | {poison['ok_p99_ms']:.1f} | {poison['goodput']:.0f} | "
            f"{poison['log_lines']} | {poison['answered_texts_server']:.0f} | {poison['log_dropped']:.0f} | "
            f"{poison['ready_after']} |"
        )
    top = max(clients)
    if len(results) < len(servers):
        return
    ours = results[ours_name][top]["rps"]
    for name in ("naive FastAPI, fp32 ONNX", "naive FastAPI, int8 ONNX"):
        print(f"hsctl --onnx / {name} at {top} clients: {ours / results[name][top]['rps']:.2f}x")
    lone = results[ours_name][1]["p50_ms"] - results["naive FastAPI, int8 ONNX"][1]["p50_ms"]
    print(f"1 client p50, hsctl --onnx minus naive int8: {lone:+.2f} ms")
    print("start to first answered request (s): " + ", ".join(f"{k}: {v:.2f}" for k, v in ready.items()))


if __name__ == "__main__":
    main()
