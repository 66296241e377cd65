"""``predict``: score a CSV, JSONL or Parquet file, or lines on stdin, in batches.

The output keeps every input column and adds ``hate_probability`` and ``label``;
rows that cannot be scored (no text) keep empty results and an ``error`` column
and are counted, never silently skipped.
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from hsctl.core.tables import TABLE_SUFFIXES, read_table, table_format
from hsctl.errors import ConfigError, DataError

if TYPE_CHECKING:
    import pandas as pd

    from hsctl.settings import Settings

STDIO = "-"
MAX_BAD_ROWS_SHOWN = 5


@dataclass
class PredictResult:
    """Summary of a scoring run."""

    rows: int
    scored: int
    bad_rows: int
    bad_row_numbers: list[int]
    label_counts: dict[str, int]
    output: str
    model_version: str
    backend: str
    threshold: float
    elapsed_s: float
    rows_per_s: float
    warnings: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return dict(self.__dict__)


def _as_text(value: object) -> str:
    """Cell value as text: numbers and other scalars are stringified, missing values are empty."""
    if isinstance(value, str):
        return value
    if value is None:
        return ""
    try:
        import pandas as pd

        if pd.isna(value):
            return ""
    except (TypeError, ValueError):
        pass
    return str(value)


def read_input(source: str, text_column: str) -> pd.DataFrame:
    """A file in any table format, or stdin lines (one text per line) for ``-``."""
    import pandas as pd

    if source == STDIO:
        lines = sys.stdin.read().splitlines()
        return pd.DataFrame({text_column: lines})
    frame = read_table(Path(source))
    if text_column not in frame.columns:
        found = ", ".join(map(str, frame.columns)) or "(none)"
        raise DataError(f"{source}: missing column {text_column!r} (found: {found}); choose it with --text-column")
    return frame


def write_output(frame: pd.DataFrame, destination: str) -> None:
    """Write by suffix (CSV, TSV, JSONL, JSON, Parquet; ``.gz`` and friends compress), or JSON lines on stdout.

    Files are written to a temporary sibling and renamed, so a failure never
    leaves a half-written output.
    """
    if destination == STDIO:
        sys.stdout.write(frame.to_json(orient="records", lines=True, force_ascii=False))
        sys.stdout.flush()
        return
    path = Path(destination)
    fmt = table_format(path)
    if fmt is None:
        raise ConfigError(f"unsupported output type for {destination}: use .csv, .tsv, .jsonl, .json or .parquet")
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".tmp-{os.getpid()}-{path.name}")  # keeps the suffixes, so compression is inferred
    try:
        if fmt in ("csv", "tsv"):
            frame.to_csv(tmp, index=False, sep="\t" if fmt == "tsv" else ",")
        elif fmt in ("jsonl", "json"):
            frame.to_json(tmp, orient="records", lines=fmt == "jsonl", force_ascii=False)
        else:
            frame.to_parquet(tmp, index=False)
        tmp.replace(path)
    finally:
        tmp.unlink(missing_ok=True)


def default_output(source: str) -> str:
    """``tweets.csv`` -> ``tweets.scored.csv``, ``my.data.csv.gz`` -> ``my.data.scored.csv.gz``; stdin -> stdout."""
    if source == STDIO:
        return STDIO
    path = Path(source)
    suffixes = path.suffixes
    start = next((i for i, s in enumerate(suffixes) if s.lower() in TABLE_SUFFIXES), len(suffixes))
    tail = "".join(suffixes[start:])
    stem = path.name[: len(path.name) - len(tail)] if tail else path.name
    return str(path.with_name(f"{stem}.scored{tail}"))


def predict_file(
    settings: Settings,
    source: str,
    *,
    output: str | None = None,
    model: str | Path | None = None,
    backend: str = "torch",
    target_prior: float | None = None,
    on_start: Callable[[int], None] | None = None,
    on_batch: Callable[[int], None] | None = None,
) -> PredictResult:
    """Score ``source`` and write the result to ``output`` (default: beside the input)."""
    import numpy as np
    import pandas as pd

    from hsctl.inference import predictor_for
    from hsctl.preprocess.normalize import normalize_text

    started = time.perf_counter()
    if source != STDIO and table_format(Path(source)) is None:
        raise DataError(f"unsupported input type for {source}: use .csv, .tsv, .jsonl, .json, .parquet or '-'")
    destination = output or default_output(source)
    if destination != STDIO and table_format(Path(destination)) is None:
        raise ConfigError(f"unsupported output type for {destination}: use .csv, .tsv, .jsonl, .json or .parquet")
    text_column = settings.data.text_column
    predictor = predictor_for(settings, model, backend, target_prior=target_prior)
    frame = read_input(source, text_column)
    raw = frame[text_column]
    cleaned = [normalize_text(_as_text(t), settings.data.normalize) for t in raw.tolist()]
    good = np.array([bool(t) for t in cleaned], dtype=bool)
    if on_start is not None:
        on_start(int(good.sum()))
    probs = np.full(len(frame), np.nan)
    if good.any():
        probs[good] = predictor.predict_proba([t for t, ok in zip(cleaned, good, strict=True) if ok], on_batch=on_batch)
    labels = predictor.info.labels
    out = frame.copy()
    prob_column, label_column = "hate_probability", "label"
    warnings = []
    if label_column in out.columns or prob_column in out.columns:
        prob_column, label_column = "predicted_hate_probability", "predicted_label"
        warnings.append(f"the input has a label column: predictions go to {prob_column} and {label_column}")
    out[prob_column] = pd.array([None if np.isnan(p) else float(p) for p in probs], dtype="Float64")
    out[label_column] = [
        labels[int(p >= predictor.threshold)] if ok else None for p, ok in zip(probs, good, strict=True)
    ]
    bad_rows = [int(i) + 1 for i in np.flatnonzero(~good)]
    if bad_rows:
        out["error"] = [None if ok else "empty text" for ok in good]
    write_output(out, destination)
    elapsed = time.perf_counter() - started
    counts = out[label_column].value_counts().to_dict()
    if bad_rows:
        shown = ", ".join(map(str, bad_rows[:MAX_BAD_ROWS_SHOWN])) + (
            ", ..." if len(bad_rows) > MAX_BAD_ROWS_SHOWN else ""
        )
        warnings.append(f"{len(bad_rows)} row(s) have no text and were not scored (rows {shown})")
    return PredictResult(
        rows=len(frame),
        scored=int(good.sum()),
        bad_rows=len(bad_rows),
        bad_row_numbers=bad_rows[:100],
        label_counts={name: int(counts.get(name, 0)) for name in labels},
        output=destination,
        model_version=predictor.model_version,
        backend=backend,
        threshold=predictor.threshold,
        elapsed_s=round(elapsed, 3),
        rows_per_s=round(len(frame) / elapsed, 1) if elapsed > 0 else 0.0,
        warnings=warnings,
    )
