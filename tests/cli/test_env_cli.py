"""``hsctl env``: human lines for bug reports, ``--json``, and a report even when settings are invalid."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from hsctl.__about__ import __version__
from hsctl.cli.main import app

runner = CliRunner()


def test_env_lines(isolated: Path):
    out = runner.invoke(app, ["env"])
    assert out.exit_code == 0, out.output
    lines = out.stdout.splitlines()
    assert f"- hsctl: {__version__}" in lines
    for name in ("Python", "OS", "torch", "GPUs", "onnxruntime", "transformers", "CPU", "CPU features", "threads",
                 "backends", "settings"):  # fmt: skip
        assert any(line.startswith(f"- {name}: ") for line in lines), name
    assert "hsctl.toml (absent)" in out.stdout


def test_env_json(isolated: Path):
    out = runner.invoke(app, ["env", "--json"])
    assert out.exit_code == 0, out.output
    data = json.loads(out.stdout)
    assert data["hsctl"] == __version__
    assert set(data["backends"]) >= {"torch", "onnx", "onnx-int8"}
    assert data["settings_files"]["problem"] is None


def test_env_reports_an_invalid_settings_file_instead_of_failing(isolated: Path):
    (isolated / "hsctl.toml").write_text("[train]\nepochs = 'many'\n")
    out = runner.invoke(app, ["env"])
    assert out.exit_code == 0, out.output
    assert "hsctl.toml (found)" in out.stdout and "INVALID" in out.stdout


def test_env_without_torch_or_onnxruntime(isolated: Path, monkeypatch: pytest.MonkeyPatch):
    for name in ("torch", "transformers", "onnxruntime"):
        monkeypatch.setitem(sys.modules, name, None)
    out = runner.invoke(app, ["env"])
    assert out.exit_code == 0, out.output
    assert "- torch: not installed" in out.stdout and "- onnxruntime: not installed" in out.stdout
    assert "torch no, onnx no" in out.stdout
