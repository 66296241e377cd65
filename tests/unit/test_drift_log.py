"""Reading the prediction log: record parsing, time windows, and bad input counted rather than fatal."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from hsctl.drift.log import LogRecord, parse_record, parse_when, read_prediction_log
from hsctl.errors import ConfigError, DataError

T0 = datetime(2026, 11, 1, tzinfo=UTC)


def record(i: int, **extra: object) -> dict[str, object]:
    base: dict[str, object] = {
        "time": (T0 + timedelta(hours=i)).isoformat(timespec="milliseconds"),
        "request_id": f"r{i}",
        "index": 0,
        "endpoint": "/predict",
        "text": f"text number {i}",
        "hate_probability": (i % 10) / 10,
        "label": "non-hate",
        "threshold": 0.5,
        "model_version": "m@1",
        "latency_ms": 1.5,
    }
    base.update(extra)
    return base


def write_log(path: Path, lines: list[object]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join((x if isinstance(x, str) else json.dumps(x)) + "\n" for x in lines), encoding="utf-8")
    return path


def test_parse_record_fields():
    rec, why = parse_record(json.dumps(record(3)))
    assert why is None and isinstance(rec, LogRecord)
    assert rec.time == T0 + timedelta(hours=3) and rec.hate_probability == 0.3 and rec.text == "text number 3"
    hashed, _ = parse_record(json.dumps({**record(1, text_sha256="ab" * 32), "text": None}))
    assert hashed is not None and hashed.text is None and hashed.text_sha256 == "ab" * 32
    naive, _ = parse_record(json.dumps(record(0, time="2026-11-01T00:00:00")))
    assert naive is not None and naive.time == T0
    zulu, _ = parse_record(b'{"time": "2026-11-01T01:00:00Z", "hate_probability": 1}')
    assert zulu is not None and zulu.time == T0 + timedelta(hours=1) and zulu.text is None


@pytest.mark.parametrize(
    ("line", "reason"),
    [
        ("not json", "not JSON"),
        ("[1, 2]", "not JSON"),
        (b"\xff\xfe{", "not JSON"),
        (json.dumps({"hate_probability": 0.2}), "missing time"),
        (json.dumps({"time": 5, "hate_probability": 0.2}), "invalid time"),
        (json.dumps({"time": "yesterday", "hate_probability": 0.2}), "invalid time"),
        (json.dumps({"time": "2026-11-01T00:00:00Z"}), "missing hate_probability"),
        (json.dumps({"time": "2026-11-01T00:00:00Z", "hate_probability": 1.5}), "invalid hate_probability"),
        (json.dumps({"time": "2026-11-01T00:00:00Z", "hate_probability": True}), "invalid hate_probability"),
        (json.dumps({"time": "2026-11-01T00:00:00Z", "hate_probability": "0.5"}), "invalid hate_probability"),
        (json.dumps({"time": "2026-11-01T00:00:00Z", "hate_probability": 0.5, "text": 7}), "invalid text"),
    ],
)
def test_parse_record_rejects(line: str | bytes, reason: str):
    assert parse_record(line) == (None, reason)


@given(st.one_of(st.text(), st.binary()))
def test_parse_record_never_raises(line: str | bytes):
    rec, why = parse_record(line)
    assert (rec is None) != (why is None)


@given(
    st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2100, 1, 1), timezones=st.just(UTC)),
    st.floats(min_value=0, max_value=1),
    st.one_of(st.none(), st.text()),
)
def test_parse_record_round_trips(when: datetime, prob: float, text: str | None):
    line = json.dumps({"time": when.isoformat(), "hate_probability": prob, "text": text, "model_version": "v"})
    rec, why = parse_record(line)
    assert why is None and rec == LogRecord(time=when, hate_probability=prob, text=text, model_version="v")


def test_parse_when():
    assert parse_when("2026-11-01") == T0
    assert parse_when("2026-11-01", end=True) == T0 + timedelta(days=1)  # a date alone includes that day
    assert parse_when("2026-11-01T02:00:00+02:00") == T0
    assert parse_when("2026-11-01T05:30", end=True) == T0 + timedelta(hours=5, minutes=30)
    with pytest.raises(ConfigError, match="ISO date"):
        parse_when("last tuesday")


def test_read_log_counts_bad_input_and_analyses_the_rest(tmp_path: Path):
    logs = tmp_path / "predictions"
    write_log(logs / "predictions-20261101T000000-1-0001.jsonl", [record(i) for i in range(5)] + ["{oops"])
    write_log(
        logs / "predictions-20261101T000000-1-0002.jsonl",
        [record(5), {"time": "2026-11-01T00:00:00Z"}, record(6, hate_probability=-1), "", record(7)],
    )
    (logs / "predictions-broken.jsonl").mkdir()  # listed, but cannot be read as a file
    (logs / "notes.txt").write_text("ignored")
    frame, stats = read_prediction_log(str(logs))
    assert len(frame) == 7 and stats.records == 7 and stats.files == 3
    assert stats.bad_lines == 1 and stats.invalid_records == 2 and stats.lines == 10
    assert stats.invalid_reasons == {"missing hate_probability": 1, "invalid hate_probability": 1}
    assert len(stats.unreadable_files) == 1 and "predictions-broken.jsonl" in stats.unreadable_files[0]
    assert list(frame.columns) == [
        *("time", "text", "text_sha256", "hate_probability", "model_version"),
        *("prediction_id", "predicted_label", "threshold"),
    ]
    assert frame["time"].is_monotonic_increasing and stats.model_versions == {"m@1": 7}
    problems = " ".join(stats.problems())
    assert "1 unreadable" in problems and "1 log line" in problems and "2 log record" in problems


def test_read_log_window_and_last(tmp_path: Path):
    logs = write_log(tmp_path / "p" / "predictions-a.jsonl", [record(i) for i in range(48)])  # two days, hourly
    day2, stats = read_prediction_log(str(logs.parent), since=parse_when("2026-11-02"))
    assert len(day2) == 24 and stats.outside_window == 24 and stats.first_time.startswith("2026-11-02T00")
    day1, _ = read_prediction_log(str(logs.parent), until=parse_when("2026-11-01", end=True))
    assert len(day1) == 24
    last, stats = read_prediction_log(str(logs), since=parse_when("2026-11-01T12:00"), last=5)
    assert len(last) == 5 and last["text"].iloc[-1] == "text number 47" and stats.outside_window == 43
    assert stats.window == {"since": "2026-11-01T12:00:00+00:00", "until": None, "last": 5}


def test_read_log_hashed_and_textless(tmp_path: Path):
    lines = [{**record(0), "text": None, "text_sha256": "f" * 64}, {**record(1)}, record(2)]
    del lines[1]["text"]
    frame, stats = read_prediction_log(str(write_log(tmp_path / "l" / "x.jsonl", lines).parent))
    assert (stats.with_text, stats.hashed, stats.no_text) == (1, 1, 1)
    assert frame["text"].isna().sum() == 2


def test_read_log_nothing_usable_is_a_data_error(tmp_path: Path):
    with pytest.raises(DataError, match="no prediction log at"):
        read_prediction_log(str(tmp_path / "missing"))
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataError, match=r"no prediction log files \(\*\.jsonl\)"):
        read_prediction_log(str(tmp_path / "empty"))
    write_log(tmp_path / "bad" / "a.jsonl", ["nope", {"time": "2026-11-01T00:00:00Z"}])
    with pytest.raises(DataError, match=r"nothing usable.*1 log line.*1 log record"):
        read_prediction_log(str(tmp_path / "bad"))
    write_log(tmp_path / "old" / "a.jsonl", [record(0)])
    with pytest.raises(DataError, match="in the --since/--until/--last window"):
        read_prediction_log(str(tmp_path / "old"), since=parse_when("2027-01-01"))


def test_read_log_from_fsspec_url(tmp_path: Path):
    write_log(tmp_path / "remote" / "predictions-1.jsonl", [record(i) for i in range(3)])
    frame, stats = read_prediction_log(f"file://{tmp_path / 'remote'}")
    assert len(frame) == 3 and stats.files == 1


def test_a_log_file_whose_first_line_is_corrupt_is_still_a_log(tmp_path: Path):
    """Issue 26: the same file was read inside a folder but rejected as --current FILE."""
    from hsctl.drift import is_prediction_log, load_current
    from hsctl.settings import load_settings

    path = write_log(tmp_path / "traffic.jsonl", ['{"time": "2026-11-01T00:0', "", *[record(i) for i in range(5)]])
    assert is_prediction_log(str(path))
    data = load_current(load_settings({"paths.artifacts": str(tmp_path / "a")}).settings, str(path), 2)
    assert data.kind == "log" and len(data.frame) == 5 and data.log_stats is not None
    assert data.log_stats.bad_lines == 1
    plain = write_log(tmp_path / "data.jsonl", ["{broken", {"tweet": "x", "label": 0}])
    assert not is_prediction_log(str(plain))


def test_records_of_any_schema_are_read(tmp_path: Path):
    """Old records (no prediction_id, no schema) and new ones (hashed or no text) in one log."""
    old = record(0)
    new = {**record(1, prediction_id="a" * 32, schema=1), "text": None, "text_sha256": "ab" * 32}
    bare = {**record(2, prediction_id="b" * 32, schema=1)}
    del bare["text"]
    frame, stats = read_prediction_log(str(write_log(tmp_path / "log" / "p.jsonl", [old, new, bare])))
    assert frame["prediction_id"].tolist() == [None, "a" * 32, "b" * 32]
    assert frame["predicted_label"].tolist() == ["non-hate"] * 3 and frame["threshold"].tolist() == [0.5] * 3
    assert (stats.with_text, stats.hashed, stats.no_text) == (1, 1, 1)
