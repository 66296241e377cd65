"""The prediction log: JSON lines for drift detection, written by a background thread.

A request only puts a record on an in-memory queue (never blocks; a full queue
drops and counts). Files rotate by size. The destination is a local directory
or any fsspec URL (``s3://``, ``gs://`` once that filesystem is installed);
on remote filesystems a file appears when it is rotated or closed.
Everything queued is written on shutdown.
"""

from __future__ import annotations

import hashlib
import json
import os
import queue
import secrets
import socket
import threading
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any

_STOP = object()


def text_field(text: str, mode: str) -> dict[str, str]:
    """The text as logged: itself, its sha256, or nothing."""
    if mode == "text":
        return {"text": text}
    if mode == "sha256":
        return {"text_sha256": hashlib.sha256(text.encode("utf-8")).hexdigest()}
    return {}


class PredictionLog:
    """Asynchronous, size-rotated JSON-lines writer."""

    def __init__(
        self,
        destination: str,
        *,
        max_bytes: int,
        queue_size: int,
        on_drop: Callable[[], None] | None = None,
    ) -> None:
        self.destination = destination
        self.max_bytes = max_bytes
        self.on_drop = on_drop
        self._queue: queue.Queue[Any] = queue.Queue(maxsize=queue_size)
        self._thread = threading.Thread(target=self._run, name="hsctl-predlog", daemon=True)
        # Host, pid and a random part: replicas sharing a directory (pid 1 in containers) never collide.
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S")
        self._prefix = f"predictions-{stamp}-{socket.gethostname()}-{os.getpid()}-{secrets.token_hex(3)}"
        self._seq = 0
        self._fh: IO[bytes] | None = None
        self._written = 0
        self.records = 0
        self.dropped = 0
        self.error: str | None = None

    def start(self) -> None:
        """Open the destination (fails fast on a bad URL) and start the writer thread."""
        import fsspec

        self._fs, self._root = fsspec.core.url_to_fs(self.destination)
        self._fs.makedirs(self._root, exist_ok=True)
        self._thread.start()

    def write(self, record: dict[str, Any]) -> None:
        """Queue one record; never blocks."""
        try:
            self._queue.put_nowait(record)
        except queue.Full:
            self.dropped += 1
            if self.on_drop is not None:
                self.on_drop()

    def close(self, timeout: float = 30.0) -> None:
        """Write everything queued, then close the file."""
        if self._thread.is_alive():
            self._queue.put(_STOP)
            self._thread.join(timeout)

    def _open(self) -> IO[bytes]:
        self._seq += 1
        path = f"{self._root.rstrip('/')}/{self._prefix}-{self._seq:04d}.jsonl"
        self._written = 0
        return self._fs.open(path, "wb")  # type: ignore[no-any-return]

    def _write_lines(self, records: list[dict[str, Any]]) -> None:
        for record in records:
            if self._fh is None or self._written >= self.max_bytes:
                if self._fh is not None:
                    self._fh.close()
                self._fh = self._open()
            line = (json.dumps(record, ensure_ascii=False) + "\n").encode("utf-8")
            self._fh.write(line)
            self._written += len(line)
            self.records += 1
        if self._fh is not None:
            self._fh.flush()

    def _run(self) -> None:
        stop = False
        while not stop:
            try:
                first = self._queue.get(timeout=1.0)
            except queue.Empty:
                continue
            batch: list[dict[str, Any]] = []
            for item in [first, *self._drain()]:
                if item is _STOP:
                    stop = True
                else:
                    batch.append(item)
            try:
                self._write_lines(batch)
            except OSError as exc:  # keep serving; the records count as dropped (hsctl_prediction_log_dropped)
                self.error = str(exc)
                self.dropped += len(batch)
                if self.on_drop is not None:
                    for _ in batch:
                        self.on_drop()
        if self._fh is not None:
            self._fh.close()

    def _drain(self) -> list[Any]:
        items = []
        while True:
            try:
                items.append(self._queue.get_nowait())
            except queue.Empty:
                return items


def now_iso() -> str:
    """Record timestamp with milliseconds, UTC."""
    return datetime.now(UTC).isoformat(timespec="milliseconds")


def default_log_dir(artifacts: Path) -> str:
    """Where the log goes when no URL is configured."""
    return str(Path(artifacts) / "predictions")
