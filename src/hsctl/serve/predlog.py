"""The prediction log: JSON lines for drift detection, written by a background thread.

A request only puts a record on an in-memory queue (never blocks). Files rotate
by size. The destination is a local directory or any fsspec URL (``s3://``,
``gs://`` once that filesystem is installed); on remote filesystems a file
appears when it is rotated or closed. Everything queued is written on shutdown.

The log cannot go blind silently: every record that is not written is counted
(``on_drop(reason, count)``, the ``hsctl_prediction_log_dropped_total{reason}``
metric) and reported in an error line (the first at once, then at most one
summary per reason every 10 s). The reasons:

* ``queue_full``: the in-memory queue was full;
* ``encode``: the record cannot be written as JSON/UTF-8;
* ``write``: the file system refused it (the next batch opens a new file);
* ``writer_stopped``: the writer thread is no longer running (readiness fails then);
* ``shutdown``: still queued when the server stopped and the writer did not finish in time.

The writer thread catches every error of a record or a batch and keeps running;
if it stops anyway, :attr:`PredictionLog.alive` turns false.

On a local directory the writer appends with ``os.write`` and counts exactly: a
record is written once its whole line is in the file, and dropped (``write``)
otherwise. A write cut short (a full disk) is truncated back to the last full line,
so no line is torn; the same file is tried again with the next batch, so writing
resumes once there is space, and a new file that got no byte is removed again (no
empty files). Before each batch the writer checks, with one ``stat`` and one
``fstat``, that the path still names the open file: a file removed or replaced
(log rotation, clean-up) is closed and its path opened again (created, or the
file now there appended to, as logrotate's ``create`` expects), and a batch
written into a file that was deleted meanwhile is written again.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import json
import logging
import os
import queue
import secrets
import socket
import threading
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any

from hsctl.core.layout import Layout
from hsctl.serve.ratelog import RateLimitedLog

_STOP = object()
DROP_REASONS = ("queue_full", "encode", "write", "writer_stopped", "shutdown")
logger = logging.getLogger("hsctl.serve.predlog")
# Characters that JSON leaves raw but str.splitlines() (and so readers of the log) treat as line breaks.
_LINE_BREAKS = str.maketrans({"\x85": "\\u0085", "\u2028": "\\u2028", "\u2029": "\\u2029"})


def text_field(text: str, mode: str) -> dict[str, str]:
    """The text as logged: itself, its sha256, or nothing."""
    if mode == "text":
        return {"text": text}
    if mode == "sha256":
        return {"text_sha256": hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()}
    return {}


class PredictionLog:
    """Asynchronous, size-rotated JSON-lines writer that counts whatever it cannot write."""

    def __init__(
        self,
        destination: str,
        *,
        max_bytes: int,
        queue_size: int,
        on_drop: Callable[[str, int], None] | None = None,
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
        self._fd: int | None = None  # the open file of a local destination (os-level writes)
        self._path: str | None = None
        self._created = False  # whether this writer created the open file (only then may it remove it)
        self._written = 0
        self._file_records = 0
        self._started = False
        self._closed = False
        self._lock = threading.Lock()
        self._errors = RateLimitedLog(logger)
        self.records = 0
        self.dropped = 0
        self.dropped_by_reason: dict[str, int] = dict.fromkeys(DROP_REASONS, 0)
        self.error: str | None = None

    @property
    def alive(self) -> bool:
        """False once the writer thread has stopped, or after :meth:`close`; True before :meth:`start`."""
        if self._closed:
            return False
        return not self._started or self._thread.is_alive()

    def start(self) -> None:
        """Open the destination (fails fast on a bad URL) and start the writer thread."""
        import fsspec

        self._fs, self._root = fsspec.core.url_to_fs(self.destination)
        self._fs.makedirs(self._root, exist_ok=True)
        self._started = True
        self._thread.start()

    def write(self, record: dict[str, Any]) -> None:
        """Queue one record; never blocks, never raises."""
        if self._closed:
            self._drop("shutdown", 1, "the log is closed", record)
        elif self._started and not self._thread.is_alive():
            self._drop("writer_stopped", 1, f"the writer thread stopped ({self.error})", record)
        else:
            try:
                self._queue.put_nowait(record)
            except queue.Full:
                self._drop("queue_full", 1, f"the queue of {self._queue.maxsize} records is full", record)

    def close(self, timeout: float = 30.0) -> None:
        """Write everything queued, then close the file; whatever is left is counted as dropped."""
        if self._closed:
            return
        if self._started and self._thread.is_alive():
            with contextlib.suppress(queue.Full):
                self._queue.put(_STOP, timeout=timeout)
            self._thread.join(timeout)
        reason = "shutdown" if self._thread.is_alive() else "writer_stopped"
        self._closed = True
        left = [item for item in self._drain() if item is not _STOP]
        if left:
            self._drop(reason, len(left), "records still queued when the server stopped", left[0])
        self._errors.flush()

    def _drop(self, reason: str, count: int, why: object, record: dict[str, Any] | None = None) -> None:
        with self._lock:
            self.dropped += count
            self.dropped_by_reason[reason] = self.dropped_by_reason.get(reason, 0) + count
        if self.on_drop is not None:
            self.on_drop(reason, count)
        where = ""
        if record is not None and "request_id" in record:
            where = f" (request {record['request_id']}, text {record.get('index', 0)})"
        what = "record" if count == 1 else "records"
        self._errors.event(
            f"prediction-log records dropped ({reason})",
            f"prediction log: {count} {what} dropped ({reason}: {why}){where}",
            count,
        )

    def _open(self) -> IO[bytes]:
        self._seq += 1
        path = f"{self._root.rstrip('/')}/{self._prefix}-{self._seq:04d}.jsonl"
        self._written = 0
        return self._fs.open(path, "wb")  # type: ignore[no-any-return]

    def _encode(self, records: list[dict[str, Any]]) -> list[bytes]:
        lines = []
        for record in records:
            try:
                line = json.dumps(record, ensure_ascii=False).translate(_LINE_BREAKS)
                lines.append((line + "\n").encode("utf-8"))
            except (TypeError, ValueError) as exc:  # UnicodeEncodeError is a ValueError
                self._drop("encode", 1, f"{type(exc).__name__}: {exc}", record)
        return lines

    def _is_local(self) -> bool:
        from fsspec.implementations.local import LocalFileSystem

        return isinstance(getattr(self, "_fs", None), LocalFileSystem)

    def _open_local(self, path: str | None = None) -> None:
        """Open ``path`` again (a file removed or replaced), else create the next file; the folder too if gone."""
        os.makedirs(self._root, exist_ok=True)
        new = path is None
        if path is None:
            self._seq += 1
            path = os.path.join(self._root, f"{self._prefix}-{self._seq:04d}.jsonl")
        flags = os.O_WRONLY | os.O_APPEND | getattr(os, "O_BINARY", 0) | getattr(os, "O_CLOEXEC", 0)
        try:
            try:
                fd, created = os.open(path, flags | os.O_CREAT | os.O_EXCL, 0o666), True
            except FileExistsError:
                if new:
                    raise
                fd, created = os.open(path, flags), False  # e.g. logrotate's "create": append to the new file
        except OSError:
            if new:
                self._seq -= 1
            raise
        self._fd, self._path, self._created = fd, path, created
        try:
            self._written = os.fstat(fd).st_size
        except OSError:
            self._written = 0

    def _close_local(self) -> None:
        """Close the local file; one this writer created that never got a byte is removed (no empty files)."""
        fd, self._fd = self._fd, None
        if fd is None:
            return
        with contextlib.suppress(OSError):
            os.close(fd)
        if self._created and self._written == 0 and self._path is not None:
            with contextlib.suppress(OSError):
                os.unlink(self._path)
                if self._path.endswith(f"-{self._seq:04d}.jsonl"):
                    self._seq -= 1

    def _local_file_gone(self, *, deleted_only: bool = False) -> bool:
        """Whether the path no longer names the open file: deleted, or (not ``deleted_only``) replaced."""
        if self._fd is None or self._path is None:
            return False
        try:
            opened = os.fstat(self._fd)
            if opened.st_nlink == 0 or deleted_only:
                return opened.st_nlink == 0
            named = os.stat(self._path)
        except OSError:
            return True
        return (named.st_ino, named.st_dev) != (opened.st_ino, opened.st_dev)

    def _append(self, lines: list[bytes]) -> int:
        """Append lines to the open file; the number of whole lines that reached it (a torn one is cut off)."""
        assert self._fd is not None
        data = b"".join(lines)
        base, done = self._written, 0
        view = memoryview(data)
        try:
            while done < len(data):
                n = os.write(self._fd, view[done:])
                if n <= 0:
                    raise OSError(errno.ENOSPC, "no byte written")
                done += n
        except OSError as exc:
            self.error = f"{type(exc).__name__}: {exc}"
            with contextlib.suppress(OSError):  # what reached the file, whatever the write reported
                done = os.fstat(self._fd).st_size - base
            kept, whole = 0, 0
            for line in lines:
                if kept + len(line) > done:
                    break
                kept, whole = kept + len(line), whole + 1
            if kept < done:
                try:
                    os.ftruncate(self._fd, base + kept)
                except OSError:  # the torn line stays (readers skip it); the next batch starts a new file
                    self._written = base + done
                    self._close_local()
                    return whole
            self._written = base + kept
            return whole
        self._written = base + len(data)
        return len(lines)

    def _write_local(self, lines: list[bytes], *, again: bool = False) -> None:
        """Write encoded lines to local files, rotating by size; whatever did not reach a file is counted."""
        reopen: str | None = None
        if self._local_file_gone():
            logger.warning("prediction log: %s was removed or replaced; opening it again", self._path)
            reopen, self._created = self._path, False  # never unlink what the path names now
            self._close_local()
        start = 0
        in_current: list[bytes] = []  # lines of this batch in the file open now
        while start < len(lines):
            if self._fd is None or self._written >= self.max_bytes:
                rotate = self._fd is not None
                self._close_local()
                in_current = []
                try:
                    self._open_local(None if rotate else reopen)
                except OSError as exc:
                    self.error = f"{type(exc).__name__}: {exc}"
                    self._drop("write", len(lines) - start, f"cannot open a new file: {self.error}")
                    return
            end, size = start, self._written
            while end < len(lines) and size < self.max_bytes:
                size += len(lines[end])
                end += 1
            whole = self._append(lines[start:end])
            self.records += whole
            in_current += lines[start : start + whole]
            if whole < end - start:
                self._drop("write", len(lines) - start - whole, self.error)
                if self._fd is not None and self._written == 0:
                    self._close_local()  # a new file that got nothing: removed, not left empty
                return
            start = end
        if in_current and not again and self._local_file_gone(deleted_only=True):  # deleted meanwhile: again
            self.records -= len(in_current)
            self._write_local(in_current, again=True)

    def _close_file(self) -> None:
        """Close the current file; if that fails (a remote upload, say) its records count as dropped."""
        self._close_local()
        fh, self._fh = self._fh, None
        in_file, self._file_records = self._file_records, 0
        if fh is None:
            return
        try:
            fh.close()
        except Exception as exc:
            self.error = f"{type(exc).__name__}: {exc}"
            self.records -= in_file
            if in_file:
                self._drop("write", in_file, f"closing the file failed: {self.error}")

    def _write_lines(self, records: list[dict[str, Any]]) -> None:
        lines = self._encode(records)
        if self._is_local():
            self._write_local(lines)
            return
        unsaved = 0  # lines handed to the current file since it was last flushed
        done = 0  # lines handed to any file
        try:
            for line in lines:
                if self._fh is None or self._written >= self.max_bytes:
                    self.records += unsaved  # closing flushes them; a failed close drops them
                    self._file_records += unsaved
                    unsaved = 0
                    self._close_file()
                    self._fh = self._open()
                self._fh.write(line)
                self._written += len(line)
                unsaved += 1
                done += 1
            if self._fh is not None:
                self._fh.flush()
            self.records += unsaved
            self._file_records += unsaved
        except Exception as exc:  # keep serving and writing; these records count as dropped
            self.error = f"{type(exc).__name__}: {exc}"
            lost = unsaved + len(lines) - done
            if lost:
                self._drop("write", lost, self.error)
            self._close_file()  # the next batch opens a new file

    def _run(self) -> None:
        stopped_cleanly = False
        batch: list[dict[str, Any]] = []
        try:
            while not stopped_cleanly:
                batch = []
                try:
                    first = self._queue.get(timeout=1.0)
                except queue.Empty:
                    self._errors.tick()
                    continue
                items = [first, *self._drain()]
                batch = [item for item in items if item is not _STOP]
                stopped_cleanly = len(batch) < len(items)
                try:
                    self._write_lines(batch)
                except Exception as exc:  # not expected (_write_lines handles its errors), but never fatal
                    self._drop("write", len(batch), f"{type(exc).__name__}: {exc}")
                batch = []
        except BaseException as exc:  # the thread ends: say so, and count what it held (maybe written already)
            self.error = f"{type(exc).__name__}: {exc}"
            logger.error("prediction log: the writer thread stopped (%s); readiness now fails", self.error)
            if batch:
                self._drop("writer_stopped", len(batch), self.error, batch[0])
        finally:
            self._close_file()

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
    return str(Layout(Path(artifacts)).predictions_dir)
