"""``hsctl preprocess``: clean, validate, deduplicate, split and report."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from hsctl.cli._common import ArtifactsOpt, JsonOpt, emit_json, err_console, handle_errors, load, out_console


@handle_errors
def preprocess_cli(
    ctx: typer.Context,
    input_dir: Annotated[
        Path | None,
        typer.Option("--input", "-i", help="Raw data written by fetch (setting paths.raw_dir).", show_default=False),
    ] = None,
    output: Annotated[
        Path | None,
        typer.Option("--output", "-o", help="Output directory (setting paths.processed_dir).", show_default=False),
    ] = None,
    seed: Annotated[
        int | None, typer.Option("--seed", help="Split seed (setting data.split.seed).", show_default=False)
    ] = None,
    validation_size: Annotated[
        float | None,
        typer.Option(
            "--validation-size", help="Validation share (setting data.split.validation_size).", show_default=False
        ),
    ] = None,
    test_size: Annotated[
        float | None, typer.Option("--test-size", help="Test share (setting data.split.test_size).", show_default=False)
    ] = None,
    artifacts: ArtifactsOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """Clean tweets, validate labels, drop empty texts and duplicates, and split.

    Writes a datasets.DatasetDict, stats.json and label_distribution.png.
    Invalid data (missing columns, labels outside the label set, no text)
    exits with code 4 and names the rows.
    """
    from hsctl.preprocess import preprocess

    settings = load(
        ctx,
        {
            "paths.artifacts": artifacts,
            "data.split.seed": seed,
            "data.split.validation_size": validation_size,
            "data.split.test_size": test_size,
        },
    ).settings
    with err_console().status("preprocessing ..."):
        result = preprocess(settings.data, input_dir or settings.paths.raw_dir, output or settings.paths.processed_dir)
    for warning in result.warnings:
        err_console().print(f"[yellow]warning:[/] {warning}", highlight=False)
    if json_out:
        emit_json(result.to_dict())
        return
    table = Table(title=f"preprocessed {result.rows_in:,} rows -> {result.rows_out:,}")
    table.add_column("split", style="cyan")
    table.add_column("rows", justify="right")
    for name in settings.data.labels:
        table.add_column(name, justify="right")
    table.add_column(f"{settings.data.labels[-1]} %", justify="right")
    table.add_column("median chars", justify="right")
    for name, stats in result.stats["splits"].items():
        counts = [stats["labels"][label]["count"] for label in settings.data.labels]
        share = stats["labels"][settings.data.labels[-1]]["share"] * 100
        table.add_row(
            name,
            f"{stats['rows']:,}",
            *[f"{c:,}" for c in counts],
            f"{share:.1f}",
            f"{stats['length_chars'].get('p50', 0):.0f}",
        )
    console = out_console()
    console.print(table)
    dropped = ", ".join(f"{reason.replace('_', ' ')} {n:,}" for reason, n in result.dropped.items())
    console.print(f"dropped: {dropped}")
    console.print(f"wrote [bold]{result.output_dir}[/] in {result.elapsed_s:.1f}s")
