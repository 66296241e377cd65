"""The int8 gate: does the quantised copy rank and decide like the model it copies?

A 559-row validation split cannot tell a 0.01 macro-F1 difference at one threshold
from noise, and one F1 number says nothing about ranking. The gate therefore judges
two things on probabilities that went through the same path (softmax, prior shift):

- **ranking**: the ROC-AUC drop of int8 against the reference, with a paired
  bootstrap; int8 fails only when even the optimistic end of the interval (the
  ``1 - confidence`` quantile of the drop) exceeds ``max_auc_drop``;
- **decisions**: the share of texts on which int8 and the reference agree at the
  stored threshold; int8 fails when the Wilson upper bound of that share lies below
  ``min_agreement``.

Both bounds shrink as the validation split grows, so a large split judges closely
and a small one does not reject a copy for a difference within its noise.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import numpy.typing as npt

BOOTSTRAP_SAMPLES = 400


@dataclass
class GateResult:
    """What the gate measured, its bounds, and why it failed (empty when it passed)."""

    n: int
    threshold: float
    auc_reference: float | None
    auc_int8: float | None
    auc_drop: float
    auc_drop_lower: float
    max_auc_drop: float
    agreement: float
    agreement_upper: float
    min_agreement: float
    confidence: float
    failures: list[str] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        """True when neither the ranking nor the decisions fail."""
        return not self.failures

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return asdict(self) | {"passed": self.passed}


def _z(confidence: float) -> float:
    """One-sided normal quantile for ``confidence`` (0.95 -> 1.645)."""
    from statistics import NormalDist

    return NormalDist().inv_cdf(min(max(confidence, 0.5), 0.999999))


def wilson_upper(successes: int, n: int, confidence: float) -> float:
    """One-sided Wilson upper bound of a proportion (1.0 for an empty sample)."""
    if n <= 0:
        return 1.0
    z = _z(confidence)
    p = successes / n
    centre = p + z * z / (2 * n)
    spread = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    return min(1.0, (centre + spread) / (1 + z * z / n))


def _auc(labels: Any, scores: Any) -> float | None:
    """ROC-AUC, or None when one class is missing."""
    from sklearn.metrics import roc_auc_score

    if len({int(v) for v in labels}) < 2:
        return None
    return float(roc_auc_score(labels, scores))


def auc_drop_lower(labels: Any, reference: Any, candidate: Any, confidence: float, *, seed: int = 0) -> float:
    """The ``1 - confidence`` quantile of the paired-bootstrap AUC drop (reference minus candidate)."""
    import numpy as np
    from sklearn.metrics import roc_auc_score

    y = np.asarray(labels, dtype=np.int64)
    ref = np.asarray(reference, dtype=np.float64)
    cand = np.asarray(candidate, dtype=np.float64)
    rng = np.random.default_rng(seed)
    drops: list[float] = []
    for _ in range(BOOTSTRAP_SAMPLES):
        idx = rng.integers(0, len(y), len(y))
        if y[idx].min() == y[idx].max():
            continue
        drops.append(float(roc_auc_score(y[idx], ref[idx]) - roc_auc_score(y[idx], cand[idx])))
    if not drops:
        return 0.0
    return float(np.quantile(drops, 1 - confidence))


def int8_gate(
    labels: Sequence[int] | npt.ArrayLike,
    reference: npt.ArrayLike,
    int8: npt.ArrayLike,
    threshold: float,
    *,
    max_auc_drop: float,
    min_agreement: float,
    confidence: float = 0.95,
) -> GateResult:
    """Judge int8 probabilities against the reference's (both from ``Predictor.probabilities``)."""
    import numpy as np

    y = np.asarray(labels, dtype=np.int64)
    ref = np.asarray(reference, dtype=np.float64)
    cand = np.asarray(int8, dtype=np.float64)
    if ref.shape != cand.shape or ref.shape != y.shape:
        raise ValueError("labels, reference and int8 probabilities must have the same length")
    n = len(y)
    agree = int(np.sum((ref >= threshold) == (cand >= threshold)))
    agreement = agree / n if n else 1.0
    upper = wilson_upper(agree, n, confidence)
    auc_ref, auc_int8 = _auc(y, ref), _auc(y, cand)
    drop = (auc_ref - auc_int8) if auc_ref is not None and auc_int8 is not None else 0.0
    lower = auc_drop_lower(y, ref, cand, confidence) if auc_ref is not None else 0.0
    failures: list[str] = []
    if lower > max_auc_drop:
        failures.append(
            f"int8 loses {drop:.4f} validation ROC-AUC (at least {lower:.4f} at {confidence:.0%} confidence; "
            f"limit {max_auc_drop:g})"
        )
    if upper < min_agreement:
        failures.append(
            f"int8 agrees with the full-precision model on {agreement:.1%} of validation decisions "
            f"(at most {upper:.1%} at {confidence:.0%} confidence; limit {min_agreement:.0%})"
        )
    return GateResult(
        n=n,
        threshold=float(threshold),
        auc_reference=auc_ref,
        auc_int8=auc_int8,
        auc_drop=float(drop),
        auc_drop_lower=float(lower),
        max_auc_drop=max_auc_drop,
        agreement=float(agreement),
        agreement_upper=float(upper),
        min_agreement=min_agreement,
        confidence=confidence,
        failures=failures,
    )
