"""``hsctl loadtest --spawn-server`` against a real ``hsctl serve --onnx`` on loopback."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from hsctl.core.layout import Layout

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def hsctl(*args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("HSCTL_")}
    return subprocess.run(
        [sys.executable, "-m", "hsctl", *args], capture_output=True, text=True, env=env, timeout=timeout
    )


def test_spawn_server_reports_client_and_server_figures(quantized_model: Path, tmp_path: Path):
    artifacts = tmp_path / "artifacts"
    out = hsctl(
        "loadtest", "--spawn-server", "--onnx", "--model", str(quantized_model), "--artifacts", str(artifacts),
        "--duration", "3s", "--warmup", "1s", "--users", "4", "--slo", "p99<5s,error_rate<1%", "--json",
    )  # fmt: skip
    assert out.returncode == 0, out.stderr
    report = json.loads(out.stdout)
    client, server = report["client"], report["server"]
    assert report["target"]["spawned_server"] and report["target"]["url"].startswith("http://127.0.0.1:")
    assert client["requests"] > 10 and client["failures"] == 0 and report["slo"]["passed"]
    # The server counted the same measured window, give or take the requests in flight at its edges and
    # those answered while the /metrics scrapes at the edges waited their turn (more on a busy machine).
    assert server["requests"] == pytest.approx(client["requests"], abs=max(2 * 4 + 2, 0.03 * client["requests"]))
    assert server["errors"] == 0 and server["requests_by_status"].keys() == {"200"}
    assert server["batch_size_mean"] >= 1 and server["latency_ms"]["p50"] > 0
    assert server["model"]["backend"] == "onnx-int8"
    assert report["server_exit_code"] == 0  # stopped gracefully with SIGTERM
    assert (Layout(artifacts).latest_report("loadtest") / "loadtest.png").is_file()
    assert not (artifacts / "predictions").exists()  # synthetic load stays out of the prediction log


def test_spawn_server_with_a_missing_model_exits_4_before_starting(tmp_path: Path):
    out = hsctl("loadtest", "--spawn-server", "--model", str(tmp_path / "nope"), "--duration", "1s")
    assert out.returncode == 4
    lines = out.stderr.strip().splitlines()
    assert lines[-1].startswith("error: model folder not found") and "Traceback" not in out.stderr


def test_spawn_server_that_never_gets_ready_exits_5(tmp_path: Path, quantized_model: Path):
    import shutil

    broken = tmp_path / "broken"
    shutil.copytree(quantized_model, broken)
    (broken / "onnx" / "model.int8.onnx").write_bytes(b"not an onnx file")
    out = hsctl("loadtest", "--spawn-server", "--onnx", "--model", str(broken), "--duration", "1s")
    assert out.returncode == 5, out.stderr
    lines = out.stderr.strip().splitlines()
    assert "Traceback" not in out.stderr
    assert "hsctl serve exited with code 1 before it was ready" in lines[-1]
