"""``dvc init && dvc repro`` in a fresh ``git clone`` of the repository, offline on the demo data.

The clone is what a new user (and CI) has: it catches what a copied dvc.yaml would not, such as a
git-ignored dvc.lock. In development the working tree may be ahead of HEAD, so the files DVC reads
(dvc.yaml, .gitignore, .dvcignore) are copied over the clone; in CI they are the same files.
"""

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
max_auc_drop = 1.0
[tracking]
backend = "none"
"""


DVC_FILES = ("dvc.yaml", ".gitignore", ".dvcignore")


@pytest.mark.skipif(shutil.which("dvc", path=str(Path(sys.executable).parent)) is None, reason="dvc not installed")
@pytest.mark.skipif(shutil.which("git") is None, reason="git not installed")
@pytest.mark.skipif(not (ROOT / ".git").exists(), reason="not a git checkout (e.g. an unpacked sdist)")
def test_dvc_repro_in_a_fresh_clone(isolated: Path):
    env = {
        **os.environ,
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
        "DVC_NO_ANALYTICS": "1",
        "GIT_AUTHOR_NAME": "t",
        "GIT_AUTHOR_EMAIL": "t@example.org",
        "GIT_COMMITTER_NAME": "t",
        "GIT_COMMITTER_EMAIL": "t@example.org",
    }

    clone = isolated / "clone"

    def sh(*cmd: str, cwd: Path = clone) -> subprocess.CompletedProcess[str]:
        out = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=600)
        assert out.returncode == 0, f"{cmd}: {out.stdout[-2000:]}\n{out.stderr[-2000:]}"
        return out

    sh("git", "clone", "-q", str(ROOT), str(clone), cwd=isolated)
    for name in DVC_FILES:  # uncommitted edits of the files DVC reads (none in CI's clean clone)
        if (ROOT / name).is_file():
            shutil.copy(ROOT / name, clone / name)
    (clone / "hsctl.toml").write_text(DEMO_TOML)  # offline: the demo set and the scratch model
    sh("dvc", "init", "-q")
    sh("dvc", "config", "core.analytics", "false")
    sh("dvc", "repro")
    eval_report = json.loads((clone / "artifacts/reports/eval/eval.json").read_text())
    assert eval_report["n"] > 0 and 0 <= eval_report["macro_f1"] <= 1
    assert (clone / "artifacts/onnx/dvc/model.onnx").is_file()
    assert (clone / "dvc.lock").is_file()
    # dvc.lock is meant to be committed: git must see it, not ignore it.
    assert "?? dvc.lock" in sh("git", "status", "--porcelain", "--untracked-files=all").stdout.splitlines()
    metrics = sh("dvc", "metrics", "show", "--json")
    assert "macro_f1" in metrics.stdout
    status = sh("dvc", "status")  # everything up to date after the run
    assert "changed" not in status.stdout
