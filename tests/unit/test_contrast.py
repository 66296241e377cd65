"""Contrast data: written apart from the suite, minimal pairs, joined to training, refused leaks."""

from __future__ import annotations

import json
import re
from importlib import resources

import numpy as np
import pytest

from hsctl.errors import DataError
from hsctl.train import contrast
from hsctl.train.augment import add_contrast, refuse_suite_leak


def suite_templates() -> list[str]:
    data = json.loads(resources.files("hsctl.evaluate").joinpath("suite_data/functional.json").read_text())
    return [t for f in data["functionalities"] for t in f["templates"]]


def grams(template: str, n: int = 4) -> set[tuple[str, ...]]:
    words = re.findall(r"[a-z0-9']+|_", re.sub(r"\{[^}]*\}", " _ ", template.lower()))
    return {tuple(words[i : i + n]) for i in range(len(words) - n + 1)}


def test_no_template_shares_four_words_with_the_suite():
    suite = set().union(*(grams(t) for t in suite_templates()))
    shared = [(t, g) for t in contrast.all_templates() for g in grams(t) if g in suite]
    assert shared == []


def test_no_generated_text_is_a_suite_case():
    from hsctl.evaluate.suite import overlap_with_suite

    assert overlap_with_suite(row.text for row in contrast.generate()) == 0


def test_group_terms_appear_in_hate_and_in_non_hate():
    rows = contrast.generate()
    for plural, _, _ in contrast.GROUPS:
        labels = {r.label for r in rows if plural in r.text}
        assert labels == {0, 1}, plural
    kinds = {r.kind for r in rows if r.label == 0}
    assert {"counter_quote", "non_hate", "abuse_not_protected", "abuse_individual", "profanity"} <= kinds


def test_parts_split_by_template_and_are_deterministic():
    fit, held = contrast.contrast_rows("fit"), contrast.contrast_rows("holdout")
    assert fit and held
    assert not {r.template for r in fit} & {r.template for r in held}
    assert {r.label for r in held} == {0, 1}
    assert [r.text for r in contrast.contrast_rows("fit")] == [r.text for r in fit]
    assert len({r.text for r in contrast.generate()}) == len(contrast.generate())


def test_add_contrast_appends_normalised_fit_rows(small_dataset):
    out, holdout = add_contrast(small_dataset, {"lowercase": True})
    before, after = small_dataset["train"], out["train"]
    fit = contrast.contrast_rows("fit")
    assert len(after) == len(before) + len(fit)
    assert out["validation"].num_rows == small_dataset["validation"].num_rows  # validation untouched
    added = after.select(range(len(before), len(after)))
    assert added["label"] == [r.label for r in fit]
    assert all(t == t.lower() for t in added["text"])
    cats = [c for c, y in zip(added["category"], added["label"], strict=True) if y == 0]
    assert set(cats) == {None}
    assert len(holdout.texts) == len(contrast.contrast_rows("holdout")) == len(holdout.labels)


def test_refuse_suite_leak_before_fitting():
    from hsctl.evaluate.suite import load_suite

    case = load_suite()[0].text
    refuse_suite_leak(["a perfectly ordinary tweet"])
    with pytest.raises(DataError, match="1 training/validation texts are behavioural-suite cases"):
        refuse_suite_leak(["fine", "  " + case.upper() + " "])


@pytest.fixture
def small_dataset():
    from datasets import ClassLabel, Dataset, DatasetDict, Features, Value

    features = Features({"text": Value("string"), "label": ClassLabel(names=["non-hate", "hate"]),
                         "category": Value("string")})  # fmt: skip
    rows = {"text": ["you are great", "i hate them all"], "label": [0, 1], "category": [None, "Race"]}
    split = Dataset.from_dict(rows, features=features)
    return DatasetDict({"train": split, "validation": split})


def test_threshold_rule_weights_implicit_hate_and_the_holdout():
    from hsctl.core.shift import deployment_weights
    from hsctl.settings import TrainSettings
    from hsctl.train.decide import choose_threshold

    texts = ["fuck them", "shit people", "they should leave", "go back home", "nice day", "hello", "ok", "fine"]
    y = np.array([1, 1, 1, 0, 0, 0, 0, 0])
    y[3] = 1  # 'go back home' is implicit hate
    cats = ["Race"] * 4 + [None] * 4
    w = deployment_weights(y, cats, texts, 0.5, implicit_share=0.5)
    implicit = np.array([False, False, True, True, False, False, False, False])
    hate = y == 1
    assert w[implicit].sum() == pytest.approx(w[hate & ~implicit].sum())  # half the hate weight each
    assert w.mean() == pytest.approx(1.0)
    # explicit hate scores high, implicit hate low, one non-hate text in between
    texts = ["fuck them", "shit people", "fucking idiots", "shitty lot", "they should leave"] + ["ok"] * 5
    y = np.array([1, 1, 1, 1, 1, 0, 0, 0, 0, 0])
    cats = ["Race"] * 5 + [None] * 5
    probs = np.array([0.95, 0.9, 0.85, 0.8, 0.45, 0.6, 0.3, 0.2, 0.1, 0.05])
    cfg = TrainSettings(implicit_share=0.5, contrast_threshold_share=0.0, threshold_bounds=(0.0, 1.0))
    plain = choose_threshold(cfg.model_copy(update={"implicit_share": 0.0}), probs, y, cats, texts)
    low = choose_threshold(cfg, probs, y, cats, texts)
    assert plain == pytest.approx(0.7)  # gives up the implicit case
    assert low == pytest.approx(0.375)  # catches it at the cost of one false positive
    # held-out contrast rows (non-hate at 0.4) push it back up when given weight
    held_p, held_y = np.full(20, 0.4), np.zeros(20, dtype=int)
    held_p[:2], held_y[:2] = 0.99, 1
    up = choose_threshold(cfg.model_copy(update={"contrast_threshold_share": 0.6}), probs, y, cats, texts,
                          held_p, held_y)  # fmt: skip
    assert up == pytest.approx(0.425)
    # without a target prior: the plain validation optimum, no weights
    assert choose_threshold(cfg.model_copy(update={"target_prior": None}), probs, y, cats, texts) == pytest.approx(0.7)
