"""Sweep benchmark: a small Optuna study on the shared training file, then its best recipe vs the default.

1. ``hsctl fetch`` + ``hsctl preprocess`` of the shared training file, or of a stratified sample of
   ``--rows`` of its rows (hsctl's seeded split);
2. ``hsctl sweep`` with a time budget (TPE, median pruning, objective: the shift-aware score),
   every trial a real training run with seed 42;
3. ``hsctl train --params-from-sweep`` (the study's best) and the default recipe, each retrained
   with fresh seeds, side by side: shift-aware score (category-balanced macro-F1 at prior 0.5),
   validation macro-F1, implicit-hate recall, worst category recall, wall time.

The retrained models are scored on the same validation split the sweep selected on, with
other seeds: the sweep's own trial values are optimistic, the retrains much less so, but a
held-out check (``hsctl evaluate``) is still the final word.

The default base model (all-mpnet-base-v2) takes 10–20 minutes per epoch on 2 CPU cores, so
by default both recipes use all-MiniLM-L6-v2 (``--model``): the comparison is recipe against
recipe on the same encoder. On 2 shared cores MiniLM trains at 5–70 samples/s depending on the
load, so the default also caps the data at 1,000 rows (``--rows 0``: the whole file).

    python benchmarks/sweep.py [--timeout 12m] [--trials 8] [--rows 1000] [--max-epochs 2] [--seeds 1 2]
                               [--model ID] [--workdir DIR]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import hsctl, require_shared

MINILM = "sentence-transformers/all-MiniLM-L6-v2"
# The default search space, narrowed to what fits the budget and to MiniLM's six layers.
SPACE = """
[sweep.space.learning_rate]
type = "float"
low = 2e-5
high = 3e-4
log = true
[sweep.space.epochs]
{epochs}
[sweep.space.batch_size]
type = "categorical"
choices = [16, 32]
[sweep.space.weight_decay]
type = "float"
low = 0.0
high = 0.1
[sweep.space.warmup_ratio]
type = "float"
low = 0.0
high = 0.2
[sweep.space.freeze_layers]
type = "int"
low = 0
high = 4
step = 2
[sweep.space.class_weights]
type = "categorical"
choices = [true, false]
[sweep.space.category_weighting]
type = "categorical"
choices = ["none", "sqrt", "balanced"]
"""
COLUMNS = (
    ("shift-aware score", lambda r: r["shift_estimates"].get("balanced_macro_f1")),
    ("val macro-F1", lambda r: r["validation_metrics"]["macro_f1"]),
    ("implicit-hate recall", lambda r: r["shift_estimates"].get("implicit_hate_recall")),
    ("worst category recall", lambda r: r["shift_estimates"].get("worst_category_recall")),
)


def mean_sd(values: list[Any]) -> str:
    """``mean ± sd`` of the numbers present."""
    numbers = [float(v) for v in values if v is not None]
    if not numbers:
        return "-"
    if len(numbers) == 1:
        return f"{numbers[0]:.3f}"
    return f"{statistics.mean(numbers):.3f} ± {statistics.stdev(numbers):.3f}"


def sample(work: Path, rows: int) -> Path:
    """The shared file, or a label-stratified sample of it (seeded) written into the work folder."""
    import pandas as pd

    source = require_shared()
    frame = pd.read_csv(source, keep_default_na=False)
    if rows <= 0 or rows >= len(frame):
        return source
    picked = frame.groupby("label", group_keys=False).sample(frac=rows / len(frame), random_state=0)
    path = work / "sample.csv"
    picked.to_csv(path, index=False)
    return path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--timeout", default="12m", help="Sweep budget (no new trial after it).")
    parser.add_argument("--trials", type=int, default=8, help="Most trials of the study.")
    parser.add_argument("--seeds", type=int, nargs="+", default=[1, 2], help="Seeds of the side-by-side retrains.")
    parser.add_argument("--model", default=MINILM, help="Base model of every run.")
    parser.add_argument("--max-epochs", type=int, default=2, help="Most epochs a trial may choose.")
    parser.add_argument("--rows", type=int, default=1000, help="Stratified row sample; 0: the whole file.")
    parser.add_argument("--workdir", type=Path, default=None, help="Keep the work here (default: a temp folder).")
    args = parser.parse_args()
    work = args.workdir or Path(tempfile.mkdtemp(prefix="hsctl-sweep-bench-"))
    work.mkdir(parents=True, exist_ok=True)
    epochs = (
        f'type = "int"\nlow = 1\nhigh = {args.max_epochs}'
        if args.max_epochs > 1
        else 'type = "categorical"\nchoices = [1]'
    )
    (work / "hsctl.toml").write_text('[tracking]\nbackend = "none"\n' + SPACE.format(epochs=epochs), encoding="utf-8")
    print(f"work folder: {work}", file=sys.stderr)
    hsctl("fetch", "--source", str(sample(work, args.rows)), cwd=work)
    hsctl("preprocess", cwd=work)

    started = time.perf_counter()
    sweep, sweep_wall = hsctl("sweep", "--study", "bench", "--model", args.model, "--trials", str(args.trials),
                              "--timeout", args.timeout, "--sampler-seed", "0", cwd=work)  # fmt: skip
    print(f"sweep: {sweep['counts']} in {sweep_wall / 60:.1f} min", file=sys.stderr)

    recipes = {"default recipe": ["--model", args.model],
               "sweep best": ["--model", args.model, "--params-from-sweep", "bench"]}  # fmt: skip
    rows: dict[str, list[dict[str, Any]]] = {name: [] for name in recipes}
    walls: dict[str, list[float]] = {name: [] for name in recipes}
    for seed in args.seeds:
        for name, flags in recipes.items():
            run, wall = hsctl("train", *flags, "--seed", str(seed), "--run-name", f"{name.split()[0]}-{seed}", cwd=work)
            rows[name].append(run)
            walls[name].append(wall)
            print(f"{name} seed {seed}: {run['shift_estimates'].get('balanced_macro_f1'):.4f}", file=sys.stderr)

    best = sweep.get("best") or {}
    print(f"\nsweep on {args.model}: {sum(sweep['counts'].values())} trials {sweep['counts']}, "
          f"{sweep_wall / 60:.1f} min; best trial {best.get('number')} at {best.get('value', float('nan')):.4f} "
          f"(seed 42): {best.get('params')}")  # fmt: skip
    print(f"total wall time {(time.perf_counter() - started) / 60:.1f} min\n")
    head = ["recipe", "seeds", *[c for c, _ in COLUMNS], "train wall"]
    print("| " + " | ".join(head) + " |")
    print("|" + "---|" * len(head))
    for name in recipes:
        cells = [mean_sd([get(r) for r in rows[name]]) for _, get in COLUMNS]
        wall = f"{statistics.mean(walls[name]) / 60:.1f} min"
        print(f"| {name} | {', '.join(map(str, args.seeds))} | " + " | ".join(cells) + f" | {wall} |")


if __name__ == "__main__":
    main()
