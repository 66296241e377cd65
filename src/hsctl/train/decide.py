"""After fitting: calibrate, shift to the deployment prior, choose the threshold, estimate under shift.

Plain validation scores reward a model for the training file's distribution (slur-heavy
hate from three categories, 27% hate). The decision stored with the model is chosen for
the traffic it will meet instead: probabilities are calibrated on validation (temperature
and bias, folded into the output layer so every backend agrees), re-weighted to the
target prior, and the threshold maximises the category-balanced macro-F1 inside
``threshold_bounds``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from hsctl.core.decision import best_threshold, deployed_probabilities
from hsctl.core.shift import balanced_weights, deployment_weights, shift_estimates

if TYPE_CHECKING:
    import numpy as np

    from hsctl.settings import TrainSettings

# The hate share at which shift-aware estimates are reported when no target prior is set
# (the hub test split's, and a common moderation setting): recipes stay comparable.
ESTIMATE_PRIOR = 0.5


@dataclass
class Calibration:
    """``logit(P(hate)) = scale * (logit_hate - logit_other) + bias``, fitted on validation."""

    scale: float = 1.0
    bias: float = 0.0

    @property
    def temperature(self) -> float:
        """The usual temperature, 1 / scale."""
        return 1.0 / self.scale if self.scale else float("inf")


@dataclass
class Decision:
    """The stored decision rule and what it scores on validation."""

    threshold: float
    validation_prior: float
    target_prior: float | None
    calibration: Calibration
    validation_metrics: dict[str, Any]
    shift: dict[str, Any]

    def probabilities(self, logits: np.ndarray) -> np.ndarray:
        """P(hate) of raw (uncalibrated) logits as the deployed model reports it."""
        return deploy_probs(apply_calibration(logits, self.calibration), self.validation_prior, self.target_prior)


SCALE_BOUNDS = (0.05, 5.0)
BIAS_BOUNDS = (-8.0, 8.0)


def fit_calibration(logits: np.ndarray, labels: np.ndarray) -> Calibration:
    """Scale and bias of the logit margin that minimise validation log-loss (Platt scaling).

    Targets are Platt's smoothed labels and the parameters are bounded, so a
    perfectly separated validation split cannot drive the scale to infinity.
    """
    import numpy as np
    from scipy.optimize import minimize

    z = np.asarray(logits, dtype=np.float64)
    margin = z[:, 1] - z[:, 0]
    y = np.asarray(labels, dtype=np.float64)
    if len(np.unique(y)) < 2:
        return Calibration()
    positives, negatives = y.sum(), len(y) - y.sum()
    target = np.where(y == 1, (positives + 1) / (positives + 2), 1 / (negatives + 2))

    def loss(params: np.ndarray) -> float:
        t = params[0] * margin + params[1]
        return float(np.mean(np.logaddexp(0.0, t) - target * t))

    found = minimize(loss, x0=np.array([1.0, 0.0]), method="L-BFGS-B", bounds=[SCALE_BOUNDS, BIAS_BOUNDS])
    scale, bias = (float(v) for v in found.x)
    if not np.isfinite([scale, bias]).all() or scale <= 0:  # a degenerate fit: keep the raw scores
        return Calibration()
    return Calibration(scale=scale, bias=bias)


def apply_calibration(logits: np.ndarray, cal: Calibration) -> np.ndarray:
    """Logits as the calibrated output layer produces them."""
    import numpy as np

    z = np.asarray(logits, dtype=np.float64) * cal.scale
    z[:, 1] += cal.bias
    return z


def fold_calibration(model: Any, cal: Calibration) -> None:
    """Fold the calibration into the classifier's last linear layer, so exported models agree."""
    import torch

    num_labels = int(getattr(model.config, "num_labels", 2))
    head = [m for m in model.modules() if isinstance(m, torch.nn.Linear) and m.out_features == num_labels]
    if not head or (cal.scale == 1.0 and cal.bias == 0.0):
        return
    layer = head[-1]
    with torch.no_grad():
        layer.weight.mul_(cal.scale)
        if layer.bias is None:
            layer.bias = torch.nn.Parameter(torch.zeros(num_labels, dtype=layer.weight.dtype))
        layer.bias.mul_(cal.scale)
        layer.bias[1] += cal.bias


def deploy_probs(logits: np.ndarray, validation_prior: float, target_prior: float | None) -> np.ndarray:
    """P(hate) as the deployed model reports it: the predictors' own path (softmax, then the prior shift)."""
    probs: np.ndarray = deployed_probabilities(logits, validation_prior, target_prior)
    return probs


def decide(
    cfg: TrainSettings,
    logits: np.ndarray,
    labels: np.ndarray,
    categories: Sequence[Any] | None,
    texts: Sequence[str],
    label_names: list[str],
    *,
    calibrate: bool | None = None,
    holdout: tuple[np.ndarray, Sequence[int]] | None = None,
) -> Decision:
    """Calibrate, choose the threshold at the target prior and compute plain and shift-aware scores.

    ``holdout`` is the raw logits and labels of contrast rows the model was not fitted to.
    """
    import numpy as np

    from hsctl.evaluate.metrics import binary_metrics

    y = np.asarray(labels, dtype=np.int64)
    cal = fit_calibration(logits, y) if (cfg.calibrate if calibrate is None else calibrate) else Calibration()
    val_prior = float(y.mean()) if len(y) else 0.5
    probs = deploy_probs(apply_calibration(logits, cal), val_prior, cfg.target_prior)
    prior = cfg.target_prior or ESTIMATE_PRIOR
    held_probs = None
    if holdout is not None and len(holdout[1]):
        held_probs = deploy_probs(apply_calibration(holdout[0], cal), val_prior, cfg.target_prior)
    threshold = choose_threshold(cfg, probs, y, categories, texts, held_probs, holdout[1] if holdout else None)
    metrics = binary_metrics(y, probs, threshold, label_names)
    metrics["macro_f1_at_0.5"] = binary_metrics(y, probs, 0.5, label_names)["macro_f1"]
    shift = shift_estimates(y, probs, threshold, categories, texts, prior=prior)
    if held_probs is not None and holdout is not None:
        held = binary_metrics(np.asarray(holdout[1]), held_probs, threshold, label_names)
        shift["contrast_holdout"] = {
            "n": len(holdout[1]),
            "macro_f1": held["macro_f1"],
            "roc_auc": held["roc_auc"],
            "non_hate_specificity": float(np.mean(held_probs[np.asarray(holdout[1]) == 0] < threshold)),
            "hate_recall": float(np.mean(held_probs[np.asarray(holdout[1]) == 1] >= threshold)),
        }
    return Decision(threshold, val_prior, cfg.target_prior, cal, metrics, shift)


def choose_threshold(
    cfg: TrainSettings,
    probs: np.ndarray,
    y: np.ndarray,
    categories: Sequence[Any] | None,
    texts: Sequence[str] | None,
    held_probs: np.ndarray | None = None,
    held_labels: Sequence[int] | None = None,
) -> float:
    """The stored threshold: best (weighted) macro-F1 on an estimate of deployment traffic.

    With a target prior the estimate is the validation split re-weighted by
    :func:`hsctl.core.shift.deployment_weights` (hate at the prior, categories equal,
    implicit hate at least half of each category's hate), joined by the contrast
    rows of templates the model was not fitted to, which carry
    ``cfg.contrast_threshold_share`` of the total weight (class-balanced at the prior).
    Without a target prior it is the plain validation split.
    """
    import numpy as np

    if not cfg.target_prior:
        threshold, _ = best_threshold(probs, y, cfg.threshold_mode, cfg.target_recall, bounds=cfg.threshold_bounds)
        return threshold
    weights = deployment_weights(y, categories, texts, cfg.target_prior, implicit_share=cfg.implicit_share)
    p_all, y_all = probs, y
    share = cfg.contrast_threshold_share
    if held_probs is not None and held_labels is not None and len(held_labels) and share > 0:
        y_held = np.asarray(held_labels, dtype=np.int64)
        w_held = balanced_weights(y_held, None, cfg.target_prior)
        w_held = w_held / w_held.sum() * share
        weights = weights / weights.sum() * (1 - share)
        p_all, y_all = np.r_[probs, held_probs], np.r_[y, y_held]
        weights = np.r_[weights, w_held]
    threshold, _ = best_threshold(
        p_all, y_all, cfg.threshold_mode, cfg.target_recall, sample_weight=weights, bounds=cfg.threshold_bounds
    )
    return threshold


def epoch_scores(
    cfg: TrainSettings, logits: np.ndarray, labels: np.ndarray, categories: Sequence[Any] | None
) -> dict[str, float]:
    """Per-evaluation scores for checkpoint choice (no calibration: it does not move the ranking much)."""
    import numpy as np

    from hsctl.evaluate.metrics import binary_metrics

    y = np.asarray(labels, dtype=np.int64)
    val_prior = float(y.mean()) if len(y) else 0.5
    probs = deploy_probs(logits, val_prior, cfg.target_prior)
    prior = cfg.target_prior or ESTIMATE_PRIOR
    weights = balanced_weights(y, categories, prior)
    threshold, balanced = best_threshold(probs, y, sample_weight=weights, bounds=cfg.threshold_bounds)
    plain_threshold, _ = best_threshold(probs, y, bounds=cfg.threshold_bounds)
    plain = binary_metrics(y, probs, plain_threshold)
    estimates = shift_estimates(y, probs, threshold, categories, prior=prior)
    return {
        "macro_f1": plain["macro_f1"],
        "roc_auc": plain["roc_auc"],
        "accuracy": plain["accuracy"],
        "shift_score": balanced if np.isfinite(balanced) else 0.0,
        "balanced_roc_auc": estimates["balanced_roc_auc"] or 0.0,
        "worst_category_recall": estimates["worst_category_recall"] or 0.0,
        "threshold": threshold,
    }
