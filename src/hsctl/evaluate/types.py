"""The shape of ``eval.json``: typed, so a renamed key is a mypy error in every reader (CLI, Markdown, pipeline)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypedDict


class CategoryRecall(TypedDict):
    """Hate recall on one category's hate rows."""

    recall: float
    support: int


class Gate(TypedDict):
    """The ``--fail-under`` floors and which of them failed."""

    fail_under: dict[str, float]
    failures: list[str]
    passed: bool


# Functional form: two keys ("at_0.5", "per_category_at_0.5") are not identifiers.
EvalReport = TypedDict(
    "EvalReport",
    {
        "accuracy": float,
        "macro_f1": float,
        "weighted_f1": float,
        "roc_auc": float | None,
        "pr_auc": float | None,
        "threshold": float,
        "n": int,
        "ece": float,
        "per_category": dict[str, CategoryRecall],
        "per_class": dict[str, dict[str, float]],
        "confusion_matrix": list[list[int]],
        "at_0.5": dict[str, Any],
        "per_category_at_0.5": dict[str, CategoryRecall],
        "data": str,
        "dropped_empty_text": int,
        "label_rate": float,
        "target_prior": float | None,
        "model": str,
        "model_version": str,
        "backend": str,
        "created_at": str,
        "warnings": list[str],
        "threshold_gap": dict[str, float] | None,
        "gate": Gate,
        "plots": dict[str, str],
        "elapsed_s": float,
    },
    total=False,
)
"""The whole report; ``gate``, ``plots`` and ``elapsed_s`` are added as it is written."""

METRIC_KEYS: tuple[str, ...] = ("accuracy", "macro_f1", "weighted_f1", "roc_auc", "pr_auc")
"""The metrics reported both at the stored threshold and at 0.5, in table order."""


def metric(report: EvalReport, key: str, *, at_half: bool = False) -> float | None:
    """One of :data:`METRIC_KEYS` at the stored threshold (or at 0.5); None when undefined."""
    if key not in METRIC_KEYS:
        raise KeyError(key)
    source: Mapping[str, Any] = report["at_0.5"] if at_half else report
    value = source.get(key)
    return float(value) if isinstance(value, int | float) else None


__all__ = ["METRIC_KEYS", "CategoryRecall", "EvalReport", "Gate", "metric"]
