"""The shape of ``drift.json``: typed, so a renamed key is a mypy error in every reader (CLI, HTML, pipeline)."""

from __future__ import annotations

from typing import Any, Literal, TypedDict

from hsctl.drift.performance import Performance


class Verdict(TypedDict):
    """The overall outcome after the Bonferroni correction."""

    status: Literal["drift", "no drift", "insufficient data"]
    drift: bool | None
    tests_run: int
    tests_skipped: int
    drifted_tests: list[str]
    alpha: float
    alpha_per_test: float
    correction: str


class TestReport(TypedDict):
    """One test's outcome (``tests`` in ``drift.json``)."""

    name: str
    kind: str
    title: str
    statistic_name: str
    statistic: float | None
    p_value: float | None
    threshold: float | None
    alpha: float | None
    drifted: bool | None
    skipped: bool
    reason: str | None
    n_reference: int
    n_current: int
    details: dict[str, Any]


class SideInfo(TypedDict, total=False):
    """One side of the comparison: where its rows came from and how many were usable."""

    source: str
    kind: str
    rows: int
    with_text: int
    with_label: int
    prediction_source: str
    prediction_rows: int
    prediction_cached: bool


class ModelRef(TypedDict):
    """The model whose tokenizer, encoder and scores the report used."""

    path: str
    version: str
    backend: str
    threshold: float
    labels: list[str]


class DriftReport(TypedDict, total=False):
    """The whole report; ``timings_s`` and ``elapsed_s`` are added when it is written."""

    verdict: Verdict
    tests: list[TestReport]
    reference: SideInfo
    current: SideInfo
    model: ModelRef
    encoder: dict[str, Any]
    performance: Performance | None
    settings: dict[str, Any]
    warnings: list[str]
    created_at: str
    timings_s: dict[str, float]
    elapsed_s: float


__all__ = ["DriftReport", "ModelRef", "SideInfo", "TestReport", "Verdict"]
