"""Validation of canonical frames: required columns, labels in the label set, non-empty text."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from hsctl.errors import DataError
from hsctl.fetch.sources import LABEL, TEXT

if TYPE_CHECKING:
    import pandas as pd

MAX_ROWS_SHOWN = 5
# Labels are mapped when the data is read: fetch (and evaluate, drift) take --label-map, preprocess does not.
LABEL_MAP_HINT = (
    "map string labels to ids when fetching, e.g. hsctl fetch --label-map 'hate=1,non-hate=0' "
    "(setting data.label_map), then rerun hsctl preprocess"
)


def require_columns(frame: pd.DataFrame, columns: Sequence[str], where: str) -> None:
    """Raise a ``DataError`` naming every missing column."""
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        found = ", ".join(map(str, frame.columns)) or "(none)"
        raise DataError(f"{where}: missing column(s) {', '.join(map(repr, missing))} (found: {found})")


def as_label_id(value: object) -> int | None:
    """An integer label id from an int, an integral float or a numeric string; else None."""
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, int):
        return value
    try:
        number = float(str(value).strip())
    except (TypeError, ValueError):
        return None
    return int(number) if number.is_integer() else None


def invalid_label_rows(labels: pd.Series, n_labels: int) -> list[int]:
    """0-based positions of labels that are not integers in ``0..n_labels-1``."""
    bad: list[int] = []
    for pos, value in enumerate(labels.tolist()):
        label = None if value is None else as_label_id(value)
        if label is None or not 0 <= label < n_labels:
            bad.append(pos)
    return bad


def validate_labels(frame: pd.DataFrame, label_names: Sequence[str], split: str) -> None:
    """Raise a ``DataError`` with the count and first row numbers of labels outside the set."""
    require_columns(frame, [TEXT, LABEL], f"split {split!r}")
    bad = invalid_label_rows(frame[LABEL], len(label_names))
    if bad:
        shown = ", ".join(str(i + 1) for i in bad[:MAX_ROWS_SHOWN])
        more = ", ..." if len(bad) > MAX_ROWS_SHOWN else ""
        values = sorted({repr(frame[LABEL].iloc[i]) for i in bad[:50]})[:MAX_ROWS_SHOWN]
        allowed = ", ".join(f"{i}={name}" for i, name in enumerate(label_names))
        raise DataError(
            f"split {split!r}: {len(bad)} row(s) have labels outside {{{allowed}}} "
            f"(rows {shown}{more}; values {', '.join(values)}); {LABEL_MAP_HINT}"
        )
