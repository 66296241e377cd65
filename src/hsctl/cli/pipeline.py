"""``hsctl pipeline``: every stage in order, skipping what is up to date."""

from __future__ import annotations

from typing import Annotated, Any

import typer
from rich.table import Table

from hsctl.cli._common import (
    ArtifactsOpt,
    JsonOpt,
    emit_json,
    err_console,
    handle_errors,
    load,
    out_console,
    quiet_ml_logs,
)
from hsctl.core.display import human

STAGE_HELP = "fetch, preprocess, train, evaluate or quantize"


def _summary_text(summary: dict[str, Any]) -> str:
    keys = ("splits", "validation_macro_f1", "macro_f1", "roc_auc", "int8_kept", "int8_speedup_b1", "path", "model_dir")
    parts = []
    for key in keys:
        if key in summary and summary[key] is not None:
            value = summary[key]
            parts.append(f"{key.replace('_', ' ')}: {human(value)}")
    return ", ".join(parts)


@handle_errors
def pipeline_cli(
    ctx: typer.Context,
    demo: Annotated[
        bool,
        typer.Option(
            "--demo",
            help="Offline smoke run: the built-in demo set and the tiny scratch model (about 70 seconds on 2 cores).",
        ),
    ] = False,
    source: Annotated[
        str | None,
        typer.Option("--source", "-s", help="Data source for fetch (setting data.source).", show_default=False),
    ] = None,
    from_stage: Annotated[
        str | None, typer.Option("--from", help=f"First stage: {STAGE_HELP}.", show_default=False)
    ] = None,
    to_stage: Annotated[str | None, typer.Option("--to", help=f"Last stage: {STAGE_HELP}.", show_default=False)] = None,
    force: Annotated[bool, typer.Option("--force", help="Run every selected stage even when up to date.")] = False,
    artifacts: ArtifactsOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """Run fetch -> preprocess -> train -> evaluate -> quantize, skipping up-to-date stages.

    A stage is skipped when its inputs, settings and code are unchanged since its
    manifest (<artifacts>/pipeline/<stage>.json) was written and its outputs exist.
    Exit code 3 when an evaluate or quantize gate fails (outputs are still written).
    """
    from hsctl.errors import GateFailedError
    from hsctl.pipeline import DEMO_OVERRIDES, run_pipeline

    overrides: dict[str, Any] = {"paths.artifacts": artifacts, "data.source": source}
    if demo:
        overrides |= DEMO_OVERRIDES
    settings = load(ctx, overrides).settings
    quiet_ml_logs()
    console = err_console()
    status: list[Any] = []

    def on_start(stage: str) -> None:
        status.append(console.status(f"{stage} ..."))
        status[-1].start()

    def on_stage(result: Any) -> None:
        if status:
            status.pop().stop()
        if result.status == "not-selected":
            return
        mark = {"ran": "[green]✓[/]", "skipped": "[cyan]↷[/]", "gate-failed": "[yellow]![/]"}.get(result.status, "?")
        detail = result.reason if result.status != "ran" else _summary_text(result.summary)
        console.print(
            f"{mark} {result.name:<10} {result.status:<11} {result.elapsed_s:6.1f}s  {detail}", highlight=False
        )

    result = run_pipeline(
        settings,
        from_stage=from_stage,
        to_stage=to_stage,
        force=force,
        force_int8=demo,
        on_stage=on_stage,
        on_start=on_start,
    )
    if json_out:
        emit_json(result.to_dict())
    else:
        table = Table(title=f"pipeline in {result.elapsed_s:.1f}s ({result.artifacts})")
        table.add_column("stage", style="cyan")
        table.add_column("status")
        table.add_column("time", justify="right")
        table.add_column("result")
        for stage in result.stages:
            if stage.status != "not-selected":
                table.add_row(stage.name, stage.status, f"{stage.elapsed_s:.1f}s", _summary_text(stage.summary))
        out_console().print(table)
    if result.gate_failures:
        raise GateFailedError("; ".join(result.gate_failures))
