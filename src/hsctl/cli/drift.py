"""``hsctl drift``: compare live traffic (the prediction log) with the training data; exit 3 on drift."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.markup import escape
from rich.table import Table

from hsctl.cli._common import (
    ArtifactsOpt,
    JsonOpt,
    SinceOpt,
    UntilOpt,
    emit_json,
    err_console,
    handle_errors,
    load,
    out_console,
    quiet_ml_logs,
    reporter,
)
from hsctl.cli.evaluate import ModelOpt
from hsctl.cli.fetch import CategoryColOpt, LabelColOpt, LabelMapOpt, TextColOpt, column_overrides

if TYPE_CHECKING:
    from hsctl.drift.types import DriftReport


@handle_errors
def drift_cli(
    ctx: typer.Context,
    reference: Annotated[
        str | None,
        typer.Option(
            "--reference",
            "-r",
            help="Split of the preprocessed data, or any file fetch reads (default: the training split).",
            show_default=False,
        ),
    ] = None,
    current: Annotated[
        str | None,
        typer.Option(
            "--current",
            "-c",
            help="Prediction log directory, fsspec URL or log file, or any file fetch reads "
            "(default: drift.log_url, else serve.log_url, else <artifacts>/predictions).",
            show_default=False,
        ),
    ] = None,
    since: SinceOpt = None,
    until: UntilOpt = None,
    last: Annotated[
        int | None,
        typer.Option("--last", help="Only the last N records (or rows) of the current data.", show_default=False),
    ] = None,
    model: ModelOpt = None,
    backend: Annotated[
        str | None,
        typer.Option(
            "--backend",
            help="Backend that scores the reference: auto (the server's serve.backend for a log, else the "
            "fastest export), torch, onnx or onnx-int8 (setting drift.backend).",
            show_default=False,
        ),
    ] = None,
    report: Annotated[
        Path | None,
        typer.Option("--report", help="Also write the HTML report to this file.", show_default=False),
    ] = None,
    output: Annotated[
        Path | None,
        typer.Option(
            "--output",
            "-o",
            help="Report folder (default: new folder under <artifacts>/reports/drift).",
            show_default=False,
        ),
    ] = None,
    alpha: Annotated[
        float | None,
        typer.Option("--alpha", help="Family-wise significance level (setting drift.alpha).", show_default=False),
    ] = None,
    min_rows: Annotated[
        int | None,
        typer.Option("--min-rows", help="Fewest rows a test needs (setting drift.min_rows).", show_default=False),
    ] = None,
    text_column: TextColOpt = None,
    label_column: LabelColOpt = None,
    category_column: CategoryColOpt = None,
    label_map: LabelMapOpt = None,
    artifacts: ArtifactsOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """Detect drift between the training data and live traffic.

    Runs embedding (domain classifier, MMD), text-descriptor, prediction and
    label tests, Bonferroni-corrected. Writes drift.json and a self-contained
    drift.html. Exit codes: 0 no drift, 3 drift detected, 4 nothing usable
    (or too few rows for every test).
    """
    from hsctl.drift import drift
    from hsctl.errors import DataError, GateFailedError

    settings = load(
        ctx,
        {
            "paths.artifacts": artifacts,
            "drift.alpha": alpha,
            "drift.min_rows": min_rows,
            "drift.model": model,
            "drift.backend": backend,
            **column_overrides(text_column, label_column, category_column, label_map),
        },
    ).settings
    model, backend = settings.drift.model, settings.drift.backend
    quiet_ml_logs()
    console = err_console()
    with reporter() as progress:
        result = drift(
            settings,
            reference=reference,
            current=current,
            since=since,
            until=until,
            last=last,
            model=model,
            backend=backend,
            output_dir=output,
            report_path=report,
            progress=progress,
        )
    data = result.report
    for warning in data["warnings"]:
        console.print(f"[yellow]warning:[/] {escape(warning)}", highlight=False, soft_wrap=True)
    verdict = data["verdict"]
    if json_out:
        emit_json(result.to_dict())
    else:
        _print_summary(data, result)
    if verdict["drift"] is None:
        raise DataError("no drift test could run (too few rows or no usable inputs); see the warnings")
    if verdict["drift"]:
        raise GateFailedError("drift detected: " + ", ".join(verdict["drifted_tests"]))


def _fmt(value: Any) -> str:
    if value is None:
        return ""
    return f"{value:.4g}" if isinstance(value, float) else str(value)


def _print_summary(data: DriftReport, result: Any) -> None:
    verdict = data["verdict"]
    colour = {"drift": "red", "no drift": "green"}.get(verdict["status"], "yellow")
    table = Table(
        title=f"drift: {data['current']['source']} ({data['current']['rows']:,} rows) vs "
        f"{data['reference']['source']} ({data['reference']['rows']:,} rows)"
    )
    table.add_column("test", style="cyan")
    table.add_column("statistic", justify="right")
    table.add_column("p-value", justify="right")
    table.add_column("alpha", justify="right")
    table.add_column("n ref / cur", justify="right")
    table.add_column("verdict")
    notes = []
    for test in data["tests"]:
        if test["skipped"]:
            outcome, stat = "[dim]skipped[/]", ""
            notes.append(f"[dim]{test['name']} skipped: {escape(test['reason'] or '')}[/]")
        else:
            outcome = "[bold red]drift[/]" if test["drifted"] else "[green]ok[/]"
            stat = f"{test['statistic_name']} {_fmt(test['statistic'])}"
        table.add_row(
            test["name"],
            stat,
            _fmt(test["p_value"]),
            _fmt(test["alpha"]),
            f"{test['n_reference']:,} / {test['n_current']:,}",
            outcome,
        )
    console = out_console()
    console.print(table)
    for note in notes:
        console.print(note, highlight=False, soft_wrap=True)
    console.print(
        f"[bold {colour}]{verdict['status']}[/] ({verdict['tests_run']} tests, Bonferroni alpha "
        f"{verdict['alpha_per_test']:.4g} each; embeddings: {data['encoder']['kind']} encoder "
        f"{escape(str(data['encoder']['name']))}) in {data['elapsed_s']:.1f}s"
    )
    _print_performance(data)
    console.print(
        f"wrote [bold]{escape(str(result.output_dir))}[/]"
        + "".join(f", [bold]{escape(str(p))}[/]" for p in result.html_paths[1:])
    )


def _print_performance(data: DriftReport) -> None:
    """Estimated (and, with reviewed labels, realized) performance at the deployed threshold."""
    from hsctl.drift.report import HEADERS, performance_rows

    perf = data.get("performance")
    if perf is None:
        return
    table = Table(title=f"performance at the deployed threshold {perf['threshold']:.4g} (95% intervals)")
    for header in HEADERS:
        table.add_column(header, justify="left" if not header else "right")
    for row in performance_rows(perf):
        table.add_row(*(escape(c) for c in row))
    out_console().print(table)
