"""``hsctl review export|ingest``: a review queue from the prediction log, and reviewed labels back into the store."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
from rich.markup import escape

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
)

app = typer.Typer(
    help="Review logged predictions: export a queue for people to label, ingest their labels.", no_args_is_help=True
)

CurrentOpt = Annotated[
    str | None,
    typer.Option(
        "--current",
        "-c",
        help="Prediction log directory, fsspec URL or log file (default: drift.log_url, else serve.log_url, "
        "else <artifacts>/predictions).",
        show_default=False,
    ),
]


@app.command("export")
@handle_errors
def export_cli(
    ctx: typer.Context,
    output: Annotated[Path, typer.Option("--output", "-o", help="File to write (replaced atomically).")],
    current: CurrentOpt = None,
    since: SinceOpt = None,
    until: UntilOpt = None,
    last: Annotated[
        int | None, typer.Option("--last", help="Only the last N records of the log.", show_default=False)
    ] = None,
    size: Annotated[int, typer.Option("--size", "-n", help="Rows in the queue.")] = 100,
    fmt: Annotated[
        str | None,
        typer.Option(
            "--format",
            "-f",
            help="csv, jsonl, label-studio (tasks JSON) or argilla (records JSON); default: from the file "
            "name (.jsonl), else csv.",
            show_default=False,
        ),
    ] = None,
    artifacts: ArtifactsOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """Write the most informative logged predictions for review.

    Nearest the deployed threshold first, spread over time windows and both
    predicted labels, near-duplicates collapsed, already reviewed ones skipped.
    Exit codes: 0 written, 2 bad option, 4 nothing reviewable in the log.
    """
    from hsctl.review import export_queue

    settings = load(ctx, {"paths.artifacts": artifacts}).settings
    result = export_queue(settings, output, current=current, since=since, until=until, last=last, size=size, fmt=fmt)
    if _warned_or_json(result, json_out):
        return
    out_console().print(
        f"wrote [bold]{escape(result.output)}[/] ({result.format}): {result.rows} prediction(s) of "
        f"{result.log_records:,} logged; mean distance to the threshold {result.mean_distance_queue:.3f} "
        f"(log: {result.mean_distance_log:.3f}); skipped {result.already_reviewed} already reviewed, "
        f"{result.near_duplicates} near-duplicate(s), {result.without_id} without an id, "
        f"{result.without_text} without a text",
        highlight=False,
        soft_wrap=True,
    )


@app.command("ingest")
@handle_errors
def ingest_cli(
    ctx: typer.Context,
    file: Annotated[
        Path,
        typer.Argument(
            help="Reviewed labels: CSV/JSONL with prediction_id,label, or a Label Studio or Argilla export.",
            show_default=False,
        ),
    ],
    current: CurrentOpt = None,
    relabel: Annotated[
        bool, typer.Option("--relabel", help="Replace labels already stored (else a different label is an error).")
    ] = False,
    artifacts: ArtifactsOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """Join reviewed labels to their predictions and add them to the feedback store.

    The store (<artifacts>/feedback) only grows; the same file twice adds
    nothing. Exit codes: 0 ingested, 4 unknown ids, conflicting labels or bad
    values (with row numbers; nothing is written).
    """
    from hsctl.review import ingest_labels

    settings = load(ctx, {"paths.artifacts": artifacts}).settings
    result = ingest_labels(settings, file, current=current, relabel=relabel)
    if _warned_or_json(result, json_out):
        return
    out_console().print(
        f"{result.new} new label(s) from {escape(result.file)} ({result.already_stored} already stored, "
        f"{result.relabelled} relabelled, {result.not_reviewed} not reviewed yet); the store "
        f"{escape(result.store)} holds {result.store_size:,}",
        highlight=False,
        soft_wrap=True,
    )


def _warned_or_json(result: Any, json_out: bool) -> bool:
    """Print the result's warnings on stderr; under --json print the result too and say so."""
    for warning in result.warnings:
        err_console().print(f"[yellow]warning:[/] {escape(warning)}", highlight=False, soft_wrap=True)
    if json_out:
        emit_json(result.to_dict())
    return json_out
