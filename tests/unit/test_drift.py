"""``drift()`` end to end on the scratch model: logs, files, hashed texts, too few rows, the report files."""

from __future__ import annotations

import json
import shutil
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from hsctl.drift import HASHED_REASON, HTML, REPORT, choose_backend, drift, is_prediction_log
from hsctl.errors import ConfigError, DataError
from hsctl.fetch.demo import demo_frame
from hsctl.inference import load_predictor
from hsctl.serve.predlog import text_field
from hsctl.settings import Settings, load_settings
from tests.conftest import make_frame

T0 = datetime(2026, 11, 1, tzinfo=UTC)


def artifacts_with_data(trained_model: Path, root: Path) -> Path:
    """A fresh artifacts folder holding a copy of the scratch model's preprocessed data."""
    artifacts = root / "artifacts"
    shutil.copytree(trained_model.parents[1] / "data" / "processed", artifacts / "data" / "processed")
    return artifacts


def settings_for(artifacts: Path, **drift_settings: object) -> Settings:
    overrides = {"paths.artifacts": str(artifacts), "drift.encoder": "model", "drift.permutations": 200}
    overrides.update({f"drift.{k}": v for k, v in drift_settings.items()})
    return load_settings(overrides).settings


def write_serve_log(directory: Path, model: Path, texts: list[str], mode: str = "text", extra: list[str] = ()) -> Path:
    """Log records as ``hsctl serve`` writes them (see hsctl.serve.app), scored by the model."""
    predictor = load_predictor(model, "torch")
    probs = predictor.predict_proba(texts)
    directory.mkdir(parents=True, exist_ok=True)
    lines = []
    for i, (text, p) in enumerate(zip(texts, probs, strict=True)):
        record = {
            "time": (T0 + timedelta(minutes=i)).isoformat(timespec="milliseconds"),
            "request_id": f"req{i}",
            "index": 0,
            "endpoint": "/predict",
            **text_field(text, mode),
            "hate_probability": round(float(p), 6),
            "label": predictor.info.labels[int(p >= predictor.threshold)],
            "threshold": predictor.threshold,
            "model_version": predictor.model_version,
            "latency_ms": 2.0,
        }
        lines.append(json.dumps(record))
    path = directory / "predictions-20261101T000000-1-0001.jsonl"
    path.write_text("\n".join([*lines, *extra]) + "\n", encoding="utf-8")
    return path


def unshifted_texts(n: int = 300, seed: int = 99) -> list[str]:
    return [t for t in demo_frame(n, seed=seed)["tweet"] if t.strip()]


def shifted_csv(path: Path, n: int = 200) -> Path:
    make_frame(n, hate_every=1).to_csv(path, index=False)  # all hate, every text with a URL and a mention
    return path


def test_no_drift_on_an_unshifted_serve_log(trained_model: Path, tmp_path: Path):
    artifacts = artifacts_with_data(trained_model, tmp_path)
    write_serve_log(artifacts / "predictions", trained_model, unshifted_texts(), extra=["not json", "{}"])
    result = drift(settings_for(artifacts), model=trained_model)
    report = result.report
    assert next(iter(report)) == "verdict" and report["verdict"]["status"] == "no drift", report["tests"]
    assert result.drifted is False and result.output_dir.parent == artifacts / "reports" / "drift"
    assert report["reference"]["source"] == "split:train"
    assert report["reference"]["prediction_source"] == "split:validation"  # held out: scores comparable
    assert report["current"]["kind"] == "log" and report["current"]["prediction_source"] == "log"
    log = report["current"]["log"]
    assert log["bad_lines"] == 1 and log["invalid_records"] == 1 and log["records"] == report["current"]["rows"]
    assert any("not JSON" in w for w in report["warnings"])
    assert report["model"]["backend"] == "torch" and report["encoder"]["kind"] == "model"
    tests = {t["name"]: t for t in report["tests"]}
    assert tests["label"]["skipped"] and "predicted labels only" in tests["label"]["reason"]
    ran = [t for t in report["tests"] if not t["skipped"]]
    assert len(ran) == 8 == report["verdict"]["tests_run"]
    for test in ran:
        assert test["alpha"] == pytest.approx(0.05 / 8) and test["drifted"] is False
        assert test["n_current"] >= 100 and test["p_value"] is not None
    saved = json.loads((result.output_dir / REPORT).read_text())
    assert saved["verdict"] == report["verdict"]
    html = (result.output_dir / HTML).read_text()
    assert html.index("No drift detected") < html.index("Embedding drift: domain classifier")
    assert html.count("data:image/png;base64,") == 8
    assert "<script" not in html and "<link" not in html and "src='http" not in html


def test_drift_on_a_shifted_file(trained_model: Path, tmp_path: Path):
    artifacts = artifacts_with_data(trained_model, tmp_path)
    result = drift(
        settings_for(artifacts),
        model=trained_model,
        current=str(shifted_csv(tmp_path / "shifted.csv")),
        output_dir=tmp_path / "out",
        report_path=tmp_path / "copy" / "drift.html",
    )
    report = result.report
    assert result.drifted is True and report["verdict"]["status"] == "drift"
    drifted = set(report["verdict"]["drifted_tests"])
    assert {"embedding_classifier", "embedding_mmd", "text_length", "placeholders", "label"} <= drifted
    assert report["current"]["prediction_source"] == "scored by the model"
    tests = {t["name"]: t for t in report["tests"]}
    assert tests["label"]["details"]["shares"]["current"]["hate"] == 1.0
    assert tests["embedding_classifier"]["statistic"] > tests["embedding_classifier"]["threshold"]
    assert (tmp_path / "copy" / "drift.html").read_text().startswith("<!doctype html>")
    assert result.html_paths == [tmp_path / "out" / HTML, tmp_path / "copy" / "drift.html"]


def test_hashed_log_runs_only_the_tests_that_need_no_text(trained_model: Path, tmp_path: Path):
    artifacts = artifacts_with_data(trained_model, tmp_path)
    write_serve_log(artifacts / "logs", trained_model, unshifted_texts(), mode="sha256")
    result = drift(settings_for(artifacts), model=trained_model, current=str(artifacts / "logs"))
    tests = {t["name"]: t for t in result.report["tests"]}
    for name in ("embedding_classifier", "embedding_mmd", "text_length", "unknown_words", "placeholders"):
        assert tests[name]["skipped"] and tests[name]["reason"] == HASHED_REASON
    assert not tests["hate_rate"]["skipped"] and not tests["probability"]["skipped"]
    assert result.report["verdict"]["tests_run"] == 2
    assert result.report["current"]["log"]["hashed"] == result.report["current"]["rows"]


def test_too_few_rows_skip_every_test(trained_model: Path, tmp_path: Path):
    artifacts = artifacts_with_data(trained_model, tmp_path)
    texts = unshifted_texts(60)
    write_serve_log(artifacts / "predictions", trained_model, texts)
    result = drift(settings_for(artifacts), model=trained_model, since="2026-11-01T00:30")
    assert result.drifted is None and result.report["verdict"]["status"] == "insufficient data"
    assert result.report["current"]["rows"] == len(texts) - 30  # one record a minute, from 00:30
    assert all(t["skipped"] for t in result.report["tests"])
    assert any("too few current rows" in w for w in result.report["warnings"])
    relaxed = drift(settings_for(artifacts, min_rows=20), model=trained_model, last=25)
    assert relaxed.report["verdict"]["tests_run"] == 8 and relaxed.report["current"]["rows"] == 25


def test_reference_is_cached(trained_model: Path, tmp_path: Path):
    artifacts = artifacts_with_data(trained_model, tmp_path)
    reference = tmp_path / "reference.csv"
    demo_frame(300, seed=5).to_csv(reference, index=False)
    current = tmp_path / "current.csv"
    demo_frame(300, seed=6).to_csv(current, index=False)
    settings = settings_for(artifacts)
    first = drift(settings, model=trained_model, reference=str(reference), current=str(current))
    second = drift(settings, model=trained_model, reference=str(reference), current=str(current))
    assert not first.report["encoder"]["reference_cached"] and second.report["encoder"]["reference_cached"]
    assert second.report["reference"]["prediction_cached"]
    assert first.report["verdict"] == second.report["verdict"]
    assert first.report["reference"]["prediction_source"] == str(reference)
    assert first.report["verdict"]["tests_run"] == 9  # both files have labels
    assert np.isclose(first.report["tests"][0]["statistic"], second.report["tests"][0]["statistic"])


def test_bad_inputs(trained_model: Path, tmp_path: Path):
    artifacts = artifacts_with_data(trained_model, tmp_path)
    settings = settings_for(artifacts)
    with pytest.raises(DataError, match="no prediction log at"):
        drift(settings, model=trained_model)
    bad = artifacts / "predictions"
    bad.mkdir()
    (bad / "predictions-x.jsonl").write_text("garbage\n{}\n")
    with pytest.raises(DataError, match="nothing usable"):
        drift(settings, model=trained_model)
    shifted = str(shifted_csv(tmp_path / "s.csv"))
    with pytest.raises(ConfigError, match="--since and --until filter a prediction log"):
        drift(settings, model=trained_model, current=shifted, since="2026-11-01")
    with pytest.raises(ConfigError, match="ISO date"):
        drift(settings, model=trained_model, current=shifted, until="soon")
    with pytest.raises(ConfigError, match="--since must be before --until"):
        drift(settings, model=trained_model, since="2026-11-02", until="2026-11-01")
    with pytest.raises(DataError, match="no split 'nope'"):
        drift(settings, model=trained_model, reference="nope", current=shifted)
    assert not (artifacts / "reports").exists()


def test_is_prediction_log_and_backend_choice(trained_model: Path, tmp_path: Path):
    log = write_serve_log(tmp_path / "logs", trained_model, ["a text"])
    assert is_prediction_log(str(log)) and is_prediction_log(str(log.parent)) and is_prediction_log("s3://b/p")
    data = tmp_path / "data.jsonl"
    pd.DataFrame({"tweet": ["x"], "label": [0]}).to_json(data, orient="records", lines=True)
    assert not is_prediction_log(str(data)) and not is_prediction_log(str(shifted_csv(tmp_path / "d.csv")))
    assert choose_backend(trained_model, "auto", True, "torch") == "torch"
    assert choose_backend(trained_model, "auto", False, "torch") == "torch"  # no ONNX export
    assert choose_backend(trained_model, "onnx", False, "torch") == "onnx"
    with pytest.raises(ConfigError, match="unknown backend"):
        choose_backend(trained_model, "tpu", False, "torch")


def test_file_with_probabilities_invalid_values_and_other_model_versions(trained_model: Path, tmp_path: Path):
    artifacts = artifacts_with_data(trained_model, tmp_path)
    frame = demo_frame(300, seed=7)
    frame["hate_probability"] = np.linspace(0, 1, len(frame))
    frame.loc[0, "hate_probability"] = 7.0  # invalid: ignored and counted
    frame = frame.astype({"label": str})
    frame.loc[1, "label"] = "maybe"  # outside the label set: ignored and counted
    scored = tmp_path / "scored.parquet"
    frame.to_parquet(scored)
    result = drift(settings_for(artifacts), model=trained_model, current=str(scored))
    report = result.report
    assert report["current"]["prediction_source"] == "file column hate_probability"
    assert report["current"]["invalid_probabilities"] == 1 and report["current"]["invalid_labels"] == 1
    tests = {t["name"]: t for t in report["tests"]}
    assert tests["probability"]["n_current"] == len(frame) - 1 and tests["label"]["n_current"] == len(frame) - 1
    assert tests["probability"]["drifted"]  # uniform scores are not the model's
    warnings = " ".join(report["warnings"])
    assert (
        "1 current row(s) with labels outside" in warnings
        and "1 current row(s) with invalid hate_probability" in warnings
    )
    log = write_serve_log(artifacts / "predictions", trained_model, unshifted_texts())
    log.write_text(log.read_text().replace('"model_version": "tiny@', '"model_version": "older@'))
    other = drift(settings_for(artifacts), model=trained_model)
    assert any("other model versions" in w and "older@" in w for w in other.report["warnings"])
