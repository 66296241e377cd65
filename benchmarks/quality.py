"""Quality benchmark: training recipes over several seeds, scored in distribution and under shift.

For each recipe and seed, trains on the shared training file (hsctl's own seeded
split) and reports, as mean ± sd over the seeds:

* in-distribution validation: macro-F1 at the stored threshold, ROC-AUC;
* shift-aware estimates (training data only): category-balanced macro-F1 and ROC-AUC
  at the 50% deployment prior, implicit-hate recall, worst per-category recall;
* the behavioural suite's pass rate (hate and non-hate cases);
* wall time of ``hsctl train`` and, with ``--speed``, int8 inference speed of the first seed's model.

Recipes: ``default`` (the settings' defaults), ``baseline`` (the 0.1 default: MiniLM,
5 epochs, plain validation macro-F1 for checkpoint and threshold, no prior shift, no
calibration, no category weighting, nothing frozen), ``minilm`` (the default recipe on
MiniLM, the fast encoder). With ``--loco`` the default recipe also runs
``hsctl train --estimate-shift`` once (one training per category: slow).

    python benchmarks/quality.py [--recipes default baseline minilm] [--seeds 1 2 3] [--speed] [--loco]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import hsctl, require_shared

MINILM = "sentence-transformers/all-MiniLM-L6-v2"
RECIPES: dict[str, list[str]] = {
    "default": [],
    "baseline": [
        "--model", MINILM, "--epochs", "5", "--selection-metric", "macro_f1", "--target-prior", "0",
        "--category-weighting", "none", "--freeze-layers", "0",
    ],
    "minilm": ["--model", MINILM, "--epochs", "3"],
    "no-contrast": ["--no-contrast"],
    "minilm-no-contrast": ["--model", MINILM, "--epochs", "3", "--no-contrast"],
}  # fmt: skip
# The 0.1 recipe also had no calibration and no threshold bounds: set through the environment.
RECIPE_ENV: dict[str, dict[str, str]] = {
    "baseline": {"HSCTL_TRAIN__CALIBRATE": "false", "HSCTL_TRAIN__THRESHOLD_BOUNDS": "[0, 1]"},
}

COLUMNS = (
    ("val macro-F1", lambda r: r["validation_metrics"]["macro_f1"]),
    ("val ROC-AUC", lambda r: r["validation_metrics"]["roc_auc"]),
    ("balanced macro-F1", lambda r: r["shift_estimates"]["balanced_macro_f1"]),
    ("balanced ROC-AUC", lambda r: r["shift_estimates"]["balanced_roc_auc"]),
    ("implicit recall", lambda r: r["shift_estimates"]["implicit_hate_recall"]),
    ("worst category recall", lambda r: r["shift_estimates"]["worst_category_recall"]),
    ("suite pass rate", lambda r: (r.get("functional_suite") or {}).get("pass_rate")),
    ("suite hate / non-hate", None),
    ("contrast holdout macro-F1", lambda r: (r["shift_estimates"].get("contrast_holdout") or {}).get("macro_f1")),
    ("threshold", lambda r: r["threshold"]),
    ("train wall s", lambda r: r["_wall"]),
)


def mean_sd(values: list[float | None], digits: int = 3) -> str:
    """``mean ± sd`` of the defined values."""
    xs = [v for v in values if v is not None]
    if not xs:
        return "-"
    if len(xs) == 1:
        return f"{xs[0]:.{digits}f}"
    return f"{statistics.mean(xs):.{digits}f} ± {statistics.stdev(xs):.{digits}f}"


def suite_split(runs: list[dict[str, Any]]) -> str:
    hate = [(r.get("functional_suite") or {}).get("hate_pass_rate") for r in runs]
    non = [(r.get("functional_suite") or {}).get("non_hate_pass_rate") for r in runs]
    return f"{mean_sd(hate, 2)} / {mean_sd(non, 2)}"


def from_card(card: dict[str, Any], model_dir: Path) -> dict[str, Any]:
    """A finished run's numbers from its ``hsctl.json`` (for --resume); wall time is the trainer's."""
    keys = ("threshold", "validation_metrics", "shift_estimates", "functional_suite")
    return {k: card.get(k) for k in keys} | {"model_dir": str(model_dir), "_wall": card["training"]["train_time_s"]}


def int8_speed(work: Path, model_dir: str, texts: list[str]) -> dict[str, Any]:
    """Quantize a model and time int8 inference at batch 32 on real tweets (samples/s)."""
    from hsctl.inference import load_predictor

    hsctl("quantize", "--model", model_dir, "--force", cwd=work)
    predictor = load_predictor(Path(model_dir) if Path(model_dir).is_absolute() else work / model_dir, "onnx-int8")
    predictor.predict_proba(texts[:64])  # warm-up
    started = time.perf_counter()
    predictor.predict_proba(texts)
    return {"int8_samples_per_s": len(texts) / (time.perf_counter() - started)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--recipes", nargs="+", default=["default", "baseline"], choices=sorted(RECIPES))
    parser.add_argument("--seeds", nargs="+", type=int, default=[1, 2, 3])
    parser.add_argument("--workdir", type=Path, default=None)
    parser.add_argument("--speed", action="store_true", help="quantize the first seed's model and time int8")
    parser.add_argument("--loco", action="store_true", help="also run --estimate-shift for the default recipe")
    parser.add_argument("--results", type=Path, default=None, help="write every run's numbers as JSON here")
    parser.add_argument("--resume", action="store_true", help="reuse finished runs of an earlier call in --workdir")
    args = parser.parse_args()
    work = args.workdir or Path(tempfile.mkdtemp(prefix="hsctl-quality-"))
    work.mkdir(parents=True, exist_ok=True)
    hsctl("fetch", "--source", str(require_shared()), cwd=work)
    hsctl("preprocess", cwd=work)
    results: dict[str, list[dict[str, Any]]] = {}
    speed: dict[str, dict[str, Any]] = {}
    for recipe in args.recipes:
        for seed in args.seeds:
            name = f"{recipe}-s{seed}"
            card = work / "artifacts" / "models" / name / "hsctl.json"
            if args.resume and card.is_file():
                results.setdefault(recipe, []).append(from_card(json.loads(card.read_text()), card.parent))
                continue
            run, wall = hsctl("train", *RECIPES[recipe], "--seed", str(seed), "--run-name", name,
                              "--tracking", "none", cwd=work, env=RECIPE_ENV.get(recipe))  # fmt: skip
            run["_wall"] = wall
            results.setdefault(recipe, []).append(run)
            print(f"{name}: {json.dumps({k: run[k] for k in ('threshold', 'train_time_s')})} wall {wall:.0f} s",
                  file=sys.stderr)  # fmt: skip
        if args.speed and results.get(recipe):
            import pandas as pd

            texts = pd.read_csv(require_shared(), keep_default_na=False)["tweet"].astype(str).tolist()[:2000]
            speed[recipe] = int8_speed(work, results[recipe][0]["model_dir"], texts)
    loco = hsctl("train", "--estimate-shift", "--tracking", "none", cwd=work)[0] if args.loco else None

    print(f"workdir: {work}; seeds {args.seeds}; mean ± sd over seeds")
    header = "| recipe | " + " | ".join(name for name, _ in COLUMNS) + " |"
    print(header)
    print("| --- " * (len(COLUMNS) + 1) + "|")
    for recipe, runs in results.items():
        cells = [suite_split(runs) if get is None else mean_sd([get(r) for r in runs], 1 if name[-1] == "s" else 3)
                 for name, get in COLUMNS]  # fmt: skip
        print(f"| {recipe} | " + " | ".join(cells) + " |")
    for recipe, values in speed.items():
        print(f"{recipe}: int8 {values['int8_samples_per_s']:.0f} samples/s (batch 32, 2,000 real tweets)")
    if loco is not None:
        per = ", ".join(f"{k} {v['recall']:.2f}" for k, v in loco["per_category"].items())
        print(f"leave-one-category-out recall (default recipe): mean {loco['mean_recall']:.3f}, "
              f"worst {loco['worst_recall']:.3f} ({per})")  # fmt: skip
    if args.results:
        args.results.write_text(json.dumps({"runs": results, "speed": speed, "loco": loco}, indent=2, default=str))


if __name__ == "__main__":
    main()
