from __future__ import annotations

import json
import socket
import time
from pathlib import Path

import pytest

from hsctl.settings import TrackingSettings
from hsctl.train.tracking import TrackingPlan, plan_tracking, tracking_notes, wandb_reachable, wandb_root


def test_auto_needs_an_api_key(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.delenv("WANDB_API_KEY", raising=False)
    monkeypatch.delenv("WANDB_MODE", raising=False)
    assert plan_tracking(TrackingSettings()).backend == "none"
    assert plan_tracking(TrackingSettings(backend="wandb-offline")).backend == "wandb-offline"
    assert not plan_tracking(TrackingSettings(backend="none")).enabled


def test_unreachable_server_falls_back_to_offline_fast(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("WANDB_API_KEY", "x" * 40)
    monkeypatch.setenv("WANDB_BASE_URL", "http://127.0.0.1:9")
    monkeypatch.delenv("WANDB_MODE", raising=False)
    started = time.monotonic()
    plan = plan_tracking(TrackingSettings())
    assert time.monotonic() - started < 5
    assert plan.backend == "wandb-offline" and plan.fell_back
    assert "unreachable" in plan.reason


def test_reachable_probe(monkeypatch: pytest.MonkeyPatch):
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(1)
    monkeypatch.setenv("WANDB_BASE_URL", f"http://127.0.0.1:{server.getsockname()[1]}")
    try:
        assert wandb_reachable(timeout=2)
    finally:
        server.close()


def test_wandb_mode_disabled_wins_over_the_settings(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("WANDB_MODE", "disabled")
    monkeypatch.setenv("WANDB_API_KEY", "x" * 40)
    for backend in ("wandb", "wandb-offline", "auto"):
        plan = plan_tracking(TrackingSettings(backend=backend))
        assert not plan.enabled and plan.disabled_by_env, backend
        assert tracking_notes(plan) == [plan.reason] and "WANDB_MODE=disabled" in plan.reason
    monkeypatch.delenv("WANDB_API_KEY")
    quiet = plan_tracking(TrackingSettings(backend="auto"))  # the default without a key: nothing to say
    assert not quiet.enabled and tracking_notes(quiet) == []


def test_wandb_writes_into_the_tracking_folder_itself(tmp_path: Path):
    assert wandb_root(tmp_path / "artifacts" / "wandb") == tmp_path / "artifacts"
    run_dir = tmp_path / "a b" / "wandb" / "offline-run-1"
    notes = tracking_notes(TrackingPlan("wandb-offline", "as configured", run_dir=run_dir))
    assert notes == [f'wandb offline run in "{run_dir}"; upload it with: wandb sync "{run_dir}"']


def _train_scratch(trained_model: Path, tmp_path: Path, backend: str):
    import shutil

    from hsctl.settings import load_settings
    from hsctl.train import train

    artifacts = tmp_path / "artifacts"
    shutil.copytree(trained_model.parents[1] / "data", artifacts / "data")
    settings = load_settings(
        {"paths.artifacts": str(artifacts), "train.model": "scratch", "train.epochs": 1, "tracking.backend": backend}
    ).settings
    return train(settings), artifacts


@pytest.mark.slow
def test_disabled_run_starts_no_wandb(trained_model: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("WANDB_MODE", "disabled")
    result, artifacts = _train_scratch(trained_model, tmp_path, "wandb-offline")
    assert result.tracking == "none" and result.tracking_run_dir is None
    assert result.notes == ["tracking wandb-offline is off: WANDB_MODE=disabled"]
    assert not (artifacts / "wandb").exists()


@pytest.mark.slow
def test_offline_run_logs_metrics(trained_model: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.delenv("WANDB_MODE", raising=False)
    result, artifacts = _train_scratch(trained_model, tmp_path, "wandb-offline")
    assert result.tracking == "wandb-offline" and result.warnings == []
    assert not (artifacts / "wandb" / "wandb").exists()  # not doubled
    runs = list((artifacts / "wandb").glob("offline-run-*"))
    assert len(runs) == 1
    assert any(p.suffix == ".wandb" and p.stat().st_size > 0 for p in runs[0].iterdir())
    assert result.tracking_run_dir == str(runs[0])
    assert result.notes == [f"wandb offline run in {runs[0]}; upload it with: wandb sync {runs[0]}"]
    card = json.loads((result.model_dir / "hsctl.json").read_text())
    assert card["settings"]["tracking"]["backend"] == "wandb-offline"


def test_the_tracking_decision_is_an_info_line_for_verbose(caplog: pytest.LogCaptureFixture):
    import logging

    with caplog.at_level(logging.INFO, logger="hsctl"):
        plan_tracking(TrackingSettings(backend="none"))
    assert any(r.name == "hsctl.train.tracking" and "tracking: none" in r.getMessage() for r in caplog.records)
