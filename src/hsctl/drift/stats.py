"""The drift tests: each returns a :class:`DriftTest` with its statistic, p-value and sample sizes.

Functions take plain numpy arrays, so they are tested (and calibrated) on
synthetic data directly. :func:`run_tests` runs every test that its inputs
allow, skips the others with a reason, and :func:`apply_bonferroni` turns the
p-values into one verdict at a family-wise level ``alpha``.

- Embedding drift: a domain classifier (logistic regression, reference vs
  current) whose cross-validated ROC-AUC is judged against the AUCs of the same
  out-of-fold scores under permuted domain labels (a random classifier), as
  Evidently does; and the unbiased MMD² with an RBF kernel (median-heuristic
  bandwidth) and a permutation p-value, as alibi-detect does.
- Text descriptors: two-sample Kolmogorov-Smirnov tests of length, the share of
  words unknown to the tokenizer and the share of placeholder tokens; a
  chi-squared (Fisher's exact for small counts) test of the share of empty texts.
- Predictions: chi-squared of the predicted hate rate, KS of P(hate); and label
  drift (chi-squared) when both sides have labels.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

from hsctl.drift.types import TestReport, Verdict

if TYPE_CHECKING:
    import numpy as np
    from tokenizers import Tokenizer

    from hsctl.settings import DriftSettings, NormalizeSettings

EMBEDDING, DESCRIPTOR, PREDICTION, LABEL = "embedding", "descriptor", "prediction", "label"
# Descriptor name -> (test name, title).
DESCRIPTORS: dict[str, tuple[str, str]] = {
    "length": ("text_length", "Text length (characters)"),
    "unknown_share": ("unknown_words", "Share of words unknown to the tokenizer"),
    "placeholder_share": ("placeholders", "Share of placeholder tokens (URLs, mentions)"),
    "empty": ("empty_texts", "Share of empty texts"),
}
TEST_ORDER = (
    "embedding_classifier",
    "embedding_mmd",
    "text_length",
    "unknown_words",
    "placeholders",
    "empty_texts",
    "hate_rate",
    "probability",
    "label",
)
MIN_REFERENCE_ROWS = 20  # the reference is the training data: small only in smoke runs
FISHER_BELOW = 5  # smallest expected count for the chi-squared approximation of a 2x2 table


@dataclass
class DriftTest:
    """One test's outcome, as written to ``drift.json``."""

    name: str
    kind: str
    title: str
    statistic_name: str = ""
    statistic: float | None = None
    p_value: float | None = None
    threshold: float | None = None
    alpha: float | None = None
    drifted: bool | None = None
    skipped: bool = False
    reason: str | None = None
    n_reference: int = 0
    n_current: int = 0
    details: dict[str, Any] = field(default_factory=dict)
    # Arrays for the plots; not written to JSON.
    plot_data: dict[str, Any] = field(default_factory=dict, repr=False)

    def to_dict(self) -> TestReport:
        """JSON-ready form, without the plot data."""
        return {
            "name": self.name,
            "kind": self.kind,
            "title": self.title,
            "statistic_name": self.statistic_name,
            "statistic": self.statistic,
            "p_value": self.p_value,
            "threshold": self.threshold,
            "alpha": self.alpha,
            "drifted": self.drifted,
            "skipped": self.skipped,
            "reason": self.reason,
            "n_reference": self.n_reference,
            "n_current": self.n_current,
            "details": self.details,
        }


@dataclass
class Side:
    """What one side (reference or current) offers the tests; ``None`` fields are unavailable.

    ``reasons`` says why, by field name (``embeddings``, ``descriptors``, ``probabilities``, ``labels``).
    Arrays need not be aligned: each test uses its own rows.
    """

    descriptors: dict[str, np.ndarray] | None = None
    embeddings: np.ndarray | None = None
    probabilities: np.ndarray | None = None
    labels: np.ndarray | None = None
    reasons: dict[str, str] = field(default_factory=dict)


def _rng(seed: int) -> np.random.Generator:
    import numpy as np

    return np.random.default_rng(seed)


def subsample(n: int, size: int, seed: int) -> np.ndarray:
    """Sorted indices of a seeded sample of ``size`` out of ``n`` (all of them when ``n <= size``)."""
    import numpy as np

    if n <= size:
        return np.arange(n)
    return np.sort(_rng(seed).choice(n, size=size, replace=False))


def permutation_p(observed: float, null: np.ndarray) -> float:
    """One-sided permutation p-value, counting the observed arrangement: ``(1 + #{null >= obs}) / (1 + B)``."""
    import numpy as np

    return float((1 + np.sum(null >= observed - 1e-12)) / (1 + len(null)))


# --- embedding tests -------------------------------------------------------------------------------------------


def domain_classifier_test(
    reference: np.ndarray, current: np.ndarray, *, permutations: int, folds: int, seed: int
) -> DriftTest:
    """Cross-validated ROC-AUC of a reference-vs-current classifier against its permutation null."""
    import numpy as np
    from scipy.stats import rankdata
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import roc_auc_score
    from sklearn.model_selection import StratifiedKFold, cross_val_predict
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    x = np.vstack([reference, current]).astype(np.float64)
    y = np.r_[np.zeros(len(reference), dtype=np.int64), np.ones(len(current), dtype=np.int64)]
    folds = max(2, min(folds, len(reference), len(current)))
    clf = make_pipeline(StandardScaler(), LogisticRegression(C=0.1, max_iter=500, class_weight="balanced"))
    cv = StratifiedKFold(n_splits=folds, shuffle=True, random_state=seed)
    scores = cross_val_predict(clf, x, y, cv=cv, method="predict_proba")[:, 1]
    auc = float(roc_auc_score(y, scores))
    # Null: the same out-of-fold scores with the domain labels permuted (a classifier at chance).
    ranks = rankdata(scores)
    n1, n0 = len(current), len(reference)
    rng = _rng(seed + 1)
    null = np.empty(permutations)
    for start in range(0, permutations, 200):
        stop = min(start + 200, permutations)
        perm = rng.permuted(np.tile(y, (stop - start, 1)), axis=1)
        null[start:stop] = (perm @ ranks - n1 * (n1 + 1) / 2) / (n1 * n0)
    return DriftTest(
        name="embedding_classifier",
        kind=EMBEDDING,
        title="Embedding drift: domain classifier",
        statistic_name="roc_auc",
        statistic=auc,
        p_value=permutation_p(auc, null),
        n_reference=n0,
        n_current=n1,
        details={
            "classifier": "logistic regression (standardised embeddings, C=0.1, balanced classes)",
            "cv_folds": folds,
            "permutations": permutations,
            "null_mean_auc": float(null.mean()),
        },
        plot_data={"null": null, "scores": scores, "y": y},
    )


def rbf_kernel_matrix(x: np.ndarray) -> tuple[np.ndarray, float]:
    """RBF kernel ``exp(-d² / (2 σ²))`` with the median heuristic ``σ² = median(d²) / 2``; returns K and σ."""
    import numpy as np

    sq = np.einsum("ij,ij->i", x, x)
    d2 = np.maximum(sq[:, None] + sq[None, :] - 2.0 * (x @ x.T), 0.0)
    off = d2[np.triu_indices_from(d2, k=1)]
    median = float(np.median(off[off > 0])) if np.any(off > 0) else 1.0
    sigma2 = median / 2.0
    np.multiply(d2, -1.0 / (2.0 * sigma2), out=d2)
    return np.exp(d2, out=d2), math.sqrt(sigma2)


def _mmd2_unbiased(kernel: np.ndarray, first: np.ndarray) -> np.ndarray:
    """Unbiased MMD² for each column of the boolean membership matrix ``first`` (N x B)."""
    import numpy as np

    u = first.astype(np.float64)
    v = 1.0 - u
    n, m = u.sum(axis=0), v.sum(axis=0)
    ku = kernel @ u
    kxx = np.einsum("ib,ib->b", u, ku)
    kxy = np.einsum("ib,ib->b", v, ku)
    kyy = np.einsum("ib,ib->b", v, kernel @ v)
    # ``kernel`` has a zero diagonal, so these are sums over i != j.
    return np.asarray(kxx / (n * (n - 1)) + kyy / (m * (m - 1)) - 2.0 * kxy / (n * m))


def mmd_test(reference: np.ndarray, current: np.ndarray, *, permutations: int, seed: int) -> DriftTest:
    """Unbiased MMD² between the two samples with an RBF kernel, p-value from permutations."""
    import numpy as np

    x = np.vstack([reference, current]).astype(np.float64)
    kernel, sigma = rbf_kernel_matrix(x)
    np.fill_diagonal(kernel, 0.0)
    n = len(reference)
    member = np.zeros((len(x), 1), dtype=bool)
    member[:n, 0] = True
    observed = float(_mmd2_unbiased(kernel, member)[0])
    rng = _rng(seed + 2)
    null = np.empty(permutations)
    for start in range(0, permutations, 100):
        stop = min(start + 100, permutations)
        block = rng.permuted(np.tile(member[:, 0], (stop - start, 1)), axis=1).T
        null[start:stop] = _mmd2_unbiased(kernel, block)
    return DriftTest(
        name="embedding_mmd",
        kind=EMBEDDING,
        title="Embedding drift: MMD (RBF kernel)",
        statistic_name="mmd2",
        statistic=observed,
        p_value=permutation_p(observed, null),
        n_reference=n,
        n_current=len(current),
        details={"kernel": "rbf", "sigma": sigma, "bandwidth": "median heuristic", "permutations": permutations},
        plot_data={"null": null},
    )


# --- descriptors ----------------------------------------------------------------------------------------------


def placeholder_pattern(cfg: NormalizeSettings) -> Any:
    """Placeholder tokens, plus any raw URL or mention that normalisation left in place."""
    import re

    from hsctl.core.text import MENTION_RE, URL_RE

    alternatives = [re.escape(cfg.url_token), re.escape(cfg.mention_token), URL_RE.pattern, MENTION_RE.pattern]
    return re.compile("|".join(f"(?:{a})" for a in alternatives), re.IGNORECASE)


def text_descriptors(texts: Sequence[str], tokenizer: Tokenizer, cfg: NormalizeSettings) -> dict[str, np.ndarray]:
    """Per text: length in characters, share of words unknown to the tokenizer, share of placeholders, emptiness.

    A word is unknown when the tokenizer maps any piece of it to its unknown
    token (``[UNK]``); words are the tokenizer's own pre-tokenized words.
    """
    import numpy as np

    texts = list(texts)
    length = np.array([len(t) for t in texts], dtype=np.float64)
    unk_id = _unk_id(tokenizer)
    unknown = np.zeros(len(texts))
    for i, enc in enumerate(tokenizer.encode_batch(texts, add_special_tokens=False)):
        words: set[int] = set()
        bad: set[int] = set()
        for word, token in zip(enc.word_ids, enc.ids, strict=True):
            if word is None:
                continue
            words.add(word)
            if token == unk_id:
                bad.add(word)
        unknown[i] = len(bad) / len(words) if words else 0.0
    pattern = placeholder_pattern(cfg)
    placeholder = np.array([min(1.0, len(pattern.findall(t)) / max(1, len(t.split()))) for t in texts])
    empty = np.array([not t.strip() for t in texts], dtype=np.float64)
    return {"length": length, "unknown_share": unknown, "placeholder_share": placeholder, "empty": empty}


def _unk_id(tokenizer: Tokenizer) -> int | None:
    model = tokenizer.model
    token = getattr(model, "unk_token", None) or "[UNK]"
    found = tokenizer.token_to_id(str(token))
    return int(found) if found is not None else None


def load_tokenizer(path: Any) -> Tokenizer:
    """A model folder's ``tokenizer.json`` without truncation or padding (descriptors see whole texts)."""
    from pathlib import Path

    from tokenizers import Tokenizer

    tokenizer = Tokenizer.from_file(str(Path(path) / "tokenizer.json"))
    tokenizer.no_padding()
    tokenizer.no_truncation()
    return tokenizer


# --- univariate tests ----------------------------------------------------------------------------------------


def ks_test(name: str, kind: str, title: str, reference: np.ndarray, current: np.ndarray) -> DriftTest:
    """Two-sample Kolmogorov-Smirnov test (exact for small samples; conservative with ties)."""
    import numpy as np
    from scipy.stats import ks_2samp

    ref, cur = np.asarray(reference, dtype=np.float64), np.asarray(current, dtype=np.float64)
    result = ks_2samp(ref, cur)
    return DriftTest(
        name=name,
        kind=kind,
        title=title,
        statistic_name="ks",
        statistic=float(result.statistic),
        p_value=float(result.pvalue),
        n_reference=len(ref),
        n_current=len(cur),
        details={
            "reference_mean": float(ref.mean()),
            "current_mean": float(cur.mean()),
            "reference_median": float(np.median(ref)),
            "current_median": float(np.median(cur)),
        },
        plot_data={"reference": ref, "current": cur},
    )


def contingency_test(
    name: str, kind: str, title: str, reference: np.ndarray, current: np.ndarray, categories: Sequence[str]
) -> DriftTest:
    """Chi-squared test of category shares (Fisher's exact test for a 2x2 table with small expected counts).

    ``reference`` and ``current`` hold category ids ``0..len(categories)-1``.
    """
    import numpy as np
    from scipy.stats import chi2_contingency, fisher_exact

    k = len(categories)
    ref, cur = np.asarray(reference, dtype=np.int64), np.asarray(current, dtype=np.int64)
    table = np.vstack([np.bincount(ref, minlength=k)[:k], np.bincount(cur, minlength=k)[:k]])
    used = table.sum(axis=0) > 0
    statistic_name, statistic, p_value = "chi2", 0.0, 1.0
    if used.sum() >= 2:
        sub = table[:, used]
        expected = sub.sum(axis=1, keepdims=True) * sub.sum(axis=0, keepdims=True) / sub.sum()
        if sub.shape == (2, 2) and expected.min() < FISHER_BELOW:
            result = fisher_exact(sub)
            statistic_name, statistic, p_value = "odds_ratio", float(result.statistic), float(result.pvalue)
        else:
            result = chi2_contingency(sub)
            statistic, p_value = float(result.statistic), float(result.pvalue)
    shares = {
        side: {c: float(row[i] / max(1, row.sum())) for i, c in enumerate(categories)}
        for side, row in (("reference", table[0]), ("current", table[1]))
    }
    return DriftTest(
        name=name,
        kind=kind,
        title=title,
        statistic_name=statistic_name,
        statistic=statistic if math.isfinite(statistic) else None,
        p_value=p_value,
        n_reference=int(table[0].sum()),
        n_current=int(table[1].sum()),
        details={"counts": {"reference": table[0].tolist(), "current": table[1].tolist()}, "shares": shares},
        plot_data={"categories": list(categories), "shares": shares},
    )


# --- running everything ---------------------------------------------------------------------------------------


def skipped(name: str, reason: str, n_reference: int = 0, n_current: int = 0) -> DriftTest:
    """A test that did not run, with why."""
    kind, title = _KIND_TITLE[name]
    return DriftTest(
        name=name,
        kind=kind,
        title=title,
        skipped=True,
        reason=reason,
        n_reference=n_reference,
        n_current=n_current,
    )


_KIND_TITLE: dict[str, tuple[str, str]] = {
    "embedding_classifier": (EMBEDDING, "Embedding drift: domain classifier"),
    "embedding_mmd": (EMBEDDING, "Embedding drift: MMD (RBF kernel)"),
    **{test: (DESCRIPTOR, title) for test, title in DESCRIPTORS.values()},
    "hate_rate": (PREDICTION, "Prediction drift: predicted hate rate"),
    "probability": (PREDICTION, "Prediction drift: P(hate) distribution"),
    "label": (LABEL, "Label drift: label shares"),
}


def run_tests(
    reference: Side,
    current: Side,
    cfg: DriftSettings,
    *,
    threshold: float,
    labels: Sequence[str],
) -> list[DriftTest]:
    """Every test the two sides allow, in :data:`TEST_ORDER`; the others skipped with a reason.

    A test is skipped when the current data has fewer than ``cfg.min_rows`` rows
    for it, or the reference fewer than :data:`MIN_REFERENCE_ROWS`.
    """
    tests: list[DriftTest] = []

    def enough(name: str, n_ref: int, n_cur: int, what: str) -> bool:
        if n_cur < cfg.min_rows:
            reason = f"too few current rows {what}: {n_cur} < drift.min_rows = {cfg.min_rows}"
        elif n_ref < MIN_REFERENCE_ROWS:
            reason = f"too few reference rows {what}: {n_ref} < {MIN_REFERENCE_ROWS}"
        else:
            return True
        tests.append(skipped(name, reason, n_ref, n_cur))
        return False

    def missing(names: Sequence[str], field_name: str) -> bool:
        for side_name, side in (("current", current), ("reference", reference)):
            if getattr(side, field_name) is None:
                reason = side.reasons.get(field_name) or f"the {side_name} data has no {field_name}"
                tests.extend(skipped(n, reason) for n in names)
                return True
        return False

    # Embeddings.
    if not missing(("embedding_classifier", "embedding_mmd"), "embeddings"):
        ref_e, cur_e = reference.embeddings, current.embeddings
        assert ref_e is not None and cur_e is not None
        ref_e = ref_e[subsample(len(ref_e), cfg.max_embed_rows, cfg.seed)]
        cur_e = cur_e[subsample(len(cur_e), cfg.max_embed_rows, cfg.seed + 1)]
        if enough("embedding_classifier", len(ref_e), len(cur_e), "with text"):
            tests.append(
                domain_classifier_test(ref_e, cur_e, permutations=cfg.permutations, folds=cfg.cv_folds, seed=cfg.seed)
            )
        if enough("embedding_mmd", len(ref_e), len(cur_e), "with text"):
            tests.append(mmd_test(ref_e, cur_e, permutations=cfg.permutations, seed=cfg.seed))
    # Descriptors.
    names = [name for name, _ in DESCRIPTORS.values()]
    if not missing(names, "descriptors"):
        ref_d, cur_d = reference.descriptors, current.descriptors
        assert ref_d is not None and cur_d is not None
        for key, (name, title) in DESCRIPTORS.items():
            if not enough(name, len(ref_d[key]), len(cur_d[key]), "with text"):
                continue
            if key == "empty":
                tests.append(contingency_test(name, DESCRIPTOR, title, ref_d[key], cur_d[key], ["non-empty", "empty"]))
            else:
                tests.append(ks_test(name, DESCRIPTOR, title, ref_d[key], cur_d[key]))
    # Predictions.
    if not missing(("hate_rate", "probability"), "probabilities"):
        ref_p, cur_p = reference.probabilities, current.probabilities
        assert ref_p is not None and cur_p is not None
        if enough("hate_rate", len(ref_p), len(cur_p), "with a prediction"):
            test = contingency_test(
                "hate_rate",
                PREDICTION,
                _KIND_TITLE["hate_rate"][1],
                (ref_p >= threshold).astype(int),
                (cur_p >= threshold).astype(int),
                list(labels[:2]),
            )
            test.details["threshold"] = threshold
            test.details["reference_rate"] = float((ref_p >= threshold).mean())
            test.details["current_rate"] = float((cur_p >= threshold).mean())
            tests.append(test)
        if enough("probability", len(ref_p), len(cur_p), "with a prediction"):
            tests.append(ks_test("probability", PREDICTION, _KIND_TITLE["probability"][1], ref_p, cur_p))
    # Labels.
    if not missing(("label",), "labels"):
        ref_l, cur_l = reference.labels, current.labels
        assert ref_l is not None and cur_l is not None
        if enough("label", len(ref_l), len(cur_l), "with a label"):
            tests.append(contingency_test("label", LABEL, _KIND_TITLE["label"][1], ref_l, cur_l, list(labels)))
    order = {name: i for i, name in enumerate(TEST_ORDER)}
    return sorted(tests, key=lambda t: order[t.name])


def apply_bonferroni(tests: list[DriftTest], alpha: float) -> Verdict:
    """Judge each test that ran at ``alpha / m`` (``m`` tests ran) and return the verdict.

    ``drift`` is None when no test could run. The domain classifier's
    ``threshold`` is the AUC its null distribution exceeds with probability
    ``alpha / m``.
    """
    import numpy as np

    ran = [t for t in tests if not t.skipped]
    per_test = alpha / len(ran) if ran else alpha
    for test in ran:
        test.alpha = per_test
        test.drifted = bool(test.p_value is not None and test.p_value <= per_test)
        null = test.plot_data.get("null")
        if null is not None:
            test.threshold = float(np.quantile(null, 1 - per_test))
    drifted = [t.name for t in ran if t.drifted]
    status: Literal["drift", "no drift", "insufficient data"] = (
        "insufficient data" if not ran else "drift" if drifted else "no drift"
    )
    return {
        "status": status,
        "drift": (bool(drifted) if ran else None),
        "tests_run": len(ran),
        "tests_skipped": len(tests) - len(ran),
        "drifted_tests": drifted,
        "alpha": alpha,
        "alpha_per_test": per_test,
        "correction": "bonferroni",
    }
