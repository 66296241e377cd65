"""``hsctl serve`` says where the prediction log goes, and --log-text keeps only digests of the texts."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from hsctl.cli.main import app
from hsctl.serve import launch
from hsctl.serve.predlog import PredictionLog, now_iso, text_field

runner = CliRunner()


def notices(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if line.startswith("prediction log:")]


def test_serve_says_where_the_log_goes_and_what_it_holds(
    quantized_model: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    started: list[Any] = []
    monkeypatch.setattr(launch, "run_server", started.append)
    base = ["serve", "--onnx", "--model", str(quantized_model), "--artifacts", str(tmp_path / "artifacts")]

    result = runner.invoke(app, base)
    assert result.exit_code == 0, result.stderr
    (line,) = notices(result.stderr)
    assert str(tmp_path / "artifacts" / "predictions") in line and "texts in full" in line
    assert "kept until you delete it" in line and result.stdout == ""

    for flag, mode in (("hash", "sha256"), ("sha256", "sha256"), ("full", "text"), ("none", "none")):
        result = runner.invoke(app, [*base, "--log-text", flag, "--log-url", str(tmp_path / "elsewhere")])
        assert result.exit_code == 0, result.stderr
        assert started[-1].settings.serve.log_text == mode
        (line,) = notices(result.stderr)
        assert str(tmp_path / "elsewhere") in line
    result = runner.invoke(app, [*base, "--log-text", "hash"])
    assert "SHA-256 digests" in notices(result.stderr)[0]

    result = runner.invoke(app, [*base, "--no-log"])
    assert notices(result.stderr) == ["prediction log: off (--no-log)"]

    result = runner.invoke(app, [*base, "--log-text", "md5"])
    assert result.exit_code == 2 and "log_text" in result.stderr


def test_a_hashed_log_is_read_by_drift_without_texts(tmp_path: Path):
    from hsctl.drift.log import read_prediction_log

    log = PredictionLog(str(tmp_path), max_bytes=100_000, queue_size=100)
    log.start()
    for i in range(5):
        log.write({"time": now_iso(), "hate_probability": 0.1 * i, **text_field(f"text {i}", "sha256")})
    log.close()
    frame, stats = read_prediction_log(str(tmp_path))
    assert len(frame) == 5 and stats.hashed == 5 and stats.with_text == 0
    assert frame["text"].isna().all() and frame["text_sha256"].str.len().eq(64).all()
