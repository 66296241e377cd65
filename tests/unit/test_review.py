"""``review``: the export queue (informative, stratified, de-duplicated) and ingest into the feedback store."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import given
from hypothesis import strategies as st

from hsctl.core.layout import Layout
from hsctl.core.predlog_record import PredictionRecord
from hsctl.errors import ConfigError, DataError
from hsctl.review import export_queue, ingest_labels, read_feedback
from hsctl.review.export import duplicate_key
from hsctl.settings import Settings, load_settings

T0 = datetime(2026, 11, 1, tzinfo=UTC)
THRESHOLD = 0.4


def topic(i: int) -> str:
    return f"message {i} about topic {chr(97 + i % 26)}{chr(97 + i // 26 % 26)}"


def write_log(directory: Path, n: int = 600, seed: int = 0) -> list[PredictionRecord]:
    """A log as serve writes it: calibrated-looking probabilities, a few old, hashed and duplicate records."""
    rng = np.random.default_rng(seed)
    records = []
    for i in range(n):
        p = float(rng.beta(0.7, 1.3))
        extra: dict[str, object] = {"text": topic(i)}
        if i % 50 == 7:
            extra = {"text_sha256": "ab" * 32}  # hashed: cannot be reviewed
        if i % 40 == 3:
            extra = {"text": topic(i - 1).upper() + "!! @someone http://t.co/x"}  # a near-duplicate of the one before
        records.append(
            PredictionRecord(
                time=T0 + timedelta(minutes=i),
                hate_probability=round(p, 6),
                prediction_id=None if i % 100 == 5 else f"{i:032x}",
                request_id=f"r{i}",
                index=0,
                endpoint="/predict",
                label="hate" if p >= THRESHOLD else "non-hate",
                threshold=THRESHOLD,
                model_version="tiny@1",
                **extra,  # type: ignore[arg-type]
            )
        )
    directory.mkdir(parents=True, exist_ok=True)
    lines = [json.dumps(r.to_json_dict()) for r in records]
    (directory / "predictions-1-0001.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return records


def settings_at(root: Path) -> Settings:
    return load_settings({"paths.artifacts": str(root / "artifacts")}).settings


@pytest.fixture
def logged(tmp_path: Path) -> tuple[Settings, list[PredictionRecord]]:
    settings = settings_at(tmp_path)
    return settings, write_log(settings.paths.layout.predictions_dir)


def test_duplicate_key_ignores_case_urls_mentions_and_punctuation():
    assert duplicate_key("You are AWFUL!! @bob http://x.io/1") == duplicate_key("you are awful @alice")
    assert duplicate_key("you are awful") != duplicate_key("you are lovely")
    assert duplicate_key("message 1") != duplicate_key("message 2")  # numbered texts are different texts


def test_export_picks_informative_stratified_unique_rows(logged, tmp_path: Path):
    settings, records = logged
    result = export_queue(settings, tmp_path / "queue.csv", size=100)
    queue = pd.read_csv(tmp_path / "queue.csv", keep_default_na=False)
    assert len(queue) == result.rows == 100
    assert list(queue.columns[:6]) == [
        *("prediction_id", "text", "hate_probability", "predicted_label", "threshold", "model_version")
    ]
    distance = (queue["hate_probability"] - queue["threshold"]).abs()
    log_distance = np.mean([abs(r.hate_probability - THRESHOLD) for r in records])
    assert distance.mean() < log_distance / 2 and result.mean_distance_queue < result.mean_distance_log
    assert distance.is_monotonic_increasing  # most informative first
    assert set(queue["predicted_label"]) == {"hate", "non-hate"}  # both sides of the threshold
    windows = queue["reason"].str.extract(r"window (\d)/4")[0].astype(int)
    assert set(windows) == {1, 2, 3, 4}  # every time window contributes
    assert queue["text"].map(duplicate_key).is_unique and result.near_duplicates > 0
    assert result.without_id == 6 and result.without_text > 0 and result.log_records == len(records)
    assert (queue["label"] == "").all() and queue["reason"].str.contains("the threshold").all()


def test_export_formats_follow_the_tools_import_formats(logged, tmp_path: Path):
    settings, _ = logged
    export_queue(settings, tmp_path / "q.jsonl", size=5)
    lines = [json.loads(x) for x in (tmp_path / "q.jsonl").read_text().splitlines()]
    assert len(lines) == 5 and all(x["label"] is None and len(x["prediction_id"]) == 32 for x in lines)
    export_queue(settings, tmp_path / "ls.json", size=5, fmt="label-studio")
    tasks = json.loads((tmp_path / "ls.json").read_text())
    assert all(set(t) == {"data"} and {"text", "prediction_id"} <= set(t["data"]) for t in tasks)
    export_queue(settings, tmp_path / "ar.json", size=5, fmt="argilla")
    records = json.loads((tmp_path / "ar.json").read_text())
    first = records[0]
    assert set(first) == {"id", "fields", "metadata", "suggestions"} and set(first["fields"]) == {"text"}
    assert first["suggestions"]["label"]["value"] in {"hate", "non-hate"} and first["id"] == lines[0]["prediction_id"]
    with pytest.raises(ConfigError, match="unknown format"):
        export_queue(settings, tmp_path / "x", fmt="xml")
    with pytest.raises(ConfigError, match="--size"):
        export_queue(settings, tmp_path / "x", size=0)


def test_export_of_a_log_with_nothing_reviewable_is_a_data_error(tmp_path: Path):
    settings = settings_at(tmp_path)
    log = settings.paths.layout.predictions_dir
    log.mkdir(parents=True)
    (log / "predictions-old.jsonl").write_text('{"time": "2026-11-01T00:00:00Z", "hate_probability": 0.3}\n')
    with pytest.raises(DataError, match="1 without a prediction_id"):
        export_queue(settings, tmp_path / "q.csv")
    assert not (tmp_path / "q.csv").exists()
    (log / "predictions-new.jsonl").write_text(
        '{"time": "2026-11-02T00:00:00Z", "hate_probability": 0.3, "prediction_id": "p1", "text": "hi"}\n'
    )
    result = export_queue(settings, tmp_path / "q.csv")
    assert result.rows == 1 and "2 record(s) without a logged threshold: judged at 0.5" in result.warnings


def labels_csv(path: Path, rows: list[tuple[object, object]]) -> Path:
    pd.DataFrame(rows, columns=["prediction_id", "label"]).to_csv(path, index=False)
    return path


def test_ingest_joins_labels_and_is_idempotent(logged, tmp_path: Path):
    settings, records = logged
    export_queue(settings, tmp_path / "queue.csv", size=50)
    queue = pd.read_csv(tmp_path / "queue.csv", keep_default_na=False)
    queue["label"] = ["hate" if i % 3 == 0 else 0 for i in range(len(queue))]
    queue.loc[len(queue) - 1, "label"] = ""  # not reviewed yet
    queue.to_csv(tmp_path / "reviewed.csv", index=False)
    first = ingest_labels(settings, tmp_path / "reviewed.csv")
    assert (first.new, first.not_reviewed, first.already_stored) == (49, 1, 0) and first.part is not None
    store = read_feedback(settings.paths.layout)
    assert len(store) == 49 and set(store["label"]) == {0, 1}
    by_id = {r.prediction_id: r for r in records}
    row = store.iloc[0]
    assert row["text"] == by_id[row["prediction_id"]].text and row["hate_probability"] == pytest.approx(
        by_id[row["prediction_id"]].hate_probability
    )
    parts = sorted(settings.paths.layout.feedback_dir.iterdir())
    again = ingest_labels(settings, tmp_path / "reviewed.csv")
    assert (again.new, again.already_stored, again.part) == (0, 49, None)
    assert sorted(settings.paths.layout.feedback_dir.iterdir()) == parts  # nothing written
    # Reviewed rows are not offered again.
    requeued = export_queue(settings, tmp_path / "again.csv", size=50)
    assert requeued.already_reviewed >= 49
    assert not set(pd.read_csv(tmp_path / "again.csv")["prediction_id"]) & set(store["prediction_id"])


def test_ingest_errors_name_rows_and_write_nothing(logged, tmp_path: Path):
    settings, records = logged
    a, b, c = (r.prediction_id for r in records[:3])
    bad = labels_csv(
        tmp_path / "bad.csv",
        [(a, 1), ("nope", 0), (b, "maybe"), (c, 1), (c, 0), ("", 1), (records[10].prediction_id, 2)],
    )
    with pytest.raises(DataError) as err:
        ingest_labels(settings, bad)
    message = str(err.value)
    assert "row 3: invalid label" in message and "row 5: conflicting labels" in message
    assert "row 6: missing prediction_id" in message and "row 7: invalid label" in message
    assert "row 2: unknown prediction_id" in message
    assert not settings.paths.layout.feedback_dir.exists()
    ingest_labels(settings, labels_csv(tmp_path / "ok.csv", [(a, 1)]))
    with pytest.raises(DataError, match=r"row 1: label differs .* --relabel"):
        ingest_labels(settings, labels_csv(tmp_path / "flip.csv", [(a, 0)]))
    flipped = ingest_labels(settings, tmp_path / "flip.csv", relabel=True)
    assert flipped.relabelled == 1 and read_feedback(settings.paths.layout).set_index("prediction_id")["label"][a] == 0
    with pytest.raises(DataError, match="no such file"):
        ingest_labels(settings, tmp_path / "missing.csv")
    (tmp_path / "noid.csv").write_text("id,label\n1,1\n")
    with pytest.raises(DataError, match="no prediction_id"):
        ingest_labels(settings, tmp_path / "noid.csv")


def test_ingest_reads_label_studio_and_argilla_exports(logged, tmp_path: Path):
    settings, records = logged
    ids = [r.prediction_id for r in records[10:16]]

    def choice(value: str, cancelled: bool = False) -> dict[str, object]:
        result = [{"from_name": "label", "to_name": "text", "type": "choices", "value": {"choices": [value]}}]
        return {"result": result, "was_cancelled": cancelled}

    studio = [
        {"id": 1, "data": {"prediction_id": ids[0], "text": "x"}, "annotations": [choice("hate")]},
        {"id": 2, "data": {"prediction_id": ids[1]}, "annotations": [choice("non-hate"), choice("hate", True)]},
        {"id": 3, "data": {"prediction_id": ids[2]}, "annotations": []},
    ]
    (tmp_path / "ls.json").write_text(json.dumps(studio))
    result = ingest_labels(settings, tmp_path / "ls.json")
    assert (result.new, result.not_reviewed) == (2, 1)
    argilla = [
        {"id": ids[3], "fields": {"text": "x"}, "responses": {"label": [{"value": "hate", "status": "submitted"}]}},
        {"id": ids[4], "fields": {"text": "y"}, "responses": {"label": [{"value": "hate", "status": "draft"}]}},
    ]
    (tmp_path / "ar.json").write_text(json.dumps(argilla))
    assert ingest_labels(settings, tmp_path / "ar.json").new == 1
    flat = [{"id": ids[5], "text": "z", "label.responses": ["non-hate", "non-hate"]}]
    (tmp_path / "flat.jsonl").write_text(json.dumps(flat[0]) + "\n")
    assert ingest_labels(settings, tmp_path / "flat.jsonl").new == 1
    store = read_feedback(settings.paths.layout).set_index("prediction_id")["label"]
    assert store.to_dict() == {ids[0]: 1, ids[1]: 0, ids[3]: 1, ids[5]: 0}
    disagree = [{"id": 9, "data": {"prediction_id": ids[2]}, "annotations": [choice("hate"), choice("non-hate")]}]
    (tmp_path / "disagree.json").write_text(json.dumps(disagree))
    with pytest.raises(DataError, match="row 1: annotators disagree"):
        ingest_labels(settings, tmp_path / "disagree.json")


def test_the_store_is_append_only_parquet_under_the_artifacts(logged, tmp_path: Path):
    settings, records = logged
    layout = Layout(settings.paths.artifacts)
    ingest_labels(settings, labels_csv(tmp_path / "a.csv", [(records[0].prediction_id, 1)]))
    ingest_labels(settings, labels_csv(tmp_path / "b.csv", [(records[1].prediction_id, 0)]))
    parts = sorted(layout.feedback_dir.glob("feedback-*.parquet"))
    assert len(parts) == 2 and len(pd.read_parquet(parts[0])) == 1
    assert not list(layout.feedback_dir.glob(".*"))  # no temporary file left behind


def test_labels_join_through_the_exported_queue_once_the_log_is_gone(logged, tmp_path: Path):
    settings, _ = logged
    export_queue(settings, tmp_path / "queue.csv", size=10)
    queue = pd.read_csv(tmp_path / "queue.csv", keep_default_na=False)
    labels = labels_csv(tmp_path / "labels.csv", [(pid, 1) for pid in queue["prediction_id"]])
    for path in settings.paths.layout.predictions_dir.iterdir():
        path.unlink()  # the log rotated away before the labels came back
    settings.paths.layout.predictions_dir.rmdir()
    result = ingest_labels(settings, labels)
    assert result.new == 10
    store = read_feedback(settings.paths.layout).set_index("prediction_id")
    assert store.loc[queue["prediction_id"][0], "text"] == queue["text"][0]
    assert store.loc[queue["prediction_id"][0], "hate_probability"] == pytest.approx(queue["hate_probability"][0])


def test_without_a_log_or_an_export_ingest_is_a_data_error(tmp_path: Path):
    settings = settings_at(tmp_path)
    with pytest.raises(DataError, match="no prediction log"):
        ingest_labels(settings, labels_csv(tmp_path / "l.csv", [("a" * 32, 1)]))


@given(st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=True), st.text(max_size=12)))
def test_parse_label_never_raises_and_accepts_only_two_values(value: object):
    from hsctl.review.ingest import parse_label

    out = parse_label(value)
    assert out is None or out in (0, 1) or isinstance(out, ValueError)


def test_a_log_spanning_two_models_gives_both_a_share(tmp_path: Path):
    settings = settings_at(tmp_path)
    log = settings.paths.layout.predictions_dir
    records = write_log(log, n=400)
    lines = []
    for r in records:  # the newest tenth of the traffic comes from a second model, far from its threshold
        data = r.to_json_dict()
        if r.time >= records[360].time:
            data.update(model_version="tiny@2", hate_probability=0.99)
        lines.append(json.dumps(data))
    (log / "predictions-1-0001.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
    export_queue(settings, tmp_path / "q.csv", size=40)
    queue = pd.read_csv(tmp_path / "q.csv", keep_default_na=False)
    assert "tiny@2" in set(queue["model_version"])  # a share of the queue despite being far from the threshold


def test_unwritable_outputs_are_one_line_errors(logged, tmp_path: Path):
    from hsctl.errors import HsctlError

    settings, records = logged
    with pytest.raises(ConfigError, match="is a directory"):
        export_queue(settings, tmp_path, size=5)
    settings.paths.layout.feedback_dir.parent.mkdir(parents=True, exist_ok=True)
    settings.paths.layout.feedback_dir.write_text("not a folder")
    with pytest.raises(HsctlError, match="cannot write the feedback store"):
        ingest_labels(settings, labels_csv(tmp_path / "l.csv", [(records[0].prediction_id, 1)]))
    assert settings.paths.layout.feedback_dir.read_text() == "not a folder"
