"""``hsctl predict``: batch-score a file or stdin lines."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from hsctl.cli._common import ArtifactsOpt, JsonOpt, emit_json, err_console, handle_errors, load
from hsctl.cli.evaluate import BackendOpt, ModelOpt, TargetPriorOpt
from hsctl.cli.fetch import TextColOpt


@handle_errors
def predict_cli(
    ctx: typer.Context,
    source: Annotated[str, typer.Argument(help="CSV, TSV, JSONL or Parquet file, or '-' for one text per stdin line.")],
    output: Annotated[
        str | None,
        typer.Option(
            "--output",
            "-o",
            help="Output file by suffix, or '-' for JSON lines on stdout (default: INPUT.scored.EXT).",
            show_default=False,
        ),
    ] = None,
    model: ModelOpt = None,
    backend: BackendOpt = "torch",
    target_prior: TargetPriorOpt = None,
    batch_size: Annotated[
        int | None,
        typer.Option("--batch-size", help="Texts per batch (setting inference.batch_size).", show_default=False),
    ] = None,
    text_column: TextColOpt = None,
    artifacts: ArtifactsOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """Score texts: writes the input columns plus hate_probability and label.

    Rows without text are kept with an error column and reported, never skipped silently.
    """
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    from hsctl.predict import STDIO, predict_file

    settings = load(
        ctx,
        {"paths.artifacts": artifacts, "data.text_column": text_column, "inference.batch_size": batch_size},
    ).settings
    if json_out and (output == STDIO or (output is None and source == STDIO)):
        from hsctl.errors import ConfigError

        raise ConfigError("--json prints a summary on stdout: give --output FILE for the predictions")
    console = err_console()
    progress = Progress(
        TextColumn("[bold]predict[/]"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(), console=console
    )
    task: list[Any] = []

    def on_start(total: int) -> None:
        progress.start()
        task.append(progress.add_task("predict", total=total))

    def on_batch(n: int) -> None:
        progress.advance(task[0], n)

    try:
        result = predict_file(
            settings,
            source,
            output=output,
            model=model,
            backend=backend,
            target_prior=target_prior,
            on_start=on_start,
            on_batch=on_batch,
        )
    finally:
        progress.stop()
    for warning in result.warnings:
        console.print(f"[yellow]warning:[/] {warning}", highlight=False)
    if json_out:
        emit_json(result.to_dict())
    elif result.output != STDIO:
        counts = ", ".join(f"{k} {v:,}" for k, v in result.label_counts.items())
        console.print(
            f"scored {result.scored:,} of {result.rows:,} rows ({counts}) in {result.elapsed_s:.1f}s "
            f"-> [bold]{result.output}[/]"
        )
