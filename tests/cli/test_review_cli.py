"""The loop on the scratch model: serve-style log -> review export -> ingest -> drift's performance section."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.metrics import f1_score
from typer.testing import CliRunner

from hsctl.cli.main import app
from hsctl.core.predlog_record import PredictionRecord, new_prediction_id
from hsctl.fetch.demo import demo_frame
from hsctl.inference import load_predictor
from tests.unit.test_drift import artifacts_with_data

runner = CliRunner()
ENV = {"HSCTL_DRIFT__ENCODER": "model", "HSCTL_DRIFT__PERMUTATIONS": "200", "COLUMNS": "200"}
T0 = datetime(2026, 11, 1, tzinfo=UTC)


def write_log(directory: Path, model: Path, n: int = 400) -> pd.DataFrame:
    """Records as serve writes them (one schema), and the true labels of their texts."""
    frame = demo_frame(n, seed=7)
    frame = frame[frame["tweet"].str.strip() != ""].reset_index(drop=True)
    predictor = load_predictor(model, "torch")
    probs = predictor.predict_proba(frame["tweet"].tolist())
    ids = [new_prediction_id() for _ in probs]
    lines = [
        json.dumps(
            PredictionRecord(
                time=T0 + timedelta(minutes=i),
                prediction_id=pid,
                text=text,
                hate_probability=round(float(p), 6),
                label=predictor.info.labels[int(p >= predictor.threshold)],
                threshold=predictor.threshold,
                model_version=predictor.model_version,
            ).to_json_dict()
        )
        for i, (text, p, pid) in enumerate(zip(frame["tweet"], probs, ids, strict=True))
    ]
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "traffic.jsonl").write_text("{torn line\n" + "\n".join(lines) + "\n", encoding="utf-8")
    return pd.DataFrame({"prediction_id": ids, "label": frame["label"], "p": probs, "threshold": predictor.threshold})


def invoke(*args: str):
    return runner.invoke(app, list(args), env=ENV)


def test_export_ingest_and_realized_performance(trained_model: Path, tmp_path: Path):
    artifacts = artifacts_with_data(trained_model, tmp_path)
    truth = write_log(tmp_path / "log", trained_model)
    log = str(tmp_path / "log" / "traffic.jsonl")  # a file whose first line is torn (issue 26)
    common = ("--artifacts", str(artifacts))
    exported = invoke("review", "export", "--current", log, "--size", "100", "-o", str(tmp_path / "queue.csv"), *common)
    assert exported.exit_code == 0, exported.stderr
    queue = pd.read_csv(tmp_path / "queue.csv", keep_default_na=False)
    assert len(queue) == 100 and {"prediction_id", "text", "hate_probability"} <= set(queue.columns)
    assert (queue["hate_probability"] - queue["threshold"]).abs().mean() < (
        truth["p"] - truth["threshold"]
    ).abs().mean()

    before = invoke("drift", "--current", log, "--model", str(trained_model), "--json", *common)
    assert before.exit_code in (0, 3), before.stderr
    perf = json.loads(before.stdout)["performance"]
    assert perf["realized"] is None and perf["estimated"]["n"] == len(truth)
    assert 0 <= perf["estimated"]["macro_f1"] <= 1 and len(perf["windows"]) == 4

    labels = truth.set_index("prediction_id").loc[queue["prediction_id"], ["label"]].reset_index()
    labels.to_csv(tmp_path / "labels.csv", index=False)
    ingested = invoke("review", "ingest", str(tmp_path / "labels.csv"), "--current", log, "--json", *common)
    assert ingested.exit_code == 0, ingested.stderr
    assert json.loads(ingested.stdout)["new"] == 100
    again = invoke("review", "ingest", str(tmp_path / "labels.csv"), "--current", log, *common)
    assert again.exit_code == 0 and "0 new label(s)" in again.stdout

    after = invoke("drift", "--current", log, "--model", str(trained_model), "--json", *common)
    report = json.loads(after.stdout)
    real = report["performance"]["realized"]
    rows = truth.set_index("prediction_id").loc[queue["prediction_id"]]
    expected = f1_score(rows["label"], (rows["p"] >= rows["threshold"]).astype(int), average="macro")
    assert real["n"] == 100 and abs(real["macro_f1"] - expected) < 0.01
    assert report["performance"]["estimated_on_labelled"]["n"] == 100
    out_dir = Path(report["output_dir"])
    assert "realized, labelled rows" in (out_dir / "drift.md").read_text()
    assert "Performance at the deployed threshold" in (out_dir / "drift.html").read_text()
    table = invoke("drift", "--current", log, "--model", str(trained_model), *common)
    assert "realized, labelled rows" in table.stdout and "estimated, window 4" in table.stdout


def test_bad_review_input_exits_with_documented_codes(trained_model: Path, tmp_path: Path):
    artifacts = artifacts_with_data(trained_model, tmp_path)
    truth = write_log(tmp_path / "log", trained_model, n=60)
    log = str(tmp_path / "log" / "traffic.jsonl")
    common = ("--artifacts", str(artifacts), "--current", log)
    pd.DataFrame({"prediction_id": [truth["prediction_id"][0], "unknown"], "label": ["hate", "1"]}).to_csv(
        tmp_path / "bad.csv", index=False
    )
    bad = invoke("review", "ingest", str(tmp_path / "bad.csv"), *common, "--json")
    assert bad.exit_code == 4 and "row 2: unknown prediction_id" in json.loads(bad.stdout)["error"]
    assert not (artifacts / "feedback").exists()
    usage = invoke("review", "export", "-o", str(tmp_path / "q.csv"), "--format", "xml", *common)
    assert usage.exit_code == 2 and "unknown format" in usage.stderr
    missing = invoke("review", "export", "-o", str(tmp_path / "q.csv"), "--artifacts", str(artifacts))
    assert missing.exit_code == 4 and "no prediction log" in missing.stderr
    assert np.isfinite(truth["p"]).all()
