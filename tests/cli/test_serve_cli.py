from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from hsctl.cli.main import app
from hsctl.serve import launch

runner = CliRunner()


def test_serve_flags_reach_the_settings(quantized_model: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """The admission and shedding flags override hsctl.toml and the environment; the server gets them."""
    started: list[Any] = []
    monkeypatch.setattr(launch, "run_server", started.append)
    monkeypatch.chdir(tmp_path)
    (tmp_path / "hsctl.toml").write_text("[serve]\nshed_backoff_ms = 400\nmax_queue_delay_ms = 300\n")
    args = ["serve", "--onnx", "--model", str(quantized_model), "--artifacts", str(tmp_path / "artifacts")]

    result = runner.invoke(app, args, env={"HSCTL_SERVE__MAX_QUEUE_DELAY_MS": "200"})
    assert result.exit_code == 0, result.stderr
    cfg = started[-1].settings.serve
    assert (cfg.shed_backoff_ms, cfg.max_queue_delay_ms) == (400, 200)  # hsctl.toml < environment

    result = runner.invoke(app, [*args, "--shed-backoff-ms", "0", "--max-queue-delay-ms", "150"])
    assert result.exit_code == 0, result.stderr
    cfg = started[-1].settings.serve
    assert (cfg.shed_backoff_ms, cfg.max_queue_delay_ms) == (0, 150)  # flags win


def test_a_negative_backoff_is_a_usage_error(quantized_model: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setattr(launch, "run_server", lambda _: None)
    result = runner.invoke(app, ["serve", "--onnx", "--model", str(quantized_model), "--shed-backoff-ms", "-1"])
    assert result.exit_code == 2 and "shed_backoff_ms" in result.stderr  # invalid settings: exit 2
    assert "Traceback" not in result.stderr
