"""``dvc repro`` runs the repository's dvc.yaml offline on the demo data in a temporary git repo."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = [pytest.mark.integration, pytest.mark.slow]
ROOT = Path(__file__).resolve().parents[2]
DEMO_TOML = """
[data]
source = "demo"
[train]
model = "scratch"
epochs = 1
[evaluate]
split = "test"
[export]
max_f1_drop = 1.0
[tracking]
backend = "none"
"""


@pytest.mark.skipif(shutil.which("dvc", path=str(Path(sys.executable).parent)) is None, reason="dvc not installed")
def test_dvc_repro_on_demo_data(isolated: Path):
    env = {
        **os.environ,
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
        "DVC_NO_ANALYTICS": "1",
        "GIT_AUTHOR_NAME": "t",
        "GIT_AUTHOR_EMAIL": "t@example.org",
        "GIT_COMMITTER_NAME": "t",
        "GIT_COMMITTER_EMAIL": "t@example.org",
    }

    def sh(*cmd: str) -> subprocess.CompletedProcess[str]:
        out = subprocess.run(cmd, cwd=isolated, env=env, capture_output=True, text=True, timeout=600)
        assert out.returncode == 0, f"{cmd}: {out.stdout[-2000:]}\n{out.stderr[-2000:]}"
        return out

    shutil.copy(ROOT / "dvc.yaml", isolated / "dvc.yaml")
    (isolated / "hsctl.toml").write_text(DEMO_TOML)
    sh("git", "init", "-q")
    sh("dvc", "init", "-q")
    sh("dvc", "config", "core.analytics", "false")
    sh("dvc", "repro")
    eval_report = json.loads((isolated / "artifacts/reports/eval/eval.json").read_text())
    assert eval_report["n"] > 0 and 0 <= eval_report["macro_f1"] <= 1
    assert (isolated / "artifacts/onnx/dvc/model.onnx").is_file()
    assert (isolated / "dvc.lock").is_file()
    metrics = sh("dvc", "metrics", "show", "--json")
    assert "macro_f1" in metrics.stdout
    status = sh("dvc", "status")  # everything up to date after the run
    assert "changed" not in status.stdout
