"""``hsctl.core.env``: the bug-report environment, on a full install and without torch or onnxruntime."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from hsctl.core import env
from hsctl.core.io import dumps


def test_full_install_report_has_versions_hardware_and_backends(tmp_path: Path):
    (tmp_path / "hsctl.toml").write_text("[train]\nepochs = 1\n")
    data = env.environment(tmp_path / "hsctl.toml", tmp_path / ".env")
    assert data["hsctl"] and data["python"]["version"].count(".") == 2
    assert data["packages"]["torch"] and data["packages"]["onnxruntime"]
    assert data["torch"]["installed"] and isinstance(data["torch"]["cuda_available"], bool)
    assert data["torch"]["intra_op_threads"] >= 1
    assert "CPUExecutionProvider" in data["onnxruntime"]["providers"]
    assert data["backends"]["torch"] and data["backends"]["onnx"]
    assert data["cpu"]["logical_cpus"] >= 1
    assert data["settings_files"]["config"] == {"path": str(tmp_path / "hsctl.toml"), "exists": True}
    assert data["settings_files"]["env"]["exists"] is False
    json.loads(dumps(data))  # strict JSON


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc/cpuinfo")
def test_cpu_features_come_from_proc_cpuinfo():
    _model, flags = env._cpu_from_proc()
    assert flags, "no flags parsed from /proc/cpuinfo"
    cpu = env.cpu_info()
    assert cpu["features"] is not None and set(cpu["features"]) <= set(env.CPU_FEATURES)
    assert set(cpu["features"]) == flags & set(env.CPU_FEATURES)


def test_secret_values_of_hsctl_variables_are_not_reported(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("HSCTL_SERVE__API_KEY", "s3cret-value")
    data = env.environment(None, None)
    assert data["settings_files"]["hsctl_variables"] == ["HSCTL_SERVE__API_KEY"]
    assert "s3cret-value" not in dumps(data)


def test_serving_only_install_without_torch_and_onnxruntime(monkeypatch: pytest.MonkeyPatch):
    for name in ("torch", "transformers", "onnxruntime"):
        monkeypatch.setitem(sys.modules, name, None)  # import fails, find_spec says "not installed"
    data = env.environment(None, None)
    assert data["torch"] == {"installed": False}
    assert data["onnxruntime"] == {"installed": False}
    assert data["backends"]["torch"] is False and data["backends"]["onnx"] is False


def test_a_library_that_fails_to_import_is_reported_not_raised(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setattr(env, "_installed", lambda module: True)
    monkeypatch.setitem(sys.modules, "onnxruntime", None)
    info = env.onnxruntime_info()
    assert info["installed"] is True and "onnxruntime" in info["error"] and "Error" in info["error"]
