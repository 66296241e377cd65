"""The drift tests on made-up shifted and unshifted data: each test's verdict, skipping and the correction."""

from __future__ import annotations

import numpy as np
import pytest
from tokenizers import Tokenizer
from tokenizers.models import WordPiece
from tokenizers.pre_tokenizers import BertPreTokenizer

from hsctl.drift.stats import (
    MIN_REFERENCE_ROWS,
    TEST_ORDER,
    Side,
    apply_bonferroni,
    contingency_test,
    domain_classifier_test,
    ks_test,
    mmd_test,
    permutation_p,
    run_tests,
    subsample,
    text_descriptors,
)
from hsctl.settings import DriftSettings, NormalizeSettings

CFG = DriftSettings(permutations=200, max_embed_rows=300)


def gaussian(n: int, d: int = 8, shift: float = 0.0, seed: int = 0) -> np.ndarray:
    x = np.random.default_rng(seed).normal(size=(n, d))
    x[:, :2] += shift
    return x


def test_domain_classifier_verdicts():
    same = domain_classifier_test(gaussian(300, seed=1), gaussian(300, seed=2), permutations=200, folds=5, seed=0)
    assert same.p_value > 0.05 and 0.4 < same.statistic < 0.6
    shifted = domain_classifier_test(
        gaussian(300, seed=1), gaussian(300, shift=0.5, seed=2), permutations=200, folds=5, seed=0
    )
    assert shifted.statistic > 0.6 and shifted.p_value == pytest.approx(1 / 201)
    assert shifted.statistic_name == "roc_auc" and len(shifted.plot_data["null"]) == 200
    assert abs(shifted.details["null_mean_auc"] - 0.5) < 0.02


def test_mmd_verdicts():
    same = mmd_test(gaussian(200, seed=3), gaussian(250, seed=4), permutations=200, seed=0)
    assert same.p_value > 0.05 and abs(same.statistic) < 0.01
    shifted = mmd_test(gaussian(200, seed=3), gaussian(250, shift=0.5, seed=4), permutations=200, seed=0)
    assert shifted.p_value < 0.01 and shifted.statistic > same.statistic
    assert shifted.details["sigma"] > 0 and (shifted.n_reference, shifted.n_current) == (200, 250)


def test_mmd_matches_direct_formula():
    x, y = gaussian(30, d=3, seed=5), gaussian(40, d=3, shift=1.0, seed=6)
    test = mmd_test(x, y, permutations=100, seed=0)
    sigma = test.details["sigma"]

    def k(a: np.ndarray, b: np.ndarray) -> np.ndarray:
        return np.exp(-((a[:, None, :] - b[None, :, :]) ** 2).sum(-1) / (2 * sigma**2))

    kxx, kyy = k(x, x), k(y, y)
    direct = (kxx.sum() - np.trace(kxx)) / (30 * 29) + (kyy.sum() - np.trace(kyy)) / (40 * 39) - 2 * k(x, y).mean()
    assert test.statistic == pytest.approx(direct, rel=1e-9)


def test_ks_verdicts():
    rng = np.random.default_rng(0)
    same = ks_test("t", "descriptor", "T", rng.normal(size=500), rng.normal(size=400))
    assert same.p_value > 0.05 and same.statistic_name == "ks"
    shifted = ks_test("t", "descriptor", "T", rng.normal(size=500), rng.normal(0.4, size=400))
    assert shifted.p_value < 1e-4 and shifted.details["current_mean"] > shifted.details["reference_mean"]


def test_contingency_verdicts_and_fisher():
    rng = np.random.default_rng(0)
    same = contingency_test("r", "prediction", "R", rng.random(800) < 0.3, rng.random(600) < 0.3, ["no", "yes"])
    assert same.p_value > 0.05 and same.statistic_name == "chi2"
    shifted = contingency_test("r", "prediction", "R", rng.random(800) < 0.3, rng.random(600) < 0.5, ["no", "yes"])
    assert shifted.p_value < 1e-6
    assert shifted.details["shares"]["current"]["yes"] > 0.45
    rare = contingency_test("e", "descriptor", "E", np.zeros(200), np.r_[np.zeros(192), np.ones(8)], ["a", "b"])
    assert rare.statistic_name == "odds_ratio" and rare.p_value < 0.05
    none = contingency_test("e", "descriptor", "E", np.zeros(200), np.zeros(150), ["a", "b"])
    assert none.p_value == 1.0 and none.statistic == 0.0


def test_permutation_p_and_subsample():
    null = np.linspace(0, 1, 99)
    assert permutation_p(2.0, null) == pytest.approx(1 / 100)
    assert permutation_p(-1.0, null) == 1.0
    assert list(subsample(5, 10, 0)) == [0, 1, 2, 3, 4]
    picked = subsample(1000, 10, 0)
    assert len(set(picked)) == 10 and list(picked) == sorted(picked) and list(picked) == list(subsample(1000, 10, 0))


def tiny_tokenizer() -> Tokenizer:
    words = ["[UNK]", "hello", "world", "the", "cat", "@", "user", "httpurl", "a", "##s"]
    tokenizer = Tokenizer(WordPiece({w: i for i, w in enumerate(words)}, unk_token="[UNK]"))
    tokenizer.pre_tokenizer = BertPreTokenizer()
    return tokenizer


def test_text_descriptors():
    cfg = NormalizeSettings()
    texts = ["hello world", "hello 🙂 world zzz", "@USER HTTPURL the cat", "", "see http://x.io @bob now"]
    d = text_descriptors(texts, tiny_tokenizer(), cfg)
    assert list(d["length"]) == [len(t) for t in texts]
    assert d["unknown_share"][0] == 0 and d["unknown_share"][1] == pytest.approx(2 / 4)
    assert d["placeholder_share"][2] == pytest.approx(2 / 4)
    assert d["placeholder_share"][4] == pytest.approx(2 / 4)  # raw URLs and mentions count too
    assert list(d["empty"]) == [0, 0, 0, 1, 0]


def sides(rng: np.random.Generator, n_ref: int = 600, n_cur: int = 400, **shift: float) -> tuple[Side, Side]:
    def side(n: int, current: bool) -> Side:
        s = lambda key: shift.get(key, 0.0) if current else 0.0  # noqa: E731
        return Side(
            descriptors={
                "length": rng.normal(70 + s("length"), 10, n).round(),
                "unknown_share": rng.random(n) * 0.1,
                "placeholder_share": rng.random(n) * 0.2,
                "empty": (rng.random(n) < 0.01).astype(float),
            },
            embeddings=gaussian(n, shift=s("embedding"), seed=int(rng.integers(1 << 30))),
            probabilities=np.clip(rng.beta(1, 3, n) + s("probability"), 0, 1),
            labels=(rng.random(n) < 0.25 + s("label")).astype(int),
        )

    return side(n_ref, False), side(n_cur, True)


def test_run_tests_unshifted_gives_no_drift():
    ref, cur = sides(np.random.default_rng(1))
    tests = run_tests(ref, cur, CFG, threshold=0.5, labels=["non-hate", "hate"])
    assert [t.name for t in tests] == list(TEST_ORDER)
    verdict = apply_bonferroni(tests, 0.05)
    assert verdict["status"] == "no drift" and verdict["drift"] is False and verdict["tests_run"] == 9
    assert all(t.alpha == pytest.approx(0.05 / 9) and t.drifted is False for t in tests)
    classifier = tests[0]
    assert classifier.threshold is not None and classifier.statistic < classifier.threshold


@pytest.mark.parametrize(
    ("shift", "expected"),
    [
        ({"embedding": 0.6}, {"embedding_classifier", "embedding_mmd"}),
        ({"length": 8.0}, {"text_length"}),
        ({"probability": 0.15}, {"hate_rate", "probability"}),
        ({"label": 0.2}, {"label"}),
    ],
)
def test_run_tests_flags_the_shifted_test(shift: dict[str, float], expected: set[str]):
    ref, cur = sides(np.random.default_rng(2), **shift)
    tests = run_tests(ref, cur, CFG, threshold=0.5, labels=["non-hate", "hate"])
    verdict = apply_bonferroni(tests, 0.05)
    assert verdict["status"] == "drift"
    assert set(verdict["drifted_tests"]) == expected


def test_hashed_texts_skip_text_tests_but_run_prediction_tests():
    ref, cur = sides(np.random.default_rng(3))
    reason = "the log holds sha256 hashes of the texts only"
    cur.descriptors = cur.embeddings = cur.labels = None
    cur.reasons = {"descriptors": reason, "embeddings": reason, "labels": "no true labels"}
    tests = {t.name: t for t in run_tests(ref, cur, CFG, threshold=0.5, labels=["non-hate", "hate"])}
    for name in ("embedding_classifier", "embedding_mmd", "text_length", "unknown_words", "placeholders"):
        assert tests[name].skipped and tests[name].reason == reason and tests[name].drifted is None
    assert tests["label"].skipped and tests["label"].reason == "no true labels"
    assert not tests["hate_rate"].skipped and not tests["probability"].skipped
    verdict = apply_bonferroni(list(tests.values()), 0.05)
    assert verdict["tests_run"] == 2 and verdict["alpha_per_test"] == pytest.approx(0.025)


def test_too_few_rows_skips_instead_of_judging():
    ref, cur = sides(np.random.default_rng(4), n_cur=50, embedding=3.0)
    tests = run_tests(ref, cur, CFG, threshold=0.5, labels=["non-hate", "hate"])
    assert all(t.skipped and t.reason.startswith("too few current rows") for t in tests)
    verdict = apply_bonferroni(tests, 0.05)
    assert verdict["status"] == "insufficient data" and verdict["drift"] is None
    small = run_tests(
        *sides(np.random.default_rng(5), n_ref=MIN_REFERENCE_ROWS - 1), CFG, threshold=0.5, labels=["a", "b"]
    )
    assert all(t.skipped and "reference" in t.reason for t in small)
    relaxed = run_tests(
        *sides(np.random.default_rng(6), n_cur=50),
        DriftSettings(min_rows=20, permutations=100),
        threshold=0.5,
        labels=["a", "b"],
    )
    assert not any(t.skipped for t in relaxed)


def test_to_dict_has_every_field():
    ref, cur = sides(np.random.default_rng(7))
    tests = run_tests(ref, cur, CFG, threshold=0.5, labels=["non-hate", "hate"])
    apply_bonferroni(tests, 0.05)
    entry = tests[0].to_dict()
    for key in ("name", "kind", "statistic", "p_value", "threshold", "alpha", "drifted", "skipped", "reason"):
        assert key in entry
    assert {"n_reference", "n_current", "details"} <= set(entry) and "plot_data" not in entry
