"""mkdocs hook: generate option tables from the Typer app and the settings reference from the model.

In a page, ``<!-- cli-options: train -->`` (or ``config show``) becomes the table of
that command's options, and ``<!-- settings-reference -->`` the table of every
setting, so the docs cannot drift from the code.
"""

from __future__ import annotations

import html
import re
from typing import Any

CLI_MARKER = re.compile(r"<!--\s*cli-options:\s*([\w\- ]+?)\s*-->")
SETTINGS_MARKER = re.compile(r"<!--\s*settings-reference\s*-->")


def _cell(text: Any) -> str:
    return html.escape(str(text), quote=False).replace("|", "\\|").replace("\n", " ")


def cli_options(path: str) -> str:
    """Markdown table of a command's arguments and options."""
    import click
    import typer

    from hsctl.cli.main import app

    command: Any = typer.main.get_command(app)
    for part in path.split():
        command = command.commands[part]  # type: ignore[union-attr]
    rows = ["| option | type | default | description |", "| --- | --- | --- | --- |"]
    for param in command.params:
        if isinstance(param, click.Argument):
            name = f"`{param.human_readable_name}` (argument)"
        else:
            names = [*param.opts, *param.secondary_opts]
            name = " / ".join(f"`{n}`" for n in names)
        if getattr(param, "is_flag", False) and not getattr(param, "secondary_opts", None):
            kind = "flag"
        else:
            kind = getattr(param.type, "name", str(param.type)).lower()
        default = param.default
        shown = "" if default in (None, False, ()) or callable(default) else f"`{default}`"
        help_text = getattr(param, "help", "") or ""
        rows.append(f"| {name} | {_cell(kind)} | {shown} | {_cell(help_text)} |")
    return "\n".join(rows)


def settings_reference() -> str:
    """Markdown table of every setting: key, environment variable, type, default, description."""
    from pydantic import BaseModel

    from hsctl.settings import ENV_DELIMITER, ENV_PREFIX, Settings

    rows = ["| setting | environment variable | type | default | description |", "| --- | --- | --- | --- | --- |"]

    def walk(model: type[BaseModel], prefix: str) -> None:
        for name, info in model.model_fields.items():
            ann = info.annotation
            key = f"{prefix}{name}"
            if isinstance(ann, type) and issubclass(ann, BaseModel):
                walk(ann, key + ".")
                continue
            default = info.get_default(call_default_factory=True)
            env = ENV_PREFIX + key.replace(".", ENV_DELIMITER).upper()
            kind = str(ann).replace("typing.", "").replace("<class '", "").replace("'>", "")
            rows.append(
                f"| `{key}` | `{env}` | {_cell(kind)} | `{_cell(default)}` | {_cell(info.description or '')} |"
            )

    walk(Settings, "")
    return "\n".join(rows)


def on_page_markdown(markdown: str, **kwargs: Any) -> str:
    """mkdocs event: expand the markers."""
    markdown = CLI_MARKER.sub(lambda m: cli_options(m.group(1)), markdown)
    return SETTINGS_MARKER.sub(lambda m: settings_reference(), markdown)
