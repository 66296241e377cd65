"""Service-level objectives: ``"p50<100ms,p95<200ms,p99<250ms,max<1s,error_rate<0.1%"``.

Latency objectives take ``ms`` or ``s``; the error rate takes ``%`` or a bare
fraction (``error_rate<0.001``). ``<`` is strict, ``<=`` allows equality.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Any, Literal

LATENCY_METRICS = ("p50", "p90", "p95", "p99", "max")
SLO_METRICS = (*LATENCY_METRICS, "error_rate")
_ITEM = re.compile(r"^([a-z_0-9]+)\s*(<=|<)\s*([0-9]*\.?[0-9]+(?:e[-+]?\d+)?)\s*(ms|s|%)?$", re.IGNORECASE)


@dataclass(frozen=True)
class Objective:
    """One objective: ``metric op limit``; latency limits in milliseconds, the error rate as a fraction."""

    metric: str
    op: Literal["<", "<="]
    limit: float

    def __str__(self) -> str:
        if self.metric == "error_rate":
            return f"{self.metric}{self.op}{self.limit * 100:g}%"
        return f"{self.metric}{self.op}{self.limit:g}ms"

    def met_by(self, value: float) -> bool:
        """Whether a measured value meets the objective."""
        return value < self.limit if self.op == "<" else value <= self.limit


@dataclass(frozen=True)
class SloCheck:
    """An objective with the measured value (None when nothing was measured) and the verdict."""

    objective: Objective
    actual: float | None
    passed: bool

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        unit = "fraction" if self.objective.metric == "error_rate" else "ms"
        return {
            "objective": str(self.objective),
            "metric": self.objective.metric,
            "op": self.objective.op,
            "limit": self.objective.limit,
            "unit": unit,
            "actual": self.actual,
            "passed": self.passed,
        }

    def describe(self) -> str:
        """One phrase for an error line: ``p99 312.4ms (objective p99<250ms)``."""
        metric = self.objective.metric
        if self.actual is None:
            got = "no successful requests" if metric != "error_rate" else "no requests"
        elif metric == "error_rate":
            got = f"{self.actual * 100:.3g}%"
        else:
            got = f"{self.actual:.1f}ms"
        return f"{metric} {got} (objective {self.objective})"


def parse_slo(text: str) -> list[Objective]:
    """Parse a comma-separated list of objectives; raise ``ValueError`` naming the bad item."""
    objectives: list[Objective] = []
    seen: set[str] = set()
    items = [item.strip() for item in text.split(",")]
    if not any(items):
        raise ValueError("empty SLO: give e.g. 'p99<250ms,error_rate<0.1%'")
    for item in items:
        if not item:
            continue
        match = _ITEM.match(item)
        if not match:
            raise ValueError(f"bad SLO item {item!r}: expected METRIC<VALUE, e.g. p99<250ms or error_rate<0.1%")
        metric, op, number, unit = match.group(1).lower(), match.group(2), float(match.group(3)), match.group(4)
        unit = unit.lower() if unit else None
        if metric not in SLO_METRICS:
            raise ValueError(f"bad SLO item {item!r}: unknown metric {metric!r}; choose from {', '.join(SLO_METRICS)}")
        if metric in seen:
            raise ValueError(f"bad SLO item {item!r}: {metric} is given twice")
        seen.add(metric)
        if metric == "error_rate":
            if unit not in (None, "%"):
                raise ValueError(f"bad SLO item {item!r}: error_rate takes a percentage (0.1%) or a fraction (0.001)")
            limit = number / 100 if unit == "%" else number
            if limit > 1:
                raise ValueError(f"bad SLO item {item!r}: an error rate above 100% is meaningless")
        else:
            if unit not in ("ms", "s"):
                raise ValueError(f"bad SLO item {item!r}: {metric} needs a unit, ms or s (e.g. {metric}<250ms)")
            limit = number * 1000 if unit == "s" else number
        if not math.isfinite(limit):
            raise ValueError(f"bad SLO item {item!r}: the limit is not finite")
        objectives.append(Objective(metric, "<=" if op == "<=" else "<", limit))
    return objectives


def check_slo(
    objectives: list[Objective], latency_ms: dict[str, float | None], error_rate: float | None
) -> list[SloCheck]:
    """Compare measured figures with each objective; a figure that could not be measured misses it."""
    checks: list[SloCheck] = []
    for objective in objectives:
        actual = error_rate if objective.metric == "error_rate" else latency_ms.get(objective.metric)
        checks.append(SloCheck(objective, actual, actual is not None and objective.met_by(actual)))
    return checks
