"""``train --feedback``: reviewed traffic from the feedback store joins training and validation.

Rows of the store (``hsctl review ingest``) with a text are split once and for
all by a hash of their ``prediction_id``: ``VALIDATION_SHARE`` of them join the
validation split, so the retrained model is judged (and its threshold chosen)
partly on the traffic it will meet, and the rest join training, each repeated
``WEIGHT`` times. Repetition is the weight: it keeps the class and category
balancing of :func:`hsctl.core.shift.balanced_weights` working on top, and a
reviewed row counts more than a row of the original data because it comes
from the deployment distribution. The split is stable: a prediction never moves
from validation to training between retrains. Rows logged as a sha256 only
cannot be trained on and are counted.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from hsctl.errors import DataError

if TYPE_CHECKING:
    from hsctl.core.layout import Layout

WEIGHT = 2  # times each reviewed training row is repeated
VALIDATION_SHARE = 0.2  # of the reviewed rows, by a hash of their prediction_id


@dataclass
class FeedbackUse:
    """How many reviewed rows joined each split, and how many had no text."""

    train: int
    validation: int
    without_text: int
    weight: int = WEIGHT

    def to_dict(self) -> dict[str, int]:
        """JSON-ready form."""
        return {
            "train": self.train,
            "validation": self.validation,
            "without_text": self.without_text,
            "weight": self.weight,
        }


def in_validation(prediction_id: str, share: float = VALIDATION_SHARE) -> bool:
    """Whether a reviewed prediction belongs to validation (stable across runs and machines)."""
    digest = hashlib.sha256(prediction_id.encode("utf-8")).digest()
    return int.from_bytes(digest[:8], "big") / 2**64 < share


def add_feedback(dataset: Any, layout: Layout, normalization: dict[str, Any] | None) -> tuple[Any, FeedbackUse]:
    """The dataset with the store's reviewed rows appended to ``train`` (repeated) and ``validation``."""
    from datasets import Dataset, DatasetDict, concatenate_datasets

    from hsctl.core.text import normalize_text
    from hsctl.review import read_feedback
    from hsctl.settings import NormalizeSettings

    store = read_feedback(layout)
    if store.empty:
        raise DataError(
            f"--feedback: the feedback store {layout.feedback_dir} is empty",
            hint="ingest reviewed labels first: hsctl review export, then hsctl review ingest FILE",
        )
    rules = NormalizeSettings(**normalization) if normalization else NormalizeSettings()
    usable = store[store["text"].map(lambda t: isinstance(t, str) and bool(t.strip()))]
    parts: dict[str, dict[str, list[Any]]] = {}
    counts = {"train": 0, "validation": 0}
    for row in usable.itertuples():
        split = "validation" if in_validation(str(row.prediction_id)) else "train"
        names = dataset[split].column_names
        columns = parts.setdefault(split, {name: [] for name in names})
        counts[split] += 1
        for _ in range(WEIGHT if split == "train" else 1):
            for name in names:
                if name == "text":
                    columns[name].append(normalize_text(str(row.text), rules))
                elif name == "label":
                    columns[name].append(int(row.label))
                else:
                    columns[name].append(None)  # category and the rest: unknown for reviewed traffic
    out = DatasetDict(dict(dataset))
    for split, columns in parts.items():
        extra = Dataset.from_dict(columns, features=dataset[split].features)
        out[split] = concatenate_datasets([dataset[split], extra])
    return out, FeedbackUse(
        train=counts["train"], validation=counts["validation"], without_text=len(store) - len(usable)
    )


__all__ = ["VALIDATION_SHARE", "WEIGHT", "FeedbackUse", "add_feedback", "in_validation"]
