from __future__ import annotations

import json
import logging
import time
from pathlib import Path

import fsspec
import pytest

from hsctl.serve.predlog import DROP_REASONS, PredictionLog, text_field


def read_records(root: Path) -> list[dict]:
    return [json.loads(line) for f in sorted(root.glob("*.jsonl")) for line in f.read_text().splitlines()]


def wait_for(condition, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition never became true"
        time.sleep(0.01)


def test_fsspec_url_destination_and_rotation():
    log = PredictionLog("memory://hsctl-test/logs", max_bytes=200, queue_size=100)
    log.start()
    for i in range(10):
        log.write({"i": i, **text_field(f"text {i}", "sha256")})
    log.close()
    fs = fsspec.filesystem("memory")
    files = sorted(fs.glob("/hsctl-test/logs/*.jsonl"))
    assert len(files) > 1  # rotated by size
    records = [json.loads(line) for f in files for line in fs.cat(f).decode().splitlines()]
    assert [r["i"] for r in records] == list(range(10))
    assert all(len(r["text_sha256"]) == 64 for r in records)
    assert log.records == 10 and log.dropped == 0


def test_full_queue_drops_and_counts(tmp_path):
    dropped: list[tuple[str, int]] = []
    log = PredictionLog(str(tmp_path / "logs"), max_bytes=10_000, queue_size=2, on_drop=lambda *a: dropped.append(a))
    for i in range(5):  # not started: nothing drains the queue
        log.write({"i": i})
    assert log.dropped == 3 and dropped == [("queue_full", 1)] * 3
    assert log.dropped_by_reason["queue_full"] == 3
    log.start()
    log.close()
    assert log.records == 2


def test_unencodable_record_is_counted_logged_once_and_the_writer_goes_on(tmp_path, caplog):
    dropped: list[tuple[str, int]] = []
    log = PredictionLog(str(tmp_path), max_bytes=10_000, queue_size=100, on_drop=lambda *a: dropped.append(a))
    log.start()
    with caplog.at_level(logging.ERROR, logger="hsctl.serve.predlog"):
        log.write({"request_id": "r1", "index": 0, "text": "fine"})
        for i in range(5):
            log.write({"request_id": f"bad{i}", "index": 2, "text": "lone \ud800 surrogate"})
        log.write({"request_id": "r2", "index": 0, "text": "also fine"})
        wait_for(lambda: log.records == 2)
        assert log.alive
        log.write({"request_id": "r3", "index": 0, "text": "after the bad ones"})
        log.close()
    assert [r["request_id"] for r in read_records(tmp_path)] == ["r1", "r2", "r3"]
    assert log.dropped_by_reason["encode"] == 5 and sum(n for _, n in dropped) == 5
    assert {reason for reason, _ in dropped} == {"encode"}
    lines = [r.getMessage() for r in caplog.records]
    assert "request bad0, text 2" in lines[0] and "UnicodeEncodeError" in lines[0]
    assert len(lines) == 2 and lines[1].startswith("4 more prediction-log records dropped (encode)")  # once each


class FlakyFS:
    """Wraps a local file system; the first ``failures`` opens raise OSError."""

    def __init__(self, fs, failures: int) -> None:
        self.fs = fs
        self.failures = failures

    def open(self, path, mode):
        if self.failures:
            self.failures -= 1
            raise OSError(28, "No space left on device")
        return self.fs.open(path, mode)


def test_write_errors_are_counted_and_the_next_batch_opens_a_new_file(tmp_path):
    log = PredictionLog(str(tmp_path), max_bytes=10_000, queue_size=100)
    log.start()
    log._fs = FlakyFS(log._fs, failures=1)
    log.write({"i": 0})
    wait_for(lambda: log.dropped == 1)
    assert log.dropped_by_reason["write"] == 1 and "No space left" in (log.error or "")
    log.write({"i": 1})
    log.close()
    assert [r["i"] for r in read_records(tmp_path)] == [1]
    assert log.records + log.dropped == 2


def test_a_dead_writer_is_visible_and_nothing_is_lost_silently(tmp_path, caplog):
    log = PredictionLog(str(tmp_path), max_bytes=10_000, queue_size=100)

    def explode(records):
        raise SystemExit("simulated crash")  # not an Exception: the writer's own guard cannot catch it

    log._write_lines = explode  # type: ignore[method-assign]
    assert log.alive  # not started yet: nothing wrong
    with caplog.at_level(logging.ERROR, logger="hsctl.serve.predlog"):
        log.start()
        log.write({"i": 0})
        wait_for(lambda: not log.alive)
        assert any("writer thread stopped" in r.getMessage() for r in caplog.records)
    assert log.dropped_by_reason["writer_stopped"] == 1  # the record the crash took with it
    log.write({"i": 1})  # counted at once
    assert log.dropped_by_reason["writer_stopped"] == 2
    log.close()
    assert log.records == 0 and log.dropped == 2


@pytest.mark.parametrize("reason", DROP_REASONS)
def test_every_reason_is_a_known_label(reason):
    log = PredictionLog("memory://hsctl-test/reasons", max_bytes=1024, queue_size=1)
    assert log.dropped_by_reason[reason] == 0


def test_one_record_is_one_line_whatever_the_text(tmp_path):
    texts = ["line\u2028separator", "para\u2029graph", "next\x85line", "cr\rlf\n", "nul\x00 and \x1c\x1d\x1e"]
    log = PredictionLog(str(tmp_path), max_bytes=10_000, queue_size=100)
    log.start()
    for i, text in enumerate(texts):
        log.write({"index": i, **text_field(text, "text")})
    log.close()
    lines = next(tmp_path.glob("*.jsonl")).read_text(encoding="utf-8").splitlines()
    assert [json.loads(line)["text"] for line in lines] == texts
