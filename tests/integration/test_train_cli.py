"""Real ``hsctl train`` processes: Ctrl-C and --resume, torchrun DDP, JSON output."""

from __future__ import annotations

import json
import math
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def run(*args: str, timeout: float = 300, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "hsctl", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, **(env or {})},
    )


@pytest.fixture
def demo_data(isolated: Path) -> Path:
    assert run("fetch", "--source", "demo").returncode == 0
    assert run("preprocess").returncode == 0
    return isolated


def test_interrupt_and_resume_reach_the_same_step_count(demo_data: Path):
    stats = json.loads((demo_data / "artifacts/data/processed/stats.json").read_text())
    epochs, batch = 4, 4
    from hsctl.train.contrast import contrast_rows

    rows = stats["splits"]["train"]["rows"] + len(contrast_rows("fit", seed=42))  # the contrast rows join training
    expected_steps = epochs * math.ceil(rows / batch)
    args = ["train", "--model", "scratch", "--epochs", str(epochs), "--batch-size", str(batch), "--patience", "0"]
    proc = subprocess.Popen(
        [sys.executable, "-m", "hsctl", *args, "--run-name", "r1"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    checkpoints = demo_data / "artifacts/runs/r1/checkpoints"
    deadline = time.monotonic() + 240
    while not any(checkpoints.glob("checkpoint-*")) and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    assert proc.poll() is None, "training ended before it could be interrupted"
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, err
    assert "interrupted at step" in err and "hsctl train --resume" in err
    assert "Traceback" not in err
    meta = json.loads((demo_data / "artifacts/runs/r1/run.json").read_text())
    assert meta["status"] == "interrupted"
    interrupted_step = meta["step"]
    assert 0 < interrupted_step < expected_steps
    assert not (demo_data / "artifacts/models/r1").exists()  # nothing half-written

    resumed = run("train", "--resume", "--json")
    assert resumed.returncode == 0, resumed.stderr
    result = json.loads(resumed.stdout)
    assert result["run_name"] == "r1"
    assert result["resumed_from"].endswith(f"checkpoint-{interrupted_step}")
    assert result["global_step"] == expected_steps
    assert (demo_data / "artifacts/models/r1/model.safetensors").is_file()


def test_torchrun_two_processes(demo_data: Path):
    cmd = [
        sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
        "-m", "hsctl", "train", "--model", "scratch", "--epochs", "1", "--run-name", "ddp", "--json",
    ]  # fmt: skip
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=300, env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert out.returncode == 0, out.stderr[-3000:]
    result = json.loads(out.stdout)  # only rank 0 prints: exactly one JSON object
    assert result["run_name"] == "ddp"
    card = json.loads((demo_data / "artifacts/models/ddp/hsctl.json").read_text())
    assert card["training"]["world_size"] == 2
    assert sorted(p.name for p in (demo_data / "artifacts/models").iterdir()) == ["LATEST", "ddp"]


def test_train_json_then_evaluate_and_predict(demo_data: Path):
    trained = run("train", "--model", "scratch", "--epochs", "1", "--json")
    assert trained.returncode == 0, trained.stderr
    result = json.loads(trained.stdout)
    assert result["validation_metrics"]["macro_f1"] >= 0
    evaluated = run("evaluate", "--json", "--fail-under", "macro_f1=0.0")
    assert evaluated.returncode == 0, evaluated.stderr
    assert json.loads(evaluated.stdout)["model_version"].startswith(result["run_name"])
    gated = run("evaluate", "--fail-under", "macro_f1=1.5")
    assert gated.returncode == 3 and "gate failed: macro_f1" in gated.stderr
    scored = subprocess.run(
        [sys.executable, "-m", "hsctl", "predict", "-"], input="hello\n\nall glorbians are bad\n",
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert scored.returncode == 0, scored.stderr
    lines = [json.loads(line) for line in scored.stdout.splitlines()]
    assert [row["tweet"] for row in lines] == ["hello", "", "all glorbians are bad"]
    assert lines[1]["error"] == "empty text" and lines[0]["label"] in {"hate", "non-hate"}


def test_hub_model_fails_fast(demo_data: Path):
    started = time.monotonic()
    out = run("train", "--model", "prajjwal1/bert-tiny", env={"HF_ENDPOINT": "http://127.0.0.1:9"})
    assert out.returncode == 5
    assert time.monotonic() - started < 20
    assert "unreachable" in out.stderr and "--model scratch" in out.stderr


def test_offline_hub_model_not_cached(demo_data: Path, tmp_path: Path):
    out = run("train", "--model", "someone/some-model", env={"HF_HUB_OFFLINE": "1", "HF_HOME": str(tmp_path / "hf")})
    assert out.returncode == 5
    assert "not in the local cache" in out.stderr
