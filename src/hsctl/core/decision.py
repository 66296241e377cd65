"""Decision rules shared by train, evaluate, predict and serve: thresholds and prior shift.

The threshold is chosen on the validation split; a deployment whose hate rate
differs from the validation rate re-weights probabilities by the ratio of
prior odds (Saerens et al., 2002) before the stored threshold is applied.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Literal

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt

ThresholdMode = Literal["macro_f1", "recall"]


def shift_prior(probs: npt.ArrayLike, from_prior: float, to_prior: float) -> np.ndarray:
    """Re-weight P(hate) computed under ``from_prior`` for a population with ``to_prior``."""
    import numpy as np

    p = np.clip(np.asarray(probs, dtype=np.float64), 1e-12, 1 - 1e-12)
    if from_prior == to_prior:
        return np.asarray(probs, dtype=np.float64)
    ratio = (to_prior / (1 - to_prior)) / (from_prior / (1 - from_prior))
    odds = p / (1 - p) * ratio
    return odds / (1 + odds)


def _sweep(probs: np.ndarray, labels: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Candidate thresholds (descending) with TP, FP, FN at each (predict hate when p >= t)."""
    import numpy as np

    order = np.argsort(-probs, kind="stable")
    p, y = probs[order], labels[order]
    distinct = np.r_[np.nonzero(np.diff(p))[0], len(p) - 1]  # last index of each run of equal scores
    # The first candidate predicts nothing as hate (a threshold above every score).
    tp = np.r_[0, np.cumsum(y)[distinct]]
    fp = np.r_[0, np.cumsum(1 - y)[distinct]]
    fn = y.sum() - tp
    return np.r_[np.inf, p[distinct]], tp, fp, fn


def best_threshold(
    probs: npt.ArrayLike,
    labels: npt.ArrayLike,
    mode: ThresholdMode = "macro_f1",
    target_recall: float | None = None,
) -> tuple[float, float]:
    """Return ``(threshold, score)``: macro-F1-optimal, or the highest threshold reaching ``target_recall``.

    The threshold sits halfway between neighbouring scores so that small
    numerical differences between backends do not flip decisions.
    """
    import numpy as np

    p = np.asarray(probs, dtype=np.float64)
    y = np.asarray(labels, dtype=np.int64)
    if p.size == 0 or y.min() == y.max():
        return 0.5, float("nan")
    cuts, tp, fp, fn = _sweep(p, y)
    tn = (len(y) - y.sum()) - fp
    f1_pos = 2 * tp / np.maximum(2 * tp + fp + fn, 1)
    f1_neg = 2 * tn / np.maximum(2 * tn + fn + fp, 1)
    macro = (f1_pos + f1_neg) / 2
    if mode == "recall":
        if target_recall is None:
            raise ValueError("target_recall is required when mode='recall'")
        recall = tp / max(int(y.sum()), 1)
        idx = int(np.argmax(recall >= target_recall))  # first (highest) cut reaching the target
    else:
        idx = int(np.argmax(macro))
    below = cuts[idx + 1] if idx + 1 < len(cuts) else 0.0
    if idx == 0:  # above every score
        threshold = float((1.0 + below) / 2) if below < 1.0 else float(np.nextafter(1.0, 2.0))
    else:
        threshold = float((cuts[idx] + below) / 2)
    return threshold, float(macro[idx])
