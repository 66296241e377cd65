"""``hsctl fetch``: bring a raw labelled dataset into the artifacts directory."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape
from rich.table import Table

from hsctl.cli._common import ArtifactsOpt, JsonOpt, emit_json, err_console, handle_errors, load, out_console

SourceOpt = Annotated[
    str | None,
    typer.Option(
        "--source",
        "-s",
        help="Hub dataset id, CSV/TSV/JSONL/Parquet file or glob, save_to_disk directory, or 'demo' "
        "(offline, smoke runs only) (setting data.source).",
        show_default=False,
    ),
]
TextColOpt = Annotated[
    str | None, typer.Option("--text-column", help="Text column (setting data.text_column).", show_default=False)
]
LabelColOpt = Annotated[
    str | None, typer.Option("--label-column", help="Label column (setting data.label_column).", show_default=False)
]
CategoryColOpt = Annotated[
    str | None,
    typer.Option("--category-column", help="Category column (setting data.category_column).", show_default=False),
]
LabelMapOpt = Annotated[
    str | None,
    typer.Option(
        "--label-map",
        help="String labels to ids, e.g. 'hate=1,non-hate=0' (setting data.label_map).",
        show_default=False,
    ),
]

EncodingOpt = Annotated[
    str | None,
    typer.Option(
        "--encoding",
        help="Text encoding of CSV/TSV/JSON files, e.g. cp1252 for Excel exports (default: utf-8).",
        show_default=False,
    ),
]


def column_overrides(
    text_column: str | None, label_column: str | None, category_column: str | None, label_map: str | None
) -> dict[str, str | None]:
    """The settings the column-mapping flags set; shared by every command that reads data files."""
    return {
        "data.text_column": text_column,
        "data.label_column": label_column,
        "data.category_column": category_column,
        "data.label_map": label_map,
    }


@handle_errors
def fetch_cli(
    ctx: typer.Context,
    source: SourceOpt = None,
    revision: Annotated[
        str | None, typer.Option("--revision", help="Hub revision to pin (setting data.revision).", show_default=False)
    ] = None,
    text_column: TextColOpt = None,
    label_column: LabelColOpt = None,
    category_column: CategoryColOpt = None,
    label_map: LabelMapOpt = None,
    encoding: EncodingOpt = None,
    output: Annotated[
        Path | None,
        typer.Option("--output", "-o", help="Output directory (setting paths.raw_dir).", show_default=False),
    ] = None,
    artifacts: ArtifactsOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """Fetch a raw dataset (hub, local files or the offline demo) into the artifacts directory.

    Writes one Parquet file per split and fetch.json (source, revision, rows,
    sha256 of input files) atomically. The hub is given a few seconds; offline
    it fails with exit code 5: use --source PATH or --source demo instead. The
    delimiter of CSV files is detected (a ';'-separated .csv is read right and
    reported); a file with a header and no rows is invalid data (exit 4).
    """
    from hsctl.fetch import fetch

    settings = load(
        ctx,
        {
            "data.source": source,
            "data.revision": revision,
            **column_overrides(text_column, label_column, category_column, label_map),
            "paths.artifacts": artifacts,
        },
    ).settings
    out_dir = output or settings.paths.raw_dir
    with err_console().status(f"fetching {settings.data.source} ..."):
        result = fetch(settings.data.source, settings.data, out_dir, encoding=encoding)
    for note in result.notes:
        err_console().print(f"[cyan]info:[/] {escape(note)}", highlight=False)
    if json_out:
        emit_json(result.to_dict())
        return
    table = Table(title=f"fetched {result.source} ({result.kind})")
    table.add_column("split", style="cyan")
    table.add_column("rows", justify="right")
    for name, rows in result.splits.items():
        table.add_row(name, f"{rows:,}")
    console = out_console()
    console.print(table)
    console.print(f"wrote [bold]{result.output_dir}[/] in {result.elapsed_s:.1f}s")
