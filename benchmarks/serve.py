"""Serving benchmark: hsctl serve (ONNX int8, torch) against the naive one-request-per-inference app.

One run, same machine, same model, same real tweets, load from wrk (install it:
``apt-get install wrk``) on loopback at 1, 16 and 64 concurrent connections:

* ``hsctl serve --onnx`` (int8, micro-batching) and ``hsctl serve --backend torch``;
* the naive baseline written below: FastAPI, one ``async def`` endpoint that
  tokenises and runs the ONNX session per request, no batching (the usual
  tutorial design), once with the fp32 and once with the int8 model;
* the model's in-process int8 throughput at its best batch size, as the ceiling.

    python benchmarks/serve.py --model artifacts/models/<run> [--duration 15]
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
from pathlib import Path

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

WRK_SCRIPT = """
local bodies = {}
for line in io.lines(os.getenv("BODIES")) do bodies[#bodies + 1] = line end
local i = math.random(#bodies)
request = function()
  i = i % #bodies + 1
  return wrk.format("POST", "/predict", {["Content-Type"] = "application/json"}, bodies[i])
end
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_ready(url: str, proc: subprocess.Popen[bytes], timeout: float = 120) -> float:
    started = time.perf_counter()
    while time.perf_counter() - started < timeout:
        if proc.poll() is not None:
            raise SystemExit(f"server exited with {proc.returncode}")
        try:
            if httpx.post(url + "/predict", json={"text": "warm up"}, timeout=5).status_code == 200:
                return time.perf_counter() - started
        except httpx.HTTPError:
            pass
        time.sleep(0.05)
    raise SystemExit("server did not become ready")


def wrk(url: str, connections: int, duration: int, script: Path, bodies: Path) -> dict[str, float]:
    out = subprocess.run(
        ["wrk", "-t", "1", "-c", str(connections), "-d", f"{duration}s", "--timeout", "5s", "--latency",
         "-s", str(script), url],
        capture_output=True, text=True, env={**os.environ, "BODIES": str(bodies)}, check=True,
    ).stdout  # fmt: skip

    return parse_wrk(out)


def start(cmd: list[str], env: dict[str, str] | None = None) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env={**os.environ, **(env or {})}
    )


def ceiling(model: Path, threads: int | None) -> tuple[float, int]:
    from inference import rate

    from hsctl.inference import load_predictor

    best = (0.0, 0)
    texts = tweets(2048)
    for size in (8, 16, 32, 64):
        predictor = load_predictor(model, "onnx-int8", batch_size=size, threads=threads)
        best = max(best, (rate(predictor.logits, texts), size))
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", type=Path, required=True)
    parser.add_argument("--duration", type=int, default=15)
    parser.add_argument("--clients", default="1,16,64")
    parser.add_argument("--only", default="", help="run only servers whose name contains this text")
    args = parser.parse_args()
    if not shutil.which("wrk"):
        raise SystemExit("needs wrk: apt-get install wrk")
    work = Path(tempfile.mkdtemp(prefix="hsctl-serve-bench-"))
    bodies = work / "bodies.jsonl"
    bodies.write_text("\n".join(json.dumps({"text": t}) for t in tweets(5000)) + "\n")
    script = work / "post.lua"
    script.write_text(WRK_SCRIPT)
    (work / "naive_app.py").write_text(NAIVE_APP)
    onnx = args.model / "onnx"
    servers = {
        "hsctl serve --onnx (int8)": (["hsctl", "serve", "--onnx"], {}),
        "hsctl serve --backend torch": (["hsctl", "serve", "--backend", "torch"], {}),
        "naive FastAPI, fp32 ONNX": (["naive"], {"NAIVE_MODEL": str(onnx / "model.onnx")}),
        "naive FastAPI, int8 ONNX": (["naive"], {"NAIVE_MODEL": str(onnx / "model.int8.onnx")}),
    }
    clients = [int(c) for c in args.clients.split(",")]
    results: dict[str, dict[int, dict[str, float]]] = {}
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
            cmd = [
                sys.executable,
                "-m",
                "hsctl",
                *kind[1:],
                "--model",
                str(args.model),
                "--port",
                str(port),
                "--no-log",
            ]
        proc = start(cmd, env)
        url = f"http://127.0.0.1:{port}"
        try:
            ready[name] = wait_ready(url, proc)
            wrk(url, 8, 3, script, bodies)  # warm-up
            results[name] = {c: wrk(url, c, args.duration, script, bodies) for c in clients}
        finally:
            proc.terminate()
            proc.wait(30)
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
    print(f"in-process int8 ceiling: {best:.0f} samples/s at batch {size}")
    top = max(clients)
    if len(results) < len(servers):
        return
    ours = results["hsctl serve --onnx (int8)"][top]["rps"]
    for name in ("naive FastAPI, fp32 ONNX", "naive FastAPI, int8 ONNX"):
        print(f"hsctl --onnx / {name} at {top} clients: {ours / results[name][top]['rps']:.2f}x")
    print(f"hsctl --onnx at {top} clients / in-process ceiling: {ours / best:.0%}")
    lone = results["hsctl serve --onnx (int8)"][1]["p50_ms"] - results["naive FastAPI, int8 ONNX"][1]["p50_ms"]
    print(f"1 client p50, hsctl --onnx minus naive int8: {lone:+.2f} ms")
    print("start to first answered request (s): " + ", ".join(f"{k}: {v:.2f}" for k, v in ready.items()))


if __name__ == "__main__":
    main()
