"""``performance`` in the drift report: estimated from the log's probabilities, realized from reviewed labels.

``estimated`` (see :mod:`hsctl.core.performance`) needs no label: overall and
per time window (equal numbers of records, oldest first). ``realized`` joins
the current records with the feedback store (``hsctl review ingest``) by
``prediction_id``, or uses the current file's own labels, and is computed on
those rows only; ``estimated_on_labelled`` is the estimate on the same rows, so
the two compare like with like. A gap between them beyond the interval means
the probabilities are no longer calibrated for this traffic (concept shift).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, TypedDict

from hsctl.core.performance import Estimate, Realized, estimate, realized

if TYPE_CHECKING:
    import pandas as pd

WINDOWS = 4  # time windows of the estimate
MIN_WINDOW_ROWS = 20  # fewer windows when the data is small


class WindowEstimate(TypedDict):
    """The estimate over one time window."""

    start: str | None
    end: str | None
    estimate: Estimate


class Performance(TypedDict):
    """``performance`` in ``drift.json``."""

    threshold: float
    estimated: Estimate
    windows: list[WindowEstimate]
    realized: Realized | None
    estimated_on_labelled: Estimate | None
    labels_source: str | None


def _iso(value: Any) -> str | None:
    return None if value is None or value != value else str(value.isoformat())  # NaT != NaT


def performance(
    frame: pd.DataFrame,
    threshold: float,
    *,
    feedback: pd.DataFrame | None = None,
    own_labels: bool = False,
    seed: int = 0,
    positive_label: str | None = None,
) -> Performance | None:
    """The section, or None when the current data has no probabilities.

    ``frame`` holds ``hate_probability`` and, when known, ``threshold`` (per
    record), ``time``, ``prediction_id`` and ``label`` (true labels, with
    ``own_labels``). ``feedback`` is the store (``prediction_id``, ``label``).
    A logged ``predicted_label`` (the decision as served) is used where
    present, so realized numbers match the served decisions exactly.
    """
    import numpy as np
    import pandas as pd

    if "hate_probability" not in frame.columns:
        return None
    rows = frame[frame["hate_probability"].notna()].reset_index(drop=True)
    if rows.empty:
        return None
    probs = rows["hate_probability"].to_numpy(dtype=np.float64)
    if "threshold" in rows.columns:
        thresholds = pd.to_numeric(rows["threshold"], errors="coerce").fillna(threshold).to_numpy(dtype=np.float64)
    else:
        thresholds = np.full(len(rows), threshold)
    predicted = probs >= thresholds
    if positive_label is not None and "predicted_label" in rows.columns:
        served = rows["predicted_label"]
        logged = served.map(lambda v: isinstance(v, str)).to_numpy(dtype=bool)
        predicted = np.where(logged, (served == positive_label).to_numpy(dtype=bool), predicted)
    windows: list[WindowEstimate] = []
    count = max(1, min(WINDOWS, len(rows) // MIN_WINDOW_ROWS))
    order = np.argsort(rows["time"].to_numpy(), kind="stable") if "time" in rows.columns else np.arange(len(rows))
    for part in np.array_split(order, count):
        times = rows["time"].iloc[part] if "time" in rows.columns else None
        windows.append(
            WindowEstimate(
                start=_iso(times.min()) if times is not None else None,
                end=_iso(times.max()) if times is not None else None,
                estimate=estimate(probs[part], thresholds[part], seed=seed, predicted=predicted[part]),
            )
        )
    labels, source = _labels(rows, feedback, own_labels)
    real: Realized | None = None
    on_labelled: Estimate | None = None
    if labels is not None:
        known = labels.notna().to_numpy()
        if known.any():
            y = labels[known].astype(int).to_numpy()
            real = realized(y, predicted[known])
            on_labelled = estimate(probs[known], thresholds[known], seed=seed, predicted=predicted[known])
        else:
            source = None
    return Performance(
        threshold=threshold,
        estimated=estimate(probs, thresholds, seed=seed, predicted=predicted),
        windows=windows,
        realized=real,
        estimated_on_labelled=on_labelled,
        labels_source=source,
    )


def _labels(rows: pd.DataFrame, feedback: pd.DataFrame | None, own_labels: bool) -> tuple[pd.Series | None, str | None]:
    """True labels aligned with ``rows`` (missing where unknown), and where they came from."""
    if own_labels and "label" in rows.columns:
        return rows["label"], "the current file's labels"
    if feedback is None or feedback.empty or "prediction_id" not in rows.columns:
        return None, None
    by_id = feedback.drop_duplicates("prediction_id", keep="last").set_index("prediction_id")["label"]
    return rows["prediction_id"].map(by_id), "the feedback store (hsctl review ingest)"


__all__ = ["Performance", "WindowEstimate", "performance"]
