"""The feedback store: reviewed labels joined to their predictions, append-only Parquet under the artifacts.

Each ``hsctl review ingest`` that brings something new adds one part file
(``feedback/feedback-<UTC time>-<digest>.parquet``), written to a temporary
name and renamed, so a part is whole or absent and nothing written before is
ever changed. Reading concatenates the parts; for a prediction relabelled with
``--relabel`` the newest label wins.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

from hsctl.core.layout import FEEDBACK_GLOB, Layout
from hsctl.errors import DataError

if TYPE_CHECKING:
    import pandas as pd

# Columns of every part, in order.
COLUMNS = (
    "prediction_id",
    "label",
    "text",
    "text_sha256",
    "hate_probability",
    "predicted_label",
    "threshold",
    "model_version",
    "logged_at",
    "ingested_at",
    "source",
    "source_row",
)


def feedback_parts(layout: Layout) -> list[Path]:
    """The store's part files, oldest first."""
    root = layout.feedback_dir
    return sorted(root.glob(FEEDBACK_GLOB)) if root.is_dir() else []


def read_feedback(layout: Layout) -> pd.DataFrame:
    """Every stored label, one row per prediction (the newest label wins); empty when there is none."""
    import pandas as pd

    frames = []
    for path in feedback_parts(layout):
        try:
            frames.append(pd.read_parquet(path))
        except (OSError, ValueError) as exc:  # pyarrow's errors are ValueErrors or OSErrors
            raise DataError(f"cannot read the feedback store part {path}: {exc}".splitlines()[0]) from exc
    if not frames:
        return pd.DataFrame({c: pd.Series(dtype=object) for c in COLUMNS})
    frame = pd.concat(frames, ignore_index=True)
    frame = frame.sort_values("ingested_at", kind="stable").drop_duplicates("prediction_id", keep="last")
    return frame.reset_index(drop=True)


def save_export(layout: Layout, queue: pd.DataFrame, stamp: str) -> Path:
    """Keep the rows of an exported queue (atomically), so that their labels can be joined later."""
    path = layout.review_exports_dir / f"queue-{stamp}.parquet"
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        queue.drop(columns=["label", "reason"], errors="ignore").astype({"time": str}).to_parquet(tmp, index=False)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return path


def read_exports(layout: Layout) -> pd.DataFrame:
    """Every row ever exported for review (the newest copy of each prediction); empty when none."""
    import pandas as pd

    root = layout.review_exports_dir
    frames = []
    for path in sorted(root.glob("queue-*.parquet")) if root.is_dir() else []:
        try:
            frames.append(pd.read_parquet(path))
        except (OSError, ValueError):
            continue  # a kept queue is a convenience: the log is the record
    if not frames:
        return pd.DataFrame(columns=["prediction_id"])
    return pd.concat(frames, ignore_index=True).drop_duplicates("prediction_id", keep="last")


def append_part(layout: Layout, frame: pd.DataFrame, stamp: str, digest: str) -> Path:
    """Write ``frame`` as a new part: a temporary file, then an atomic rename."""
    path = layout.feedback_part(stamp, digest)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        frame.loc[:, list(COLUMNS)].to_parquet(tmp, index=False)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return path


__all__ = ["COLUMNS", "append_part", "feedback_parts", "read_exports", "read_feedback", "save_export"]
