"""Settings problems on the command line: empty secrets and misspelled HSCTL_* variables."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from hsctl.cli.main import app

runner = CliRunner()


@pytest.mark.parametrize("value", ["", "   "])
def test_an_empty_api_key_is_exit_2_with_one_clear_line(value: str):
    result = runner.invoke(app, ["config", "validate"], env={"HSCTL_SERVE__API_KEY": value})
    assert result.exit_code == 2
    (line,) = result.stderr.strip().splitlines()  # one line
    assert line.startswith("error: invalid settings: serve.api_key:") and "must not be empty or blank" in line
    assert "Traceback" not in result.stderr


def test_a_misspelled_variable_is_a_warning_on_stderr_for_every_command(isolated: Path):
    env = {"HSCTL_SERVE_API_KEY": "s3cret"}
    result = runner.invoke(app, ["config", "show", "--json"], env=env)
    assert result.exit_code == 0, result.stderr
    json.loads(result.stdout)  # stdout stays one JSON object
    warnings = [line for line in result.stderr.splitlines() if line.startswith("warning:")]
    assert len(warnings) == 1
    assert "HSCTL_SERVE_API_KEY" in warnings[0] and "did you mean HSCTL_SERVE__API_KEY" in warnings[0]
    assert "s3cret" not in result.stderr
    (isolated / "x.env").write_text("HSCTL_TRAIN_EPOCHS=3\n")
    result = runner.invoke(app, ["--env-file", "x.env", "config", "show"])
    assert result.exit_code == 0
    assert "HSCTL_TRAIN_EPOCHS" in result.stderr and "HSCTL_TRAIN__EPOCHS" in result.stderr


@pytest.mark.parametrize("name", ["HSCTL_SERVE_API_KEY", "HSCTL_SERVER__API_KEY", "HSCTL_TRAIN_EPOCHS"])
def test_config_validate_fails_on_an_unknown_variable(name: str):
    result = runner.invoke(app, ["config", "validate"], env={name: "1"})
    assert result.exit_code == 2
    assert f"{name} is not an hsctl setting" in result.stderr
    result = runner.invoke(app, ["config", "validate", "--json"], env={name: "1"})
    assert result.exit_code == 2 and json.loads(result.stdout)["exit_code"] == 2


def test_documented_non_setting_variables_are_allowed():
    env = {"HSCTL_MODEL_CACHE": "/tmp/x", "HSCTL_DEBUG": "0", "HSCTL_SERVE__PORT": "9000"}
    result = runner.invoke(app, ["config", "validate"], env=env)
    assert result.exit_code == 0, result.stderr
    assert "warning" not in result.stderr
