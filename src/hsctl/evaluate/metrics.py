"""Classification metrics for a binary hate classifier, computed with scikit-learn."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from hsctl.core.decision import softmax_positive

if TYPE_CHECKING:
    import numpy.typing as npt

__all__ = ["binary_metrics", "expected_calibration_error", "softmax_positive", "undefined_metrics"]


def expected_calibration_error(y: npt.ArrayLike, probs: npt.ArrayLike, bins: int = 10) -> float:
    """ECE of P(hate) over equal-width bins."""
    import numpy as np

    y_arr, p = np.asarray(y), np.asarray(probs, dtype=np.float64)
    edges = np.linspace(0, 1, bins + 1)
    idx = np.clip(np.digitize(p, edges[1:-1]), 0, bins - 1)
    ece = 0.0
    for b in range(bins):
        mask = idx == b
        if mask.any():
            ece += mask.mean() * abs(p[mask].mean() - y_arr[mask].mean())
    return float(ece)


def undefined_metrics(y: npt.ArrayLike) -> str | None:
    """Why ROC-AUC and PR-AUC cannot be computed on these labels, or None when they can."""
    import numpy as np

    classes = np.unique(np.asarray(y))
    if len(classes) > 1:
        return None
    which = "no rows" if len(classes) == 0 else f"only one class (label {int(classes[0])})"
    return f"the data has {which}: roc_auc and pr_auc are undefined and reported as null"


def binary_metrics(
    y: npt.ArrayLike, probs: npt.ArrayLike, threshold: float, labels: list[str] | None = None
) -> dict[str, Any]:
    """Accuracy, macro/weighted F1, per-class P/R/F1, ROC-AUC, PR-AUC and the confusion matrix."""
    import numpy as np
    from sklearn.metrics import (
        accuracy_score,
        average_precision_score,
        confusion_matrix,
        f1_score,
        precision_recall_fscore_support,
        roc_auc_score,
    )

    labels = labels or ["non-hate", "hate"]
    y_arr = np.asarray(y, dtype=np.int64)
    p = np.asarray(probs, dtype=np.float64)
    pred = (p >= threshold).astype(np.int64)
    both = len(np.unique(y_arr)) > 1
    precision, recall, f1, support = precision_recall_fscore_support(y_arr, pred, labels=[0, 1], zero_division=0)
    return {
        "n": len(y_arr),
        "threshold": float(threshold),
        "accuracy": float(accuracy_score(y_arr, pred)),
        "macro_f1": float(f1_score(y_arr, pred, average="macro", labels=[0, 1], zero_division=0)),
        "weighted_f1": float(f1_score(y_arr, pred, average="weighted", labels=[0, 1], zero_division=0)),
        # Undefined on one-class data: None (JSON null), never NaN; callers say why (undefined_metrics).
        "roc_auc": float(roc_auc_score(y_arr, p)) if both else None,
        "pr_auc": float(average_precision_score(y_arr, p)) if both else None,
        "per_class": {
            labels[i]: {
                "precision": float(precision[i]),
                "recall": float(recall[i]),
                "f1": float(f1[i]),
                "support": int(support[i]),
            }
            for i in (0, 1)
        },
        "confusion_matrix": confusion_matrix(y_arr, pred, labels=[0, 1]).tolist(),
        "predicted_positive_rate": float(pred.mean()) if len(pred) else 0.0,
    }
