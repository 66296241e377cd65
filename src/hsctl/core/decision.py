"""Decision rules shared by train, evaluate, predict and serve: thresholds and prior shift.

The threshold is chosen on the validation split (optionally with per-row weights,
e.g. the category-balanced weights of :mod:`hsctl.core.shift`); a deployment whose
hate rate differs from the validation rate re-weights probabilities by the ratio of
prior odds (Saerens et al., 2002) before the stored threshold is applied.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Literal

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt

ThresholdMode = Literal["macro_f1", "recall"]


def softmax_positive(logits: npt.ArrayLike) -> Any:
    """P(class 1) from two-column logits, computed stably in float64."""
    import numpy as np

    z = np.asarray(logits, dtype=np.float64)
    z = z - z.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e[:, 1] / e.sum(axis=1)


def shift_prior(probs: npt.ArrayLike, from_prior: float, to_prior: float) -> np.ndarray:
    """Re-weight P(hate) computed under ``from_prior`` for a population with ``to_prior``."""
    import numpy as np

    p = np.clip(np.asarray(probs, dtype=np.float64), 1e-12, 1 - 1e-12)
    if from_prior == to_prior:
        return np.asarray(probs, dtype=np.float64)
    from_prior, to_prior = (min(max(x, 1e-6), 1 - 1e-6) for x in (from_prior, to_prior))  # one-class splits
    ratio = (to_prior / (1 - to_prior)) / (from_prior / (1 - from_prior))
    odds = p / (1 - p) * ratio
    return odds / (1 + odds)


def deployed_probabilities(logits: npt.ArrayLike, validation_prior: float | None, target_prior: float | None) -> Any:
    """P(hate) as a deployed model reports it: softmax of its (calibrated) logits, then the prior shift.

    The one path from logits to probabilities. Training's decision, evaluate, the
    suite, quantize's int8 gate, drift and the server all reach it through
    :meth:`hsctl.inference.Predictor.probabilities` (or call it directly on logits),
    so no number is ever compared with one that took another route.
    """
    probs = softmax_positive(logits)
    if target_prior is not None and validation_prior:
        return shift_prior(probs, validation_prior, target_prior)
    return probs


def _sweep(
    probs: np.ndarray, labels: np.ndarray, weights: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Candidate thresholds (descending) with weighted TP, FP, FN at each (predict hate when p >= t)."""
    import numpy as np

    order = np.argsort(-probs, kind="stable")
    p, y, w = probs[order], labels[order], weights[order]
    distinct = np.r_[np.nonzero(np.diff(p))[0], len(p) - 1]  # last index of each run of equal scores
    # The first candidate predicts nothing as hate (a threshold above every score).
    tp = np.r_[0, np.cumsum(w * y)[distinct]]
    fp = np.r_[0, np.cumsum(w * (1 - y))[distinct]]
    fn = (w * y).sum() - tp
    return np.r_[np.inf, p[distinct]], tp, fp, fn


def best_threshold(
    probs: npt.ArrayLike,
    labels: npt.ArrayLike,
    mode: ThresholdMode = "macro_f1",
    target_recall: float | None = None,
    *,
    sample_weight: npt.ArrayLike | None = None,
    bounds: tuple[float, float] = (0.0, 1.0),
) -> tuple[float, float]:
    """Return ``(threshold, score)``: macro-F1-optimal, or the highest threshold reaching ``target_recall``.

    ``sample_weight`` weights rows (macro-F1 and recall become weighted); only
    thresholds inside ``bounds`` are candidates, so a small, easy validation split
    cannot push the decision to an extreme. The threshold sits halfway between
    neighbouring scores so that small numerical differences between backends do
    not flip decisions.
    """
    import numpy as np

    p = np.asarray(probs, dtype=np.float64)
    y = np.asarray(labels, dtype=np.int64)
    low, high = bounds
    if p.size == 0 or y.min() == y.max():
        return float(min(max(0.5, low), high)), float("nan")
    w = np.ones_like(p) if sample_weight is None else np.asarray(sample_weight, dtype=np.float64)
    cuts, tp, fp, fn = _sweep(p, y, w)
    tn = (w * (1 - y)).sum() - fp
    with np.errstate(divide="ignore", invalid="ignore"):  # an empty class scores 0, like sklearn's zero_division
        f1_pos = np.where(2 * tp + fp + fn > 0, 2 * tp / (2 * tp + fp + fn), 0.0)
        f1_neg = np.where(2 * tn + fn + fp > 0, 2 * tn / (2 * tn + fn + fp), 0.0)
    macro = (f1_pos + f1_neg) / 2
    below_all = np.r_[cuts[1:], 0.0]
    mids = np.where(
        np.isinf(cuts), np.where(below_all < 1.0, (1.0 + below_all) / 2, np.nextafter(1.0, 2.0)), (cuts + below_all) / 2
    )
    mids = np.where(mids > below_all, mids, cuts)  # no float between two subnormal neighbours
    inside = (mids >= low) & ((mids <= high) | (high >= 1.0))
    if mode == "recall":
        if target_recall is None:
            raise ValueError("target_recall is required when mode='recall'")
        recall = tp / max(float((w * y).sum()), 1e-12)
        reach = (recall >= target_recall - 1e-12) & inside
        idx = int(np.argmax(reach)) if reach.any() else int(np.argmax(np.where(inside, recall, -1.0)))
    else:
        idx = int(np.argmax(np.where(inside, macro, -1.0)))
    if not inside.any():  # every score boundary lies outside: take the nearest bound
        return float(low if mids.min() < low else high), float(macro[idx])
    return float(mids[idx]), float(macro[idx])
