from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from hsctl.errors import DataError, HsctlError
from hsctl.inference import load_predictor
from hsctl.quantize import REPORT, quantize
from hsctl.settings import load_settings


def copy_model(model: Path, tmp_path: Path) -> tuple[Path, object]:
    artifacts = tmp_path / "artifacts"
    shutil.copytree(model.parents[1] / "data", artifacts / "data")
    target = artifacts / "models" / model.name
    shutil.copytree(model, target, ignore=shutil.ignore_patterns("onnx", REPORT))
    return target, load_settings({"paths.artifacts": str(artifacts)}).settings


def test_quantized_folder_and_report(quantized_model: Path):
    onnx = quantized_model / "onnx"
    assert {"model.onnx", "model.int8.onnx", "tokenizer.json", "config.json", "hsctl.json", REPORT} <= {
        p.name for p in onnx.iterdir()
    }
    report = json.loads((quantized_model / REPORT).read_text())
    assert report["exporter"] == "optimum"
    assert report["verification"]["max_abs_logit_diff_fp32"] <= 1e-4
    assert set(report["verification"]["macro_f1"]) == {"torch", "onnx", "onnx-int8"}
    assert report["int8_kept"] is True
    assert {"avx2", "avx512", "vnni"} <= set(report["cpu"])
    assert report["file_size_bytes"]["model.int8.onnx"] < report["file_size_bytes"]["model.onnx"]


def test_backends_agree(quantized_model: Path):
    texts = ["hello there", "all glorbians are worthless", "the weather in port blorb is lovely today", "x"]
    torch_logits = load_predictor(quantized_model, "torch").logits(texts)
    onnx_logits = load_predictor(quantized_model, "onnx").logits(texts)
    assert np.max(np.abs(torch_logits - onnx_logits)) <= 1e-4
    int8 = load_predictor(quantized_model, "onnx-int8").predict(texts)
    assert len(int8) == 4 and {p.label for p in int8} <= {"hate", "non-hate"}


def failing_gate(monkeypatch: pytest.MonkeyPatch) -> None:
    """Make the gate reject int8 whatever it measured (its arithmetic is tested in test_quantize_gate)."""
    import hsctl.quantize.gate as gate_module

    real = gate_module.int8_gate

    def gate(*args: object, **kwargs: object) -> object:
        result = real(*args, **kwargs)
        result.failures.append("int8 loses 0.0500 validation ROC-AUC (test)")
        return result

    monkeypatch.setattr(gate_module, "int8_gate", gate)


def test_rejected_int8_keeps_fp32_only_with_a_warning(trained_model: Path, tmp_path: Path, monkeypatch):
    model, settings = copy_model(trained_model, tmp_path)
    failing_gate(monkeypatch)
    result = quantize(settings, model=model, measure=True)
    assert not result.int8_kept and not result.gate_failures
    assert "kept the fp32 ONNX export only" in result.warnings[0] and "ROC-AUC" in result.warnings[0]
    assert (model / "onnx" / "model.onnx").is_file()
    assert not (model / "onnx" / "model.int8.onnx").exists()
    latency = result.report["latency"]
    assert set(latency) == {"torch", "onnx", "onnx-int8"} and set(latency["onnx"]) == {"1", "8", "32"}
    assert result.report["speedup_vs_torch"]["onnx"]["1"] > 0
    with pytest.raises(DataError, match="no int8 ONNX model"):
        load_predictor(model, "onnx-int8")
    # the fp32 export still serves the --onnx route
    assert load_predictor(model, "onnx").predict(["hello"])[0].label in {"hate", "non-hate"}


def test_strict_makes_a_rejected_int8_a_gate_failure(trained_model: Path, tmp_path: Path, monkeypatch):
    model, settings = copy_model(trained_model, tmp_path)
    failing_gate(monkeypatch)
    settings.export.strict = True
    result = quantize(settings, model=model, measure=False)
    assert not result.int8_kept and result.gate_failures and not result.warnings
    assert "kept the fp32 ONNX export only" in result.gate_failures[0]


def test_gate_compares_one_probability_path(trained_model: Path, tmp_path: Path, monkeypatch):
    """An int8 file identical to fp32 must score identically: every backend goes through the same path."""
    import hsctl.quantize.export as export_module

    def copy_fp32(src: Path, dst: Path, **_: object) -> list[str]:
        shutil.copyfile(src, dst)
        return []

    monkeypatch.setattr(export_module, "quantize_int8", copy_fp32)
    model, settings = copy_model(trained_model, tmp_path)
    card = json.loads((model / "hsctl.json").read_text())
    assert card["target_prior"] and card["validation_prior"] != card["target_prior"]  # a prior shift applies
    result = quantize(settings, model=model, measure=False)
    ver = result.report["verification"]
    gate = ver["int8_gate"]
    assert gate["agreement"] == 1.0 and abs(gate["auc_drop"]) < 1e-9
    assert ver["macro_f1"]["torch"] == pytest.approx(ver["macro_f1"]["onnx-int8"], abs=1e-9)
    assert ver["roc_auc"]["onnx"] == pytest.approx(ver["roc_auc"]["torch"], abs=1e-6)
    assert result.int8_kept


def test_logit_mismatch_fails_and_writes_nothing(trained_model: Path, tmp_path: Path):
    model, settings = copy_model(trained_model, tmp_path)
    settings.export.max_logit_diff = 1e-30
    with pytest.raises(HsctlError, match="differ from PyTorch"):
        quantize(settings, model=model, measure=False)
    assert not (model / "onnx").exists() and not (model / REPORT).exists()
    assert sorted(p.name for p in model.parent.iterdir()) == [model.name]  # no temp folders left


def test_bad_model_folders(trained_model: Path, tmp_path: Path):
    model, settings = copy_model(trained_model, tmp_path)
    with pytest.raises(DataError, match="model folder not found"):
        quantize(settings, model=tmp_path / "missing")
    (model / "model.safetensors").unlink()
    with pytest.raises(DataError, match="incomplete model folder"):
        quantize(settings, model=model)


def test_onnx_backend_imports_no_torch(quantized_model: Path):
    code = (
        "import sys\n"
        "from hsctl.inference import load_predictor\n"
        f"p = load_predictor({str(quantized_model)!r}, 'onnx-int8')\n"
        "p.predict(['hello world'])\n"
        "print([m for m in ('torch', 'transformers') if m in sys.modules])\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"


def test_onnx_export_folder_is_self_contained(quantized_model: Path):
    preds = load_predictor(quantized_model / "onnx", "onnx").predict(["hello"])
    assert preds[0].label in {"hate", "non-hate"}
