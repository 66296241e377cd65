"""Error lines that cannot flood the log: the first of a kind at once, then one summary per interval."""

from __future__ import annotations

import logging
import threading
import time


class RateLimitedLog:
    """Log every event exactly once: alone when it is the first of its kind in ``interval`` seconds,
    else counted into the next summary line ("N more ... in the last 10 s")."""

    def __init__(self, logger: logging.Logger, interval: float = 10.0, level: int = logging.ERROR) -> None:
        self.logger = logger
        self.interval = interval
        self.level = level
        self._lock = threading.Lock()
        self._last: dict[str, float] = {}
        self._pending: dict[str, int] = {}

    def event(self, kind: str, message: str, count: int = 1) -> None:
        """Report ``count`` events of ``kind``; ``message`` describes the first when it is printed alone."""
        now = time.monotonic()
        with self._lock:
            last = self._last.get(kind)
            if last is not None and now - last < self.interval:
                self._pending[kind] = self._pending.get(kind, 0) + count
                return
            pending = self._pending.pop(kind, 0)
            self._last[kind] = now
        if pending:
            self.logger.log(self.level, "%s more %s in the last %g s", pending, kind, self.interval)
        self.logger.log(self.level, "%s", message)

    def tick(self) -> None:
        """Print the summaries whose interval is over (call now and then, e.g. from a writer thread)."""
        now = time.monotonic()
        with self._lock:
            due = [k for k, n in self._pending.items() if n and now - self._last.get(k, 0.0) >= self.interval]
            counts = {k: self._pending.pop(k) for k in due}
            for k in due:
                self._last[k] = now
        for kind, count in counts.items():
            self.logger.log(self.level, "%s more %s in the last %g s", count, kind, self.interval)

    def flush(self) -> None:
        """Print the summaries still pending (at shutdown)."""
        with self._lock:
            pending, self._pending = self._pending, {}
        for kind, count in pending.items():
            self.logger.log(self.level, "%s more %s", count, kind)
