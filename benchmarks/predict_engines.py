"""Throughput of ``hsctl predict`` on each engine in local mode, side by side on the same file.

Runs ``hsctl predict --engine local|ray|spark --backend onnx-int8`` as fresh
processes on one CSV resampled from the shared training file (in a temporary
folder), and prints rows/s end to end (start-up included) and the ratio to the
local engine. Ray and Spark run on this machine (Ray's local runtime, Spark's
``local[N]``) with one ONNX thread per worker and ``--workers`` workers; the local
engine gets the same number of threads. Engines whose extra is not installed
are skipped.

    python benchmarks/predict_engines.py --model artifacts/models/<run> --rows 4000 --workers 2
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import hsctl, require_shared


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", type=Path, required=True, help="model folder with onnx/model.int8.onnx")
    parser.add_argument("--rows", type=int, default=4000)
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--engines", default="local,ray,spark")
    args = parser.parse_args()
    import pandas as pd

    with tempfile.TemporaryDirectory(prefix="hsctl-engines-") as tmp:
        folder = Path(tmp)
        source = folder / "tweets.csv"
        frame = pd.read_csv(require_shared(), keep_default_na=False, dtype=str)
        frame.sample(n=args.rows, replace=True, random_state=0).to_csv(source, index=False)
        print(f"{args.rows:,} rows, model {args.model.name}, onnx-int8, {args.workers} worker(s)/thread(s)")
        print(f"{'engine':>7} {'rows/s':>8} {'seconds':>8} {'vs local':>9}")
        local_rate = None
        for engine in args.engines.split(","):
            if engine != "local" and importlib.util.find_spec("ray" if engine == "ray" else "pyspark") is None:
                print(f"{engine:>7} skipped: pip install 'hsctl[{engine}]'")
                continue
            output = folder / (f"{engine}.parquet" if engine != "local" else "local.csv")
            extra = ["--workers", str(args.workers)] if engine != "local" else []
            env = {"HSCTL_INFERENCE__THREADS": str(args.workers)} if engine == "local" else {}
            if engine == "spark":
                env["HSCTL_PREDICT__SPARK_MASTER"] = f"local[{args.workers}]"
            summary, seconds = hsctl(
                "predict", str(source), "-o", str(output), "--engine", engine, "--backend", "onnx-int8",
                "--model", str(args.model), *extra, cwd=folder, env=env,
            )  # fmt: skip
            rate = summary["rows"] / seconds
            local_rate = local_rate or (rate if engine == "local" else None)
            ratio = f"{rate / local_rate:.2f}x" if local_rate else "-"
            print(f"{engine:>7} {rate:>8.0f} {seconds:>8.1f} {ratio:>9}", flush=True)


if __name__ == "__main__":
    main()
