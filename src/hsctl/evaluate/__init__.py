"""``evaluate``: metrics, calibration and plots of a trained model on a labelled split or file.

Metrics are computed at the threshold stored with the model and at 0.5;
``fail_under`` floors turn the result into a CI gate (exit code 3).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

from hsctl.core.io import atomic_dir, utc_now, write_json
from hsctl.core.layout import EVAL_REPORT
from hsctl.errors import ConfigError, DataError
from hsctl.evaluate.types import METRIC_KEYS, CategoryRecall, EvalReport, metric

if TYPE_CHECKING:
    import pandas as pd

    from hsctl.settings import Settings

REPORT = EVAL_REPORT
SUMMARY = "eval.md"
from hsctl.settings import GATE_METRICS  # noqa: E402  (one list for flags and settings)

LOWER_IS_BETTER = {"ece"}


@dataclass
class EvalResult:
    """The evaluation report (the content of ``eval.json``)."""

    report: EvalReport
    output_dir: Path
    gate_failures: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form: the report plus where it was written and the gate outcome."""
        return {**self.report, "output_dir": str(self.output_dir), "gate_failures": self.gate_failures}


def parse_fail_under(items: list[str]) -> dict[str, float]:
    """``["macro_f1=0.8", "roc_auc=0.9"]`` -> floors; unknown metrics are usage errors.

    Suite floors (``functional``, ``functional.<functionality>``) parse here too;
    the suite run checks the functionality names.
    """
    from hsctl.evaluate.suite import is_suite_metric

    floors: dict[str, float] = {}
    for item in items:
        for part in item.split(","):
            name, sep, value = part.partition("=")
            name = name.strip()
            if not sep or not (name in GATE_METRICS or is_suite_metric(name)):
                raise ConfigError(
                    f"--fail-under expects METRIC=VALUE with METRIC in {', '.join(GATE_METRICS)} "
                    f"or functional.<functionality>: {part!r}"
                )
            try:
                floors[name] = float(value)
            except ValueError as exc:
                raise ConfigError(f"--fail-under {name}: {value!r} is not a number") from exc
    return floors


def load_labelled(
    settings: Settings, data: str | None, normalize: Callable[[str], str] | None = None
) -> tuple[pd.DataFrame, str]:
    """The frame to evaluate on: a split of the preprocessed data or any source ``fetch`` reads.

    External files get ``normalize`` (the model's own normalisation; default: the
    current settings'); rows with empty text are dropped (and counted), invalid
    labels are a ``DataError``.
    """
    import pandas as pd

    from hsctl.core.text import normalize_text
    from hsctl.fetch.sources import CATEGORY, LABEL, TEXT, read_source
    from hsctl.preprocess.validate import as_label_id, validate_labels

    name = data or settings.evaluate.split
    processed = settings.paths.processed_dir
    if "/" not in name and "." not in name and not Path(name).exists():
        from hsctl.core.processed import load_processed

        dataset = load_processed(processed, (name,), hint="or pass --data FILE")
        return dataset[name].to_pandas(), f"split:{name}"
    source = read_source(name, settings.data)
    frame = pd.concat(list(source.splits.values()), ignore_index=True)
    validate_labels(frame, settings.data.labels, name)
    frame[LABEL] = frame[LABEL].map(as_label_id).astype("int64")
    clean = normalize or (lambda t: normalize_text(t, settings.data.normalize))
    frame[TEXT] = frame[TEXT].map(lambda t: clean(t) if isinstance(t, str) else "")
    empty = int((frame[TEXT].str.len() == 0).sum())
    frame = frame[frame[TEXT].str.len() > 0]
    if frame.empty:
        raise DataError(f"{name}: no rows with text to evaluate")
    if CATEGORY not in frame.columns:
        frame[CATEGORY] = None
    frame.attrs["dropped_empty_text"] = empty
    return frame.reset_index(drop=True), name


def per_category_recall(frame: pd.DataFrame, predicted: Any) -> dict[str, CategoryRecall]:
    """Hate-class recall per category (rows with a category and label 1)."""
    import numpy as np

    from hsctl.fetch.sources import CATEGORY, LABEL

    out: dict[str, CategoryRecall] = {}
    if CATEGORY not in frame.columns:
        return out
    cats = frame[CATEGORY].fillna("").astype(str).to_numpy()
    pos = frame[LABEL].to_numpy() == 1
    pred = np.asarray(predicted)
    for cat in sorted(set(cats[pos]) - {""}):
        mask = pos & (cats == cat)
        out[cat] = {"recall": float(pred[mask].mean()), "support": int(mask.sum())}
    return out


def evaluate(
    settings: Settings,
    *,
    model: str | Path | None = None,
    data: str | None = None,
    backend: str | None = None,
    target_prior: float | None = None,
    fail_under: dict[str, float] | None = None,
    output_dir: Path | None = None,
) -> EvalResult:
    """Evaluate a model folder and write ``eval.json``, ``eval.md`` and the plots atomically."""
    import numpy as np

    from hsctl.evaluate.metrics import binary_metrics, expected_calibration_error, undefined_metrics
    from hsctl.evaluate.plots import write_plots
    from hsctl.evaluate.suite import is_suite_metric
    from hsctl.fetch.sources import LABEL, TEXT
    from hsctl.inference import predictor_for

    model = model if model is not None else settings.evaluate.model  # unset: the setting, then the latest
    backend = backend or settings.evaluate.backend
    started = time.perf_counter()
    # Suite floors (functional, functional.<name>) belong to 'evaluate --suite' runs: settings
    # floors of that kind are left to them, explicit ones are a usage error before any work.
    if fail_under is None:
        floors = {k: v for k, v in settings.evaluate.fail_under.items() if not is_suite_metric(k)}
    else:
        suite_floors = [k for k in fail_under if is_suite_metric(k)]
        if suite_floors:
            raise ConfigError(
                f"--fail-under {suite_floors[0]} is a floor of the behavioural suite: "
                "use it with 'hsctl evaluate --suite functional'"
            )
        floors = dict(fail_under)
    predictor = predictor_for(settings, model, backend, target_prior=target_prior)
    frame, data_name = load_labelled(settings, data, predictor.normalize)
    y = frame[LABEL].to_numpy()
    probs = predictor.predict_proba(frame[TEXT].tolist())
    threshold = predictor.threshold
    labels = predictor.info.labels
    at_threshold = binary_metrics(y, probs, threshold, labels)
    at_half = binary_metrics(y, probs, 0.5, labels)
    per_category = per_category_recall(frame, probs >= threshold)
    report: EvalReport = {
        "accuracy": at_threshold["accuracy"],
        "macro_f1": at_threshold["macro_f1"],
        "weighted_f1": at_threshold["weighted_f1"],
        "roc_auc": at_threshold["roc_auc"],
        "pr_auc": at_threshold["pr_auc"],
        "threshold": at_threshold["threshold"],
        "n": at_threshold["n"],
        "ece": expected_calibration_error(y, probs),
        "per_category": per_category,
        "per_class": at_threshold["per_class"],
        "confusion_matrix": at_threshold["confusion_matrix"],
        "at_0.5": {k: v for k, v in at_half.items() if k not in ("n",)},
        "per_category_at_0.5": per_category_recall(frame, probs >= 0.5),
        "data": data_name,
        "dropped_empty_text": int(frame.attrs.get("dropped_empty_text", 0)),
        "label_rate": float(np.mean(y)),
        "target_prior": predictor.target_prior,
        "model": str(predictor.info.path),
        "model_version": predictor.model_version,
        "backend": backend,
        "created_at": utc_now(),
        "warnings": [w for w in (undefined_metrics(y),) if w],
        "threshold_gap": threshold_gap(y, probs, threshold),
    }
    failures = []
    for name, floor in floors.items():
        value = cast(dict[str, Any], report).get(name)
        if not isinstance(value, int | float) or math.isnan(value):
            failures.append(f"{name} is undefined on this data")
        elif value > floor if name in LOWER_IS_BETTER else value < floor:
            relation = "above" if name in LOWER_IS_BETTER else "below"
            failures.append(f"{name} {value:.4f} is {relation} {floor:g}")
    report["gate"] = {"fail_under": floors, "failures": failures, "passed": not failures}
    layout = settings.paths.layout
    out = output_dir or layout.new_report_dir("eval")  # history: one folder per run
    with atomic_dir(out) as tmp:
        report["plots"] = write_plots(y, probs, threshold, labels, tmp)
        report["elapsed_s"] = round(time.perf_counter() - started, 3)
        write_json(tmp / REPORT, report)
        (tmp / SUMMARY).write_text(render_markdown(report), encoding="utf-8")
    if output_dir is None:
        layout.point_latest("eval", out)
    return EvalResult(report=report, output_dir=out, gate_failures=failures)


def threshold_gap(y: Any, probs: Any, threshold: float) -> dict[str, Any] | None:
    """Where the stored threshold sits against the best one on these data (None when one class is missing).

    A large gap on traffic that differs from the training file says the operating
    point does not carry over: users see it here before their moderators do.
    """
    import numpy as np

    from hsctl.core.decision import best_threshold
    from hsctl.evaluate.metrics import binary_metrics

    y_arr = np.asarray(y, dtype=np.int64)
    if y_arr.size == 0 or y_arr.min() == y_arr.max():
        return None
    best, best_f1 = best_threshold(probs, y_arr)
    stored_f1 = binary_metrics(y_arr, probs, threshold)["macro_f1"]
    return {
        "stored_threshold": float(threshold),
        "best_threshold": float(best),
        "macro_f1_at_stored": float(stored_f1),
        "macro_f1_at_best": float(best_f1),
        "macro_f1_gap": float(best_f1 - stored_f1),
    }


def _num(value: Any) -> str:
    """A metric for a table: four decimals, or ``n/a`` when it is undefined (null)."""
    return f"{value:.4f}" if isinstance(value, int | float) else "n/a"


def render_markdown(report: EvalReport) -> str:
    """A short human summary, for pull requests and CI logs."""
    lines = [
        f"# Evaluation of `{report['model_version']}`",
        "",
        f"Data: `{report['data']}` ({report['n']} rows, {report['label_rate']:.1%} hate), "
        f"backend `{report['backend']}`.",
        "",
        "| metric | at stored threshold ({:.3f}) | at 0.5 |".format(report["threshold"]),
        "| --- | --- | --- |",
    ]
    for key in METRIC_KEYS:
        lines.append(f"| {key} | {_num(metric(report, key))} | {_num(metric(report, key, at_half=True))} |")
    lines += ["", f"Expected calibration error: {report['ece']:.4f}", ""]
    gap = report.get("threshold_gap")
    if gap:
        lines += [
            f"Best threshold on these data: {gap['best_threshold']:.3f} (macro-F1 {gap['macro_f1_at_best']:.4f}) "
            f"against the stored {gap['stored_threshold']:.3f} (macro-F1 {gap['macro_f1_at_stored']:.4f}).",
            "",
        ]
    if report["per_category"]:
        lines += ["| category | recall | support |", "| --- | --- | --- |"]
        lines += [f"| {c} | {v['recall']:.3f} | {v['support']} |" for c, v in report["per_category"].items()]
        lines.append("")
    lines += [f"Warning: {w}." for w in report.get("warnings", [])]
    gate = report.get("gate")
    if gate is not None and gate["fail_under"]:
        lines.append("Gate: " + ("passed" if gate["passed"] else "FAILED: " + "; ".join(gate["failures"])))
    return "\n".join(lines) + "\n"


__all__ = ["REPORT", "SUMMARY", "EvalResult", "evaluate", "load_labelled", "parse_fail_under", "threshold_gap"]
