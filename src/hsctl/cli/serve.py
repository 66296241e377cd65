"""``hsctl serve``: the prediction server (uvicorn; ``--workers`` for processes)."""

from __future__ import annotations

import os
import signal
import socket
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Annotated

import typer

from hsctl.cli._common import ArtifactsOpt, err_console, handle_errors, load
from hsctl.cli.evaluate import ModelOpt


def _check_port(host: str, port: int) -> None:
    from hsctl.errors import HsctlError

    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError as exc:
            raise HsctlError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from exc


def _check_log_destination(log_url: str | None, artifacts: Path) -> None:
    import fsspec

    from hsctl.errors import HsctlError
    from hsctl.serve.predlog import default_log_dir

    destination = log_url or default_log_dir(artifacts)
    try:
        fs, root = fsspec.core.url_to_fs(destination)
        fs.makedirs(root, exist_ok=True)
    except (OSError, ValueError, ImportError) as exc:
        raise HsctlError(f"cannot write the prediction log to {destination}: {exc}", hint="or pass --no-log") from exc


def _run_uvicorn(start: Callable[[], None]) -> None:
    """uvicorn exits with 3 when start-up fails; in hsctl 3 means "gate failed", so report exit 1."""
    try:
        start()
    except SystemExit as exc:
        if exc.code not in (0, None):
            from hsctl.errors import HsctlError

            raise HsctlError(
                f"the server failed to start (uvicorn exit code {exc.code}); see the messages above"
            ) from exc


def _ignore_signal(signum: int, frame: object) -> None:
    """Placeholder handler restored by uvicorn after its graceful shutdown."""


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
        typer.Option("--threads", help="Inference threads per worker (setting serve.threads).", show_default=False),
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
    log_url: Annotated[
        str | None,
        typer.Option(
            "--log-url", help="Prediction log directory or fsspec URL (setting serve.log_url).", show_default=False
        ),
    ] = None,
    no_log: Annotated[bool, typer.Option("--no-log", help="Do not write the prediction log.")] = False,
    artifacts: ArtifactsOpt = None,
) -> None:
    """Serve predictions over HTTP: /predict, Open Inference Protocol v2, /metrics, /docs and a page at /.

    Set HSCTL_SERVE__API_KEY to require an API key (X-API-Key or Bearer). SIGTERM
    drains queued requests and flushes the prediction log before exiting.
    """
    from hsctl.inference import load_predictor as _  # noqa: F401  (validates the install early)
    from hsctl.models import read_model_info, resolve_model_dir

    overrides = {
        "paths.artifacts": artifacts,
        "serve.model": model,
        "serve.backend": "onnx-auto" if onnx else backend,
        "serve.host": host,
        "serve.port": port,
        "serve.workers": workers,
        "serve.threads": threads,
        "serve.max_batch_size": max_batch_size,
        "serve.max_wait_ms": max_wait_ms,
        "serve.max_queue_delay_ms": max_queue_delay_ms,
        "serve.log_url": log_url,
        "serve.log_predictions": False if no_log else None,
    }
    loaded = load(ctx, overrides)
    settings = loaded.settings
    cfg = settings.serve
    model_dir = resolve_model_dir(settings.paths.models_dir, cfg.model)
    read_model_info(model_dir)  # a bad folder is a one-line error (exit 4) before the server starts
    from hsctl.serve.model import resolve_backend

    chosen = resolve_backend(model_dir, cfg.backend)
    if chosen.startswith("onnx"):
        from hsctl.inference.onnx import onnx_file

        if onnx_file(model_dir, int8=chosen == "onnx-int8") is None:
            from hsctl.errors import DataError

            raise DataError(f"no ONNX model in {model_dir}: run 'hsctl quantize' first, or serve with --backend torch")
    _check_port(cfg.host, cfg.port)
    if cfg.log_predictions:  # an unwritable log destination is a one-line error, not a server traceback
        _check_log_destination(cfg.log_url, settings.paths.artifacts)
    import uvicorn

    err_console().print(
        f"serving [bold]{model_dir}[/] ({chosen}) on http://{cfg.host}:{cfg.port} "
        f"with {cfg.workers} worker(s); docs at /docs",
        highlight=False,
        soft_wrap=True,
    )
    # uvicorn drains and shuts down on SIGTERM/SIGINT, then re-raises the signal with the previous
    # handlers in place; no-op handlers make a graceful stop exit with code 0.
    signal.signal(signal.SIGTERM, _ignore_signal)
    signal.signal(signal.SIGINT, _ignore_signal)
    from hsctl.serve.app import configure_server_logging

    configure_server_logging()
    common = {
        "host": cfg.host,
        "port": cfg.port,
        "log_level": "warning",
        "access_log": False,
        "timeout_graceful_shutdown": 30,
    }
    if cfg.workers == 1:
        from hsctl.serve.app import create_app

        app = create_app(settings, model_dir, own_process=True)
        _run_uvicorn(lambda: uvicorn.run(app, **common))  # type: ignore[arg-type]
        return
    # Worker processes are fresh interpreters: hand them the exact effective settings.
    from hsctl.serve.app import SETTINGS_FILE_ENV, dump_settings_for_workers

    handle, path = tempfile.mkstemp(prefix="hsctl-serve-", suffix=".json")
    os.close(handle)
    dump_settings_for_workers(
        settings.model_copy(update={"serve": cfg.model_copy(update={"model": str(model_dir.resolve())})}), path
    )
    os.environ[SETTINGS_FILE_ENV] = path
    os.environ.setdefault("PROMETHEUS_MULTIPROC_DIR", tempfile.mkdtemp(prefix="hsctl-prom-"))
    try:
        _run_uvicorn(
            lambda: uvicorn.run("hsctl.serve.app:app_from_env", factory=True, workers=cfg.workers, **common)  # type: ignore[arg-type]
        )
    finally:
        os.unlink(path)
