"""Shared CLI plumbing: global options, settings loading, error mapping, output.

Kept free of heavy imports: ``hsctl --help`` imports this module.
"""

from __future__ import annotations

import functools
import json
import logging
import os
import sys
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Annotated, Any, ParamSpec, TypeVar

import typer
from rich.console import Console
from rich.markup import escape
from rich.text import Text

from hsctl.errors import ExitCode, HsctlError
from hsctl.settings import LoadedSettings, debug_enabled, load_settings

P = ParamSpec("P")
R = TypeVar("R")

JsonOpt = Annotated[bool, typer.Option("--json", help="Print one JSON object on stdout (logs go to stderr).")]
SinceOpt = Annotated[
    str | None,
    typer.Option("--since", help="Log records at or after this ISO date/time (UTC if no zone).", show_default=False),
]
UntilOpt = Annotated[
    str | None,
    typer.Option(
        "--until", help="Log records before this ISO date/time; a date alone includes that day.", show_default=False
    ),
]
ArtifactsOpt = Annotated[
    Path | None,
    typer.Option("--artifacts", help="Artifacts directory (setting paths.artifacts).", show_default=False),
]


@dataclass
class GlobalOptions:
    """The root options (given before or after the subcommand)."""

    config_file: Path | None = None
    env_file: Path | None = None
    debug: bool = False
    quiet: bool = False
    verbose: int = 0  # -v: hsctl's own debug lines; -vv: third-party library logs too
    progress: bool = True


# The root callback sets this once per invocation; consoles made afterwards follow it.
OUTPUT = GlobalOptions()


def set_output(options: GlobalOptions) -> None:
    """Apply the root options: ``--quiet``, ``-v``/``-vv`` (logging) and ``--no-progress``.

    ``-v`` shows hsctl's own loggers (``hsctl.*``) at debug level while third-party
    loggers (matplotlib, urllib3, filelock, ...) stay at warnings: their debug
    chatter would bury hsctl's lines. ``-vv`` lets every library log at debug level.
    """
    global OUTPUT
    OUTPUT = options
    root, own = logging.getLogger(), logging.getLogger("hsctl")
    if _LOG_HANDLER[0] is not None:  # one handler per process, on the stderr of this invocation
        root.removeHandler(_LOG_HANDLER[0])
        _LOG_HANDLER[0] = None
    if options.verbose:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
        root.addHandler(handler)
        _LOG_HANDLER[0] = handler
        root.setLevel(logging.DEBUG if options.verbose >= 2 else logging.WARNING)
        own.setLevel(logging.DEBUG)
    elif options.quiet:
        root.setLevel(logging.ERROR)
        own.setLevel(logging.ERROR)
    else:  # Python's default: warnings and errors (an earlier -v in this process is undone)
        root.setLevel(logging.WARNING)
        own.setLevel(logging.NOTSET)


_LOG_HANDLER: list[logging.Handler | None] = [None]


def _console(*, stderr: bool, quiet: bool = False) -> Console:
    """A console that never wraps a line mid-phrase when its stream is not a terminal (CI logs, pipes).

    rich honours ``NO_COLOR`` (and ``FORCE_COLOR``, ``TERM=dumb``) by itself.
    """
    console = Console(stderr=stderr, quiet=quiet)
    if not console.is_terminal:
        console.soft_wrap = True
    return console


def err_console() -> Console:
    """Console on stderr for logs, progress and warnings; silent under ``--quiet``."""
    return _console(stderr=True, quiet=OUTPUT.quiet)


def out_console() -> Console:
    """Console on stdout for human-readable results."""
    return _console(stderr=False)


def reporter(unit: str = "") -> Any:
    """The progress reporter of a long command (see :mod:`hsctl.cli._progress`)."""
    from hsctl.cli._progress import Reporter

    return Reporter(err_console(), enabled=OUTPUT.progress, unit=unit)


def global_options(ctx: Any) -> GlobalOptions:
    """The options of the root callback (defaults when a command is invoked directly)."""
    root = ctx.find_root()
    obj = root.obj if isinstance(root.obj, GlobalOptions) else None
    return obj or GlobalOptions(debug=debug_enabled())


def load(ctx: typer.Context, overrides: Mapping[str, Any] | None = None) -> LoadedSettings:
    """Load settings with the command's flags as the top layer."""
    opts = global_options(ctx)
    return load_settings(overrides, config_file=opts.config_file, env_file=opts.env_file)


def emit_json(data: Any) -> None:
    """Print exactly one JSON object on the real stdout (see :func:`json_stdout`)."""
    from hsctl.core.io import dumps

    stream = _JSON_STREAM[0] or sys.stdout
    stream.write(dumps(data) + "\n")
    stream.flush()
    _EMITTED[0] = True


_EMITTED = [False]  # whether this invocation already printed its one JSON object
_JSON_STREAM: list[IO[str] | None] = [None]  # the saved real stdout while json_stdout() is active


@contextmanager
def json_stdout(*, restore: bool = True) -> Iterator[None]:
    """Send everything written to stdout to stderr, at the file-descriptor level, except :func:`emit_json`.

    Libraries print banners on stdout (wandb's offline notice, transformers' messages,
    C extensions through ``printf``): under ``--json`` stdout must carry only the one
    JSON object. Both ``sys.stdout`` and file descriptor 1 point at stderr while this is
    active; :func:`emit_json` writes to a duplicate of the real stdout. Nested use is a
    no-op. ``restore=False`` (the console entry point) keeps the redirection until the
    process ends, so banners printed at exit (``atexit`` handlers) stay off stdout too.
    """
    if _JSON_STREAM[0] is not None:
        yield
        return
    real = sys.stdout
    real.flush()
    try:
        fd: int | None = real.fileno()
    except (AttributeError, OSError, ValueError):  # an in-memory stdout (tests, embedding): no descriptor
        fd = None
    saved: int | None = None
    if fd is not None:
        try:
            err_fd = sys.stderr.fileno()
        except (AttributeError, OSError, ValueError):
            err_fd = 2
        saved = os.dup(fd)
        os.dup2(err_fd, fd)
        _JSON_STREAM[0] = open(saved, "w", encoding="utf-8", closefd=False)  # noqa: SIM115
    else:
        _JSON_STREAM[0] = real
    sys.stdout = sys.stderr
    try:
        yield
    finally:
        if restore:
            stream = _JSON_STREAM[0]
            _JSON_STREAM[0] = None
            sys.stdout = real
            if stream is not None and stream is not real:
                stream.flush()
                stream.close()
            if saved is not None and fd is not None:
                sys.stderr.flush()
                os.dup2(saved, fd)
                os.close(saved)


def fail(message: str, code: int, *, as_json: bool = False) -> typer.Exit:
    """Print one red error line on stderr (one JSON object on stdout with ``--json``); return the Exit to raise."""
    if as_json and not _EMITTED[0]:  # a command that printed its report before failing keeps that one object
        emit_json({"error": message, "exit_code": code})
    else:
        _console(stderr=True).print(f"[bold red]error:[/] {escape(message)}", highlight=False, soft_wrap=True)
    return typer.Exit(code)


def handle_errors(func: Callable[P, R]) -> Callable[P, R]:
    """Map library errors to one red line and a documented exit code; tracebacks only with --debug."""

    @functools.wraps(func)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        # Typer passes its own (vendored click) Context type, so match on behaviour.
        ctx = next((a for a in [*args, *kwargs.values()] if hasattr(a, "find_root")), None)
        debug = global_options(ctx).debug if ctx is not None else debug_enabled()
        as_json = bool(kwargs.get("json_out"))
        _EMITTED[0] = False
        name = func.__name__.removesuffix("_cli")
        started = time.perf_counter()
        log = logging.getLogger("hsctl.cli")
        try:
            log.info("%s: started", name)
            if not as_json:
                result = func(*args, **kwargs)
            else:
                with json_stdout():
                    result = func(*args, **kwargs)
            log.info("%s: finished in %.1fs", name, time.perf_counter() - started)
            return result
        except (typer.Exit, typer.Abort, SystemExit):
            raise
        except HsctlError as exc:
            if debug:
                _console(stderr=True).print_exception()
            raise fail(str(exc), int(exc.exit_code), as_json=as_json) from None
        except KeyboardInterrupt:
            raise fail("interrupted", int(ExitCode.INTERRUPTED), as_json=as_json) from None
        except Exception as exc:
            if debug:
                _console(stderr=True).print_exception()
                raise fail(f"unexpected {type(exc).__name__}: {exc}", int(ExitCode.FAILURE), as_json=as_json) from None
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
            raise fail(
                f"unexpected {type(exc).__name__}: {first} (rerun with --debug for the traceback)",
                int(ExitCode.FAILURE),
                as_json=as_json,
            ) from None

    return wrapper


def dump_for_humans(value: Any) -> Text:
    """A settings value for a table cell, verbatim: no markup parsing (``[x]`` stays), folded, never cut with ``…``."""
    text = value if isinstance(value, str) else json.dumps(value, default=str)
    return Text(text, overflow="fold")


def quiet_ml_logs() -> None:
    """Keep transformers, datasets, onnxruntime and exporter chatter off the terminal; errors still surface."""
    import warnings

    import datasets
    import transformers

    if OUTPUT.verbose >= 2:  # -vv: library logs too
        transformers.logging.set_verbosity_info()
        return
    datasets.disable_progress_bars()
    transformers.logging.set_verbosity_error()
    if OUTPUT.verbose:  # -v: hsctl's lines; libraries' warnings stay visible, their chatter does not
        transformers.logging.set_verbosity_warning()
        return
    logging.getLogger().setLevel(logging.ERROR)  # onnxruntime.quantization logs on the root logger
    for category in (UserWarning, FutureWarning, DeprecationWarning):
        warnings.filterwarnings("ignore", category=category)
    warnings.filterwarnings("ignore", message=".*TracerWarning.*|.*trace.*")  # torch.onnx tracing notes
