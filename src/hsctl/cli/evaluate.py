"""``hsctl evaluate``: metrics, calibration and plots; ``--fail-under`` gates CI (exit 3)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from hsctl.cli._common import ArtifactsOpt, JsonOpt, emit_json, err_console, handle_errors, load, out_console
from hsctl.cli.fetch import CategoryColOpt, LabelColOpt, LabelMapOpt, TextColOpt, column_overrides

ModelOpt = Annotated[
    str | None,
    typer.Option(
        "--model", "-m", help="Model folder or run name (default: the latest trained model).", show_default=False
    ),
]
BackendOpt = Annotated[str, typer.Option("--backend", help="Inference backend: torch, onnx or onnx-int8.")]
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
    backend: BackendOpt = "torch",
    target_prior: TargetPriorOpt = None,
    fail_under: Annotated[
        list[str] | None,
        typer.Option(
            "--fail-under", help="Gate: METRIC=VALUE (repeatable); a miss exits with code 3.", show_default=False
        ),
    ] = None,
    output: Annotated[
        Path | None,
        typer.Option("--output", "-o", help="Report folder (default: <artifacts>/reports/eval).", show_default=False),
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
    """
    from hsctl.errors import GateFailedError
    from hsctl.evaluate import evaluate, parse_fail_under

    settings = load(
        ctx,
        {
            "paths.artifacts": artifacts,
            **column_overrides(text_column, label_column, category_column, label_map),
        },
    ).settings
    floors = parse_fail_under(fail_under) if fail_under else None
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
    if json_out:
        emit_json(result.to_dict())
    else:
        report = result.report
        table = Table(title=f"{report['model_version']} on {report['data']} ({report['n']} rows, {report['backend']})")
        table.add_column("metric", style="cyan")
        table.add_column(f"threshold {report['threshold']:.3f}", justify="right")
        table.add_column("at 0.5", justify="right")
        for key in ("accuracy", "macro_f1", "weighted_f1", "roc_auc", "pr_auc"):
            table.add_row(key, f"{report[key]:.4f}", f"{report['at_0.5'][key]:.4f}")
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
        console.print(f"wrote [bold]{result.output_dir}[/]")
    if result.gate_failures:
        raise GateFailedError("gate failed: " + "; ".join(result.gate_failures))
