"""The behavioural suite: its cases, the scoring against a fake predictor, the gate and the leak check."""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from types import SimpleNamespace

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from hsctl.errors import ConfigError, DataError, HsctlError
from hsctl.evaluate import evaluate, parse_fail_under
from hsctl.evaluate.suite import (
    CATEGORIES,
    NO_CATEGORY,
    SUITE_CASES,
    SUITE_REPORT,
    SUITE_SUMMARY,
    SUITES,
    TRANSFORMS,
    SuiteCase,
    check_suite_floors,
    describe_suite,
    evaluate_suite,
    is_suite_metric,
    load_suite,
    normalize_for_overlap,
    overlap_with_suite,
    render_suite_markdown,
    run_suite,
    suite_digest,
    suite_gate,
    suite_texts,
)
from hsctl.settings import load_settings

ROOT = Path(__file__).resolve().parents[2]
CASES = load_suite()
N_HATE = sum(c.label for c in CASES)
ID_RE = re.compile(r"^(?P<func>[a-z][a-z0-9_]*)-(?P<cat>[a-z_]+)-(?P<seq>\d{3})$")
REQUIRED = {
    "derog_neg_attrib",
    "derog_neg_emote",
    "derog_dehum",
    "derog_animal_comp",
    "threat_direct",
    "threat_normalised",
    "slur",
    "slur_leet",
    "slur_missing_letter",
    "slur_asterisk",
    "slur_spaced",
    "implicit_stereotype",
    "exclusion",
    "hate_question",
    "hate_opinion",
    "hate_surface_noise",
    "hate_short",
    "negated_hate",
    "counter_quote",
    "denounce_hate",
    "neutral_group",
    "positive_group",
    "identity_innocent",
    "profanity_no_hate",
    "abuse_individual",
    "abuse_nonprotected",
}


@dataclass
class FakePredictor:
    """Scores by a rule on the case text; records what it was asked."""

    rule: dict[str, float]
    threshold: float = 0.5
    default: float = 0.0
    seen: list[str] = field(default_factory=list)

    def predict_proba(self, texts: Sequence[str]) -> list[float]:
        self.seen = list(texts)
        return [self.rule.get(t, self.default) for t in texts]


def always(p: float, threshold: float = 0.5) -> FakePredictor:
    return FakePredictor(rule={}, threshold=threshold, default=p)


def oracle() -> FakePredictor:
    return FakePredictor(rule={c.text: float(c.label) for c in CASES})


def by_id(case_id: str) -> SuiteCase:
    return next(c for c in CASES if c.id == case_id)


# ---------------------------------------------------------------- the cases


def test_size_functionalities_and_labels():
    funcs = {c.functionality for c in CASES}
    assert len(CASES) >= 1000
    assert len(funcs) >= 25
    assert REQUIRED.issubset(funcs)
    assert {c.label for c in CASES} == {0, 1}
    assert all(isinstance(c.label, int) and not isinstance(c.label, bool) for c in CASES)
    assert all(c.text and c.text == c.text.strip() and "{" not in c.text for c in CASES)
    for func in funcs:  # one gold label per functionality
        assert len({c.label for c in CASES if c.functionality == func}) == 1, func


def test_ids_unique_well_formed_and_stable():
    ids = [c.id for c in CASES]
    assert len(ids) == len(set(ids))
    for case in CASES:
        match = ID_RE.match(case.id)
        assert match, case.id
        assert match["func"] == case.functionality
        assert match["cat"] == case.category.lower().replace(" ", "_")
    again = load_suite()
    assert again == CASES and again is not CASES  # a fresh list each call, same cases
    # Pinned: ids are positions in the templates, so these change only if the data is reordered.
    assert by_id("derog_neg_attrib-race-001").text == "black people are lazy, dishonest and stupid, every single one"
    assert by_id("slur_asterisk-disability-002").text == "bunch of filthy r*tards on my bus again"
    assert by_id("abuse_nonprotected-none-002").text == "mondays are absolutely useless, every single one"


def test_all_nine_categories_in_every_hateful_crossed_functionality():
    hate = [c for c in CASES if c.label == 1]
    assert {c.category for c in hate} == set(CATEGORIES)
    for func in {c.functionality for c in hate}:
        assert {c.category for c in hate if c.functionality == func} == set(CATEGORIES), func
    for category in CATEGORIES:  # and every category has non-hate cases too
        assert any(c.category == category and c.label == 0 for c in CASES)
    assert all(c.label == 0 for c in CASES if c.category == NO_CATEGORY)


def test_non_hate_share_makes_always_hate_fail():
    share = 1 - N_HATE / len(CASES)
    assert 0.35 <= share <= 0.5
    counts = Counter(c.category for c in CASES if c.label == 1)
    assert max(counts.values()) == min(counts.values())  # hate spread evenly over the nine categories


def test_texts_unique_after_normalisation_and_targets_recorded():
    assert len(suite_texts()) == len(CASES)
    spec = json.loads((resources.files("hsctl.evaluate") / "suite_data" / "functional.json").read_text("utf-8"))
    for case in CASES:
        if case.category == NO_CATEGORY:
            continue
        group = spec["categories"][case.category]
        if case.functionality.startswith("slur"):
            assert case.target in group["slurs"], case.id
        else:
            assert case.target in [t["plural"] for t in group["terms"]], case.id
    assert {c.target for c in CASES if c.functionality == "abuse_nonprotected"} == set(spec["fills"]["nonprotected"])


def test_obfuscations():
    assert TRANSFORMS["leet"]("retards") == "r3t4rds"
    assert TRANSFORMS["leet"]("sluts") == "5lu75"  # no a/e/i/o: s and t change instead
    assert TRANSFORMS["missing_letter"]("homos") == "homs"
    assert TRANSFORMS["asterisk"]("chavs") == "ch*vs"
    assert TRANSFORMS["spaced"]("chavs") == "c h a v s"
    for word in ("crackers", "sluts", "bible-bashers", "thots"):
        assert len({TRANSFORMS[name](word) for name in TRANSFORMS}) == len(TRANSFORMS)
    plain = {c.id.removeprefix("slur-"): c for c in CASES if c.functionality == "slur"}
    for case in CASES:
        if case.functionality.startswith("slur_"):
            twin = plain[case.id.split("-", 1)[1]]
            assert case.text != twin.text and case.target == twin.target and case.target not in case.text


def test_unknown_suite_is_a_usage_error():
    with pytest.raises(ConfigError, match="unknown suite 'nope'"):
        load_suite("nope")
    with pytest.raises(ConfigError):
        overlap_with_suite(["x"], "nope")


def test_describe_suite_and_package_data():
    funcs = describe_suite()
    assert sum(f.n_cases for f in funcs) == len(CASES)
    assert [f.name for f in funcs] == list(dict.fromkeys(c.functionality for c in CASES))
    assert all(f.example in {c.text for c in CASES} and f.description for f in funcs)
    data = resources.files("hsctl.evaluate") / "suite_data"
    assert sorted(p.name.removesuffix(".json") for p in data.iterdir() if p.name.endswith(".json")) == sorted(SUITES)
    assert re.fullmatch(r"[0-9a-f]{12}", suite_digest())
    spec = json.loads((data / "functional.json").read_text(encoding="utf-8"))
    assert set(spec["categories"]) == set(CATEGORIES)


def test_docs_list_every_functionality():
    page = (ROOT / "docs" / "commands" / "evaluate.md").read_text(encoding="utf-8")
    missing = [f.name for f in describe_suite() if f"`{f.name}`" not in page]
    assert not missing


# ---------------------------------------------------------------- scoring


def test_always_hate_passes_exactly_the_hate_cases():
    result = run_suite(always(0.9))
    assert result.n == len(CASES)
    assert result.passed == N_HATE
    assert result.pass_rate == pytest.approx(N_HATE / len(CASES))
    assert (result.hate_pass_rate, result.non_hate_pass_rate) == (1.0, 0.0)
    for name, score in result.per_functionality.items():
        assert score.pass_rate == float(score.label == 1), name
        assert score.mean_probability == pytest.approx(0.9)
    assert result.per_category[NO_CATEGORY].pass_rate == 0.0
    assert list(result.per_category) == [*CATEGORIES, NO_CATEGORY]
    for category in CATEGORIES:
        score = result.per_category[category]
        assert (score.hate_pass_rate, score.non_hate_pass_rate, score.label) == (1.0, 0.0, None)
    assert result.per_cell["negated_hate"]["Race"] == 0.0 and result.per_cell["slur"]["Class"] == 1.0
    assert len(result.worst) == 20 and all(o.case.label == 0 for o in result.worst)


def test_oracle_passes_everything_and_has_no_worst_cases():
    result = run_suite(oracle())
    assert result.pass_rate == 1.0 and result.worst == []
    assert all(s.pass_rate == 1.0 for s in result.per_functionality.values())


def test_threshold_rule_worst_order_and_subset():
    picked = [
        by_id("derog_dehum-race-001"),  # hate, p == threshold: predicted hate (p >= threshold), passes
        by_id("threat_direct-class-002"),  # hate, just below: fails with error 0.71
        by_id("counter_quote-gender-003"),  # non-hate, 0.9: fails with error 0.9
        by_id("everyday_tweet-none-001"),  # non-hate, 0.0: passes
        by_id("neutral_group-religion-004"),  # non-hate, 0.29: passes
    ]
    probs = [0.3, 0.29, 0.9, 0.0, 0.29]
    predictor = FakePredictor(rule={c.text: p for c, p in zip(picked, probs, strict=True)}, threshold=0.3)
    result = run_suite(predictor, picked, worst=5)
    assert result.threshold == 0.3
    assert (result.n, result.passed) == (5, 3)
    assert result.pass_rate == pytest.approx(0.6)
    assert result.hate_pass_rate == pytest.approx(0.5)
    assert result.non_hate_pass_rate == pytest.approx(2 / 3)
    assert [o.case.id for o in result.worst] == ["counter_quote-gender-003", "threat_direct-class-002"]
    assert result.worst[0].error == pytest.approx(0.9) and result.worst[1].error == pytest.approx(0.71)
    assert result.per_functionality["derog_dehum"].pass_rate == 1.0
    assert result.per_functionality["threat_direct"].pass_rate == 0.0
    assert result.per_category["Class"].hate_pass_rate == 0.0
    assert result.per_category["Religion"].hate_pass_rate is None
    assert set(result.per_functionality) == {c.functionality for c in picked}
    data = result.to_dict(include_cases=True)
    assert len(data["cases"]) == 5 and data["worst"][0]["probability"] == 0.9
    assert json.loads(json.dumps(data)) == data
    assert "cases" not in result.to_dict()
    assert run_suite(predictor, picked, worst=1).worst[0].case.id == "counter_quote-gender-003"


def test_normalize_is_applied_before_scoring():
    predictor = always(0.9)
    run_suite(predictor, CASES[:3], normalize=str.upper)
    assert predictor.seen == [c.text.upper() for c in CASES[:3]]


def test_bad_predictor_outputs():
    class Short(FakePredictor):
        def predict_proba(self, texts: Sequence[str]) -> list[float]:
            return [0.5] * (len(texts) - 1)

    with pytest.raises(HsctlError, match="returned 2 probabilities for 3 texts"):
        run_suite(Short(rule={}), CASES[:3])
    with pytest.raises(HsctlError, match="non-finite"):
        run_suite(always(float("nan")), CASES[:3])
    with pytest.raises(DataError, match="no cases"):
        run_suite(always(0.5), [])


# ---------------------------------------------------------------- gate


def test_gate_overall_and_per_functionality():
    result = run_suite(always(0.9))
    rate = N_HATE / len(CASES)
    assert suite_gate(result, {"functional": rate}) == []
    assert suite_gate(result, {"functional": 0.99}) == [f"functional {rate:.4f} is below 0.99"]
    assert suite_gate(result, {"functional.slur": 1.0, "macro_f1": 0.99}) == []  # other metrics are not ours
    assert suite_gate(result, {"functional.negated_hate": 0.5}) == ["functional.negated_hate 0.0000 is below 0.5"]
    check_suite_floors({"functional": 0.5, "functional.slur_leet": 0.5})
    with pytest.raises(ConfigError, match="no functionality 'nope'"):
        check_suite_floors({"functional.nope": 0.5})
    with pytest.raises(ConfigError, match="not a metric of --suite functional"):
        check_suite_floors({"macro_f1": 0.5})


def test_parse_fail_under_knows_suite_metrics():
    assert parse_fail_under(["functional=0.8,functional.slur=0.9", "macro_f1=0.7"]) == {
        "functional": 0.8,
        "functional.slur": 0.9,
        "macro_f1": 0.7,
    }
    assert is_suite_metric("functional") and is_suite_metric("functional.x") and not is_suite_metric("macro_f1")
    with pytest.raises(ConfigError, match="METRIC=VALUE"):
        parse_fail_under(["functionalx=0.5"])
    with pytest.raises(ConfigError, match="METRIC=VALUE"):
        parse_fail_under(["f2=0.5"])


def test_data_evaluation_refuses_explicit_suite_floors_before_any_work(tmp_path: Path):
    settings = load_settings({"paths.artifacts": str(tmp_path / "nothing-here")}).settings
    with pytest.raises(ConfigError, match="--suite functional"):
        evaluate(settings, fail_under={"functional": 0.5})


def test_evaluate_suite_writes_reports_and_gates(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    fake = always(0.9)
    fake_info = SimpleNamespace(path=tmp_path / "model")
    predictor = SimpleNamespace(
        threshold=0.5,
        predict_proba=fake.predict_proba,
        info=fake_info,
        model_version="fake@1",
        target_prior=None,
        normalize=str.strip,
    )
    monkeypatch.setattr("hsctl.inference.predictor_for", lambda *a, **k: predictor)
    settings = load_settings(
        {"paths.artifacts": str(tmp_path / "a"), "evaluate.fail_under": {"functional": 0.99, "macro_f1": 0.99}}
    ).settings
    run = evaluate_suite(settings, normalize=str.strip)
    out = tmp_path / "a" / "reports" / "suite"
    assert run.output_dir == out
    assert run.gate_failures == [f"functional {N_HATE / len(CASES):.4f} is below 0.99"]  # macro_f1 is a data floor
    report = json.loads((out / SUITE_REPORT).read_text(encoding="utf-8"))
    assert report["gate"] == {"fail_under": {"functional": 0.99}, "failures": run.gate_failures, "passed": False}
    assert report["model_version"] == "fake@1" and report["normalized"] is True
    assert report["n"] == len(CASES) and report["n_functionalities"] == len(describe_suite())
    lines = (out / SUITE_CASES).read_text(encoding="utf-8").splitlines()
    assert len(lines) == len(CASES) and json.loads(lines[0])["id"] == CASES[0].id
    summary = (out / SUITE_SUMMARY).read_text(encoding="utf-8")
    assert summary == render_suite_markdown(report)
    assert "| derog_dehum | hate | 45 | 100.0% |" in summary and "Gate: FAILED" in summary
    assert run.to_dict()["output_dir"] == str(out)
    custom = evaluate_suite(settings, fail_under={"functional.slur": 1.0}, output_dir=tmp_path / "o")
    assert custom.gate_failures == [] and (tmp_path / "o" / SUITE_REPORT).is_file()
    with pytest.raises(ConfigError):
        evaluate_suite(settings, fail_under={"roc_auc": 0.5}, output_dir=tmp_path / "never")
    assert not (tmp_path / "never").exists()


# ---------------------------------------------------------------- leak check


def test_overlap_counts():
    texts = [c.text for c in CASES[:10]]
    assert overlap_with_suite(texts) == 10
    assert overlap_with_suite([*texts, texts[0]]) == 11  # duplicates count each time
    mention_case = next(c for c in CASES if c.text.startswith("@user "))
    variants = [
        texts[1].upper(),
        "  " + texts[2].replace(" ", "   ") + "\n",
        mention_case.text.replace("@user", "@USER", 1),  # preprocess's mention token
        mention_case.text.replace("@user", "@somebody_else", 1),
    ]
    assert overlap_with_suite(variants) == 4
    assert overlap_with_suite(["a perfectly ordinary tweet about lunch", texts[3] + " extra", None, 3.5]) == 0  # type: ignore[list-item]
    assert overlap_with_suite([]) == 0


_CASE_TEXTS = sorted(suite_texts())


@settings(max_examples=60, deadline=None)
@given(st.text(max_size=80))
def test_normalize_for_overlap_is_idempotent(text: str):
    once = normalize_for_overlap(text)
    assert normalize_for_overlap(once) == once


@settings(max_examples=60, deadline=None)
@given(
    st.integers(min_value=0, max_value=len(CASES) - 1),
    st.lists(st.booleans(), min_size=1, max_size=200),
    st.sampled_from([" ", "  ", "\t", "\n", " \u00a0"]),
)
def test_case_and_spacing_variants_of_cases_are_caught(index: int, upper: list[bool], gap: str):
    text = CASES[index].text
    varied = "".join(ch.upper() if upper[i % len(upper)] else ch for i, ch in enumerate(text)).replace(" ", gap)
    assert overlap_with_suite([varied, gap + varied + gap]) == 2


@settings(max_examples=60, deadline=None)
@given(
    st.integers(min_value=0, max_value=len(CASES) - 1),
    st.text(alphabet="abcdefghijklmnopqrstuvwxyz!?", min_size=1, max_size=12),
)
def test_a_case_with_more_words_is_not_a_case(index: int, extra: str):
    text = f"{CASES[index].text} {extra}"
    assume(normalize_for_overlap(text) not in suite_texts())  # never fails today: no case extends another
    assert overlap_with_suite([text]) == 0


def _spec(**func: object) -> dict[str, object]:
    groups = {
        c: {"terms": [{"plural": f"zorb{i}s", "singular": f"zorb{i}"}], "slurs": ["zz"]}
        for i, c in enumerate(CATEGORIES)
    }
    base = {"name": "f", "label": 1, "templates": ["{plural} are bad"]}
    return {"categories": groups, "fills": {}, "functionalities": [{**base, **func}]}


@pytest.mark.parametrize(
    ("func", "message"),
    [
        ({"label": 2}, "label must be 0 or 1"),
        ({"label": True}, "label must be 0 or 1"),
        ({"name": "Bad Name"}, "bad or duplicate functionality name"),
        ({"transform": "rot13"}, "unknown transform"),
        ({"templates": []}, "needs templates"),
        ({"templates": ["no group here"]}, "needs an identity field"),
        ({"targets": "none"}, "must not use an identity field"),
        ({"templates": ["{plural} are {nope}"]}, "bad template"),
        ({"repeats": 2}, "have the same text"),
    ],
)
def test_bad_suite_data_is_a_data_error(func: dict[str, object], message: str):
    from hsctl.evaluate.suite import _generate

    with pytest.raises(DataError, match=message):
        _generate("test", _spec(**func))


def test_suite_data_needs_every_category():
    from hsctl.evaluate.suite import _generate

    spec = _spec()
    del spec["categories"]["Class"]  # type: ignore[attr-defined]
    with pytest.raises(DataError, match="no identity terms for Class"):
        _generate("test", spec)
    assert len(_generate("test", _spec())) == len(CATEGORIES)
