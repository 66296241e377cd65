"""The ``hsctl`` Typer application and its entry point.

Only Typer, rich and the settings model are imported here; each command
imports its heavy libraries when it runs, so ``hsctl --help`` is instant.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from hsctl.__about__ import __version__
from hsctl.cli import config as config_cmd
from hsctl.cli import drift as drift_cmd
from hsctl.cli import env as env_cmd
from hsctl.cli import evaluate as evaluate_cmd
from hsctl.cli import fetch as fetch_cmd
from hsctl.cli import loadtest as loadtest_cmd
from hsctl.cli import pipeline as pipeline_cmd
from hsctl.cli import predict as predict_cmd
from hsctl.cli import preprocess as preprocess_cmd
from hsctl.cli import quantize as quantize_cmd
from hsctl.cli import review as review_cmd
from hsctl.cli import serve as serve_cmd
from hsctl.cli import sweep as sweep_cmd
from hsctl.cli import train as train_cmd
from hsctl.cli._common import GlobalOptions, set_output
from hsctl.cli._help import HsctlGroup

app = typer.Typer(
    name="hsctl",
    cls=HsctlGroup,
    help="From raw tweets to a monitored, load-tested hate-speech classifier.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    rich_markup_mode="rich",
    context_settings={"help_option_names": ["-h", "--help"]},
    add_completion=True,
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"hsctl {__version__}")
        raise typer.Exit()


@app.callback()
def main(
    ctx: typer.Context,
    config: Annotated[
        Path | None,
        typer.Option("--config", "-c", help="Settings file (default: ./hsctl.toml when present).", show_default=False),
    ] = None,
    env_file: Annotated[
        Path | None,
        typer.Option(
            "--env-file", help="Env file of HSCTL_* variables (default: ./.env when present).", show_default=False
        ),
    ] = None,
    debug: Annotated[bool, typer.Option("--debug", envvar="HSCTL_DEBUG", help="Show tracebacks on errors.")] = False,
    quiet: Annotated[
        bool, typer.Option("--quiet", "-q", help="Only errors on stderr: no progress, logs or warnings.")
    ] = False,
    verbose: Annotated[
        int,
        typer.Option(
            "--verbose",
            "-v",
            count=True,
            help="hsctl's debug lines on stderr; -vv adds the libraries' logs.",
        ),
    ] = 0,
    progress: Annotated[
        bool,
        typer.Option(
            "--progress/--no-progress",
            help="Progress: a bar on a terminal, a line every few seconds otherwise.",
        ),
    ] = True,
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Print the version and exit.")
    ] = False,
) -> None:
    """From raw tweets to a monitored, load-tested hate-speech classifier.

    Exit codes: 0 ok, 1 failure, 2 usage or invalid settings, 3 gate failed or
    drift detected, 4 invalid data, 5 network or hub unreachable, 130 interrupted.
    """
    if quiet and verbose:
        raise typer.BadParameter("choose one of --quiet and --verbose", param_hint="'-q' / '-v'")
    ctx.obj = GlobalOptions(
        config_file=config,
        env_file=env_file,
        debug=debug,
        quiet=quiet,
        verbose=verbose,
        progress=progress and not quiet,
    )
    set_output(ctx.obj)
    _warn_unknown_variables(env_file)


def _warn_unknown_variables(env_file: Path | None) -> None:
    """One line on stderr per HSCTL_* variable that sets nothing (a typo would otherwise be silent)."""
    from rich.markup import escape

    from hsctl.cli._common import err_console
    from hsctl.settings import unknown_variables

    for variable in unknown_variables(env_file):
        err_console().print(f"[yellow]warning:[/] {escape(variable.message())}", highlight=False, soft_wrap=True)


app.command("fetch", no_args_is_help=False)(fetch_cmd.fetch_cli)
app.command("preprocess")(preprocess_cmd.preprocess_cli)
app.command("train")(train_cmd.train_cli)
app.command("evaluate")(evaluate_cmd.evaluate_cli)
app.command("predict")(predict_cmd.predict_cli)
app.command("quantize")(quantize_cmd.quantize_cli)
app.command("serve")(serve_cmd.serve_cli)
app.command("loadtest")(loadtest_cmd.loadtest_cli)
app.command("drift")(drift_cmd.drift_cli)
app.command("pipeline")(pipeline_cmd.pipeline_cli)
app.add_typer(sweep_cmd.app, name="sweep")
app.add_typer(config_cmd.app, name="config")
app.add_typer(review_cmd.app, name="review")
app.command("env")(env_cmd.env_cli)


def run() -> None:
    """Console-script entry point.

    Under ``--json`` stdout is sent to stderr for the whole process (see
    :func:`hsctl.cli._common.json_stdout`), so banners printed at exit stay off it.
    """
    import sys

    from hsctl.cli._common import json_stdout

    argv = sys.argv[1:]
    if "--json" in (argv[: argv.index("--")] if "--" in argv else argv):
        with json_stdout(restore=False):
            app(prog_name="hsctl")
    else:
        app(prog_name="hsctl")
