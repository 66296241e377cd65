"""What training adds to the preprocessed data, and what it refuses before fitting.

- :func:`add_contrast`: the contrast rows of :mod:`hsctl.train.contrast` whose
  templates are in the fitting part join the training split (normalised like it);
  the held-out part comes back separately for the threshold.
- :func:`refuse_suite_leak`: training on behavioural-suite cases would make the
  suite's pass rates meaningless, so any case found in the data stops the run
  before a single step is taken (exit 4), not after.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from hsctl.errors import DataError


@dataclass
class Holdout:
    """Contrast rows of templates the model is not fitted to: scored after training."""

    texts: list[str]
    labels: list[int]


def refuse_suite_leak(texts: Iterable[Any]) -> None:
    """Raise ``DataError`` when any text is a behavioural-suite case (checked before fitting)."""
    from hsctl.evaluate.suite import overlap_with_suite

    leaked = overlap_with_suite(texts)
    if leaked:
        raise DataError(
            f"{leaked} training/validation texts are behavioural-suite cases; training on them would void the "
            "suite's results",
            hint="remove them from the source data (hsctl evaluate --suite functional lists the cases in cases.jsonl)",
        )


def add_contrast(dataset: Any, normalization: dict[str, Any] | None, *, seed: int = 0) -> tuple[Any, Holdout]:
    """The dataset with contrast rows appended to ``train``, and the held-out contrast rows."""
    from datasets import Dataset, DatasetDict, concatenate_datasets

    from hsctl.core.text import normalize_text
    from hsctl.settings import NormalizeSettings
    from hsctl.train.contrast import contrast_rows

    rules = NormalizeSettings(**normalization) if normalization else NormalizeSettings()
    train = dataset["train"]
    fit = contrast_rows("fit", seed=seed)
    columns: dict[str, list[Any]] = {name: [] for name in train.column_names}
    for row in fit:
        for name in columns:
            if name == "text":
                columns[name].append(normalize_text(row.text, rules))
            elif name == "label":
                columns[name].append(row.label)
            elif name == "category":
                columns[name].append(row.category if row.label == 1 else None)
            else:
                columns[name].append(None)
    extra = Dataset.from_dict(columns, features=train.features)
    out = DatasetDict(dict(dataset))
    out["train"] = concatenate_datasets([train, extra])
    held = contrast_rows("holdout", seed=seed)
    return out, Holdout([normalize_text(r.text, rules) for r in held], [r.label for r in held])
