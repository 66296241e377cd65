"""Ctrl-C at any point of ``train`` leaves ``run.json`` at ``interrupted`` and names the resume command."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from hsctl.core.io import read_json
from hsctl.errors import ExitCode, TrainingInterrupted
from hsctl.settings import load_settings

pytestmark = pytest.mark.slow


def _settings(trained_model: Path, tmp_path: Path, run_name: str):
    artifacts = tmp_path / "artifacts"
    if not (artifacts / "data").exists():
        shutil.copytree(trained_model.parents[1] / "data", artifacts / "data")
    overrides = {
        "paths.artifacts": str(artifacts),
        "train.model": "scratch",
        "train.epochs": 1,
        "train.run_name": run_name,
        "train.early_stopping_patience": 0,
        "tracking.backend": "none",
    }
    return load_settings(overrides).settings, artifacts


def _ctrl_c(*args, **kwargs):
    raise KeyboardInterrupt


def test_ctrl_c_in_final_validation_then_resume(trained_model: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    from hsctl.train import train

    settings, artifacts = _settings(trained_model, tmp_path, "late")
    with monkeypatch.context() as patch:
        patch.setattr("hsctl.train.decide.decide", _ctrl_c)
        with pytest.raises(TrainingInterrupted) as caught:
            train(settings)
    message = str(caught.value)
    assert caught.value.exit_code == ExitCode.INTERRUPTED
    assert f"continue with: hsctl train --resume --run-name late --artifacts {artifacts}" in message
    meta = read_json(artifacts / "runs" / "late" / "run.json")
    assert meta["status"] == "interrupted" and meta["step"] > 0
    assert not (artifacts / "models" / "late").exists()

    resumed = train(settings, resume=True)  # the checkpoint of the finished training is enough
    assert resumed.run_name == "late" and resumed.global_step == meta["step"]
    assert (resumed.model_dir / "model.safetensors").is_file()
    assert read_json(artifacts / "runs" / "late" / "run.json")["status"] == "completed"


def test_ctrl_c_while_writing_the_model_folder(trained_model: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    from hsctl.train import train

    settings, artifacts = _settings(trained_model, tmp_path, "card")
    monkeypatch.setattr("hsctl.models.card.write_model_card", _ctrl_c)
    with pytest.raises(TrainingInterrupted, match="hsctl train --resume --run-name card"):
        train(settings)
    assert read_json(artifacts / "runs" / "card" / "run.json")["status"] == "interrupted"
    assert not (artifacts / "models" / "card").exists()  # atomic: no half-written folder
    assert not [p for p in (artifacts / "models").iterdir() if p.name.startswith(".card")]


def test_ctrl_c_after_the_model_is_written_keeps_it_completed(
    trained_model: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    from hsctl.train import train

    settings, artifacts = _settings(trained_model, tmp_path, "done")
    monkeypatch.setattr("hsctl.train.tracking.log_final", _ctrl_c)
    with pytest.raises(TrainingInterrupted, match="was complete") as caught:
        train(settings)
    assert "--resume" not in str(caught.value)
    assert read_json(artifacts / "runs" / "done" / "run.json")["status"] == "completed"
    assert (artifacts / "models" / "done" / "hsctl.json").is_file()


def test_ctrl_c_before_the_run_starts(trained_model: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    from hsctl.train import train

    settings, artifacts = _settings(trained_model, tmp_path, "early")
    monkeypatch.setattr("hsctl.train.prepare", _ctrl_c)
    with pytest.raises(TrainingInterrupted, match="nothing was saved"):
        train(settings)
    assert not (artifacts / "runs" / "early").exists()
