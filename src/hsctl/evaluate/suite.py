"""Behavioural test suites: hand-written functionalities crossed with identity terms, scored per functionality.

Held-out metrics say how often a model is right, not *where* it fails. A suite
of small, labelled cases, each testing one behaviour (dehumanising comparisons,
negated hate, counter-speech that quotes hate, obfuscated slurs, abuse of
referees, ...), shows which behaviours a model gets wrong, for every category.

The cases are generated deterministically from templates and word lists in
``suite_data/<name>.json`` (package data written for hsctl), so ids such as
``derog_neg_attrib-race-003`` are stable. A suite is for testing only: training
on it would make its pass rates meaningless, so :func:`overlap_with_suite`
lets training code detect leaked cases.

Nothing is read at import time; loading, texts and digests are cached per suite.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
import time
import unicodedata
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from hsctl.core.io import atomic_dir, atomic_write_text, dumps, utc_now, write_json
from hsctl.errors import ConfigError, DataError, HsctlError

if TYPE_CHECKING:
    from hsctl.settings import Settings

DEFAULT_SUITE = "functional"
SUITES: tuple[str, ...] = ("functional",)
"""Suite names; each is a file ``suite_data/<name>.json`` and the name of its gate metric."""

CATEGORIES: tuple[str, ...] = (
    "Race",
    "Sexual Orientation",
    "Gender",
    "Physical Appearance",
    "Religion",
    "Disability",
    "Behavior",
    "Ethnicity",
    "Class",
)
"""The dataset's nine categories, in the order cases are generated."""

NO_CATEGORY = "none"
"""Category of cases that name no identity group (profanity, abuse of referees, ...)."""

SUITE_REPORT = "suite.json"
SUITE_SUMMARY = "suite.md"
SUITE_CASES = "cases.jsonl"
WORST_CASES = 20

_IDENTITY_FIELDS = ("{plural}", "{singular}", "{a_singular}", "{slur}")
_NAME_RE = re.compile(r"^[a-z][a-z0-9_]*$")
_VOWELS = "aeiou"
_LEET = str.maketrans({"a": "4", "e": "3", "i": "1", "o": "0"})
_LEET_FALLBACK = str.maketrans({"s": "5", "t": "7"})
_MENTION_RE = re.compile(r"(?<![\w@])@\w+")
_URL_RE = re.compile(r"(?:\bhttps?://|\bwww\.)\S+", re.IGNORECASE)
_WS_RE = re.compile(r"\s+")


# ---------------------------------------------------------------- cases


@dataclass(frozen=True)
class SuiteCase:
    """One labelled test case: its behaviour, the group it names and the gold label (1 = hate)."""

    id: str
    functionality: str
    category: str
    target: str
    label: int
    text: str

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return asdict(self)


@dataclass(frozen=True)
class Functionality:
    """One tested behaviour, for docs and reports."""

    name: str
    label: int
    description: str
    crossed: bool
    """True when the templates are crossed with the identity terms of every category."""
    n_cases: int
    example: str


def _leet(word: str) -> str:
    out = word.translate(_LEET)
    return out if out != word else word.translate(_LEET_FALLBACK)


def _vowel_positions(word: str) -> list[int]:
    return [i for i, char in enumerate(word) if char in _VOWELS] or [len(word) // 2]


def _missing_letter(word: str) -> str:
    i = _vowel_positions(word)[-1]
    return word[:i] + word[i + 1 :]


def _asterisk(word: str) -> str:
    i = _vowel_positions(word)[0]
    return word[:i] + "*" + word[i + 1 :]


def _spaced(word: str) -> str:
    return " ".join(word)


TRANSFORMS: dict[str, Callable[[str], str]] = {
    "none": lambda word: word,
    "leet": _leet,
    "missing_letter": _missing_letter,
    "asterisk": _asterisk,
    "spaced": _spaced,
}
"""Obfuscations applied to ``{slur}``: a suite names one per functionality."""


def _article(noun: str) -> str:
    return ("an " if noun[:1] in _VOWELS else "a ") + noun


def _category_slug(category: str) -> str:
    return category.lower().replace(" ", "_")


def _check_name(name: str) -> None:
    if name not in SUITES:
        raise ConfigError(f"unknown suite {name!r}: choose one of {', '.join(SUITES)}")


@lru_cache(maxsize=8)
def _raw(name: str) -> bytes:
    _check_name(name)
    resource = resources.files("hsctl.evaluate") / "suite_data" / f"{name}.json"
    try:
        return resource.read_bytes()
    except OSError as exc:  # a broken install: the package data did not ship
        raise DataError(f"suite {name!r}: cannot read its package data ({exc})") from exc


def _spec(name: str) -> dict[str, Any]:
    try:
        spec = json.loads(_raw(name).decode("utf-8"))
    except ValueError as exc:
        raise DataError(f"suite {name!r}: invalid JSON in its package data ({exc})") from exc
    if not isinstance(spec, dict) or not isinstance(spec.get("functionalities"), list):
        raise DataError(f"suite {name!r}: package data has no 'functionalities' list")
    return spec


def suite_digest(name: str = DEFAULT_SUITE) -> str:
    """SHA-256 (12 hex digits) of the suite's data file, so reports say exactly which cases were run."""
    return hashlib.sha256(_raw(name)).hexdigest()[:12]


def _fill_values(fills: Mapping[str, list[str]], t_index: int, c_index: int, repeat: int) -> dict[str, str]:
    """Deterministic fillers: consecutive repeats of a template get distinct values."""
    values: dict[str, str] = {}
    for key, options in fills.items():
        if options:
            start = t_index * 3 + c_index * 2 + repeat
            values[key] = options[start % len(options)]
            values[f"{key}2"] = options[(start + 1) % len(options)]
    return values


def _generate(name: str, spec: dict[str, Any]) -> tuple[SuiteCase, ...]:
    categories: dict[str, Any] = spec.get("categories", {})
    fills: dict[str, list[str]] = spec.get("fills", {})
    missing = [c for c in CATEGORIES if c not in categories]
    if missing:
        raise DataError(f"suite {name!r}: no identity terms for {', '.join(missing)}")
    cases: list[SuiteCase] = []
    seen_names: set[str] = set()
    for func in spec["functionalities"]:
        fname = str(func.get("name", ""))
        label = func.get("label")
        templates = func.get("templates") or []
        repeats = int(func.get("repeats", 1))
        crossed = func.get("targets", "identity") == "identity"
        transform = TRANSFORMS.get(str(func.get("transform", "none")))
        if not _NAME_RE.match(fname) or fname in seen_names:
            raise DataError(f"suite {name!r}: bad or duplicate functionality name {fname!r}")
        seen_names.add(fname)
        if label not in (0, 1) or isinstance(label, bool):
            raise DataError(f"suite {name!r}: {fname}: label must be 0 or 1, not {label!r}")
        if transform is None:
            raise DataError(f"suite {name!r}: {fname}: unknown transform {func.get('transform')!r}")
        if not templates or repeats < 1:
            raise DataError(f"suite {name!r}: {fname}: needs templates and repeats >= 1")
        for template in templates:
            if any(f in template for f in _IDENTITY_FIELDS) != crossed:
                need = "needs" if crossed else "must not use"
                raise DataError(f"suite {name!r}: {fname}: template {template!r} {need} an identity field")
        groups: list[str] = list(CATEGORIES) if crossed else [NO_CATEGORY]
        for c_index, category in enumerate(groups):
            group: dict[str, Any] = categories.get(category, {}) if crossed else {}
            terms: list[dict[str, str]] = group.get("terms") or [{}]
            slurs: list[str] = group.get("slurs") or [""]
            seq = 0
            for t_index, template in enumerate(templates):
                for repeat in range(repeats):
                    seq += 1
                    values = _fill_values(fills, t_index, c_index, repeat)
                    target = ""
                    if crossed:
                        term = terms[(t_index + repeat + c_index) % len(terms)]
                        slur = slurs[(t_index + repeat + c_index) % len(slurs)]
                        singular = term.get("singular", "")
                        values.update(
                            plural=term.get("plural", ""),
                            singular=singular,
                            a_singular=term.get("a_singular") or _article(singular),
                            slur=transform(slur),
                        )
                        target = slur if "{slur}" in template else values["plural"]
                    elif "{nonprotected}" in template:
                        target = values["nonprotected"]
                    elif "{user}" in template:
                        target = values["user"]
                    try:
                        text = _WS_RE.sub(" ", template.format_map(values)).strip()
                    except (KeyError, IndexError, ValueError) as exc:
                        raise DataError(f"suite {name!r}: {fname}: bad template {template!r} ({exc!r})") from exc
                    cases.append(
                        SuiteCase(
                            id=f"{fname}-{_category_slug(category)}-{seq:03d}",
                            functionality=fname,
                            category=category,
                            target=target,
                            label=int(label),
                            text=text,
                        )
                    )
    seen: dict[str, str] = {}
    for case in cases:
        key = normalize_for_overlap(case.text)
        if key in seen:
            raise DataError(f"suite {name!r}: cases {seen[key]} and {case.id} have the same text")
        seen[key] = case.id
    return tuple(cases)


@lru_cache(maxsize=8)
def _cases(name: str) -> tuple[SuiteCase, ...]:
    return _generate(name, _spec(name))


def load_suite(name: str = DEFAULT_SUITE) -> list[SuiteCase]:
    """Every case of a suite, in a fixed order; an unknown name is a ``ConfigError`` (exit 2)."""
    return list(_cases(name))


def describe_suite(name: str = DEFAULT_SUITE) -> list[Functionality]:
    """The functionalities of a suite with their gold label, description, size and first example."""
    cases = _cases(name)
    out = []
    for func in _spec(name)["functionalities"]:
        own = [c for c in cases if c.functionality == func["name"]]
        out.append(
            Functionality(
                name=func["name"],
                label=int(func["label"]),
                description=str(func.get("description", "")),
                crossed=func.get("targets", "identity") == "identity",
                n_cases=len(own),
                example=own[0].text,
            )
        )
    return out


# ---------------------------------------------------------------- leak check


def normalize_for_overlap(text: str) -> str:
    """Lower-cased, NFKC, whitespace-collapsed text with @mentions and URLs as fixed tokens.

    Loose on purpose: a training row that differs from a suite case only by case,
    spacing or the handle/URL placeholders of ``preprocess`` still counts as leaked.
    """
    for _ in range(4):  # NFKC and casefold can each expose work for the other
        new = unicodedata.normalize("NFKC", text)
        new = _URL_RE.sub("httpurl", new)
        new = _MENTION_RE.sub("@user", new)
        new = _WS_RE.sub(" ", new).strip().casefold()
        if new == text:
            break
        text = new
    return text


@lru_cache(maxsize=8)
def suite_texts(name: str = DEFAULT_SUITE) -> frozenset[str]:
    """The normalised texts of a suite's cases (see :func:`normalize_for_overlap`)."""
    return frozenset(normalize_for_overlap(case.text) for case in _cases(name))


def overlap_with_suite(texts: Iterable[str], name: str = DEFAULT_SUITE) -> int:
    """How many of ``texts`` are cases of the suite: training on the suite would void its results.

    Every matching text counts (duplicates too); values that are not strings are skipped.
    """
    known = suite_texts(name)
    return sum(1 for text in texts if isinstance(text, str) and normalize_for_overlap(text) in known)


# ---------------------------------------------------------------- scoring


class SuiteScorer(Protocol):
    """What :func:`run_suite` needs from a predictor (``hsctl.inference.Predictor`` has it)."""

    @property
    def threshold(self) -> float:
        """Decision threshold: a case is predicted hate when P(hate) >= threshold."""
        ...

    def predict_proba(self, texts: Sequence[str]) -> Any:
        """P(hate) per text, in input order."""
        ...


@dataclass(frozen=True)
class CaseOutcome:
    """A case with the model's probability and decision."""

    case: SuiteCase
    probability: float
    predicted: int

    @property
    def passed(self) -> bool:
        """The decision matches the gold label."""
        return self.predicted == self.case.label

    @property
    def error(self) -> float:
        """Probability given to the wrong class: how confidently wrong (or unsure) the model was."""
        return abs(self.case.label - self.probability)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form: the case plus probability, decision and outcome."""
        return {
            **self.case.to_dict(),
            "probability": self.probability,
            "predicted": self.predicted,
            "passed": self.passed,
        }


@dataclass(frozen=True)
class GroupScore:
    """Pass rate of a group of cases (a functionality, a category or both)."""

    n: int
    passed: int
    pass_rate: float
    label: int | None
    """The gold label when every case has the same one (always, for a functionality)."""
    mean_probability: float
    hate_pass_rate: float | None
    """Pass rate over the group's hate cases (the hate recall); None without such cases."""
    non_hate_pass_rate: float | None
    """Pass rate over the group's non-hate cases; None without such cases."""

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return asdict(self)


def _score(outcomes: Sequence[CaseOutcome]) -> GroupScore:
    def rate(items: Sequence[CaseOutcome]) -> float | None:
        return sum(o.passed for o in items) / len(items) if items else None

    hate = [o for o in outcomes if o.case.label == 1]
    non_hate = [o for o in outcomes if o.case.label == 0]
    labels = {o.case.label for o in outcomes}
    passed = sum(o.passed for o in outcomes)
    return GroupScore(
        n=len(outcomes),
        passed=passed,
        pass_rate=passed / len(outcomes),
        label=labels.pop() if len(labels) == 1 else None,
        mean_probability=sum(o.probability for o in outcomes) / len(outcomes),
        hate_pass_rate=rate(hate),
        non_hate_pass_rate=rate(non_hate),
    )


@dataclass
class SuiteResult:
    """Pass rates of one model on one suite: overall, per functionality, per category and per cell."""

    suite: str
    threshold: float
    n: int
    passed: int
    pass_rate: float
    hate_pass_rate: float | None
    non_hate_pass_rate: float | None
    per_functionality: dict[str, GroupScore]
    per_category: dict[str, GroupScore]
    per_cell: dict[str, dict[str, float]]
    """Pass rate per functionality, then per category."""
    worst: list[CaseOutcome]
    """Failed cases, most confidently wrong first."""
    outcomes: list[CaseOutcome] = field(default_factory=list, repr=False)

    def to_dict(self, *, include_cases: bool = False) -> dict[str, Any]:
        """JSON-ready form; every case outcome only when asked (``cases.jsonl`` holds them)."""
        data: dict[str, Any] = {
            "suite": self.suite,
            "threshold": self.threshold,
            "n": self.n,
            "passed": self.passed,
            "pass_rate": self.pass_rate,
            "hate_pass_rate": self.hate_pass_rate,
            "non_hate_pass_rate": self.non_hate_pass_rate,
            "per_functionality": {k: v.to_dict() for k, v in self.per_functionality.items()},
            "per_category": {k: v.to_dict() for k, v in self.per_category.items()},
            "per_cell": self.per_cell,
            "worst": [o.to_dict() for o in self.worst],
        }
        if include_cases:
            data["cases"] = [o.to_dict() for o in self.outcomes]
        return data


def run_suite(
    predictor: SuiteScorer,
    cases: Sequence[SuiteCase] | None = None,
    *,
    suite: str = DEFAULT_SUITE,
    normalize: Callable[[str], str] | None = None,
    worst: int = WORST_CASES,
) -> SuiteResult:
    """Score ``cases`` (default: every case of ``suite``) and aggregate the pass rates.

    A case passes when ``P(hate) >= predictor.threshold`` equals its gold label.
    ``normalize`` is applied to each text first: pass the training normalisation
    so the model sees suite texts the way it saw its training data.
    """
    cases = list(cases) if cases is not None else load_suite(suite)
    if not cases:
        raise DataError(f"suite {suite!r}: no cases to score")
    texts = [normalize(c.text) if normalize is not None else c.text for c in cases]
    probs = [float(p) for p in predictor.predict_proba(texts)]
    if len(probs) != len(cases):
        raise HsctlError(f"the predictor returned {len(probs)} probabilities for {len(cases)} texts")
    bad = [c.id for c, p in zip(cases, probs, strict=True) if not math.isfinite(p)]
    if bad:
        raise HsctlError(f"the predictor returned non-finite probabilities for {len(bad)} case(s), e.g. {bad[0]}")
    threshold = float(predictor.threshold)
    outcomes = [
        CaseOutcome(case=c, probability=p, predicted=int(p >= threshold)) for c, p in zip(cases, probs, strict=True)
    ]
    by_func: dict[str, list[CaseOutcome]] = {}
    by_cat: dict[str, list[CaseOutcome]] = {}
    by_cell: dict[str, dict[str, list[CaseOutcome]]] = {}
    for o in outcomes:
        by_func.setdefault(o.case.functionality, []).append(o)
        by_cat.setdefault(o.case.category, []).append(o)
        by_cell.setdefault(o.case.functionality, {}).setdefault(o.case.category, []).append(o)
    cat_order = {c: i for i, c in enumerate((*CATEGORIES, NO_CATEGORY))}
    total = _score(outcomes)
    failed = sorted((o for o in outcomes if not o.passed), key=lambda o: (-o.error, o.case.id))
    return SuiteResult(
        suite=suite,
        threshold=threshold,
        n=total.n,
        passed=total.passed,
        pass_rate=total.pass_rate,
        hate_pass_rate=total.hate_pass_rate,
        non_hate_pass_rate=total.non_hate_pass_rate,
        per_functionality={k: _score(v) for k, v in by_func.items()},
        per_category={
            k: _score(by_cat[k]) for k in sorted(by_cat, key=lambda c: (cat_order.get(c, len(cat_order)), c))
        },
        per_cell={
            f: {c: sum(o.passed for o in items) / len(items) for c, items in cells.items()}
            for f, cells in by_cell.items()
        },
        worst=failed[: max(0, worst)],
        outcomes=outcomes,
    )


# ---------------------------------------------------------------- gate


def is_suite_metric(name: str) -> bool:
    """``functional`` (the overall pass rate) or ``functional.<functionality>`` (one functionality's)."""
    return name.partition(".")[0] in SUITES


def check_suite_floors(floors: Mapping[str, float], suite: str = DEFAULT_SUITE) -> None:
    """Fail early (``ConfigError``) on floors a run of ``suite`` cannot check."""
    known = {f["name"] for f in _spec(suite)["functionalities"]}
    for key in floors:
        head, dot, func = key.partition(".")
        if head != suite:
            raise ConfigError(f"--fail-under {key}: not a metric of --suite {suite} (use {suite} or {suite}.NAME)")
        if dot and func not in known:
            raise ConfigError(f"--fail-under {key}: suite {suite!r} has no functionality {func!r}")


def suite_gate(result: SuiteResult, floors: Mapping[str, float]) -> list[str]:
    """Failures of the floors on the overall (``functional``) or per-functionality pass rates."""
    failures = []
    for key, floor in floors.items():
        head, dot, func = key.partition(".")
        if head != result.suite:
            continue
        score = result.per_functionality.get(func) if dot else None
        if dot and score is None:
            failures.append(f"{key} is not available")
            continue
        value = score.pass_rate if score is not None else result.pass_rate
        if value < floor:
            failures.append(f"{key} {value:.4f} is below {floor:g}")
    return failures


# ---------------------------------------------------------------- the report


@dataclass
class SuiteRun:
    """A suite run of a model folder: the report (``suite.json``), where it went and the gate outcome."""

    result: SuiteResult
    report: dict[str, Any]
    output_dir: Path
    gate_failures: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """What ``--json`` prints: the report plus its folder and the gate failures."""
        return {**self.report, "output_dir": str(self.output_dir), "gate_failures": self.gate_failures}


def evaluate_suite(
    settings: Settings,
    *,
    suite: str = DEFAULT_SUITE,
    model: str | Path | None = None,
    backend: str | None = None,
    target_prior: float | None = None,
    fail_under: Mapping[str, float] | None = None,
    output_dir: Path | None = None,
    normalize: Callable[[str], str] | None = None,
    worst: int = WORST_CASES,
) -> SuiteRun:
    """Run a suite on a model folder and write ``suite.json``, ``suite.md`` and ``cases.jsonl`` atomically.

    ``fail_under`` floors must be suite metrics (``functional``,
    ``functional.<name>``); without it, the suite floors of
    ``evaluate.fail_under`` apply and the data-metric floors there are left to
    data runs. Texts are normalised as the model's training data was
    (:meth:`~hsctl.inference.Predictor.normalize`) unless ``normalize`` says otherwise.
    """
    from hsctl.inference import predictor_for

    model = model if model is not None else settings.evaluate.model  # unset: the setting, then the latest
    backend = backend or settings.evaluate.backend
    started = time.perf_counter()
    cases = load_suite(suite)
    if fail_under is None:
        floors = {k: v for k, v in settings.evaluate.fail_under.items() if k.partition(".")[0] == suite}
    else:
        floors = dict(fail_under)
    check_suite_floors(floors, suite)
    predictor = predictor_for(settings, model, backend, target_prior=target_prior)
    normalize = normalize or predictor.normalize
    result = run_suite(predictor, cases, suite=suite, normalize=normalize, worst=worst)
    failures = suite_gate(result, floors)
    report: dict[str, Any] = {
        **result.to_dict(),
        "suite_version": _spec(suite).get("version"),
        "suite_digest": suite_digest(suite),
        "n_functionalities": len(result.per_functionality),
        "normalized": True,
        "target_prior": predictor.target_prior,
        "model": str(predictor.info.path),
        "model_version": predictor.model_version,
        "backend": backend,
        "gate": {"fail_under": floors, "failures": failures, "passed": not failures},
        "created_at": utc_now(),
    }
    out = output_dir or settings.paths.layout.report_root("suite")
    with atomic_dir(out) as tmp:
        report["elapsed_s"] = round(time.perf_counter() - started, 3)
        write_json(tmp / SUITE_REPORT, report)
        atomic_write_text(tmp / SUITE_SUMMARY, render_suite_markdown(report))
        atomic_write_text(tmp / SUITE_CASES, "".join(dumps(o.to_dict(), indent=None) + "\n" for o in result.outcomes))
    return SuiteRun(result=result, report=report, output_dir=out, gate_failures=failures)


def _md(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def _pct(value: float | None) -> str:
    return "" if value is None else f"{value:.1%}"


def render_suite_markdown(report: Mapping[str, Any]) -> str:
    """A human summary of a suite report, for pull requests and CI logs."""
    lines = [
        f"# Behavioural suite `{report['suite']}` on `{report.get('model_version', '?')}`",
        "",
        f"Pass rate **{report['pass_rate']:.1%}** ({report['passed']}/{report['n']} cases) at threshold "
        f"{report['threshold']:.3f}; hate cases {_pct(report['hate_pass_rate'])}, "
        f"non-hate cases {_pct(report['non_hate_pass_rate'])}.",
        "",
        "| functionality | gold | cases | pass rate | mean P(hate) |",
        "| --- | --- | --- | --- | --- |",
    ]
    for name, score in report["per_functionality"].items():
        gold = {1: "hate", 0: "non-hate"}.get(score["label"], "mixed")
        lines.append(f"| {name} | {gold} | {score['n']} | {score['pass_rate']:.1%} | {score['mean_probability']:.3f} |")
    lines += ["", "| category | cases | pass rate | hate cases | non-hate cases |", "| --- | --- | --- | --- | --- |"]
    for name, score in report["per_category"].items():
        lines.append(
            f"| {name} | {score['n']} | {score['pass_rate']:.1%} | {_pct(score['hate_pass_rate'])} "
            f"| {_pct(score['non_hate_pass_rate'])} |"
        )
    if report["worst"]:
        lines += [
            "",
            "Most confidently wrong cases:",
            "",
            "| id | gold | P(hate) | text |",
            "| --- | --- | --- | --- |",
        ]
        for case in report["worst"]:
            lines.append(f"| {case['id']} | {case['label']} | {case['probability']:.3f} | {_md(case['text'])} |")
    gate = report.get("gate", {})
    if gate.get("fail_under"):
        lines += ["", "Gate: " + ("passed" if gate["passed"] else "FAILED: " + "; ".join(gate["failures"]))]
    return "\n".join(lines) + "\n"


__all__ = [
    "CATEGORIES",
    "DEFAULT_SUITE",
    "NO_CATEGORY",
    "SUITES",
    "SUITE_CASES",
    "SUITE_REPORT",
    "SUITE_SUMMARY",
    "TRANSFORMS",
    "CaseOutcome",
    "Functionality",
    "GroupScore",
    "SuiteCase",
    "SuiteResult",
    "SuiteRun",
    "SuiteScorer",
    "check_suite_floors",
    "describe_suite",
    "evaluate_suite",
    "is_suite_metric",
    "load_suite",
    "normalize_for_overlap",
    "overlap_with_suite",
    "render_suite_markdown",
    "run_suite",
    "suite_digest",
    "suite_gate",
    "suite_texts",
]
