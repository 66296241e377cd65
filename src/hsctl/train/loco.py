"""Leave-one-category-out estimates: how well the recipe finds hate against a group it never saw.

Deployed traffic holds hate against groups that are rare or absent in the training
file. For each category, the recipe is trained without that category's hate rows (in
train and validation), calibrated and thresholded as usual, then scored on every hate
row of the held-out category. The mean and the worst recall estimate what a new kind
of target costs. One training run per category: run it as a separate, slower job.
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from hsctl.core.io import utc_now, write_json
from hsctl.core.shift import category_of
from hsctl.errors import ConfigError, DataError

if TYPE_CHECKING:
    from hsctl.settings import Settings

LOCO_FILE = "loco.json"


@dataclass
class LocoResult:
    """Per held-out category: hate recall of a model that never saw it."""

    per_category: dict[str, dict[str, Any]]
    mean_recall: float | None
    worst_recall: float | None
    epochs: float
    seconds: float
    output: Path
    settings: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {
            "per_category": self.per_category,
            "mean_recall": self.mean_recall,
            "worst_recall": self.worst_recall,
            "epochs": self.epochs,
            "seconds": round(self.seconds, 1),
            "output": str(self.output),
            "train": self.settings,
        }


def _without(split: Any, category: str) -> Any:
    return split.filter(lambda row: not (row["label"] == 1 and category_of(row["category"]) == category))


def _held_out(dataset: Any, category: str) -> list[str]:
    texts: list[str] = []
    for split in dataset.values():
        for text, label, cat in zip(split["text"], split["label"], split["category"], strict=True):
            if label == 1 and category_of(cat) == category:
                texts.append(text)
    return texts


def estimate_shift(
    settings: Settings,
    *,
    categories: Sequence[str] | None = None,
    on_category: Callable[[str, int, int], None] | None = None,
) -> LocoResult:
    """Train once per held-out category and report its hate recall; writes ``reports/shift/loco.json``."""
    import numpy as np
    from datasets import Dataset, DatasetDict

    from hsctl.core.processed import load_processed
    from hsctl.train import _categories, build_trainer, prepare, training_arguments
    from hsctl.train.decide import decide

    cfg = settings.train
    dataset = load_processed(settings.paths.processed_dir, ("train", "validation"))
    if "category" not in dataset["train"].column_names:
        raise DataError("leave-one-category-out estimates need a category column in the data")
    known = sorted({category_of(c) for c, y in zip(dataset["train"]["category"], dataset["train"]["label"],
                                                   strict=True) if y == 1})  # fmt: skip
    chosen = list(categories) if categories else known
    unknown = [c for c in chosen if c not in known]
    if unknown:
        raise ConfigError(f"unknown categor{'y' if len(unknown) == 1 else 'ies'} {', '.join(unknown)}; "
                          f"choose from {', '.join(known)}")  # fmt: skip
    started = time.perf_counter()
    per_category: dict[str, dict[str, Any]] = {}
    for index, category in enumerate(chosen):
        if on_category is not None:
            on_category(category, index, len(chosen))
        subset = DatasetDict(train=_without(dataset["train"], category),
                             validation=_without(dataset["validation"], category))  # fmt: skip
        held = _held_out(dataset, category)
        prepared = prepare(cfg, subset, hub_timeout_s=settings.data.hub_timeout_s)
        with tempfile.TemporaryDirectory(prefix="hsctl-loco-") as tmp:
            args = training_arguments(cfg, Path(tmp), prepared.learning_rate, report_to=[], checkpoints=False)
            trainer, _ = build_trainer(cfg, prepared, args, _categories(prepared.validation), early_stopping=False)
            trainer.train()
            val = trainer.predict(prepared.tokenized["validation"])
            decision = decide(cfg, val.predictions, np.asarray(val.label_ids), _categories(prepared.validation),
                              prepared.validation["text"], prepared.labels)  # fmt: skip
            tokenized = prepared.tokenizer(held, truncation=True, max_length=cfg.max_length)
            rows = Dataset.from_dict({**tokenized, "label": [1] * len(held)})
            trainer.compute_metrics = None  # one-class rows: nothing to score but the recall below
            logits = trainer.predict(rows).predictions
        probs = decision.probabilities(logits)
        per_category[category] = {
            "recall": float((probs >= decision.threshold).mean()) if len(probs) else None,
            "support": len(held),
            "threshold": decision.threshold,
            "validation_balanced_macro_f1": decision.shift.get("balanced_macro_f1"),
        }
    recalls = [v["recall"] for v in per_category.values() if v["recall"] is not None]
    output = settings.paths.layout.report_root("shift") / LOCO_FILE
    result = LocoResult(
        per_category=per_category,
        mean_recall=float(np.mean(recalls)) if recalls else None,
        worst_recall=float(min(recalls)) if recalls else None,
        epochs=cfg.epochs,
        seconds=time.perf_counter() - started,
        output=output,
        settings=cfg.model_dump(mode="json"),
    )
    write_json(output, result.to_dict() | {"created_at": utc_now()})
    return result
