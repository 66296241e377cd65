"""The self-contained HTML drift report: verdict first, then each test with its plot.

Plots are matplotlib PNGs inlined as base64 ``data:`` URIs and the styles are
inline, so the file opens offline and can be mailed or attached to a CI run.
"""

from __future__ import annotations

import base64
import io
from html import escape
from typing import TYPE_CHECKING, Any

from hsctl.core.display import human
from hsctl.core.plotting import pyplot

if TYPE_CHECKING:
    from hsctl.drift.performance import Performance
    from hsctl.drift.stats import DriftTest
    from hsctl.drift.types import DriftReport

STYLE = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:2rem auto;max-width:960px;color:#222;
padding:0 1rem}
h1{font-size:1.6rem}h2{font-size:1.2rem;margin-top:2rem;border-bottom:1px solid #ddd;padding-bottom:.3rem}
.verdict{padding:1rem 1.2rem;border-radius:6px;font-size:1.25rem;font-weight:600;color:#fff}
.drift{background:#c0392b}.nodrift{background:#27ae60}.unknown{background:#7f8c8d}
table{border-collapse:collapse;margin:.6rem 0;font-size:.92rem}
td,th{border:1px solid #ddd;padding:.3rem .6rem;text-align:left;vertical-align:top}
th{background:#f4f4f4}td.num{text-align:right;font-variant-numeric:tabular-nums}
.yes{color:#c0392b;font-weight:600}.no{color:#27ae60}.skip{color:#7f8c8d}
.warn{background:#fff6e0;border-left:4px solid #f0ad4e;padding:.5rem .8rem;margin:.4rem 0}
img{max-width:100%;height:auto}code{background:#f4f4f4;padding:0 .2rem}
details{margin:.4rem 0}
"""


def _png(fig: Any) -> str:
    plt = pyplot()
    buffer = io.BytesIO()
    fig.tight_layout()
    fig.savefig(buffer, format="png", dpi=80)
    plt.close(fig)
    return base64.b64encode(buffer.getvalue()).decode("ascii")


def _ecdf(ax: Any, values: Any, label: str) -> None:
    import numpy as np

    x = np.sort(np.asarray(values, dtype=float))
    y = np.arange(1, len(x) + 1) / max(1, len(x))
    ax.step(x, y, where="post", label=f"{label} (n={len(x)})")


def plot_test(test: DriftTest) -> str | None:
    """A base64 PNG for a test that ran, or None."""
    if test.skipped or not test.plot_data:
        return None
    plt = pyplot()
    data = test.plot_data
    fig, ax = plt.subplots(figsize=(6, 3.2))
    if "null" in data:
        ax.hist(data["null"], bins=40, color="#95a5a6", label="permutation null")
        ax.axvline(float(test.statistic or 0.0), color="#c0392b", lw=2, label=f"observed {test.statistic_name}")
        if test.threshold is not None:
            ax.axvline(test.threshold, color="#2c3e50", ls="--", lw=1, label="drift threshold")
        ax.set_xlabel(test.statistic_name)
        ax.set_ylabel("permutations")
    elif "shares" in data:
        import numpy as np

        categories = data["categories"]
        x = np.arange(len(categories))
        for offset, side in ((-0.2, "reference"), (0.2, "current")):
            ax.bar(x + offset, [data["shares"][side][c] for c in categories], width=0.4, label=side)
        ax.set_xticks(x, categories)
        ax.set_ylabel("share")
    else:
        _ecdf(ax, data["reference"], "reference")
        _ecdf(ax, data["current"], "current")
        ax.set_ylabel("cumulative share")
        ax.set_xlabel(test.title.split(":")[-1].strip())
    ax.set_title(test.title, fontsize=10)
    ax.legend(fontsize=8)
    return _png(fig)


def make_plots(tests: list[DriftTest]) -> dict[str, str]:
    """Base64 PNGs by test name, for the tests that ran."""
    plots = {}
    for test in tests:
        png = plot_test(test)
        if png is not None:
            plots[test.name] = png
    return plots


def _fmt(value: Any) -> str:
    return "" if value is None else human(value)


def _kv_table(data: dict[str, Any]) -> str:
    rows = "".join(
        f"<tr><th>{escape(str(k).replace('_', ' '))}</th><td>{escape(_fmt(v))}</td></tr>" for k, v in data.items()
    )
    return f"<table>{rows}</table>"


def render_html(report: DriftReport, plots: dict[str, str]) -> str:
    """The whole report as one HTML page (no external assets)."""
    verdict = report["verdict"]
    status = verdict["status"]
    css = {"drift": "drift", "no drift": "nodrift"}.get(status, "unknown")
    if status == "drift":
        headline = f"Drift detected: {', '.join(verdict['drifted_tests'])}"
    elif status == "no drift":
        headline = "No drift detected"
    else:
        headline = "Insufficient data: no test could run"
    parts = [
        "<!doctype html><html lang='en'><head><meta charset='utf-8'>",
        "<meta name='viewport' content='width=device-width, initial-scale=1'>",
        f"<title>hsctl drift: {escape(status)}</title><style>{STYLE}</style></head><body>",
        "<h1>hsctl drift report</h1>",
        f"<div class='verdict {css}'>{escape(headline)}</div>",
        f"<p>{verdict['tests_run']} test(s) ran, {verdict['tests_skipped']} skipped; family-wise "
        f"&alpha; = {verdict['alpha']:g}, Bonferroni-corrected to {verdict['alpha_per_test']:.4g} per test. "
        f"Created {escape(report['created_at'])} in {report.get('elapsed_s', 0):.1f} s.</p>",
    ]
    for warning in report["warnings"]:
        parts.append(f"<div class='warn'>{escape(warning)}</div>")
    parts.append(
        "<table><tr><th>test</th><th>statistic</th><th>p-value</th><th>&alpha;</th><th>verdict</th>"
        "<th>n ref</th><th>n cur</th></tr>"
    )
    for test in report["tests"]:
        if test["skipped"]:
            outcome = f"<span class='skip'>skipped: {escape(test['reason'] or '')}</span>"
        elif test["drifted"]:
            outcome = "<span class='yes'>drift</span>"
        else:
            outcome = "<span class='no'>no drift</span>"
        stat = f"{test['statistic_name']} = {_fmt(test['statistic'])}" if not test["skipped"] else ""
        parts.append(
            f"<tr><td><a href='#{test['name']}'>{escape(test['title'])}</a></td><td>{escape(stat)}</td>"
            f"<td class='num'>{_fmt(test['p_value'])}</td><td class='num'>{_fmt(test['alpha'])}</td>"
            f"<td>{outcome}</td><td class='num'>{test['n_reference']}</td><td class='num'>{test['n_current']}</td></tr>"
        )
    parts.append("</table>")
    for test in report["tests"]:
        parts.append(f"<h2 id='{test['name']}'>{escape(test['title'])}</h2>")
        if test["skipped"]:
            parts.append(f"<p class='skip'>Skipped: {escape(test['reason'] or '')}</p>")
            continue
        verdict_word = "drift" if test["drifted"] else "no drift"
        threshold = f", drift above {_fmt(test['threshold'])}" if test["threshold"] is not None else ""
        parts.append(
            f"<p><b>{verdict_word}</b>: {escape(test['statistic_name'])} = {_fmt(test['statistic'])}, "
            f"p = {_fmt(test['p_value'])} (&alpha; = {_fmt(test['alpha'])}{escape(threshold)}); "
            f"{test['n_reference']} reference and {test['n_current']} current rows.</p>"
        )
        if test["name"] in plots:
            parts.append(f"<img alt='{escape(test['title'])}' src='data:image/png;base64,{plots[test['name']]}'>")
        parts.append(f"<details><summary>details</summary>{_kv_table(test['details'])}</details>")
    parts.extend(_performance_html(report.get("performance")))
    parts.append("<h2>Inputs</h2>")
    inputs: dict[str, Any] = {
        "reference": report["reference"],
        "current": report["current"],
        "model": report["model"],
        "encoder": report["encoder"],
    }
    for key, value in inputs.items():
        parts.append(f"<h3>{key}</h3>{_kv_table(value)}")
    parts.append(f"<h3>settings</h3>{_kv_table(report['settings'])}")
    parts.append(f"<h3>timings (s)</h3>{_kv_table(report.get('timings_s', {}))}")
    parts.append("</body></html>")
    return "\n".join(parts) + "\n"


PERFORMANCE_NOTE = (
    "Estimated from the logged probabilities at the deployed threshold (confidence-based estimation): right while "
    "the model stays calibrated on this traffic. Under concept shift it is not, and only the realized numbers, from "
    "reviewed labels (hsctl review ingest), show it."
)


def performance_rows(perf: Performance) -> list[tuple[str, str, str, str, str, str]]:
    """(what, n, precision, recall, macro-F1, hate rate) rows: overall, labelled rows, realized, each window."""

    def cells(what: str, values: Any, interval: bool) -> tuple[str, str, str, str, str, str]:
        def one(metric: str) -> str:
            value = _fmt(values[metric])
            bounds = values.get("interval", {}).get(metric) if interval else None
            if bounds and bounds[0] is not None:
                value += f" [{_fmt(bounds[0])}, {_fmt(bounds[1])}]"
            return value

        return (what, str(values["n"]), one("precision"), one("recall"), one("macro_f1"), one("hate_rate"))

    rows = [cells("estimated, all rows", perf["estimated"], True)]
    if perf["realized"] is not None and perf["estimated_on_labelled"] is not None:
        rows.append(cells("estimated, labelled rows", perf["estimated_on_labelled"], True))
        rows.append(cells("realized, labelled rows", perf["realized"], False))
    for i, window in enumerate(perf["windows"], start=1):
        span = f"{window['start'] or ''} to {window['end'] or ''}" if window["start"] else ""
        rows.append(cells(f"estimated, window {i} {span}".rstrip(), window["estimate"], True))
    return rows


HEADERS = ("", "n", "precision", "recall", "macro-F1", "hate rate")


def _performance_html(perf: Performance | None) -> list[str]:
    if perf is None:
        return []
    head = "".join(f"<th>{escape(h)}</th>" for h in HEADERS)
    body = "".join("<tr>" + "".join(f"<td>{escape(c)}</td>" for c in row) + "</tr>" for row in performance_rows(perf))
    source = f" Labels from {escape(perf['labels_source'])}." if perf["labels_source"] else " No reviewed labels yet."
    return [
        "<h2 id='performance'>Performance at the deployed threshold</h2>",
        f"<p>Threshold {_fmt(perf['threshold'])}; 95% intervals in brackets.{source}</p>",
        f"<table><tr>{head}</tr>{body}</table>",
        f"<p>{escape(PERFORMANCE_NOTE)}</p>",
    ]


def render_markdown(report: DriftReport) -> str:
    """A short Markdown summary: the verdict, each test, and performance estimated and realized."""
    verdict = report["verdict"]
    lines = [
        "# hsctl drift report",
        "",
        f"**{verdict['status']}**: {verdict['tests_run']} test(s) ran, {verdict['tests_skipped']} skipped "
        f"(Bonferroni alpha {verdict['alpha_per_test']:.4g} per test). Created {report['created_at']}.",
        "",
        "| test | statistic | p-value | verdict |",
        "| --- | --- | --- | --- |",
    ]
    for test in report["tests"]:
        outcome = "skipped" if test["skipped"] else ("drift" if test["drifted"] else "no drift")
        stat = "" if test["skipped"] else f"{test['statistic_name']} {_fmt(test['statistic'])}"
        lines.append(f"| {test['name']} | {stat} | {_fmt(test['p_value'])} | {outcome} |")
    perf = report.get("performance")
    if perf is not None:
        lines += ["", "## Performance at the deployed threshold", "", f"Threshold {_fmt(perf['threshold'])}.", ""]
        lines.append("| " + " | ".join(HEADERS) + " |")
        lines.append("|" + " --- |" * len(HEADERS))
        lines += ["| " + " | ".join(row) + " |" for row in performance_rows(perf)]
        lines += ["", PERFORMANCE_NOTE]
    for warning in report["warnings"]:
        lines.append(f"\n> warning: {warning}")
    return "\n".join(lines) + "\n"
