from __future__ import annotations

import json
import socket
import time
from pathlib import Path

import pytest

from hsctl.settings import TrackingSettings
from hsctl.train.tracking import plan_tracking, wandb_reachable


def test_auto_needs_an_api_key(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.delenv("WANDB_API_KEY", raising=False)
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


@pytest.mark.slow
def test_offline_run_logs_metrics(trained_model: Path, tmp_path: Path):
    import shutil

    from hsctl.settings import load_settings
    from hsctl.train import train

    artifacts = tmp_path / "artifacts"
    shutil.copytree(trained_model.parents[1] / "data", artifacts / "data")
    settings = load_settings(
        {
            "paths.artifacts": str(artifacts),
            "train.model": "scratch",
            "train.epochs": 1,
            "tracking.backend": "wandb-offline",
        }
    ).settings
    result = train(settings)
    assert result.tracking == "wandb-offline" and result.warnings == []
    runs = list((artifacts / "wandb" / "wandb").glob("offline-run-*"))
    assert len(runs) == 1
    assert any(p.suffix == ".wandb" and p.stat().st_size > 0 for p in runs[0].iterdir())
    card = json.loads((result.model_dir / "hsctl.json").read_text())
    assert card["settings"]["tracking"]["backend"] == "wandb-offline"
