"""Shift-aware estimates, the profanity/slur lexicon and weighted thresholds (hsctl.core)."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.metrics import f1_score

from hsctl.core.decision import best_threshold
from hsctl.core.lexicon import canonical, is_explicit
from hsctl.core.shift import NO_CATEGORY, balanced_weights, category_of, shift_estimates, shift_score


def test_balanced_weights_equal_categories_and_prior():
    y = np.array([0] * 6 + [1] * 6)
    cats = [None] * 6 + ["Race"] * 4 + ["Class"] * 2
    w = balanced_weights(y, cats, prior=0.5)
    assert w.mean() == pytest.approx(1.0)
    assert w[y == 1].sum() == pytest.approx(w[y == 0].sum())  # hate share = prior
    assert w[6:10].sum() == pytest.approx(w[10:12].sum())  # every category the same total
    w30 = balanced_weights(y, cats, prior=0.3)
    assert w30[y == 1].sum() / w30.sum() == pytest.approx(0.3)


def test_balanced_weights_power_interpolates():
    y = np.array([0, 0, 1, 1, 1, 1, 1])
    cats = [None, None, "A", "A", "A", "A", "B"]
    observed = balanced_weights(y, cats, 0.5, power=1.0)
    assert observed[2] == pytest.approx(observed[6])  # the observed mix: every hate row alike
    sqrt = balanced_weights(y, cats, 0.5, power=0.5)
    ratio = sqrt[2:6].sum() / sqrt[6]
    assert ratio == pytest.approx(2.0)  # sqrt(4) : sqrt(1)
    assert balanced_weights(np.array([], dtype=int), [], 0.5).size == 0
    no_cats = balanced_weights(np.array([0, 0, 0, 1]), None, 0.5)
    assert no_cats[3] == pytest.approx(3 * no_cats[0])


def test_category_of():
    assert category_of(None) == NO_CATEGORY
    assert category_of("  ") == NO_CATEGORY
    assert category_of(" Race ") == "Race"


def test_shift_estimates_by_hand():
    y = np.array([0, 0, 0, 0, 1, 1, 1, 1])
    probs = np.array([0.1, 0.2, 0.7, 0.1, 0.9, 0.8, 0.3, 0.6])
    cats = [None] * 4 + ["Race", "Race", "Class", "Class"]
    texts = ["a", "b", "c", "d", "you nigga", "go away", "they smell", "f*ck them"]
    est = shift_estimates(y, probs, 0.5, cats, texts, prior=0.5)
    assert est["per_category_recall"]["Race"] == {"recall": 1.0, "support": 2}
    assert est["per_category_recall"]["Class"] == {"recall": 0.5, "support": 2}
    assert est["worst_category_recall"] == 0.5
    assert est["category_macro_recall"] == 0.75
    # implicit hate: "go away" (caught) and "they smell" (missed)
    assert est["implicit_hate_support"] == 2 and est["implicit_hate_recall"] == 0.5
    w = balanced_weights(y, cats, 0.5)
    expected = f1_score(y, (probs >= 0.5).astype(int), average="macro", sample_weight=w)
    assert est["balanced_macro_f1"] == pytest.approx(expected)
    assert est["non_hate_specificity"] == 0.75
    assert shift_score(est) == pytest.approx(expected)
    assert shift_score({"balanced_macro_f1": None}) == 0.0


def test_shift_estimates_one_class_is_null_not_nan():
    est = shift_estimates(np.array([1, 1]), np.array([0.9, 0.2]), 0.5, ["A", "B"], prior=0.5)
    assert est["balanced_roc_auc"] is None
    assert est["worst_category_recall"] == 0.0


@pytest.mark.parametrize(
    ("text", "explicit"),
    [
        ("why ya niggas be like that", True),
        ("f*ck this", True),
        ("sh1t happens", True),
        ("B.I.T.C.H.E.S everywhere", True),
        ("that is white trash", True),
        ("spicy food in japan", False),
        ("assume the association is fine", False),
        ("they should all go back where they came from", False),
    ],
)
def test_lexicon(text: str, explicit: bool):
    assert is_explicit(text) is explicit


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=200))
def test_lexicon_never_fails_and_canonical_is_idempotent(text: str):
    assert isinstance(is_explicit(text), bool)
    assert canonical(canonical(text)) == canonical(text)


@settings(max_examples=150, deadline=None)
@given(
    data=st.lists(st.tuples(st.floats(0, 1), st.integers(0, 1), st.floats(0.1, 5)), min_size=2, max_size=30).filter(
        lambda d: len({y for _, y, _ in d}) == 2
    )
)
def test_weighted_threshold_is_the_best_achievable(data: list[tuple[float, int, float]]):
    probs = np.array([p for p, _, _ in data])
    labels = np.array([y for _, y, _ in data])
    weights = np.array([w for _, _, w in data])
    threshold, score = best_threshold(probs, labels, sample_weight=weights)

    def macro(t: float) -> float:
        return float(
            f1_score(labels, (probs >= t).astype(int), average="macro", sample_weight=weights, zero_division=0)
        )

    assert macro(threshold) == pytest.approx(score)
    assert score == pytest.approx(max(macro(t) for t in np.r_[probs, 1.1]), abs=1e-9)


def test_threshold_bounds_are_respected():
    probs = np.array([0.01, 0.02, 0.03, 0.04, 0.97, 0.98, 0.99])
    labels = np.array([0, 0, 0, 0, 1, 1, 1])
    free, _ = best_threshold(probs, labels)
    assert 0.04 < free < 0.97
    low, _ = best_threshold(np.array([0.01, 0.02, 0.9, 0.95]), np.array([0, 1, 1, 1]), bounds=(0.2, 0.8))
    assert 0.2 <= low <= 0.8
    # every candidate outside the bounds: the nearest bound
    only_high, _ = best_threshold(np.array([0.96, 0.99]), np.array([0, 1]), bounds=(0.2, 0.45))
    assert only_high == 0.45
    recall_t, _ = best_threshold(probs, labels, "recall", target_recall=1.0, bounds=(0.3, 0.7))
    assert 0.3 <= recall_t <= 0.7
