"""The preprocessed dataset folder that ``preprocess`` writes and every later stage reads.

One loader, one error message: train, evaluate, quantize and drift all read it
through :func:`load_processed`, and the normalisation it was built with (recorded
in its ``stats.json``) through :func:`processed_normalization`, which ``train``
copies into the model so that inference normalises exactly as training did.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from hsctl.errors import DataError

DATASET_DICT = "dataset_dict.json"
STATS = "stats.json"
PLOT = "label_distribution.png"


def load_processed(processed_dir: Path, splits: Sequence[str] = (), *, hint: str = "") -> Any:
    """The ``DatasetDict`` written by ``preprocess``; ``DataError`` (exit 4) when absent or lacking ``splits``.

    ``hint`` names the alternative a caller offers (e.g. ``"or pass --data FILE"``).
    """
    import datasets

    processed_dir = Path(processed_dir)
    extra = f" {hint}" if hint else ""
    if not (processed_dir / DATASET_DICT).is_file():
        raise DataError(f"no preprocessed data at {processed_dir}: run 'hsctl preprocess' first{extra}")
    dataset = datasets.load_from_disk(str(processed_dir))
    missing = [s for s in splits if s not in dataset]
    if missing:
        names = ", ".join(repr(s) for s in missing)
        raise DataError(f"no split {names} in {processed_dir} (have: {', '.join(dataset)}){extra}")
    return dataset


def processed_normalization(processed_dir: Path) -> dict[str, Any] | None:
    """The normalisation settings the preprocessed data was built with, or None when not recorded."""
    path = Path(processed_dir) / STATS
    try:
        stats = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    value = (stats.get("settings") or {}).get("normalize") if isinstance(stats, dict) else None
    return value if isinstance(value, dict) else None
