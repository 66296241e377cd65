"""Performance at the deployed threshold: CBPE from probabilities, realized from labels, the server's gauges."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from sklearn.metrics import f1_score, precision_score, recall_score

from hsctl.core.performance import RollingEstimate, estimate, realized


def calibrated(n: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    p = rng.beta(0.6, 1.4, n)
    return p, (rng.random(n) < p).astype(int)


@given(st.lists(st.tuples(st.booleans(), st.booleans()), min_size=1, max_size=60))
def test_realized_matches_sklearn(pairs: list[tuple[bool, bool]]):
    y = [int(a) for a, _ in pairs]
    yhat = [int(b) for _, b in pairs]
    out = realized(y, yhat)
    assert out["n"] == len(pairs)
    assert out["macro_f1"] == pytest.approx(
        f1_score(y, yhat, average="macro", labels=[0, 1], zero_division=0), abs=1e-6
    )
    assert out["precision"] == pytest.approx(precision_score(y, yhat, zero_division=0), abs=1e-6)
    assert out["recall"] == pytest.approx(recall_score(y, yhat, zero_division=0), abs=1e-6)
    assert out["hate_rate"] == pytest.approx(np.mean(y), abs=1e-6)


def test_the_estimate_matches_realized_on_calibrated_traffic_and_misses_concept_shift():
    p, y = calibrated(20_000)
    est = estimate(p, 0.4)
    real = realized(y, p >= 0.4)
    for metric in ("precision", "recall", "macro_f1", "hate_rate"):
        assert est[metric] == pytest.approx(real[metric], abs=0.015), metric
        low, high = est["interval"][metric]
        assert low is not None and high is not None and low <= est[metric] <= high  # type: ignore[operator]
    assert est["predicted_hate_rate"] == pytest.approx(np.mean(p >= 0.4))
    # Concept shift: the same probabilities, but hate is now rarer than they say. The estimate cannot know.
    rng = np.random.default_rng(1)
    shifted = (rng.random(len(p)) < p * 0.5).astype(int)
    assert abs(estimate(p, 0.4)["macro_f1"] - realized(shifted, p >= 0.4)["macro_f1"]) > 0.05  # type: ignore[operator]


def test_interval_narrows_with_more_rows_and_empty_input_is_none():
    small = estimate(calibrated(100)[0], 0.5)["interval"]["macro_f1"]
    large = estimate(calibrated(10_000)[0], 0.5)["interval"]["macro_f1"]
    assert (small[1] - small[0]) > 2 * (large[1] - large[0])  # type: ignore[operator]
    assert estimate([], 0.5)["macro_f1"] is None and realized([], [])["n"] == 0


def test_per_record_thresholds_decide_each_prediction():
    mixed = estimate([0.45, 0.45], [0.4, 0.5], samples=0)
    assert mixed["predicted_hate_rate"] == 0.5


def test_rolling_estimate_keeps_the_last_predictions():
    rolling = RollingEstimate(10)
    assert rolling.current()["n"] == 0
    rolling.add([0.9] * 20, 0.5)
    rolling.add([0.1] * 5, 0.5)
    current = rolling.current()
    assert current["n"] == 10 and current["predicted_hate_rate"] == 0.5 and rolling.added == 25
    assert current["hate_rate"] == pytest.approx((5 * 0.9 + 5 * 0.1) / 10)
