"""Root flags on either side of the subcommand, one-line usage errors, -v levels, and stdout under --json."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from typer.testing import CliRunner

from hsctl.cli.main import app

runner = CliRunner()


@pytest.mark.parametrize(
    "args",
    [
        ["config", "validate", "--json", "-q"],
        ["-q", "--json", "config", "validate"],
        ["--json", "-q", "config", "validate"],
        ["config", "-q", "validate", "--json"],
    ],
)
def test_root_flags_and_json_on_either_side_of_the_subcommand(args: list[str]):
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["valid"] is True


@pytest.mark.parametrize("flags", [["-v"], ["--verbose"], ["--no-progress"], ["--progress"], ["-vv"]])
def test_root_flags_after_the_subcommand_keep_their_meaning(flags: list[str]):
    before = runner.invoke(app, [*flags, "config", "validate"])
    after = runner.invoke(app, ["config", "validate", *flags])
    assert before.exit_code == after.exit_code == 0, after.output
    assert before.stdout == after.stdout


def test_quiet_after_the_subcommand_silences_stderr(isolated: Path):
    quiet = runner.invoke(app, ["fetch", "--source", "demo", "-q"])
    assert quiet.exit_code == 0 and quiet.stderr == ""
    failed = runner.invoke(app, ["evaluate", "-q"])
    assert failed.exit_code == 4 and failed.stderr.startswith("error: ")
    assert runner.invoke(app, ["config", "validate", "-q", "-v"]).exit_code == 2


def test_a_value_that_looks_like_a_root_flag_stays_with_its_option(isolated: Path):
    result = runner.invoke(app, ["fetch", "--source", "-q"])  # '-q' is the value of --source here
    assert result.exit_code == 4
    assert "-q" in result.stderr


@pytest.mark.parametrize(
    "args", [["fetch", "--no-such-flag"], ["nosuchcommand"], ["evaluate", "--fail-under", "bogus"], ["-q", "-v", "env"]]
)
def test_usage_errors_are_one_red_line(args: list[str]):
    result = runner.invoke(app, args, env={"COLUMNS": "60"})
    assert result.exit_code == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    assert not any(ch in result.stderr for ch in "╭╰│")
    assert result.stdout == ""


def test_usage_errors_under_json_stay_json():
    result = runner.invoke(app, ["--json", "fetch", "--no-such-flag"])
    assert result.exit_code == 2
    assert json.loads(result.stdout) == {"error": "No such option: --no-such-flag", "exit_code": 2}


def test_verbose_shows_hsctl_lines_and_no_library_debug(isolated: Path):
    import logging

    chatty = logging.getLogger("matplotlib.font_manager")
    result = runner.invoke(app, ["fetch", "--source", "demo", "-v"])
    assert result.exit_code == 0
    assert "hsctl.fetch" in result.stderr and "hsctl.cli" in result.stderr
    assert not chatty.isEnabledFor(logging.DEBUG) and not chatty.isEnabledFor(logging.INFO)
    preprocess = runner.invoke(app, ["-v", "preprocess"])
    assert preprocess.exit_code == 0
    assert "hsctl.preprocess" in preprocess.stderr
    assert "matplotlib" not in preprocess.stderr and "findfont" not in preprocess.stderr
    runner.invoke(app, ["-vv", "config", "validate"])
    assert chatty.isEnabledFor(logging.DEBUG)  # -vv: the libraries' debug logs too
    runner.invoke(app, ["config", "validate"])
    assert not logging.getLogger("hsctl").isEnabledFor(logging.DEBUG)


def test_json_stdout_survives_a_command_that_prints(monkeypatch: pytest.MonkeyPatch):
    import hsctl.cli.config as config_cmd

    original = config_cmd.settings_table

    def noisy(*args, **kwargs):
        print("wandb: a banner on stdout")
        sys.stdout.write("more text\n")
        return original(*args, **kwargs)

    monkeypatch.setattr(config_cmd, "settings_table", noisy)
    result = runner.invoke(app, ["config", "show", "--json"])
    assert result.exit_code == 0
    assert "settings" in json.loads(result.stdout)
    assert "a banner on stdout" in result.stderr and "more text" in result.stderr
    assert sys.stdout is not sys.stderr  # restored after the command


SCRIPT = textwrap.dedent(
    """
    import atexit, os, sys
    import hsctl.cli.config as config_cmd
    original = config_cmd.settings_table
    def noisy(*args, **kwargs):
        os.write(1, b"fd-level banner\\n")
        print("python banner", flush=True)
        return original(*args, **kwargs)
    config_cmd.settings_table = noisy
    atexit.register(lambda: os.write(1, b"atexit banner\\n"))
    sys.argv = ["hsctl", *sys.argv[1:]]
    from hsctl.cli.main import run
    run()
    """
)


@pytest.mark.parametrize("args", [["config", "show", "--json"], ["--json", "config", "show"]])
def test_json_stdout_survives_fd_level_writes_in_a_real_process(isolated: Path, args: list[str]):
    proc = subprocess.run([sys.executable, "-c", SCRIPT, *args], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert "settings" in json.loads(proc.stdout)
    for banner in ("fd-level banner", "python banner", "atexit banner"):
        assert banner in proc.stderr and banner not in proc.stdout


@pytest.mark.slow
def test_json_is_json_with_wandb_offline(isolated: Path):
    artifacts = isolated / "artifacts"
    for args in (["fetch", "--source", "demo"], ["preprocess"]):
        assert runner.invoke(app, [*args, "--artifacts", str(artifacts)]).exit_code == 0
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HSCTL_", "WANDB_"))}
    env |= {"WANDB_MODE": "offline", "WANDB_SILENT": "false", "WANDB_CONSOLE": "wrap"}
    proc = subprocess.run(
        [sys.executable, "-m", "hsctl", "-q", "train", "--json", "--artifacts", str(artifacts),
         "--model", "scratch", "--epochs", "1", "--tracking", "wandb", "--patience", "0"],
        capture_output=True, text=True, timeout=280, env=env,
    )  # fmt: skip
    data = json.loads(proc.stdout)  # exactly one JSON object on stdout, whatever the run's outcome
    assert isinstance(data, dict) and ("tracking" in data or "error" in data)
    assert "wandb" in proc.stderr  # wandb's offline banners went to stderr
    assert not any("wandb:" in line or "offline mode" in line for line in proc.stdout.splitlines())
    if "error" not in data:
        assert data["tracking"] == "wandb-offline"
