"""Real ``hsctl sweep`` processes: two workers on one SQLite study, and Ctrl-C then ``--resume``."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.conftest import make_frame, tiny_sweep_toml

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def hsctl(*args: str, cwd: Path) -> subprocess.Popen[str]:
    env = {**os.environ, "HF_HUB_DISABLE_TELEMETRY": "1", "WANDB_MODE": "disabled"}
    return subprocess.Popen([sys.executable, "-m", "hsctl", *args], cwd=cwd, env=env, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)  # fmt: skip


def prepare(root: Path, epochs: int) -> None:
    make_frame(80).to_csv(root / "small.csv", index=False)
    (root / "hsctl.toml").write_text(tiny_sweep_toml(epochs=epochs))
    for args in (("fetch", "--source", "small.csv"), ("preprocess",)):
        proc = hsctl(*args, cwd=root)
        _, err = proc.communicate(timeout=180)
        assert proc.returncode == 0, err


def test_two_sweep_processes_share_one_study(isolated: Path):
    prepare(isolated, epochs=1)
    workers = [hsctl("sweep", "--study", "shared", "--trials", "4", "--pruner", "none", cwd=isolated) for _ in "ab"]
    for worker in workers:
        _, err = worker.communicate(timeout=400)
        assert worker.returncode == 0, err
    show = hsctl("sweep", "show", "--study", "shared", "--json", cwd=isolated)
    out, err = show.communicate(timeout=120)
    assert show.returncode == 0, err
    trials = json.loads(out)["trials"]
    numbers = [t["number"] for t in trials]
    assert len(numbers) == len(set(numbers)) and 4 <= len(numbers) <= 5  # each worker may overshoot by one
    assert all(t["state"] == "COMPLETE" for t in trials)
    # every trial ran once, in its own folder, whichever process ran it
    models = sorted(p.name for p in (isolated / "artifacts/sweeps/shared/models").iterdir() if p.is_dir())
    assert models == [f"trial-{n:04d}" for n in sorted(numbers)]


def test_ctrl_c_exits_130_and_resume_continues(isolated: Path):
    prepare(isolated, epochs=12)  # long enough to be interrupted mid-run
    proc = hsctl("sweep", "--study", "stop", "--trials", "1", cwd=isolated)
    deadline = time.monotonic() + 300
    runs = isolated / "artifacts/sweeps/stop/runs/trial-0000/checkpoints"
    while not list(runs.glob("checkpoint-*")) and time.monotonic() < deadline:  # let it train a little
        time.sleep(0.5)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=300)
    assert proc.returncode == 130, err
    assert "--resume --study stop" in err

    resumed = hsctl("sweep", "--resume", "--study", "stop", "--json", cwd=isolated)
    out, err = resumed.communicate(timeout=600)
    assert resumed.returncode == 0, err
    data = json.loads(out)
    assert data["requeued"] == [0]
    assert data["counts"] == {"FAIL": 1, "COMPLETE": 1}
    assert "resumed from its checkpoint" in err
