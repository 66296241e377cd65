"""Starting the server: checks first, then uvicorn, in one process or several (as KServe's ``ModelServer.start``).

``hsctl serve`` calls :func:`prepare` (every check that can fail with a one-line
error: the model folder, the backend's files, the port, the prediction-log
destination) and then :func:`run_server`. Worker processes and servers started by
other commands (``loadtest --spawn-server``) get their settings one way only: a
settings file (mode 0600, secrets included) named by ``HSCTL_SERVE_SETTINGS_FILE``,
read by :func:`hsctl.serve.app.app_from_env` or by ``python -m hsctl.serve.launch``.
"""

from __future__ import annotations

import os
import signal
import socket
import sys
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from hsctl.errors import DataError, HsctlError

if TYPE_CHECKING:
    from hsctl.settings import Settings

SETTINGS_FILE_ENV = "HSCTL_SERVE_SETTINGS_FILE"
GRACEFUL_SHUTDOWN_S = 30
"""Longest drain on SIGTERM: queued requests are answered and the log flushed within it."""


@dataclass(frozen=True)
class Launch:
    """What :func:`prepare` checked: the settings to run with, the model folder and the backend in use."""

    settings: Settings
    model_dir: Path
    backend: str


def check_port(host: str, port: int) -> None:
    """An ``HsctlError`` now, rather than a uvicorn traceback later, when the port is taken."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        if sys.platform != "win32":  # on Windows SO_REUSEADDR would let a taken port look free
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError as exc:
            raise HsctlError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from exc


def check_log_destination(log_url: str | None, artifacts: Path) -> None:
    """The prediction-log folder exists or can be made (local or fsspec URL)."""
    import fsspec

    from hsctl.serve.predlog import default_log_dir

    destination = log_url or default_log_dir(artifacts)
    try:
        fs, root = fsspec.core.url_to_fs(destination)
        fs.makedirs(root, exist_ok=True)
    except (OSError, ValueError, ImportError) as exc:
        raise HsctlError(f"cannot write the prediction log to {destination}: {exc}", hint="or pass --no-log") from exc


def prepare(settings: Settings, *, check_listen: bool = True) -> Launch:
    """Every start-up check, before anything is loaded; the model folder is pinned in the returned settings."""
    from hsctl.models import read_model_info, resolve_model_dir
    from hsctl.serve.model import resolve_backend

    cfg = settings.serve
    model_dir = resolve_model_dir(settings.paths.models_dir, cfg.model).resolve()
    read_model_info(model_dir)  # a bad folder is a one-line error (exit 4) before the server starts
    backend = resolve_backend(model_dir, cfg.backend)
    if backend.startswith("onnx"):
        from hsctl.inference.onnx import onnx_file

        if onnx_file(model_dir, int8=backend == "onnx-int8") is None:
            raise DataError(f"no ONNX model in {model_dir}: run 'hsctl quantize' first, or serve with --backend torch")
    if check_listen:
        check_port(cfg.host, cfg.port)
    if cfg.log_predictions:  # an unwritable log destination is a one-line error, not a server traceback
        check_log_destination(cfg.log_url, settings.paths.artifacts)
    pinned = settings.model_copy(update={"serve": cfg.model_copy(update={"model": str(model_dir)})})
    return Launch(settings=pinned, model_dir=model_dir, backend=backend)


def write_settings_file(settings: Settings) -> Path:
    """The effective settings (secrets included) in a new private file (mode 0600), for a child process."""
    import json

    handle, name = tempfile.mkstemp(prefix="hsctl-serve-", suffix=".json")
    data = settings.model_dump(mode="json")
    if settings.serve.api_key is not None:
        data["serve"]["api_key"] = settings.serve.api_key.get_secret_value()
    with os.fdopen(handle, "w", encoding="utf-8") as fh:  # mkstemp creates it 0600
        json.dump(data, fh)
    return Path(name)


@contextmanager
def settings_file(settings: Settings) -> Iterator[Path]:
    """:func:`write_settings_file`, removed afterwards."""
    path = write_settings_file(settings)
    try:
        yield path
    finally:
        path.unlink(missing_ok=True)


def _ignore_signal(signum: int, frame: object) -> None:
    """Placeholder handler restored by uvicorn after its graceful shutdown."""


def _run_uvicorn(start: Callable[[], None]) -> None:
    """uvicorn exits with 3 when start-up fails; in hsctl 3 means "gate failed", so report exit 1."""
    try:
        start()
    except SystemExit as exc:
        if exc.code not in (0, None):
            raise HsctlError(
                f"the server failed to start (uvicorn exit code {exc.code}); see the messages above"
            ) from exc


def run_server(launch: Launch) -> None:
    """Serve until SIGTERM or Ctrl-C (blocking); a graceful stop drains the queue and returns normally."""
    import uvicorn

    from hsctl.serve.app import configure_server_logging, create_app
    from hsctl.serve.connection import uvicorn_options

    settings, cfg = launch.settings, launch.settings.serve
    # uvicorn drains and shuts down on SIGTERM/SIGINT, then re-raises the signal with the previous
    # handlers in place; no-op handlers make a graceful stop exit with code 0.
    signal.signal(signal.SIGTERM, _ignore_signal)
    signal.signal(signal.SIGINT, _ignore_signal)
    configure_server_logging()
    common = {
        "host": cfg.host,
        "port": cfg.port,
        "log_level": "warning",
        "access_log": False,
        "timeout_graceful_shutdown": GRACEFUL_SHUTDOWN_S,
        **uvicorn_options(cfg),  # head size and timeouts (hsctl.serve.connection)
    }
    if cfg.workers == 1:
        app = create_app(settings, launch.model_dir, own_process=True)
        _run_uvicorn(lambda: uvicorn.run(app, **common))  # type: ignore[arg-type]
        return
    # Worker processes are fresh interpreters: hand them the exact effective settings.
    with settings_file(settings) as path:
        os.environ[SETTINGS_FILE_ENV] = str(path)
        os.environ.setdefault("PROMETHEUS_MULTIPROC_DIR", tempfile.mkdtemp(prefix="hsctl-prom-"))
        _run_uvicorn(
            lambda: uvicorn.run("hsctl.serve.app:app_from_env", factory=True, workers=cfg.workers, **common)  # type: ignore[arg-type]
        )


def child_command() -> list[str]:
    """The command that runs a server from the settings file named by ``HSCTL_SERVE_SETTINGS_FILE``."""
    return [sys.executable, "-m", "hsctl.serve.launch"]


def main() -> int:
    """``python -m hsctl.serve.launch``: a server for another hsctl process; errors are one line on stderr."""
    import json

    from hsctl.settings import Settings

    path = os.environ.get(SETTINGS_FILE_ENV)
    if not path:
        print(f"error: {SETTINGS_FILE_ENV} is not set", file=sys.stderr)
        return 2
    try:
        with open(path, encoding="utf-8") as fh:
            settings = Settings(**json.load(fh))
        os.environ.pop(SETTINGS_FILE_ENV, None)  # workers of this server get their own file
        run_server(prepare(settings))
    except HsctlError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return int(exc.exit_code)
    return 0


if __name__ == "__main__":
    sys.exit(main())
