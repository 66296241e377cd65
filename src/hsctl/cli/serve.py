"""``hsctl serve``: the prediction server (uvicorn; ``--workers`` for processes)."""

from __future__ import annotations

from typing import Annotated

import typer

from hsctl.cli._common import ArtifactsOpt, err_console, handle_errors, load
from hsctl.cli.evaluate import ModelOpt
from hsctl.settings import Settings


@handle_errors
def serve_cli(
    ctx: typer.Context,
    model: ModelOpt = None,
    onnx: Annotated[
        bool, typer.Option("--onnx", help="Serve ONNX: int8 if present, else fp32; torch is never imported.")
    ] = False,
    backend: Annotated[
        str | None,
        typer.Option(
            "--backend", help="torch, onnx, onnx-int8 or onnx-auto (setting serve.backend).", show_default=False
        ),
    ] = None,
    host: Annotated[
        str | None, typer.Option("--host", help="Bind address (setting serve.host).", show_default=False)
    ] = None,
    port: Annotated[
        int | None, typer.Option("--port", "-p", help="Port (setting serve.port).", show_default=False)
    ] = None,
    workers: Annotated[
        int | None,
        typer.Option("--workers", "-w", help="Worker processes (setting serve.workers).", show_default=False),
    ] = None,
    threads: Annotated[
        int | None,
        typer.Option("--threads", help="Threads per model call (setting serve.threads).", show_default=False),
    ] = None,
    lanes: Annotated[
        int | None,
        typer.Option(
            "--lanes", help="Micro-batches scored at once per worker (setting serve.batch_lanes).", show_default=False
        ),
    ] = None,
    max_batch_size: Annotated[
        int | None,
        typer.Option("--max-batch-size", help="Micro-batch size (setting serve.max_batch_size).", show_default=False),
    ] = None,
    max_wait_ms: Annotated[
        float | None,
        typer.Option("--max-wait-ms", help="Micro-batch wait (setting serve.max_wait_ms).", show_default=False),
    ] = None,
    max_queue_delay_ms: Annotated[
        float | None,
        typer.Option(
            "--max-queue-delay-ms",
            help="Admit a request only while its expected wait is at most this; else 503 at once "
            "(setting serve.max_queue_delay_ms).",
            show_default=False,
        ),
    ] = None,
    shed_backoff_ms: Annotated[
        float | None,
        typer.Option(
            "--shed-backoff-ms",
            help="After a 503 overloaded, look at the next request on that connection no sooner than this; 0: "
            "never (setting serve.shed_backoff_ms).",
            show_default=False,
        ),
    ] = None,
    log_url: Annotated[
        str | None,
        typer.Option(
            "--log-url", help="Prediction log directory or fsspec URL (setting serve.log_url).", show_default=False
        ),
    ] = None,
    no_log: Annotated[bool, typer.Option("--no-log", help="Do not write the prediction log.")] = False,
    log_text: Annotated[
        str | None,
        typer.Option(
            "--log-text",
            "--log-texts",
            help="How the prediction log holds each text: text (alias full), sha256 (alias hash: only its SHA-256 "
            "digest; drift's text tests are then skipped) or none (setting serve.log_text).",
            show_default=False,
        ),
    ] = None,
    artifacts: ArtifactsOpt = None,
) -> None:
    """Serve predictions over HTTP: /predict, Open Inference Protocol v2, /metrics, /docs and a page at /.

    Set HSCTL_SERVE__API_KEY to require an API key (X-API-Key or Bearer). SIGTERM
    drains queued requests and flushes the prediction log before exiting. Every
    prediction, with its text, is logged for drift detection until you delete it:
    --log-text hash keeps only SHA-256 digests, --no-log nothing.
    """
    from hsctl.inference import load_predictor as _  # noqa: F401  (validates the install early)
    from hsctl.serve.launch import prepare, run_server
    from hsctl.serve.model import parallelism

    overrides = {
        "paths.artifacts": artifacts,
        "serve.model": model,
        "serve.backend": "onnx-auto" if onnx else backend,
        "serve.host": host,
        "serve.port": port,
        "serve.workers": workers,
        "serve.threads": threads,
        "serve.batch_lanes": lanes,
        "serve.max_batch_size": max_batch_size,
        "serve.max_wait_ms": max_wait_ms,
        "serve.max_queue_delay_ms": max_queue_delay_ms,
        "serve.shed_backoff_ms": shed_backoff_ms,
        "serve.log_url": log_url,
        "serve.log_predictions": False if no_log else None,
        "serve.log_text": log_text,
    }
    launch = prepare(load(ctx, overrides).settings)
    cfg = launch.settings.serve
    plan = parallelism(launch.backend, workers=cfg.workers, lanes=cfg.batch_lanes, threads=cfg.threads)
    per_worker = f"{plan.lanes} lane(s) of {plan.threads} thread(s)" if plan.threads else f"{plan.lanes} lane(s)"
    err_console().print(
        f"serving [bold]{launch.model_dir}[/] ({launch.backend}) on http://{cfg.host}:{cfg.port} "
        f"with {cfg.workers} worker(s), {per_worker} each; docs at /docs",
        highlight=False,
        soft_wrap=True,
    )
    err_console().print(log_notice(launch.settings), highlight=False, soft_wrap=True, markup=False)
    run_server(launch)


LOGGED_TEXT = {"text": "texts in full", "sha256": "SHA-256 digests of the texts, not the texts", "none": "no texts"}


def log_notice(settings: Settings) -> str:
    """One line that says whether and where predictions (and which form of their texts) are written."""
    from hsctl.serve.predlog import default_log_dir

    cfg = settings.serve
    if not cfg.log_predictions:
        return "prediction log: off (--no-log)"
    where = cfg.log_url or default_log_dir(settings.paths.artifacts)
    hint = "; --log-text hash keeps digests only" if cfg.log_text == "text" else ""
    return (
        f"prediction log: every prediction, with {LOGGED_TEXT[cfg.log_text]}, goes to {where} and is kept until "
        f"you delete it (--no-log: off{hint})"
    )
