"""Help output that reads well at 80 columns: no truncated names, no ``<bool>`` on flags.

Typer's rich panels put option names, metavars and help in six columns and
crop what does not fit. This renderer keeps click's layout instead (names,
then help in a column; a name too long for its column gets the help on the
next line), wraps on words, and colours names and metavars when the stream
is a terminal (``NO_COLOR`` turns colours off). Flags show no metavar.
"""

from __future__ import annotations

import inspect
import re
import sys
import textwrap
from collections.abc import Sequence
from typing import Any

import typer.core
from rich.console import Console
from rich.text import Text

INDENT = 2
NAME_COLUMN = 28  # widest option column before the help moves to the next line
MAX_WIDTH = 100
_NAME_RE = r"(?<![\w-])(--?[A-Za-z][\w-]*)"
_TYPE_RE = r"<[a-z][\w|\[\], ]*>|\b[A-Z][A-Z_]+\.\.\.|\b(?:SOURCE|COMMAND|ARGS|OPTIONS|FILE|PATH)\b"


def _console() -> Console:
    """stdout console; width from the terminal or COLUMNS, capped for reading."""
    console = Console(highlight=False, soft_wrap=True)
    console.width = min(console.width, MAX_WIDTH)
    return console


def _paragraphs(text: str) -> list[str]:
    """Docstring paragraphs with single line breaks joined (anything after \\f dropped)."""
    text = inspect.cleandoc(text or "").partition("\f")[0]
    return [" ".join(p.split()) for p in text.split("\n\n") if p.strip()]


def _wrap(text: str, width: int) -> list[str]:
    """Words wrapped at ``width``; a word is never cut (an option name stays whole)."""
    return textwrap.wrap(text, width=max(20, width), break_on_hyphens=False, break_long_words=False) or [""]


def _styled(line: str) -> Text:
    text = Text(line)
    text.highlight_regex(_NAME_RE, "bold cyan")
    text.highlight_regex(_TYPE_RE, "yellow")
    return text


def _rows(console: Console, rows: list[tuple[str, str]]) -> None:
    """Two columns: names, then help wrapped beside them (or below when the name is too long)."""
    width = console.width
    name_width = min(max((len(n) for n, _ in rows), default=0), NAME_COLUMN)
    help_col = INDENT + name_width + 2
    for name, help_text in rows:
        wrapped = _wrap(help_text, width - help_col) if help_text else []
        if len(name) > name_width:
            console.print(_styled(" " * INDENT + name))
            first, rest = None, wrapped
        else:
            first, rest = (wrapped[0] if wrapped else ""), wrapped[1:]
            console.print(_styled(" " * INDENT + name.ljust(name_width) + "  " + first))
        for line in rest:
            console.print(_styled(" " * help_col + line))


def _section(console: Console, title: str) -> None:
    console.print()
    console.print(Text(f"{title}:", style="bold"))


def argument_label(param: Any) -> str:
    """SOURCE, [SOURCE] or SOURCE... (not Typer's ``{source}``)."""
    label = str(param.metavar or param.name or "").upper()
    if param.nargs != 1:
        label += "..."
    return label if param.required else f"[{label}]"


def _option_rows(command: Any, ctx: Any) -> tuple[list[tuple[str, str]], list[tuple[str, str]]]:
    arguments: list[tuple[str, str]] = []
    options: list[tuple[str, str]] = []
    for param in command.get_params(ctx):
        record = param.get_help_record(ctx)
        if record is None:
            continue
        names, help_text = record
        help_text = " ".join(str(help_text).split())
        if param.param_type_name == "argument":
            arguments.append((argument_label(param).strip("[]"), help_text))
            continue
        if getattr(param, "is_flag", False) or getattr(param, "count", False):
            names = re.sub(r" <[^>]*>", "", names)
        options.append((names, help_text))
    return arguments, options


def render_help(command: Any, ctx: Any) -> None:
    """Print the help of a command or group on stdout."""
    console = _console()
    pieces = " ".join(command.collect_usage_pieces(ctx))
    usage = _wrap(f"{ctx.command_path} {pieces}".strip(), console.width - 7)
    console.print(_styled("Usage: " + usage[0]))
    for line in usage[1:]:
        console.print(_styled(" " * 7 + line))
    for paragraph in _paragraphs(command.help or ""):
        console.print()
        for line in _wrap(paragraph, console.width - INDENT):
            console.print(_styled(" " * INDENT + line))
    arguments, options = _option_rows(command, ctx)
    for title, rows in (("Arguments", arguments), ("Options", options)):
        if rows:
            _section(console, title)
            _rows(console, rows)
    if isinstance(command, typer.core.TyperGroup):
        commands = []
        for name in command.list_commands(ctx):
            sub = command.get_command(ctx, name)
            if sub is not None and not sub.hidden:
                summary = _paragraphs(sub.short_help or sub.help or "")
                commands.append((name, summary[0] if summary else ""))
        if commands:
            _section(console, "Commands")
            _rows(console, commands)
    for paragraph in _paragraphs(command.epilog or ""):
        console.print()
        for line in _wrap(paragraph, console.width - INDENT):
            console.print(_styled(" " * INDENT + line))


class HsctlCommand(typer.core.TyperCommand):
    """A Typer command with the 80-column help and an upper-case usage line."""

    def collect_usage_pieces(self, ctx: Any) -> list[str]:
        """``[OPTIONS] SOURCE`` rather than Typer's ``[OPTIONS] {source}``."""
        pieces = [self.options_metavar] if self.options_metavar else []
        pieces += [argument_label(p) for p in self.get_params(ctx) if p.param_type_name == "argument"]
        return pieces

    def format_help(self, ctx: Any, formatter: Any) -> None:
        """Print the help (see :func:`render_help`)."""
        render_help(self, ctx)


class HsctlGroup(typer.core.TyperGroup):
    """A Typer group with the same help layout as :class:`HsctlCommand`.

    Its commands and sub-groups take the same help, however they were
    registered, so a new command needs no extra argument.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        for command in self.commands.values():
            adopt(command)

    def main(
        self,
        args: Sequence[str] | None = None,
        prog_name: str | None = None,
        complete_var: str | None = None,
        standalone_mode: bool = True,
        windows_expand_args: bool = True,
        **extra: Any,
    ) -> Any:
        """Run the command; a usage error is one red line on stderr (one JSON object on stdout with ``--json``).

        The root flags (``-q``, ``-v``, ``--progress``, ...) are accepted after the
        subcommand too, and ``--json`` before it (see :func:`normalize_argv`).
        """
        argv = normalize_argv(self, list(sys.argv[1:] if args is None else args))
        options = dict(complete_var=complete_var, windows_expand_args=windows_expand_args, **extra)
        as_json = "--json" in (argv[: argv.index("--")] if "--" in argv else argv)
        try:
            result = super().main(argv, prog_name, standalone_mode=False, **options)
        except typer.TyperException as exc:  # click's usage errors (bad value, missing option, ...)
            result = usage_error(exc, as_json=as_json)
        except typer.Abort:  # end of input at a prompt
            Console(stderr=True, highlight=False).print(Text.assemble(("error:", "bold red"), " aborted"))
            result = 1
        if not standalone_mode:
            return result
        sys.exit(result if isinstance(result, int) else 0)

    def format_help(self, ctx: Any, formatter: Any) -> None:
        """Print the help (see :func:`render_help`)."""
        render_help(self, ctx)


def adopt(command: Any) -> None:
    """Give a plain Typer command or group (and its sub-commands) the hsctl help."""
    if type(command) is typer.core.TyperCommand:
        command.__class__ = HsctlCommand
    elif type(command) is typer.core.TyperGroup:
        command.__class__ = HsctlGroup
    for sub in getattr(command, "commands", {}).values():
        adopt(sub)


# Root options that may also come after the subcommand, and the root options that take a value.
_ROOT_FLAGS = {"-q", "--quiet", "-v", "--verbose", "--progress", "--no-progress", "--debug"}
_ROOT_VALUED = {"-c", "--config", "--env-file"}


def _is_root_flag(token: str) -> bool:
    return token in _ROOT_FLAGS or re.fullmatch(r"-v+", token) is not None


def _valued_options(command: Any) -> set[str]:
    """Option names of ``command`` that take a value (their next token is that value)."""
    names: set[str] = set()
    for param in getattr(command, "params", []):
        if param.param_type_name == "option" and not (param.is_flag or param.count):
            names.update(param.opts)
    return names


def _option_names(command: Any) -> set[str]:
    return {name for param in getattr(command, "params", []) for name in (*param.opts, *param.secondary_opts)}


def normalize_argv(root: Any, argv: list[str]) -> list[str]:
    """Accept the root flags after the subcommand and ``--json`` before it, with the same meaning.

    ``hsctl fetch -q --json`` and ``hsctl -q --json fetch`` both become
    ``hsctl -q fetch --json``. Tokens after ``--`` and values of options are left alone;
    a subcommand with an option of the same name keeps it.
    """
    end = argv.index("--") if "--" in argv else len(argv)
    head, tail = argv[:end], argv[end:]
    # Where the command path ends: skip root options (and their values), then walk command names.
    index, command, path_end, path_start = 0, root, None, None
    while index < len(head):
        token = head[index]
        if path_end is None and token in _ROOT_VALUED:
            index += 2
            continue
        if token.startswith("-"):
            if path_end is not None and token in _valued_options(command):
                index += 1
            index += 1
            continue
        sub = command.get_command(None, token) if hasattr(command, "get_command") else None  # type: ignore[arg-type]
        if sub is None:
            break
        command, path_end = sub, index + 1
        path_start = index if path_start is None else path_start
        index += 1
        if not hasattr(command, "get_command"):
            break
    if path_end is None or path_start is None:
        return argv
    leaf_names = _option_names(command)
    valued = _valued_options(command)
    moved_front: list[str] = []
    kept: list[str] = []
    skip_next = False
    for position, token in enumerate(head):
        if position < path_end:
            if token == "--json" and "--json" in leaf_names:
                continue  # appended after the command path below
            if position > path_start and _is_root_flag(token):
                moved_front.append(token)  # between a group and its subcommand
                continue
            kept.append(token)
            continue
        if skip_next:
            skip_next = False
            kept.append(token)
            continue
        if token in valued:
            skip_next = True
        if _is_root_flag(token) and token not in leaf_names:
            moved_front.append(token)
        else:
            kept.append(token)
    if "--json" in head[:path_end] and "--json" in leaf_names and "--json" not in kept:
        kept.append("--json")
    return [*moved_front, *kept, *tail]


def usage_error(exc: Any, *, as_json: bool) -> int:
    """Report a click usage error in one red line on stderr (or one JSON object); return its exit code."""
    code = int(getattr(exc, "exit_code", 2))
    if type(exc).__name__ == "NoArgsIsHelpError":  # ``hsctl`` alone: the help, as click prints it
        exc.show()
        return code
    message = exc.format_message() if hasattr(exc, "format_message") else str(exc)
    message = " ".join(message.split())
    if as_json:
        from hsctl.cli._common import emit_json

        emit_json({"error": message, "exit_code": code})
        return code
    ctx = getattr(exc, "ctx", None)
    hint = f" (see '{ctx.command_path} --help')" if ctx is not None and ctx.command_path else ""
    console = Console(stderr=True, highlight=False, soft_wrap=True)
    console.print(Text.assemble(("error:", "bold red"), " ", message + hint))
    return code
