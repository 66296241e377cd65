from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.metrics import f1_score

from hsctl.core.decision import best_threshold, shift_prior


def test_perfect_separation_threshold_between_classes():
    probs = [0.1, 0.2, 0.3, 0.7, 0.8]
    labels = [0, 0, 0, 1, 1]
    threshold, score = best_threshold(probs, labels)
    assert 0.3 < threshold < 0.7
    assert score == 1.0


def test_recall_mode_reaches_target_with_highest_threshold():
    probs = np.array([0.9, 0.8, 0.6, 0.4, 0.35, 0.2, 0.1])
    labels = np.array([1, 1, 0, 1, 0, 1, 0])
    threshold, _ = best_threshold(probs, labels, "recall", target_recall=0.75)
    recall = ((probs >= threshold) & (labels == 1)).sum() / labels.sum()
    assert recall >= 0.75
    assert threshold > 0.2  # the 4th positive (0.2) is not needed
    with pytest.raises(ValueError, match="target_recall"):
        best_threshold(probs, labels, "recall")


def test_single_class_falls_back_to_half():
    assert best_threshold([0.2, 0.9], [1, 1])[0] == 0.5


@settings(max_examples=150, deadline=None)
@given(
    data=st.lists(st.tuples(st.floats(0, 1), st.integers(0, 1)), min_size=2, max_size=40).filter(
        lambda d: len({y for _, y in d}) == 2
    )
)
def test_macro_f1_is_the_best_achievable(data: list[tuple[float, int]]):
    probs = np.array([p for p, _ in data])
    labels = np.array([y for _, y in data])
    threshold, score = best_threshold(probs, labels)
    achieved = f1_score(labels, (probs >= threshold).astype(int), average="macro")
    assert achieved == pytest.approx(score)
    brute = max(f1_score(labels, (probs >= t).astype(int), average="macro", zero_division=0) for t in np.r_[probs, 1.1])
    assert score == pytest.approx(brute)


def test_shift_prior():
    p = np.array([0.1, 0.5, 0.9])
    assert np.allclose(shift_prior(p, 0.27, 0.27), p)
    up = shift_prior(p, 0.27, 0.5)
    assert np.all(up > p) and np.all(np.diff(up) > 0)
    assert np.allclose(shift_prior(up, 0.5, 0.27), p)
