"""The prediction-log record: one schema written by serve and read by drift and review; ids that join them."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

from hypothesis import given
from hypothesis import strategies as st

from hsctl.core.predlog_record import SCHEMA_VERSION, PredictionRecord, new_prediction_id
from tests.unit.test_serve_adversity import client, log_records, run


@given(
    when=st.datetimes(timezones=st.just(UTC)),
    prob=st.floats(0, 1),
    text=st.none() | st.text(),
    pid=st.none() | st.text(min_size=1),
)
def test_records_round_trip(when: datetime, prob: float, text: str | None, pid: str | None):
    record = PredictionRecord(time=when, hate_probability=prob, text=text, prediction_id=pid, index=2, threshold=0.4)
    line = json.dumps(record.to_json_dict())
    back, why = PredictionRecord.parse(line)
    assert why is None and back is not None
    assert back.time == when.replace(microsecond=when.microsecond // 1000 * 1000)
    assert (back.hate_probability, back.text, back.prediction_id) == (prob, text, pid)
    assert (back.index, back.threshold, back.schema) == (2, 0.4, SCHEMA_VERSION)


def test_old_records_without_ids_and_bad_optional_fields():
    old, why = PredictionRecord.parse('{"time": "2026-11-01T00:00:00Z", "hate_probability": 0.3, "threshold": 7}')
    assert why is None and old is not None and old.prediction_id is None and old.schema is None
    assert old.threshold is None  # an invalid optional value is dropped, not fatal
    assert PredictionRecord.parse('{"time": "x", "hate_probability": 0.3}') == (None, "invalid time")
    bad_id = '{"time": "2026-11-01", "hate_probability": 0.3, "prediction_id": 5}'
    assert PredictionRecord.parse(bad_id) == (None, "invalid prediction_id")
    assert len({new_prediction_id() for _ in range(100)}) == 100


def test_served_predictions_carry_the_id_that_the_log_holds(quantized_model: Path, tmp_path: Path):
    answered: list[str] = []

    async def main() -> None:
        async with client(quantized_model, tmp_path) as (c, _app):
            one = (await c.post("/predict", json={"text": "hello there"})).json()
            many = (await c.post("/predict", json={"texts": ["first", "second"]})).json()
            body = {"inputs": [{"name": "text", "datatype": "BYTES", "shape": [2], "data": ["v2 one", "v2 two"]}]}
            v2 = (await c.post("/v2/models/hsctl/infer", json=body)).json()
            ids = {o["name"]: o for o in v2["outputs"]}["prediction_id"]
            assert ids["datatype"] == "BYTES" and ids["shape"] == [2]
            answered.extend([one["prediction_id"], *(p["prediction_id"] for p in many["predictions"]), *ids["data"]])

    run(main)
    records = log_records(tmp_path)
    by_id = {r["prediction_id"]: r for r in records}
    assert len(answered) == len(set(answered)) == 5 and set(answered) == set(by_id)
    assert by_id[answered[0]]["text"] == "hello there" and by_id[answered[4]]["text"] == "v2 two"
    assert all(r["schema"] == SCHEMA_VERSION for r in records)
    assert all(PredictionRecord.parse(json.dumps(r))[0] is not None for r in records)


def test_without_a_log_no_ids_are_given(quantized_model: Path, tmp_path: Path):
    async def main() -> None:
        async with client(quantized_model, tmp_path, log_predictions=False) as (c, _app):
            one = (await c.post("/predict", json={"text": "hello there"})).json()
            assert "prediction_id" not in one and one["label"] in {"hate", "non-hate"}
            body = {"inputs": [{"name": "text", "datatype": "BYTES", "shape": [1], "data": ["v2 one"]}]}
            v2 = (await c.post("/v2/models/hsctl/infer", json=body)).json()
            assert [o["name"] for o in v2["outputs"]] == ["label", "hate_probability"]
            meta = (await c.get("/v2/models/hsctl")).json()
            assert "prediction_id" not in {o["name"] for o in meta["outputs"]}

    run(main)


def test_metrics_export_the_rolling_performance_estimate(quantized_model: Path, tmp_path: Path):
    from tests.unit.test_serve_adversity import metric

    async def main() -> None:
        async with client(quantized_model, tmp_path) as (c, _app):
            empty = (await c.get("/metrics")).text
            assert metric(empty, "hsctl_estimated_predictions") == 0
            texts = ["hello there", "you are lovely", "some text", "another one"]
            assert (await c.post("/predict", json={"texts": texts})).status_code == 200
            text = (await c.get("/metrics")).text
            assert metric(text, "hsctl_estimated_predictions") == len(texts)
            for name in ("macro_f1", "precision", "recall", "hate_rate"):
                assert f"hsctl_estimated_{name} " in text
            assert 0 <= metric(text, "hsctl_estimated_hate_rate") <= 1

    run(main)


def test_worker_processes_publish_their_estimate(tmp_path: Path):
    """With PROMETHEUS_MULTIPROC_DIR (serve --workers N) the gauges are refreshed every few hundred predictions."""
    import os
    import subprocess
    import sys

    script = (
        "from hsctl.serve.metrics import ServerMetrics, MULTIPROCESS_REFRESH\n"
        "m = ServerMetrics()\n"
        "m.observe_decisions([0.9] * MULTIPROCESS_REFRESH, 0.5)\n"
        "print(m.render()[0].decode())\n"
    )
    env = {**os.environ, "PROMETHEUS_MULTIPROC_DIR": str(tmp_path)}
    out = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, check=True).stdout
    lines = {line.split(" ")[0]: float(line.split(" ")[1]) for line in out.splitlines() if line.startswith("hsctl_est")}
    assert lines["hsctl_estimated_predictions"] == 200
    assert abs(lines["hsctl_estimated_precision"] - 0.9) < 1e-6 and lines["hsctl_estimated_recall"] == 1.0
