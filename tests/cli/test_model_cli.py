from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
from typer.testing import CliRunner

from hsctl.cli.main import app

runner = CliRunner()


def invoke(*args: str):
    return runner.invoke(app, list(args))


def test_train_help_says_scratch_is_for_smoke_runs():
    out = " ".join(runner.invoke(app, ["train", "--help"], env={"COLUMNS": "300"}).stdout.split())
    assert "scratch" in out and "smoke runs" in out and "--resume" in out


def test_evaluate_json_and_gate(trained_model: Path, tmp_path: Path):
    artifacts = str(trained_model.parents[1])
    ok = invoke("evaluate", "--artifacts", artifacts, "--json", "-o", str(tmp_path / "e"))
    assert ok.exit_code == 0, ok.stderr
    report = json.loads(ok.stdout)
    assert report["n"] > 0 and report["gate_failures"] == []
    gated = invoke("evaluate", "--model", str(trained_model), "--artifacts", artifacts, "--fail-under", "roc_auc=1.1")
    assert gated.exit_code == 3
    assert gated.stderr.strip().startswith("error: gate failed: roc_auc")
    assert "wrote" in gated.stdout  # the report is still written before the gate fails
    bad = invoke("evaluate", "--artifacts", artifacts, "--fail-under", "f3=1")
    assert bad.exit_code == 2


def test_predict_cli_file(trained_model: Path, isolated: Path):
    pd.DataFrame({"text": ["a nice day", ""], "n": [1, 2]}).to_csv("in.csv", index=False)
    out = invoke("predict", "in.csv", "--model", str(trained_model), "--text-column", "text", "-o", "o.jsonl", "--json")
    assert out.exit_code == 0, out.stderr
    summary = json.loads(out.stdout)
    assert summary["scored"] == 1 and summary["bad_rows"] == 1
    rows = [json.loads(line) for line in Path("o.jsonl").read_text().splitlines()]
    assert rows[0]["n"] == "1" and rows[1]["error"] == "empty text"  # CSV cells are kept verbatim
    assert "row(s) have no text" in out.stderr


def test_predict_json_needs_a_file(trained_model: Path):
    out = invoke("predict", "-", "--model", str(trained_model), "--json")
    # Under --json the error is one JSON object on stdout (issue 14), with the usage exit code.
    assert out.exit_code == 2
    error = json.loads(out.stdout)
    assert error["exit_code"] == 2 and "--output FILE" in error["error"]


def test_missing_model_and_data_exit_4(isolated: Path):
    assert invoke("evaluate").exit_code == 4
    missing = invoke("predict", "x.csv", "--model", "nope")
    assert missing.exit_code == 4 and "model folder not found" in missing.stderr
    no_data = invoke("train", "--model", "scratch")
    assert no_data.exit_code == 4 and "run 'hsctl preprocess' first" in no_data.stderr


def test_quantize_cli_errors_and_gate(quantized_model: Path, monkeypatch):
    assert invoke("quantize", "--model", "nope").exit_code == 4
    assert invoke("quantize", "--model", str(quantized_model), "--max-auc-drop", "-1").exit_code == 2
    import hsctl.quantize

    failed = hsctl.quantize.QuantizeResult(
        report=json.loads((quantized_model / "quantize.json").read_text()),
        int8_kept=False,
        gate_failures=["int8 loses 0.2000 validation macro-F1 (more than 0.01); kept the fp32 export only"],
    )
    monkeypatch.setattr(hsctl.quantize, "quantize", lambda *a, **k: failed)
    out = invoke("quantize", "--model", str(quantized_model))
    assert out.exit_code == 3
    assert "kept the fp32 export only" in out.stderr
    assert "max |logit| diff" in out.stdout
    warned = hsctl.quantize.QuantizeResult(
        report=failed.report, int8_kept=False, warnings=["int8 loses 0.2000 validation ROC-AUC: kept fp32 only"]
    )
    monkeypatch.setattr(hsctl.quantize, "quantize", lambda *a, **k: warned)
    out = invoke("quantize", "--model", str(quantized_model))
    assert out.exit_code == 0, out.stderr
    assert "warning: int8 loses 0.2000 validation ROC-AUC" in " ".join(out.stderr.split())
    assert "int8 ROC-AUC drop" in out.stdout


def test_evaluate_and_predict_onnx_backends(quantized_model: Path, isolated: Path):
    artifacts = str(quantized_model.parents[1])
    onnx = invoke("evaluate", "--model", str(quantized_model), "--artifacts", artifacts, "--backend", "onnx", "--json")
    torch = invoke("evaluate", "--model", str(quantized_model), "--artifacts", artifacts, "--json")
    assert onnx.exit_code == 0 and torch.exit_code == 0, onnx.stderr
    assert json.loads(onnx.stdout)["backend"] == "onnx"
    assert abs(json.loads(onnx.stdout)["roc_auc"] - json.loads(torch.stdout)["roc_auc"]) < 1e-6
    pd.DataFrame({"tweet": ["a nice day", "all glorbians are worthless"]}).to_csv("in.csv", index=False)
    out = invoke(
        "predict", "in.csv", "--model", str(quantized_model), "--backend", "onnx-int8", "-o", "o.csv", "--json"
    )
    assert out.exit_code == 0, out.stderr
    assert json.loads(out.stdout)["backend"] == "onnx-int8"
    assert invoke("predict", "in.csv", "--model", str(quantized_model), "--backend", "tf").exit_code == 2


def test_resume_rejects_other_training_flags(isolated: Path):
    out = invoke("train", "--resume", "--epochs", "2")
    assert out.exit_code == 2 and "drop --epochs" in out.stderr


def test_evaluate_model_and_backend_come_from_settings_with_flags_on_top(
    quantized_model: Path, tmp_path: Path, monkeypatch
):
    artifacts = str(quantized_model.parents[1])
    monkeypatch.setenv("HSCTL_EVALUATE__MODEL", str(quantized_model))
    monkeypatch.setenv("HSCTL_EVALUATE__BACKEND", "onnx-int8")
    from_settings = invoke("evaluate", "--artifacts", artifacts, "--json", "-o", str(tmp_path / "a"))
    assert from_settings.exit_code == 0, from_settings.stderr
    report = json.loads(from_settings.stdout)
    assert report["backend"] == "onnx-int8" and report["model"] == str(quantized_model)
    flag = invoke("evaluate", "--artifacts", artifacts, "--backend", "onnx", "--json", "-o", str(tmp_path / "b"))
    assert flag.exit_code == 0, flag.stderr
    assert json.loads(flag.stdout)["backend"] == "onnx"
    monkeypatch.setenv("HSCTL_EVALUATE__BACKEND", "tensorrt")
    bad = invoke("evaluate", "--artifacts", artifacts)
    assert bad.exit_code == 2 and "evaluate.backend" in bad.stderr
