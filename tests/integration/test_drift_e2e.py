"""A real ``hsctl serve`` writes the prediction log; a real ``hsctl drift`` reads it, offline."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from hsctl.core.layout import Layout
from tests.integration.test_serve_process import Server
from tests.unit.test_drift import artifacts_with_data, unshifted_texts

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def test_drift_reads_the_log_that_serve_wrote(trained_model: Path, tmp_path: Path):
    artifacts = artifacts_with_data(trained_model, tmp_path)
    texts = unshifted_texts(240)
    server = Server(trained_model, artifacts)
    try:
        for start in range(0, len(texts), 40):
            response = httpx.post(server.url + "/predict", json={"texts": texts[start : start + 40]}, timeout=60)
            assert response.status_code == 200, response.text
    finally:
        code, err = server.stop()  # SIGTERM flushes the log
    assert code == 0, err
    env = {
        **os.environ,
        "HSCTL_PATHS__ARTIFACTS": str(artifacts),
        "HSCTL_DRIFT__PERMUTATIONS": "200",
        "HF_HUB_OFFLINE": "1",
    }
    out = subprocess.run(
        [sys.executable, "-m", "hsctl", "drift", "--model", str(trained_model), "--json"],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )
    assert out.returncode == 0, out.stderr
    report = json.loads(out.stdout)
    assert report["verdict"]["status"] == "no drift" and report["verdict"]["tests_run"] == 8
    assert report["current"]["kind"] == "log" and report["current"]["rows"] == len(texts)
    assert report["current"]["log"]["model_versions"] == {report["model"]["version"]: len(texts)}
    assert report["encoder"]["kind"] == "base" and report["encoder"]["name"].endswith("all-MiniLM-L6-v2")
    assert (Layout(artifacts).latest_report("drift") / "drift.html").is_file()
