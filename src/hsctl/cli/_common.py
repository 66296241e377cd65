"""Shared CLI plumbing: global options, settings loading, error mapping, output.

Kept free of heavy imports: ``hsctl --help`` imports this module.
"""

from __future__ import annotations

import functools
import json
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, ParamSpec, TypeVar

import typer
from rich.console import Console
from rich.markup import escape

from hsctl.errors import ExitCode, HsctlError
from hsctl.settings import LoadedSettings, debug_enabled, load_settings

P = ParamSpec("P")
R = TypeVar("R")

JsonOpt = Annotated[bool, typer.Option("--json", help="Print one JSON object on stdout (logs go to stderr).")]
ArtifactsOpt = Annotated[
    Path | None,
    typer.Option("--artifacts", help="Artifacts directory (setting paths.artifacts).", show_default=False),
]


@dataclass
class GlobalOptions:
    """Options given before the subcommand."""

    config_file: Path | None = None
    env_file: Path | None = None
    debug: bool = False
    quiet: bool = False
    verbose: bool = False
    progress: bool = True


# The root callback sets this once per invocation; consoles made afterwards follow it.
OUTPUT = GlobalOptions()


def set_output(options: GlobalOptions) -> None:
    """Apply the root options: ``--quiet``, ``--verbose`` (debug logging) and ``--no-progress``."""
    import logging

    global OUTPUT
    OUTPUT = options
    if options.verbose:
        logging.basicConfig(level=logging.DEBUG, stream=sys.stderr, format="%(levelname)s %(name)s: %(message)s")
        logging.getLogger().setLevel(logging.DEBUG)
    elif options.quiet:
        logging.getLogger().setLevel(logging.ERROR)


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
    """Print exactly one JSON object on stdout."""
    from hsctl.core.io import dumps

    sys.stdout.write(dumps(data) + "\n")
    sys.stdout.flush()
    _EMITTED[0] = True


_EMITTED = [False]  # whether this invocation already printed its one JSON object


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
        try:
            return func(*args, **kwargs)
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


def dump_for_humans(value: Any) -> str:
    """Short text for a settings value in a table."""
    if isinstance(value, str):
        return value
    return json.dumps(value, default=str)


def quiet_ml_logs() -> None:
    """Keep transformers, datasets, onnxruntime and exporter chatter off the terminal; errors still surface."""
    import logging
    import warnings

    import datasets
    import transformers

    if OUTPUT.verbose:
        transformers.logging.set_verbosity_info()
        return
    datasets.disable_progress_bars()
    transformers.logging.set_verbosity_error()
    logging.getLogger().setLevel(logging.ERROR)  # onnxruntime.quantization logs on the root logger
    for category in (UserWarning, FutureWarning, DeprecationWarning):
        warnings.filterwarnings("ignore", category=category)
    warnings.filterwarnings("ignore", message=".*TracerWarning.*|.*trace.*")  # torch.onnx tracing notes
