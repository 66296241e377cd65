"""The int8 gate's arithmetic: ranking (paired bootstrap on ROC-AUC) and decision agreement (Wilson bound)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from hsctl.core.decision import deployed_probabilities, shift_prior, softmax_positive
from hsctl.quantize.gate import auc_drop_lower, int8_gate, wilson_upper


def scores(n: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, n)
    p = np.clip(0.5 + (y - 0.5) * 0.6 + rng.normal(0, 0.25, n), 0.001, 0.999)
    return y, p


def test_identical_probabilities_pass_with_zero_drop_and_full_agreement():
    y, p = scores(559)
    gate = int8_gate(y, p, p.copy(), 0.5, max_auc_drop=0.0, min_agreement=1.0)
    assert gate.passed, gate.failures
    assert gate.auc_drop == 0.0 and gate.auc_drop_lower == 0.0
    assert gate.agreement == 1.0 and gate.agreement_upper == 1.0


def test_a_copy_that_ranks_worse_fails_on_ranking():
    y, p = scores(559)
    rng = np.random.default_rng(1)
    worse = p.copy()
    idx = rng.choice(len(p), 150, replace=False)
    worse[idx] = rng.permutation(worse[idx])  # scramble a quarter of the scores
    gate = int8_gate(y, p, worse, 0.5, max_auc_drop=0.003, min_agreement=0.0)
    assert gate.auc_drop > 0.01
    assert gate.auc_drop_lower > 0.003
    assert not gate.passed and "ROC-AUC" in gate.failures[0]
    # the same drop is accepted under a tolerance above it
    assert int8_gate(y, p, worse, 0.5, max_auc_drop=gate.auc_drop + 0.05, min_agreement=0.0).passed


def test_ranking_bound_lies_below_the_point_drop():
    y, p = scores(300)
    noisy = np.clip(p + np.random.default_rng(2).normal(0, 0.05, len(p)), 0, 1)
    gate = int8_gate(y, p, noisy, 0.5, max_auc_drop=1.0, min_agreement=0.0)
    assert gate.auc_drop_lower <= gate.auc_drop
    # a higher confidence asks for more evidence: its bound is lower still
    assert auc_drop_lower(y, p, noisy, 0.99) <= auc_drop_lower(y, p, noisy, 0.8)


def flip(p: np.ndarray, k: int, threshold: float = 0.5) -> np.ndarray:
    out = p.copy()
    out[:k] = np.where(out[:k] >= threshold, threshold - 0.01, threshold + 0.01)
    return out


def test_agreement_bound_accounts_for_sample_size():
    # 2% disagreement on 50 rows cannot show agreement is below 98%: it passes
    y, p = scores(50)
    small = int8_gate(y, p, flip(p, 1), 0.5, max_auc_drop=1.0, min_agreement=0.98)
    assert small.agreement == pytest.approx(0.98)
    assert small.passed and small.agreement_upper > 0.98
    # 5% disagreement on 1,000 rows does: it fails, and says so
    y, p = scores(1000)
    large = int8_gate(y, p, flip(p, 50), 0.5, max_auc_drop=1.0, min_agreement=0.98)
    assert large.agreement == pytest.approx(0.95)
    assert large.agreement_upper < 0.98
    assert not large.passed and "agrees" in large.failures[0]


def test_wilson_upper_known_values():
    z = 1.6448536269514722
    assert wilson_upper(0, 10, 0.95) == pytest.approx((z * z / 20 + z * z / 20) / (1 + z * z / 10))
    assert wilson_upper(10, 10, 0.95) == 1.0
    assert wilson_upper(0, 0, 0.95) == 1.0
    assert wilson_upper(95, 100, 0.95) == pytest.approx(0.9755, abs=1e-4)  # one-sided, z = 1.645
    assert wilson_upper(950, 1000, 0.95) < wilson_upper(95, 100, 0.95)


def test_mismatched_lengths_are_refused():
    with pytest.raises(ValueError, match="same length"):
        int8_gate([0, 1], [0.1, 0.9], [0.1], 0.5, max_auc_drop=0.01, min_agreement=0.9)


def test_deployed_probabilities_is_softmax_then_prior_shift():
    logits = np.array([[0.0, 1.0], [2.0, -1.0], [0.3, 0.3]])
    plain = softmax_positive(logits)
    assert np.allclose(deployed_probabilities(logits, 0.27, None), plain)
    assert np.allclose(deployed_probabilities(logits, None, 0.5), plain)
    shifted = deployed_probabilities(logits, 0.27, 0.5)
    assert np.allclose(shifted, shift_prior(plain, 0.27, 0.5))
    assert not np.allclose(shifted, plain)
    odds = lambda q: q / (1 - q)  # noqa: E731
    assert odds(shifted[2]) == pytest.approx(odds(0.5) * (0.5 / 0.5) / (0.27 / 0.73))
    assert math.isfinite(float(shifted.sum()))
