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
