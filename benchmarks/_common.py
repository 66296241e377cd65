"""Helpers shared by the benchmark scripts (not part of the package)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
SHARED_TRAIN = ROOT.parent / "shared" / "data" / "hate_speech_twitter" / "train.csv"


def hsctl(*args: str, cwd: Path, env: dict[str, str] | None = None) -> tuple[dict[str, Any], float]:
    """Run ``hsctl ... --json`` and return its JSON object and wall time; stderr passes through."""
    started = time.perf_counter()
    out = subprocess.run(
        [sys.executable, "-m", "hsctl", *args, "--json"],
        cwd=cwd,
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, **(env or {})},
    )
    elapsed = time.perf_counter() - started
    if out.returncode not in (0, 3):
        raise SystemExit(f"hsctl {' '.join(args)} failed with exit code {out.returncode}")
    return json.loads(out.stdout), elapsed


def require_shared() -> Path:
    """The shared training file, or exit with a clear message."""
    if not SHARED_TRAIN.is_file():
        raise SystemExit(f"needs the shared training file at {SHARED_TRAIN}")
    return SHARED_TRAIN


def balanced_holdout(workdir: Path, per_class: int = 250, seed: int = 0) -> tuple[Path, Path]:
    """Split the shared file into train.csv and a test.csv drawn like the hub test split.

    The test split is balanced (``per_class`` hate and non-hate rows) with the hate
    rows spread evenly over every category, as in the hub dataset's 1,000-row test split.
    """
    import numpy as np
    import pandas as pd

    frame = pd.read_csv(require_shared(), keep_default_na=False)
    rng = np.random.default_rng(seed)
    hate, non_hate = frame[frame.label == 1], frame[frame.label == 0]
    categories = sorted(hate.categories.unique())
    picks: list[int] = []
    for category in categories:
        group = hate[hate.categories == category]
        picks += list(rng.choice(group.index, size=min(per_class // len(categories), len(group)), replace=False))
    rest = hate.drop(picks)
    picks += list(rng.choice(rest.index, size=per_class - len(picks), replace=False))
    picks += list(rng.choice(non_hate.index, size=per_class, replace=False))
    data = workdir / "data"
    data.mkdir(parents=True, exist_ok=True)
    frame.loc[picks].to_csv(data / "test.csv", index=False)
    frame.drop(picks).to_csv(data / "train.csv", index=False)
    return data / "train.csv", data / "test.csv"


def parse_wrk(out: str) -> dict[str, float]:
    """Requests/s, p50/p99 latency (ms), timeouts and non-2xx counts from ``wrk --latency`` output."""
    import re

    def latency(pct: str) -> float:
        match = re.search(rf"^\s+{pct}%\s+([\d.]+)(us|ms|s)\s*$", out, re.M)
        if not match:
            return float("nan")
        value, unit = float(match.group(1)), match.group(2)
        return value / 1000 if unit == "us" else value * 1000 if unit == "s" else value

    rps = re.search(r"Requests/sec:\s+([\d.]+)", out)
    timeouts = re.search(r"timeout (\d+)", out)
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    return {
        "rps": float(rps.group(1)) if rps else float("nan"),
        "p50_ms": latency("50"),
        "p99_ms": latency("99"),
        "timeouts": float(timeouts.group(1)) if timeouts else 0.0,
        "errors": float(non2xx.group(1)) if non2xx else 0.0,
    }
