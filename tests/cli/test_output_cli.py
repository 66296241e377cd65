"""Output that fits people and CI: 80-column help, --quiet/--verbose, progress lines, JSON errors, no reprs."""

from __future__ import annotations

import io
import json
import time
from pathlib import Path
from typing import Any

import pytest
from rich.console import Console
from typer.core import TyperGroup
from typer.main import get_command
from typer.testing import CliRunner

from hsctl.cli._progress import Reporter
from hsctl.cli.main import app
from hsctl.core.display import human

runner = CliRunner()


def all_commands() -> list[list[str]]:
    """Every command path of the app, sub-groups included (new commands are covered without editing this)."""
    paths: list[list[str]] = [[]]

    def walk(group: Any, prefix: list[str]) -> None:
        for name, command in group.commands.items():
            paths.append([*prefix, name])
            if isinstance(command, TyperGroup):
                walk(command, [*prefix, name])

    root = get_command(app)
    assert isinstance(root, TyperGroup)
    walk(root, [])
    return paths


@pytest.mark.parametrize("path", all_commands(), ids=lambda p: " ".join(p) or "hsctl")
def test_help_reads_well_at_80_columns(path: list[str]):
    result = runner.invoke(app, [*path, "--help"], env={"COLUMNS": "80", "NO_COLOR": "1"})
    assert result.exit_code == 0, result.output
    text = result.stdout
    assert "Usage: hsctl" in text
    assert "…" not in text and "<bool>" not in text and "{" not in text.splitlines()[0]
    assert max(len(line) for line in text.splitlines()) <= 80
    assert "\x1b[" not in text  # NO_COLOR


def test_predict_usage_names_its_argument():
    usage = runner.invoke(app, ["predict", "--help"], env={"COLUMNS": "80"}).stdout.splitlines()[0]
    assert usage == "Usage: hsctl predict [OPTIONS] SOURCE"


def test_flags_take_no_value():
    result = runner.invoke(app, ["config", "show", "--json", "true"])
    assert result.exit_code == 2  # --json is a flag: 'true' is an unexpected argument
    assert "--json" in runner.invoke(app, ["config", "show", "--help"]).stdout


def test_usage_errors_under_json_are_one_json_object():
    for args in (["evaluate", "--fail-under", "bogus", "--json"], ["evaluate", "--json", "--no-such-flag"],
                 ["fetch", "--json", "--source"]):  # fmt: skip
        result = runner.invoke(app, args)
        assert result.exit_code == 2, args
        data = json.loads(result.stdout)
        assert set(data) == {"error", "exit_code"} and data["exit_code"] == 2 and data["error"]


def test_runtime_errors_under_json_are_one_json_object(isolated: Path):
    result = runner.invoke(app, ["evaluate", "--json"])
    assert result.exit_code == 4
    assert json.loads(result.stdout) == {"error": json.loads(result.stdout)["error"], "exit_code": 4}
    assert "no trained model" in json.loads(result.stdout)["error"]


def test_quiet_keeps_only_errors(isolated: Path):
    quiet = runner.invoke(app, ["-q", "fetch", "--source", "demo"])
    assert quiet.exit_code == 0 and quiet.stderr == ""
    failed = runner.invoke(app, ["-q", "evaluate"])
    assert failed.exit_code == 4 and failed.stderr.startswith("error: ")


def test_quiet_and_verbose_exclude_each_other():
    assert runner.invoke(app, ["-q", "-v", "config", "validate"]).exit_code == 2


def test_errors_do_not_wrap_mid_phrase_in_a_pipe(isolated: Path):
    result = runner.invoke(app, ["evaluate", "--model", "x" * 150], env={"COLUMNS": "80"})
    assert result.exit_code == 4
    assert len(result.stderr.strip().splitlines()) == 1  # one line, however long


def _reporter(interval: float) -> tuple[Reporter, io.StringIO]:
    stream = io.StringIO()
    return Reporter(Console(file=stream, force_terminal=False, soft_wrap=True), interval=interval, unit="texts"), stream


def test_progress_prints_plain_lines_when_not_a_terminal(monkeypatch: pytest.MonkeyPatch):
    clock = iter([0.0, 1.0, 6.0, 7.0, 12.0, 13.0])
    monkeypatch.setattr("hsctl.cli._progress.time.monotonic", lambda: next(clock))
    progress, stream = _reporter(5.0)
    for done in (0, 10, 60, 70, 120, 200):
        progress("embedding current", done, 200, loss=0.5)
    lines = stream.getvalue().splitlines()
    assert lines == [
        "embedding current: 60/200 texts (30%), loss 0.5, 6s elapsed",
        "embedding current: 120/200 texts (60%), loss 0.5, 12s elapsed",
        "embedding current: 200/200 texts (100%), loss 0.5, 13s elapsed",
    ]


def test_progress_off_prints_nothing():
    stream = io.StringIO()
    progress = Reporter(Console(file=stream, force_terminal=False), enabled=False)
    progress("train", 10, 10)
    with progress.ticking("loadtest", 1.0, tick_s=0.01):
        pass
    assert stream.getvalue() == ""


def test_ticking_reports_elapsed_seconds_without_a_callback():
    progress, stream = _reporter(0.0)
    with progress.ticking("loadtest", 30.0, tick_s=0.01):
        time.sleep(0.1)
    assert stream.getvalue().splitlines()[0] == "loadtest: 0/30 texts (0%), 0s elapsed"


@pytest.mark.parametrize(
    ("value", "text"),
    [
        ({"train": 315, "validation": 45}, "train 315, validation 45"),
        (True, "yes"),
        (False, "no"),
        ([{"path": "a.csv", "sha256": "ab"}], "path a.csv, sha256 ab"),
        (0.123456, "0.1235"),
        (None, "-"),
    ],
)
def test_human_values_have_no_python_reprs(value: object, text: str):
    assert human(value) == text
