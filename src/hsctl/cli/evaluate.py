"""``hsctl evaluate``: metrics, calibration and plots, or a behavioural suite; ``--fail-under`` gates CI (exit 3)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.markup import escape
from rich.table import Table

from hsctl.cli._common import ArtifactsOpt, JsonOpt, emit_json, err_console, handle_errors, load, out_console
from hsctl.cli.fetch import CategoryColOpt, LabelColOpt, LabelMapOpt, TextColOpt, column_overrides
from hsctl.evaluate.types import METRIC_KEYS, metric

if TYPE_CHECKING:
    from hsctl.evaluate.suite import SuiteRun
    from hsctl.settings import Settings

ModelOpt = Annotated[
    str | None,
    typer.Option(
        "--model", "-m", help="Model folder or run name (default: the latest trained model).", show_default=False
    ),
]
BackendOpt = Annotated[
    str | None,
    typer.Option(
        "--backend", help="Inference backend: torch, onnx or onnx-int8 (setting evaluate.backend).", show_default=False
    ),
]
TargetPriorOpt = Annotated[
    float | None,
    typer.Option(
        "--target-prior",
        help="Deployment hate rate; re-weights probabilities (overrides the model's).",
        show_default=False,
    ),
]


@handle_errors
def evaluate_cli(
    ctx: typer.Context,
    model: ModelOpt = None,
    data: Annotated[
        str | None,
        typer.Option(
            "--data",
            "-d",
            help="Split name of the preprocessed data, or any file fetch reads (setting evaluate.split).",
            show_default=False,
        ),
    ] = None,
    suite: Annotated[
        str | None,
        typer.Option(
            "--suite",
            help="Run a built-in behavioural test suite instead of --data (functional): "
            "pass rates per functionality and category.",
            show_default=False,
        ),
    ] = None,
    backend: BackendOpt = None,
    target_prior: TargetPriorOpt = None,
    fail_under: Annotated[
        list[str] | None,
        typer.Option(
            "--fail-under",
            help="Gate: METRIC=VALUE (repeatable); a miss exits with code 3. "
            "With --suite: functional=RATE or functional.FUNCTIONALITY=RATE.",
            show_default=False,
        ),
    ] = None,
    output: Annotated[
        Path | None,
        typer.Option(
            "--output",
            "-o",
            help="Report folder (default: new folder under <artifacts>/reports/eval; reports/suite with --suite).",
            show_default=False,
        ),
    ] = None,
    text_column: TextColOpt = None,
    label_column: LabelColOpt = None,
    category_column: CategoryColOpt = None,
    label_map: LabelMapOpt = None,
    artifacts: ArtifactsOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """Evaluate a trained model at its stored threshold and at 0.5.

    Writes eval.json, eval.md and ROC, PR, confusion and reliability plots.
    With --suite, runs a behavioural test suite instead and writes suite.json and suite.md.
    """
    from hsctl.errors import ConfigError, GateFailedError
    from hsctl.evaluate import evaluate, parse_fail_under

    settings = load(
        ctx,
        {
            "paths.artifacts": artifacts,
            "evaluate.model": model,
            "evaluate.backend": backend,
            **column_overrides(text_column, label_column, category_column, label_map),
        },
    ).settings
    model, backend = settings.evaluate.model, settings.evaluate.backend
    floors = parse_fail_under(fail_under) if fail_under else None
    if suite is not None:
        if data is not None:
            raise ConfigError("--suite and --data cannot be combined: run 'hsctl evaluate' once for each")
        run = _run_suite(settings, suite, model, backend, target_prior, floors, output)
        if json_out:
            emit_json(run.to_dict())
        else:
            _print_suite(run)
        if run.gate_failures:
            raise GateFailedError("gate failed: " + "; ".join(run.gate_failures))
        return
    with err_console().status("evaluating ..."):
        result = evaluate(
            settings,
            model=model,
            data=data,
            backend=backend,
            target_prior=target_prior,
            fail_under=floors,
            output_dir=output,
        )
    for warning in result.report.get("warnings", []):
        err_console().print(f"[yellow]warning:[/] {escape(warning)}", highlight=False)
    if json_out:
        emit_json(result.to_dict())
    else:
        report = result.report
        table = Table(title=f"{report['model_version']} on {report['data']} ({report['n']} rows, {report['backend']})")
        table.add_column("metric", style="cyan")
        table.add_column(f"threshold {report['threshold']:.3f}", justify="right")
        table.add_column("at 0.5", justify="right")
        for key in METRIC_KEYS:
            table.add_row(key, _metric(metric(report, key)), _metric(metric(report, key, at_half=True)))
        table.add_row("ece", f"{report['ece']:.4f}", "")
        console = out_console()
        console.print(table)
        if report["per_category"]:
            cats = Table(title="hate recall per category")
            cats.add_column("category", style="cyan")
            cats.add_column("recall", justify="right")
            cats.add_column("support", justify="right")
            for name, value in report["per_category"].items():
                cats.add_row(name, f"{value['recall']:.3f}", str(value["support"]))
            console.print(cats)
        gap = report.get("threshold_gap")
        if gap:
            console.print(
                f"best threshold on these data {gap['best_threshold']:.3f} (macro-F1 {gap['macro_f1_at_best']:.4f}); "
                f"stored {gap['stored_threshold']:.3f} (macro-F1 {gap['macro_f1_at_stored']:.4f})"
            )
        console.print(f"wrote [bold]{result.output_dir}[/]")
    if result.gate_failures:
        raise GateFailedError("gate failed: " + "; ".join(result.gate_failures))


def _run_suite(
    settings: Settings,
    suite: str,
    model: str | None,
    backend: str,
    target_prior: float | None,
    floors: dict[str, float] | None,
    output: Path | None,
) -> SuiteRun:
    """The suite run (texts normalised as the model's training data was)."""
    from hsctl.evaluate.suite import evaluate_suite

    with err_console().status(f"running the {suite} suite ..."):
        return evaluate_suite(
            settings,
            suite=suite,
            model=model,
            backend=backend,
            target_prior=target_prior,
            fail_under=floors,
            output_dir=output,
        )


def _rate(value: float | None) -> str:
    """A pass rate, coloured: green from 90%, yellow from 70%, red below."""
    if value is None:
        return ""
    style = "green" if value >= 0.9 else "yellow" if value >= 0.7 else "red"
    return f"[{style}]{value:.1%}[/]"


def _print_suite(run: SuiteRun) -> None:
    """Rich tables: pass rate per functionality and per category, then the worst cases."""
    from rich.markup import escape

    report: dict[str, Any] = run.report
    console = out_console()
    funcs = Table(
        title=f"{report['suite']} suite: {report['model_version']} ({report['n']} cases, {report['backend']}, "
        f"threshold {report['threshold']:.3f})"
    )
    funcs.add_column("functionality", style="cyan")
    funcs.add_column("gold")
    for name in ("cases", "pass", "mean P(hate)"):
        funcs.add_column(name, justify="right")
    for name, score in report["per_functionality"].items():
        gold = {1: "hate", 0: "non-hate"}.get(score["label"], "mixed")
        funcs.add_row(name, gold, str(score["n"]), _rate(score["pass_rate"]), f"{score['mean_probability']:.3f}")
    console.print(funcs)
    cats = Table(title="pass rate per category")
    cats.add_column("category", style="cyan")
    for name in ("cases", "pass", "hate cases", "non-hate cases"):
        cats.add_column(name, justify="right")
    for name, score in report["per_category"].items():
        cats.add_row(
            name,
            str(score["n"]),
            _rate(score["pass_rate"]),
            _rate(score["hate_pass_rate"]),
            _rate(score["non_hate_pass_rate"]),
        )
    console.print(cats)
    if report["worst"]:
        worst = Table(title="most confidently wrong cases")
        worst.add_column("id", style="cyan", no_wrap=True)
        worst.add_column("gold", justify="right")
        worst.add_column("P(hate)", justify="right")
        worst.add_column("text")
        for case in report["worst"]:
            worst.add_row(case["id"], str(case["label"]), f"{case['probability']:.3f}", escape(case["text"]))
        console.print(worst)
    console.print(
        f"pass rate [bold]{report['pass_rate']:.1%}[/] ({report['passed']}/{report['n']}): "
        f"hate cases {_rate(report['hate_pass_rate'])}, non-hate cases {_rate(report['non_hate_pass_rate'])}"
    )
    console.print(f"wrote [bold]{run.output_dir}[/]")


def _metric(value: Any) -> str:
    """Four decimals, or ``n/a`` for a metric that is undefined on the data (null in the report)."""
    return f"{value:.4f}" if isinstance(value, int | float) else "n/a"
