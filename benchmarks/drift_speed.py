"""Drift speed: ``hsctl drift`` on a 10,000-record prediction log against the 5,679-row shared training file.

The log is written in the format of ``hsctl serve`` (texts drawn with
replacement from the shared file, P(hate) from the model; writing it is not
timed). Times the whole ``hsctl drift --json`` process twice: cold (nothing
cached: the reference is embedded and scored) and warm (reference embeddings
and predictions reused from ``<artifacts>/cache/drift``).

    python benchmarks/drift_speed.py --model artifacts/models/<run> [--rows 10000]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import hsctl, require_shared


def write_log(model: Path, logs: Path, rows: int, seed: int = 0) -> None:
    import numpy as np
    import pandas as pd

    from hsctl.core.text import normalize_text
    from hsctl.inference import load_predictor
    from hsctl.serve.predlog import text_field

    tweets = [t for t in pd.read_csv(require_shared(), keep_default_na=False)["tweet"] if t.strip()]
    picks = np.random.default_rng(seed).integers(0, len(tweets), rows)
    unique = sorted(set(picks.tolist()))
    predictor = load_predictor(model, "torch")
    probs = dict(zip(unique, predictor.predict_proba([normalize_text(tweets[i]) for i in unique]), strict=True))
    logs.mkdir(parents=True, exist_ok=True)
    start = datetime(2026, 11, 1, tzinfo=UTC)
    half = rows // 2
    for part, chunk in enumerate((picks[:half], picks[half:]), start=1):  # two files, as after a rotation
        with open(logs / f"predictions-20261101T000000-1-{part:04d}.jsonl", "w", encoding="utf-8") as fh:
            for j, i in enumerate(chunk):
                p = float(probs[int(i)])
                record = {
                    "time": (start + timedelta(seconds=(part - 1) * half + j)).isoformat(timespec="milliseconds"),
                    "request_id": f"r{part}-{j}",
                    "index": 0,
                    "endpoint": "/predict",
                    **text_field(tweets[int(i)], "text"),
                    "hate_probability": round(p, 6),
                    "label": predictor.info.labels[int(p >= predictor.threshold)],
                    "threshold": predictor.threshold,
                    "model_version": predictor.model_version,
                    "latency_ms": 3.0,
                }
                fh.write(json.dumps(record) + "\n")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", type=Path, required=True, help="a trained model folder")
    parser.add_argument("--rows", type=int, default=10_000, help="log records (current rows)")
    parser.add_argument("--workdir", type=Path, default=None)
    args = parser.parse_args()
    work = args.workdir or Path(tempfile.mkdtemp(prefix="hsctl-drift-speed-"))
    artifacts = work / "artifacts"
    write_log(args.model, artifacts / "predictions", args.rows)
    shared = require_shared()
    command = ("drift", "--reference", str(shared), "--model", str(args.model), "--artifacts", str(artifacts))
    env = {"HF_HUB_OFFLINE": "1"}
    results = []
    for label in ("cold (no cache)", "warm (reference cached)"):
        report, wall = hsctl(*command, cwd=work, env=env)
        results.append((label, wall, report))
    print(f"workdir: {work}; cpus: {os.cpu_count()}; load average: {os.getloadavg()[0]:.2f}")
    report = results[0][2]
    print(
        f"current: {report['current']['rows']:,} log records ({report['current']['with_text']:,} with text); "
        f"reference: {report['reference']['rows']:,} rows, {report['reference']['prediction_rows']:,} scored "
        f"({report['model']['backend']}); embedded per side: {report['encoder']['reference_rows']:,} / "
        f"{report['encoder']['current_rows']:,} ({report['encoder']['kind']} encoder)"
    )
    print("| run | wall s (process) | drift() s | load | descriptors | embeddings | predictions | tests | report |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    for label, wall, rep in results:
        t = rep["timings_s"]
        print(
            f"| {label} | {wall:.1f} | {rep['elapsed_s']:.1f} | {t['load']:.1f} | {t['descriptors']:.1f} | "
            f"{t['embeddings']:.1f} | {t['predictions']:.1f} | {t['tests']:.1f} | {t['report']:.1f} |"
        )
    print(f"verdict: {report['verdict']['status']} ({', '.join(report['verdict']['drifted_tests']) or 'none'})")


if __name__ == "__main__":
    main()
