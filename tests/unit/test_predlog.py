from __future__ import annotations

import errno
import json
import logging
import os
import shutil
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


# --- a file removed or replaced while serving; a full disk -------------------------------------------------------


def jsonl_files(root: Path) -> list[Path]:
    return sorted(root.glob("*.jsonl"))


def test_a_removed_log_file_is_noticed_and_opened_again(tmp_path):
    log = PredictionLog(str(tmp_path), max_bytes=10_000, queue_size=100)
    log.start()
    log.write({"i": 0})
    wait_for(lambda: log.records == 1)
    (first,) = jsonl_files(tmp_path)
    first.unlink()  # a clean-up job
    for i in range(1, 6):
        log.write({"i": i})
    log.close()
    assert [r["i"] for r in read_records(tmp_path)] == [1, 2, 3, 4, 5]
    assert jsonl_files(tmp_path) == [first]  # the same name again
    assert (log.records, log.dropped) == (6, 0)


def test_a_rotated_log_file_keeps_its_records_and_the_path_is_opened_again(tmp_path):
    log = PredictionLog(str(tmp_path / "logs"), max_bytes=10_000, queue_size=100)
    log.start()
    log.write({"i": 0})
    wait_for(lambda: log.records == 1)
    (first,) = jsonl_files(tmp_path / "logs")
    rotated = tmp_path / "rotated.jsonl"
    first.rename(rotated)  # logrotate's "create": move the file away, put an empty one in its place
    first.touch()
    log.write({"i": 1})
    wait_for(lambda: log.records == 2)
    assert [json.loads(line)["i"] for line in first.read_text().splitlines()] == [1]  # into the new file
    shutil.rmtree(tmp_path / "logs")  # then a clean-up removes the whole folder
    log.write({"i": 2})
    log.close()
    assert [r["i"] for r in read_records(tmp_path)] == [0]  # the rotated file keeps what it had
    assert [r["i"] for r in read_records(tmp_path / "logs")] == [2]
    assert (log.records, log.dropped) == (3, 0)


def test_a_batch_written_into_a_file_deleted_meanwhile_is_written_again(tmp_path, monkeypatch):
    log = PredictionLog(str(tmp_path), max_bytes=10_000, queue_size=100)
    log.start()
    log.write({"i": 0})
    wait_for(lambda: log.records == 1)
    real_write, deleted = os.write, []

    def write_then_delete(fd: int, data: bytes) -> int:
        n = real_write(fd, data)
        if not deleted:
            deleted.append(True)
            jsonl_files(tmp_path)[0].unlink()  # between the check and the next batch
        return n

    monkeypatch.setattr(os, "write", write_then_delete)
    log.write({"i": 1})
    wait_for(lambda: deleted and log.records == 2)
    log.close()
    assert [r["i"] for r in read_records(tmp_path)] == [1]
    assert (log.records, log.dropped) == (2, 0)


class FullDisk:
    """``os.write`` on a disk with ``space`` bytes left: a short write, then ENOSPC (or at once: ``tear``)."""

    def __init__(self, space: int, *, tear: bool = False) -> None:
        self.space = space
        self.tear = tear
        self.real = os.write

    def __call__(self, fd: int, data: bytes) -> int:
        if self.space <= 0:
            raise OSError(errno.ENOSPC, "No space left on device")
        n = self.real(fd, bytes(data[: self.space]))
        self.space -= n
        if self.tear and n < len(data):  # some bytes landed, and the caller only hears of the error
            raise OSError(errno.ENOSPC, "No space left on device")
        return n


RECORD = {"text": "x" * 40}
LINE = len(json.dumps(RECORD, ensure_ascii=False).encode()) + 1


@pytest.mark.parametrize("tear", [False, True])
def test_a_full_disk_counts_exactly_tears_no_line_and_resumes(tmp_path, monkeypatch, tear):
    disk = FullDisk(int(3.5 * LINE), tear=tear)
    monkeypatch.setattr(os, "write", disk)
    dropped: list[tuple[str, int]] = []
    log = PredictionLog(str(tmp_path), max_bytes=100_000, queue_size=100, on_drop=lambda *a: dropped.append(a))
    for _ in range(10):  # queued before the start: one batch
        log.write(dict(RECORD))
    log.start()
    wait_for(lambda: log.records + log.dropped == 10)
    assert (log.records, log.dropped, log.dropped_by_reason["write"]) == (3, 7, 7)
    assert sum(n for _, n in dropped) == 7
    (only,) = jsonl_files(tmp_path)
    assert only.stat().st_size == 3 * LINE and len(read_records(tmp_path)) == 3  # no torn line
    disk.space = 10 * LINE  # space returns
    for _ in range(4):
        log.write(dict(RECORD))
    log.close()
    assert (log.records, log.dropped) == (7, 7)
    assert jsonl_files(tmp_path) == [only] and len(read_records(tmp_path)) == 7


def test_a_full_disk_at_rotation_leaves_no_empty_files(tmp_path, monkeypatch):
    per_file = -(-1024 // LINE)  # lines until a file reaches max_bytes and the next line needs a new file
    disk = FullDisk(per_file * LINE)
    monkeypatch.setattr(os, "write", disk)
    log = PredictionLog(str(tmp_path), max_bytes=1024, queue_size=10_000)
    log.start()
    for _ in range(50):
        for _ in range(40):  # several batches, each asking for new files
            log.write(dict(RECORD))
        wait_for(lambda: log._queue.empty())
    wait_for(lambda: log.records + log.dropped == 2000)
    assert (log.records, log.dropped) == (per_file, 2000 - per_file)
    files = jsonl_files(tmp_path)
    assert len(files) == 1 and files[0].stat().st_size == per_file * LINE  # and no empty file beside it
    disk.space = 10**9
    for _ in range(30):
        log.write(dict(RECORD))
    log.close()
    assert (log.records, log.dropped) == (per_file + 30, 2000 - per_file)
    assert len(read_records(tmp_path)) == per_file + 30
    assert all(f.stat().st_size > 0 for f in jsonl_files(tmp_path))
