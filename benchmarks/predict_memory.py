"""Peak memory of ``hsctl predict`` against the input size: streaming chunks vs the whole file in one chunk.

Each run is a fresh ``hsctl predict`` process (peak RSS from the kernel), on a CSV
made by resampling the shared training file into a temporary folder. "streaming"
uses ``--chunk-rows 10000`` (the default); "one chunk" sets the chunk to the
whole file, which is what predict did before it streamed.

    python benchmarks/predict_memory.py --model artifacts/models/<run>        # an ONNX-exported model
    python benchmarks/predict_memory.py                                        # trains a tiny scratch model
    python benchmarks/predict_memory.py --rows 10000,100000,1000000 --whole-up-to 100000
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import require_shared

RUNNER = """
import json, resource, sys, time
from hsctl.predict import predict_file
from hsctl.settings import load_settings
model, backend, source, output, chunk = sys.argv[1:6]
settings = load_settings({"predict.chunk_rows": int(chunk), "predict.resume": False}).settings
started = time.perf_counter()
result = predict_file(settings, source, output=output, model=model, backend=backend, overwrite=True)
print(json.dumps({"rows": result.rows, "seconds": time.perf_counter() - started,
                  "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""


def make_input(rows: int, folder: Path, seed: int = 0) -> Path:
    """``rows`` tweets resampled (with replacement) from the shared training file."""
    import pandas as pd

    frame = pd.read_csv(require_shared(), keep_default_na=False, dtype=str)
    path = folder / f"tweets-{rows}.csv"
    frame.sample(n=rows, replace=True, random_state=seed).to_csv(path, index=False)
    return path


def tiny_model(folder: Path) -> Path:
    """A scratch model trained for one epoch on the demo set and exported to ONNX (fast, not accurate)."""
    from hsctl.fetch import fetch
    from hsctl.preprocess import preprocess
    from hsctl.quantize import quantize
    from hsctl.settings import load_settings
    from hsctl.train import train

    overrides = {
        "paths.artifacts": str(folder / "artifacts"),
        "train.model": "scratch",
        "train.epochs": 1,
        "train.run_name": "bench",
        "tracking.backend": "none",
    }
    settings = load_settings(overrides).settings
    fetch("demo", settings.data, settings.paths.raw_dir)
    preprocess(settings.data, settings.paths.raw_dir, settings.paths.processed_dir)
    model_dir = train(settings).model_dir
    quantize(settings, model=model_dir, force=True, measure=False)
    return model_dir


def run(model: Path, backend: str, source: Path, chunk: int) -> dict[str, float]:
    out = subprocess.run(
        [
            sys.executable,
            "-c",
            RUNNER,
            str(model),
            backend,
            str(source),
            str(source.with_suffix(".scored.csv")),
            str(chunk),
        ],
        capture_output=True,
        text=True,
        env={**os.environ, "HSCTL_INFERENCE__BATCH_SIZE": "64"},
    )
    if out.returncode != 0:
        raise SystemExit(out.stderr[-2000:])
    return dict(json.loads(out.stdout.strip().splitlines()[-1]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", type=Path, help="model folder with onnx/ (default: train a tiny scratch model)")
    parser.add_argument("--backend", default="onnx-int8")
    parser.add_argument("--rows", default="10000,100000,1000000")
    parser.add_argument("--whole-up-to", type=int, default=100_000, help="largest input also run as one chunk")
    parser.add_argument("--chunk-rows", type=int, default=10_000)
    args = parser.parse_args()
    sizes = [int(n) for n in args.rows.split(",")]
    with tempfile.TemporaryDirectory(prefix="hsctl-predict-memory-") as tmp:
        folder = Path(tmp)
        model = args.model or tiny_model(folder)
        print(f"model {model} ({args.backend}); peak RSS of a fresh hsctl predict process", flush=True)
        print(f"{'rows':>10} {'mode':>10} {'peak RSS MB':>12} {'rows/s':>9} {'MB vs 10k':>10}")
        base: dict[str, float] = {}
        for rows in sizes:
            source = make_input(rows, folder)
            modes = [("streaming", args.chunk_rows)] + ([("one chunk", rows)] if rows <= args.whole_up_to else [])
            for mode, chunk in modes:
                started = time.perf_counter()
                result = run(model, args.backend, source, chunk)
                base.setdefault(mode, result["peak_rss_mb"])
                print(
                    f"{rows:>10,} {mode:>10} {result['peak_rss_mb']:>12.0f} {rows / result['seconds']:>9.0f} "
                    f"{result['peak_rss_mb'] / base[mode]:>9.2f}x  ({time.perf_counter() - started:.0f}s)",
                    flush=True,
                )
            source.unlink()


if __name__ == "__main__":
    main()
