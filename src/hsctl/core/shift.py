"""Shift-aware estimates: scores that describe the data a deployed model meets, from training data alone.

The training file's hate is concentrated in three categories and is mostly explicit;
deployed traffic is about half hate, spread evenly over the categories, and mostly
implicit. Plain validation scores therefore flatter a model. These helpers re-weight
the validation rows so that every category counts equally and the hate share equals
the deployment prior, and slice out the "implicit" hate (no profanity or slur).

Used by ``train`` (threshold, checkpoint choice, reports) and by ``evaluate``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from hsctl.core.lexicon import is_explicit

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt

NO_CATEGORY = "(none)"


def category_of(value: Any) -> str:
    """A row's category name; missing or empty values share one bucket."""
    text = "" if value is None else str(value).strip()
    return text or NO_CATEGORY


def balanced_weights(
    labels: npt.ArrayLike, categories: Sequence[Any] | None, prior: float = 0.5, *, power: float = 0.0
) -> np.ndarray:
    """Row weights that give hate the share ``prior`` and each hate category the same total weight.

    ``power`` interpolates between equal category totals (0) and the observed
    category mix (1); 0.5 is a square-root compromise. Without categories only the
    prior is re-balanced. Weights average 1 over the rows.
    """
    import numpy as np

    y = np.asarray(labels, dtype=np.int64)
    n = len(y)
    w = np.zeros(n, dtype=np.float64)
    if n == 0:
        return w
    negatives, positives = y == 0, y == 1
    if negatives.any():
        w[negatives] = (1 - prior) / negatives.sum()
    if positives.any():
        cats = np.array([category_of(c) for c in categories] if categories is not None else [NO_CATEGORY] * n)
        names, counts = np.unique(cats[positives], return_counts=True)
        mass = counts.astype(np.float64) ** power
        mass = mass / mass.sum() * prior
        for name, count, share in zip(names, counts, mass, strict=True):
            w[positives & (cats == name)] = share / count
    total = w.sum()
    return w * (n / total) if total > 0 else np.ones(n)


def explicit_mask(texts: Sequence[str]) -> np.ndarray:
    """True where a text contains profanity or a slur from the packaged lexicon."""
    import numpy as np

    return np.array([is_explicit(t) for t in texts], dtype=bool)


def deployment_weights(
    labels: npt.ArrayLike,
    categories: Sequence[Any] | None,
    texts: Sequence[str] | None,
    prior: float = 0.5,
    *,
    implicit_share: float = 0.5,
) -> np.ndarray:
    """Validation row weights that look like deployment traffic: what the threshold is chosen on.

    Starts from :func:`balanced_weights` (hate at ``prior``, every category the same
    total) and then gives implicit hate (no profanity or slur) at least
    ``implicit_share`` of the hate weight inside each category: the training file's
    hate is mostly explicit, deployment hate much less so, and implicit hate scores
    lower. Weights average 1 over the rows.
    """
    import numpy as np

    y = np.asarray(labels, dtype=np.int64)
    w = balanced_weights(y, categories, prior)
    if texts is None or not len(y) or not (y == 1).any():
        return w
    implicit = ~explicit_mask(texts)
    cats = np.array([category_of(c) for c in categories] if categories is not None else [NO_CATEGORY] * len(y))
    for name in np.unique(cats[y == 1]):
        rows = (cats == name) & (y == 1)
        imp, exp = rows & implicit, rows & ~implicit
        mass, imp_mass = w[rows].sum(), w[imp].sum()
        if not imp.any() or not exp.any() or imp_mass >= implicit_share * mass:
            continue
        w[imp] *= implicit_share * mass / imp_mass
        w[exp] *= (1 - implicit_share) * mass / w[exp].sum()
    scaled: np.ndarray = w * (len(y) / w.sum())
    return scaled


def shift_estimates(
    y: npt.ArrayLike,
    probs: npt.ArrayLike,
    threshold: float,
    categories: Sequence[Any] | None,
    texts: Sequence[str] | None = None,
    *,
    prior: float = 0.5,
) -> dict[str, Any]:
    """Category-balanced scores at the deployment prior, per-category recall and the implicit slice.

    ``probs`` are P(hate) as the deployed model reports them (after any prior shift)
    and ``threshold`` is the deployed decision threshold.
    """
    import numpy as np
    from sklearn.metrics import f1_score, roc_auc_score

    y_arr = np.asarray(y, dtype=np.int64)
    p = np.asarray(probs, dtype=np.float64)
    pred = (p >= threshold).astype(np.int64)
    weights = balanced_weights(y_arr, categories, prior)
    both = len(np.unique(y_arr)) > 1
    out: dict[str, Any] = {
        "prior": prior,
        "threshold": float(threshold),
        "balanced_macro_f1": float(
            f1_score(y_arr, pred, average="macro", labels=[0, 1], sample_weight=weights, zero_division=0)
        )
        if len(y_arr)
        else None,
        "balanced_roc_auc": float(roc_auc_score(y_arr, p, sample_weight=weights)) if both else None,
        "balanced_accuracy": float(np.average(pred == y_arr, weights=weights)) if len(y_arr) else None,
        "non_hate_specificity": float((pred[y_arr == 0] == 0).mean()) if (y_arr == 0).any() else None,
    }
    per_category: dict[str, dict[str, Any]] = {}
    if categories is not None:
        cats = np.array([category_of(c) for c in categories])
        for name in sorted(set(cats[y_arr == 1].tolist())):
            rows = (cats == name) & (y_arr == 1)
            per_category[name] = {"recall": float(pred[rows].mean()), "support": int(rows.sum())}
    out["per_category_recall"] = per_category
    recalls = [v["recall"] for v in per_category.values()]
    out["category_macro_recall"] = float(np.mean(recalls)) if recalls else None
    out["worst_category_recall"] = float(min(recalls)) if recalls else None
    if texts is not None:
        implicit = (~explicit_mask(texts)) & (y_arr == 1)
        out["implicit_hate_recall"] = float(pred[implicit].mean()) if implicit.any() else None
        out["implicit_hate_support"] = int(implicit.sum())
    return out


def shift_score(estimates: dict[str, Any]) -> float:
    """The one number that ranks checkpoints and recipes: balanced macro-F1 (0 when undefined)."""
    value = estimates.get("balanced_macro_f1")
    return float(value) if value is not None else 0.0
