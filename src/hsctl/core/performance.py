"""Performance at the deployed threshold: estimated from calibrated probabilities, or realized from labels.

The estimate is confidence-based performance estimation (CBPE, as NannyML names
it): if ``p = P(hate)`` is calibrated on the traffic, a text predicted hate is a
true positive with probability ``p`` and a false positive with ``1 - p``, so the
expected confusion matrix is ``TP = sum p``, ``FP = sum (1 - p)`` over predicted
positives and ``FN = sum p``, ``TN = sum (1 - p)`` over predicted negatives. No
label is needed. The interval samples labels from ``Bernoulli(p)``: it is the
spread from having few texts, not from miscalibration. Under concept shift (the
same texts now mean something else) the probabilities are no longer calibrated
and the estimate is wrong with no sign of it; only realized numbers, from
reviewed labels, show that.

Shared by ``drift`` (the report) and ``serve`` (rolling gauges); numpy only.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Sequence
from typing import TYPE_CHECKING, TypedDict

if TYPE_CHECKING:
    import numpy as np

METRICS = ("precision", "recall", "macro_f1", "hate_rate")
SAMPLES = 200  # label draws for the interval
ROLLING_WINDOW = 1000  # predictions behind the server's gauges
DRAW_CELLS = 4_000_000  # most random draws held in memory at once
LEVEL = 0.95


class Estimate(TypedDict):
    """Expected metrics at the deployed threshold, with a ``LEVEL`` interval for each."""

    n: int
    precision: float | None
    recall: float | None
    macro_f1: float | None
    hate_rate: float | None
    predicted_hate_rate: float | None
    interval: dict[str, list[float | None]]


class Realized(TypedDict):
    """Metrics against reviewed labels."""

    n: int
    precision: float | None
    recall: float | None
    macro_f1: float | None
    hate_rate: float | None
    predicted_hate_rate: float | None


def _ratio(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    import numpy as np

    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(den > 0, num / np.where(den > 0, den, 1), 0.0)


def scores(tp: np.ndarray, fp: np.ndarray, fn: np.ndarray, tn: np.ndarray) -> dict[str, np.ndarray]:
    """Precision and recall of hate, macro-F1 (mean F1 of both classes; 0 where undefined, as sklearn's
    ``zero_division=0``) and the hate rate, from (possibly fractional) confusion counts."""
    n = tp + fp + fn + tn
    f1_hate = _ratio(2 * tp, 2 * tp + fp + fn)
    f1_non = _ratio(2 * tn, 2 * tn + fn + fp)
    return {
        "precision": _ratio(tp, tp + fp),
        "recall": _ratio(tp, tp + fn),
        "macro_f1": (f1_hate + f1_non) / 2,
        "hate_rate": _ratio(tp + fn, n),
    }


def _round(value: float) -> float:
    return round(float(value), 6)


def estimate(
    probabilities: Sequence[float] | np.ndarray,
    thresholds: Sequence[float] | np.ndarray | float,
    *,
    samples: int = SAMPLES,
    seed: int = 0,
    predicted: Sequence[bool] | np.ndarray | None = None,
) -> Estimate:
    """CBPE at the threshold(s) the predictions were made with; an empty input gives Nones.

    ``predicted`` (the decisions as served, when known) overrides ``p >= threshold``.
    """
    import numpy as np

    p = np.clip(np.asarray(probabilities, dtype=np.float64), 0.0, 1.0)
    n = len(p)
    if n == 0:
        return Estimate(
            n=0,
            precision=None,
            recall=None,
            macro_f1=None,
            hate_rate=None,
            predicted_hate_rate=None,
            interval={m: [None, None] for m in METRICS},
        )
    if predicted is not None:
        pos = np.asarray(predicted, dtype=bool)
    else:
        pos = p >= np.broadcast_to(np.asarray(thresholds, dtype=np.float64), p.shape)
    tp, fp = p[pos].sum(), (1 - p[pos]).sum()
    fn, tn = p[~pos].sum(), (1 - p[~pos]).sum()
    point = scores(*(np.asarray([v]) for v in (tp, fp, fn, tn)))
    if samples < 1:
        return Estimate(
            n=n,
            precision=_round(point["precision"][0]),
            recall=_round(point["recall"][0]),
            macro_f1=_round(point["macro_f1"][0]),
            hate_rate=_round(point["hate_rate"][0]),
            predicted_hate_rate=_round(pos.mean()),
            interval={m: [None, None] for m in METRICS},
        )
    rng = np.random.default_rng(seed)
    n_pos = float(pos.sum())
    s_tp, s_fn = np.empty(samples), np.empty(samples)
    step = max(1, DRAW_CELLS // n)  # draws at a time: memory stays bounded for any log size
    for start in range(0, samples, step):
        drawn = rng.random((min(step, samples - start), n)) < p  # labels drawn from Bernoulli(p)
        s_tp[start : start + len(drawn)] = (drawn & pos).sum(axis=1)
        s_fn[start : start + len(drawn)] = (drawn & ~pos).sum(axis=1)
    sampled = scores(s_tp, n_pos - s_tp, s_fn, (n - n_pos) - s_fn)
    tail = (1 - LEVEL) / 2 * 100
    interval: dict[str, list[float | None]] = {
        m: [_round(np.percentile(sampled[m], tail)), _round(np.percentile(sampled[m], 100 - tail))] for m in METRICS
    }
    return Estimate(
        n=n,
        precision=_round(point["precision"][0]),
        recall=_round(point["recall"][0]),
        macro_f1=_round(point["macro_f1"][0]),
        hate_rate=_round(point["hate_rate"][0]),
        predicted_hate_rate=_round(pos.mean()),
        interval=interval,
    )


def realized(labels: Sequence[int] | np.ndarray, predicted: Sequence[int] | np.ndarray) -> Realized:
    """The same metrics against true labels (1 = hate)."""
    import numpy as np

    y = np.asarray(labels, dtype=bool)
    yhat = np.asarray(predicted, dtype=bool)
    n = len(y)
    if n == 0:
        return Realized(n=0, precision=None, recall=None, macro_f1=None, hate_rate=None, predicted_hate_rate=None)
    counts = [
        np.asarray([float(c)]) for c in ((y & yhat).sum(), (~y & yhat).sum(), (y & ~yhat).sum(), (~y & ~yhat).sum())
    ]
    out = scores(*counts)
    return Realized(
        n=n,
        precision=_round(out["precision"][0]),
        recall=_round(out["recall"][0]),
        macro_f1=_round(out["macro_f1"][0]),
        hate_rate=_round(out["hate_rate"][0]),
        predicted_hate_rate=_round(yhat.mean()),
    )


class RollingEstimate:
    """The estimate over the last ``size`` predictions, for the server's gauges.

    Adding is O(1) under a lock; the estimate is computed when asked (a scrape)
    and kept until new predictions arrive, so several gauges read one result.
    """

    def __init__(self, size: int = ROLLING_WINDOW) -> None:
        self._items: deque[tuple[float, float]] = deque(maxlen=size)
        self._lock = threading.Lock()
        self._added = 0
        self._cached: tuple[int, Estimate] | None = None

    @property
    def added(self) -> int:
        """Predictions added so far (all time)."""
        return self._added

    def add(self, probabilities: Sequence[float], threshold: float) -> None:
        """Remember the probabilities of one request and the threshold they were decided at."""
        with self._lock:
            self._items.extend((p, threshold) for p in probabilities)
            self._added += len(probabilities)

    def current(self) -> Estimate:
        """The estimate now (no interval: a scrape must stay cheap)."""
        with self._lock:
            if self._cached is not None and self._cached[0] == self._added:
                return self._cached[1]
            added, items = self._added, list(self._items)
        result = estimate([p for p, _ in items], [t for _, t in items], samples=0)
        with self._lock:
            self._cached = (added, result)
        return result


__all__ = ["METRICS", "ROLLING_WINDOW", "Estimate", "Realized", "RollingEstimate", "estimate", "realized", "scores"]
