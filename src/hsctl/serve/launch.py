"""Starting the server: checks first, then uvicorn, in one process or several (as KServe's ``ModelServer.start``).

``hsctl serve`` calls :func:`prepare` (every check that can fail with a one-line
error: the model folder, the backend's files, the port, the prediction-log
destination) and then :func:`run_server`. Worker processes and servers started by
other commands (``loadtest --spawn-server``) get their settings one way only: the
``HSCTL_SERVE_LAUNCH`` environment variable (:func:`child_env`), read and removed by
:func:`worker_app` or ``python -m hsctl.serve.launch``. Nothing goes to disk, so no
secret is ever written to a file and nothing is left behind by a killed server.

A child ends with the process that started it: on Linux the kernel sends it SIGINT
when its parent dies (``PR_SET_PDEATHSIG``), and everywhere a watchdog thread notices
that its parent is gone; it then drains, flushes its log and removes its metrics
files, so that a SIGKILLed ``hsctl serve --workers N`` leaves no worker serving and
nothing in the temp folder.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import socket
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from hsctl.errors import DataError, HsctlError

if TYPE_CHECKING:
    from fastapi import FastAPI

    from hsctl.settings import Settings

LAUNCH_ENV = "HSCTL_SERVE_LAUNCH"
"""What a server hands its children: JSON with the settings (secrets included), its pid and its metrics folder."""
SETTINGS_FILE_ENV = "HSCTL_SERVE_SETTINGS_FILE"
"""Read by :func:`hsctl.serve.app.app_from_env` only; hsctl itself no longer writes settings files."""
PARENT_POLL_S = 0.5
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


def settings_data(settings: Settings) -> dict[str, Any]:
    """The effective settings as JSON data, secrets in clear: only for a child's environment, never a file."""
    from pydantic import BaseModel, SecretStr

    def reveal(model: BaseModel, data: dict[str, Any]) -> None:
        for name in type(model).model_fields:
            value = getattr(model, name)
            if isinstance(value, SecretStr):
                data[name] = value.get_secret_value()
            elif isinstance(value, BaseModel) and isinstance(data.get(name), dict):
                reveal(value, data[name])

    data = settings.model_dump(mode="json")
    reveal(settings, data)
    return data


def child_env(settings: Settings, *, run_dir: str | None = None) -> dict[str, str]:
    """The environment entries that hand ``settings`` to a child server or worker (this process as its parent).

    The environment of a process is readable only by its user (and root), and leaves
    nothing on disk: a killed server cannot leave its API key in the temp folder.
    ``run_dir`` is the workers' private folder (their temp folder and metrics), which
    the last of them removes if the parent dies.
    """
    payload = {"settings": settings_data(settings), "parent": os.getpid(), "run_dir": run_dir}
    return {LAUNCH_ENV: json.dumps(payload)}


def _take_launch() -> dict[str, Any] | None:
    """Read and remove :data:`LAUNCH_ENV` (this process's own children must not inherit the secrets)."""
    raw = os.environ.pop(LAUNCH_ENV, None)
    if raw is None:
        return None
    data = json.loads(raw)
    return data if isinstance(data, dict) else None


def _parent_gone(parent: int) -> bool:
    return os.getppid() != parent


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # exists, but is not ours to signal
        return True
    return True


def _join_run_dir(run_dir: str) -> None:
    """Mark this worker as one of those that share ``run_dir`` (a file named by its pid)."""
    with contextlib.suppress(OSError):
        Path(run_dir, "workers", str(os.getpid())).touch()


def _leave_run_dir(run_dir: str) -> None:
    """Remove this worker's metrics files and mark; the last worker out (of an orphaned server) removes the folder."""
    pid = os.getpid()
    with contextlib.suppress(OSError):
        for entry in os.scandir(os.path.join(run_dir, "metrics")):
            if entry.name.endswith(f"_{pid}.db"):
                with contextlib.suppress(OSError):
                    os.unlink(entry.path)
    workers = os.path.join(run_dir, "workers")
    with contextlib.suppress(OSError):
        for entry in os.scandir(workers):
            if entry.name == str(pid) or (entry.name.isdigit() and not _alive(int(entry.name))):
                with contextlib.suppress(OSError):
                    os.unlink(entry.path)
    try:
        os.rmdir(workers)  # succeeds for the last worker only
    except OSError:
        return
    shutil.rmtree(run_dir, ignore_errors=True)


def end_with_parent(parent: int, run_dir: str | None = None) -> None:
    """End this process gracefully when ``parent`` dies, however it dies (SIGKILL included).

    Linux: ``PR_SET_PDEATHSIG`` makes the kernel send the signal. Everywhere: a daemon
    thread polls the parent pid (the fallback, and the check for a parent that died
    before the ``prctl``) and, if the graceful stop hangs, exits hard after the drain
    time. The signal is SIGINT: uvicorn drains on it as on SIGTERM, then raises it
    again, and Python turns it into ``KeyboardInterrupt`` (SIGTERM would end the
    process before ``atexit``), so that a worker that outlives its parent removes its
    files in ``run_dir`` on the way out, and the last one the folder.
    """
    if sys.platform.startswith("linux"):
        with contextlib.suppress(OSError, AttributeError):
            import ctypes

            libc = ctypes.CDLL(None, use_errno=True)
            libc.prctl(1, int(signal.SIGINT), 0, 0, 0)  # PR_SET_PDEATHSIG = 1
    if run_dir:
        import atexit

        _join_run_dir(run_dir)

        def clean_up() -> None:
            if _parent_gone(parent):  # else the parent removes the folder once every worker is gone
                _leave_run_dir(run_dir)

        atexit.register(clean_up)

    def watch() -> None:
        while not _parent_gone(parent):
            time.sleep(PARENT_POLL_S)
        with contextlib.suppress(OSError):
            os.kill(os.getpid(), signal.SIGINT)
        time.sleep(GRACEFUL_SHUTDOWN_S + 5)  # the graceful stop hangs: end anyway
        if run_dir:
            _leave_run_dir(run_dir)
        os._exit(1)

    threading.Thread(target=watch, name="hsctl-parent-watch", daemon=True).start()


def worker_app() -> FastAPI:
    """Factory of ``hsctl serve --workers N``'s uvicorn workers: the parent's settings, ending with the parent."""
    from hsctl.serve.app import app_from_env, configure_server_logging, create_app
    from hsctl.settings import Settings

    launch = _take_launch()
    if launch is None:  # started by hand (uvicorn --factory): the usual settings layers
        return app_from_env()
    end_with_parent(int(launch["parent"]), launch.get("run_dir"))
    configure_server_logging()
    return create_app(Settings(**launch["settings"]), own_process=True)


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
    # Worker processes are fresh interpreters: hand them the exact effective settings through the
    # environment (never a file), and one private folder (mode 0700) for their temp files (ONNX Runtime
    # writes one on import), metrics and marks, which this process or else the last worker removes.
    run_dir = tempfile.mkdtemp(prefix="hsctl-serve-")
    worker_tmp = os.path.join(run_dir, "tmp")
    os.mkdir(worker_tmp)
    os.mkdir(os.path.join(run_dir, "workers"))
    added = {**child_env(settings, run_dir=run_dir), "TMPDIR": worker_tmp, "TEMP": worker_tmp, "TMP": worker_tmp}
    if not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        os.mkdir(os.path.join(run_dir, "metrics"))
        added["PROMETHEUS_MULTIPROC_DIR"] = os.path.join(run_dir, "metrics")
    saved = {name: os.environ.get(name) for name in added}
    os.environ.update(added)
    try:
        _run_uvicorn(
            lambda: uvicorn.run("hsctl.serve.launch:worker_app", factory=True, workers=cfg.workers, **common)  # type: ignore[arg-type]
        )
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
        shutil.rmtree(run_dir, ignore_errors=True)


def child_command() -> list[str]:
    """The command that runs a server from the settings in :data:`LAUNCH_ENV` (see :func:`child_env`)."""
    return [sys.executable, "-m", "hsctl.serve.launch"]


def main() -> int:
    """``python -m hsctl.serve.launch``: a server for another hsctl process; errors are one line on stderr."""
    from pydantic import ValidationError

    from hsctl.settings import Settings

    try:
        launch = _take_launch()
    except ValueError:
        launch = None
    if launch is None:
        print(f"error: {LAUNCH_ENV} is not set (or not JSON)", file=sys.stderr)
        return 2
    try:
        settings = Settings(**launch["settings"])
    except (ValidationError, KeyError, TypeError) as exc:
        print(f"error: invalid settings in {LAUNCH_ENV}: {str(exc).splitlines()[0]}", file=sys.stderr)
        return 2
    end_with_parent(int(launch["parent"]))  # a server whose starter died (SIGKILL) stops too
    try:
        run_server(prepare(settings))
    except HsctlError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return int(exc.exit_code)
    return 0


if __name__ == "__main__":
    sys.exit(main())
