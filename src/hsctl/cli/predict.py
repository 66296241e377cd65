"""``hsctl predict``: batch-score a file or stdin lines."""

from __future__ import annotations

from typing import Annotated

import typer

from hsctl.cli._common import ArtifactsOpt, JsonOpt, emit_json, err_console, handle_errors, load, reporter
from hsctl.cli.evaluate import TargetPriorOpt
from hsctl.cli.fetch import EncodingOpt, TextColOpt


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
    model: Annotated[
        str | None,
        typer.Option("--model", "-m", help="Model folder or run name (setting predict.model).", show_default=False),
    ] = None,
    backend: Annotated[
        str | None,
        typer.Option("--backend", help="torch, onnx or onnx-int8 (setting predict.backend).", show_default=False),
    ] = None,
    engine: Annotated[
        str | None,
        typer.Option(
            "--engine",
            help="local (streaming), ray or spark; ray and spark write a Parquet folder, so -o names a folder "
            "or DIR.parquet (setting predict.engine).",
            show_default=False,
        ),
    ] = None,
    chunk_rows: Annotated[
        int | None,
        typer.Option(
            "--chunk-rows", help="Rows per chunk or engine batch (setting predict.chunk_rows).", show_default=False
        ),
    ] = None,
    resume: Annotated[
        bool | None,
        typer.Option(
            "--resume/--no-resume",
            help="Continue an interrupted run from its last written chunk (setting predict.resume).",
            show_default=False,
        ),
    ] = None,
    workers: Annotated[
        int | None,
        typer.Option("--workers", help="Ray actors or Spark partitions (setting predict.workers).", show_default=False),
    ] = None,
    target_prior: TargetPriorOpt = None,
    batch_size: Annotated[
        int | None,
        typer.Option("--batch-size", help="Texts per batch (setting inference.batch_size).", show_default=False),
    ] = None,
    text_column: TextColOpt = None,
    encoding: EncodingOpt = None,
    force: Annotated[
        bool,
        typer.Option("--force", "--overwrite", help="Replace an existing output (never the input itself)."),
    ] = False,
    artifacts: ArtifactsOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """Score texts: writes the input columns plus hate_probability, label and error.

    Rows without text are kept with an error and reported, never skipped silently. An input
    column with one of those names keeps it; the output's gets a predicted_ name (warned). An
    existing output is replaced only with --force, and never when it is the input. Each text is
    cut to 16 characters per token of the model's max_length before tokenising. The local engine
    streams in chunks and resumes an interrupted run; --engine ray or spark scores on a cluster
    (extras hsctl[ray], hsctl[spark]).
    """
    from hsctl.predict import STDIO, ProgressEvent, predict_file

    settings = load(
        ctx,
        {
            "paths.artifacts": artifacts,
            "data.text_column": text_column,
            "inference.batch_size": batch_size,
            "predict.model": model,
            "predict.backend": backend,
            "predict.engine": engine,
            "predict.chunk_rows": chunk_rows,
            "predict.resume": resume,
            "predict.workers": workers,
        },
    ).settings
    if json_out and (output == STDIO or (output is None and source == STDIO)):
        from hsctl.errors import ConfigError

        raise ConfigError("--json prints a summary on stdout: give --output FILE for the predictions")
    console = err_console()
    with reporter("rows") as progress:

        def on_progress(event: ProgressEvent) -> None:
            # the input's size in rows is unknown until read: estimate it from the share of bytes read
            fraction = event.fraction or 0.0
            progress("predict", event.rows, max(event.rows, round(event.rows / fraction)) if fraction > 0 else None)

        result = predict_file(
            settings,
            source,
            output=output,
            target_prior=target_prior,
            on_progress=on_progress,
            overwrite=force,
            encoding=encoding,
        )
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
