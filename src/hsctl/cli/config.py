"""``hsctl config``: inspect and check the effective settings."""

from __future__ import annotations

import typer
from rich.table import Table

from hsctl.cli._common import JsonOpt, dump_for_humans, emit_json, global_options, handle_errors, load, out_console
from hsctl.errors import ConfigError
from hsctl.settings import settings_table, unknown_variables

app = typer.Typer(help="Inspect and validate settings.", no_args_is_help=True)


@app.command("show")
@handle_errors
def show_cli(ctx: typer.Context, json_out: JsonOpt = False) -> None:
    """Print every effective setting and the source it came from.

    Sources, lowest first: default < hsctl.toml < .env < HSCTL_* variables < flags.
    """
    loaded = load(ctx)
    rows = settings_table(loaded)
    if json_out:
        emit_json(
            {
                "settings": {key: value for key, value, _ in rows},
                "sources": {key: source for key, _, source in rows},
            }
        )
        return
    table = Table(title="hsctl settings", show_lines=False)
    table.add_column("setting", style="cyan", no_wrap=True)
    table.add_column("value")
    table.add_column("source", style="dim")
    for key, value, source in rows:
        table.add_row(key, dump_for_humans(value), source)
    out_console().print(table)


@app.command("validate")
@handle_errors
def validate_cli(ctx: typer.Context, json_out: JsonOpt = False) -> None:
    """Check hsctl.toml, the env file and HSCTL_* variables; exit 2 listing every invalid field.

    An HSCTL_* variable that is no setting (a typo such as HSCTL_SERVE_API_KEY) is invalid too.
    """
    loaded = load(ctx)
    unknown = unknown_variables(global_options(ctx).env_file)
    if unknown:
        what = "; ".join(variable.message() for variable in unknown)
        raise ConfigError(f"{len(unknown)} unknown HSCTL_* variable(s): {what}")
    non_default = sorted(
        k for k, _, s in settings_table(loaded) if s not in ("default", "derived from paths.artifacts")
    )
    if json_out:
        emit_json({"valid": True, "overridden": non_default})
    else:
        out_console().print(f"[green]settings are valid[/] ({len(non_default)} value(s) not at their default)")
