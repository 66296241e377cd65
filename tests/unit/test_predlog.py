from __future__ import annotations

import json

import fsspec

from hsctl.serve.predlog import PredictionLog, text_field


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
    dropped: list[int] = []
    log = PredictionLog(str(tmp_path / "logs"), max_bytes=10_000, queue_size=2, on_drop=lambda: dropped.append(1))
    for i in range(5):  # not started: nothing drains the queue
        log.write({"i": i})
    assert log.dropped == 3 and len(dropped) == 3
    log.start()
    log.close()
    assert log.records == 2
