"""mkdocs hook: generate option tables from the Typer app and the settings reference from the model.

In a page, ``<!-- cli-options: train -->`` (or ``config show``) becomes the table of
that command's options, and ``<!-- settings-reference -->`` the table of every
setting, so the docs cannot drift from the code. A marker is expanded only on a
line of its own.
"""

from __future__ import annotations

import html
import re
from typing import Any

# A marker counts only on a line of its own, so pages can mention it in inline code.
CLI_MARKER = re.compile(r"^[ \t]*<!--\s*cli-options:\s*([\w\- ]+?)\s*-->[ \t]*$", re.MULTILINE)
SETTINGS_MARKER = re.compile(r"^[ \t]*<!--\s*settings-reference\s*-->[ \t]*$", re.MULTILINE)


def _cell(text: Any) -> str:
    return html.escape(str(text), quote=False).replace("|", "\\|").replace("\n", " ")


def _param_kind(param: Any) -> str:
    """A short type name; works with click parameters and with Typer's own (Typer >= 0.2x vendors click)."""
    if getattr(param, "is_flag", False) and not getattr(param, "secondary_opts", None):
        return "flag"
    kind = getattr(param, "type", None)
    if kind is not None:
        return str(getattr(kind, "name", kind)).lower()
    bare = getattr(param, "bare_type", None)
    if callable(bare):
        try:
            return str(bare()).lower()
        except Exception:  # a type Typer cannot name: fall back to the annotation below
            pass
    descriptor = getattr(param, "type_descriptor", None)
    annotation = getattr(descriptor, "annotation", None)
    return getattr(annotation, "__name__", str(annotation or "")).lower()


def cli_options(path: str) -> str:
    """Markdown table of a command's arguments and options."""
    import typer

    from hsctl.cli.main import app

    command: Any = typer.main.get_command(app)
    for part in path.split():
        command = command.commands[part]
    rows = ["| option | type | default | description |", "| --- | --- | --- | --- |"]
    for param in command.params:
        if getattr(param, "hidden", False):
            continue
        if getattr(param, "param_type_name", "") == "argument":
            shown_name = getattr(param, "human_readable_name", None) or (param.name or "").upper()
            name = f"`{shown_name}` (argument)"
        else:
            names = [*param.opts, *getattr(param, "secondary_opts", [])]
            name = " / ".join(f"`{n}`" for n in names)
        kind = _param_kind(param)
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
            rows.append(f"| `{key}` | `{env}` | {_cell(kind)} | `{_cell(default)}` | {_cell(info.description or '')} |")

    walk(Settings, "")
    return "\n".join(rows)


def on_page_markdown(markdown: str, **kwargs: Any) -> str:
    """mkdocs event: expand the markers."""
    markdown = CLI_MARKER.sub(lambda m: cli_options(m.group(1)), markdown)
    return SETTINGS_MARKER.sub(lambda m: settings_reference(), markdown)
