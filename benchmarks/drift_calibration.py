"""Drift calibration: false-alarm rate on unshifted samples, detection rate on hub-test-like shifted samples.

Both scenarios are drawn from the shared training file and compared as
``hsctl drift --reference train.csv --current test.csv`` would (files with
labels: all nine tests run):

- unshifted: 20 random splits into a 500-row current sample and the other
  rows as reference. At most 10% may be flagged (the false-alarm rate).
- shifted: 20 draws of ``balanced_holdout`` (500 rows, 50% hate, hate rows
  spread evenly over the categories, like the hub dataset's test split) with
  the remaining rows as reference. At least 90% must be flagged.

Features are computed once per distinct text with hsctl's own code (the
model's tokenizer for descriptors, the drift encoder, the model's P(hate)), then
every draw runs the same ``run_tests`` + Bonferroni verdict as ``hsctl drift``,
with the default drift settings and a different seed per draw.

    python benchmarks/drift_calibration.py --model artifacts/models/<run> [--draws 20]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import balanced_holdout, require_shared


class Features:
    """Per distinct raw tweet: descriptors, embedding and P(hate), computed by hsctl's drift code."""

    def __init__(self, tweets: list[str], model: Path, settings: Any) -> None:
        import numpy as np

        from hsctl.core.text import normalize_text
        from hsctl.drift.embed import TextEncoder, resolve_encoder
        from hsctl.drift.stats import load_tokenizer, text_descriptors
        from hsctl.inference import load_predictor
        from hsctl.models import read_model_info

        self.info = read_model_info(model)
        unique = sorted(set(tweets))
        self.row = {t: i for i, t in enumerate(unique)}
        texts = [normalize_text(t, settings.data.normalize) for t in unique]
        started = time.perf_counter()
        self.descriptors = text_descriptors(texts, load_tokenizer(model), settings.data.normalize)
        encoder_ref = resolve_encoder(settings.drift.encoder, model, self.info.version)
        encoder = TextEncoder(encoder_ref, batch_size=settings.inference.batch_size, threads=settings.inference.threads)
        self.embeddings = encoder.encode(texts)
        self.encoder = encoder_ref.describe()
        self.probabilities = load_predictor(model, "torch").predict_proba(texts)
        self.seconds = time.perf_counter() - started
        self.np = np

    def side(self, tweets: list[str], labels: Any) -> Any:
        from hsctl.drift.stats import Side

        idx = self.np.array([self.row[t] for t in tweets])
        return Side(
            descriptors={k: v[idx] for k, v in self.descriptors.items()},
            embeddings=self.embeddings[idx],
            probabilities=self.probabilities[idx],
            labels=self.np.asarray(labels, dtype="int64"),
        )


def verdict(features: Features, ref: Any, cur: Any, settings: Any, seed: int) -> dict[str, Any]:
    from hsctl.drift.stats import apply_bonferroni, run_tests

    cfg = settings.drift.model_copy(update={"seed": seed})
    tests = run_tests(
        features.side(list(ref.tweet), ref.label),
        features.side(list(cur.tweet), cur.label),
        cfg,
        threshold=features.info.threshold,
        labels=features.info.labels,
    )
    return apply_bonferroni(tests, cfg.alpha)


def main() -> None:
    import numpy as np
    import pandas as pd

    from hsctl.settings import load_settings

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", type=Path, required=True, help="a trained model folder")
    parser.add_argument("--draws", type=int, default=20)
    parser.add_argument("--current-rows", type=int, default=500, help="rows of each unshifted current sample")
    parser.add_argument("--workdir", type=Path, default=None)
    args = parser.parse_args()
    work = args.workdir or Path(tempfile.mkdtemp(prefix="hsctl-drift-calibration-"))
    settings = load_settings({"paths.artifacts": str(work / "artifacts")}).settings
    frame = pd.read_csv(require_shared(), keep_default_na=False)
    features = Features(list(frame.tweet), args.model, settings)
    print(
        f"features for {len(features.row):,} distinct texts in {features.seconds:.0f} s "
        f"({features.encoder['kind']} encoder {features.encoder['name']}, model {features.info.version})"
    )

    started = time.perf_counter()
    null_flags: list[bool] = []
    null_tests: Counter[str] = Counter()
    for draw in range(args.draws):
        order = np.random.default_rng(1000 + draw).permutation(len(frame))
        cur, ref = frame.iloc[order[: args.current_rows]], frame.iloc[order[args.current_rows :]]
        result = verdict(features, ref, cur, settings, seed=draw)
        null_flags.append(bool(result["drift"]))
        null_tests.update(result["drifted_tests"])
    shifted_flags: list[bool] = []
    shifted_tests: Counter[str] = Counter()
    for draw in range(args.draws):
        train_csv, test_csv = balanced_holdout(work / f"shifted-{draw}", per_class=250, seed=draw)
        ref, cur = (pd.read_csv(p, keep_default_na=False) for p in (train_csv, test_csv))
        result = verdict(features, ref, cur, settings, seed=draw)
        shifted_flags.append(bool(result["drift"]))
        shifted_tests.update(result["drifted_tests"])
    false_alarm = sum(null_flags) / len(null_flags)
    detection = sum(shifted_flags) / len(shifted_flags)
    print(f"{2 * args.draws} draws in {time.perf_counter() - started:.0f} s; workdir {work}")
    print(f"settings: {settings.drift.model_dump()}")
    print(f"unshifted tests flagged: {dict(null_tests) or 'none'}")
    print(f"shifted tests flagged: {dict(shifted_tests)}")
    print(
        f"false-alarm rate (unshifted, {args.current_rows} vs {len(frame) - args.current_rows} rows): "
        f"{sum(null_flags)}/{len(null_flags)} = {false_alarm:.0%} (target <= 10%) "
        f"{'PASS' if false_alarm <= 0.10 else 'FAIL'}"
    )
    print(
        f"detection rate (shifted like the hub test split, 500 rows, 50% hate): "
        f"{sum(shifted_flags)}/{len(shifted_flags)} = {detection:.0%} (target >= 90%) "
        f"{'PASS' if detection >= 0.90 else 'FAIL'}"
    )
    if false_alarm > 0.10 or detection < 0.90:
        raise SystemExit(1)


if __name__ == "__main__":
    main()
