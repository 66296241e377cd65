"""Client-side measurements: a mergeable latency histogram and the per-run recorder.

Pure Python and free of gevent: the Locust processes fill a :class:`Recorder`,
send it as a plain dict (msgpack or JSON), and the parent merges and summarises.
Latencies are kept in logarithmic buckets 1% wide, so percentiles are exact to
within 0.5% at any scale, and recorders from many workers merge exactly.
"""

from __future__ import annotations

import math
from typing import Any

GROWTH = 1.01
_LOG_GROWTH = math.log(GROWTH)
_FLOOR_MS = 0.001  # everything faster lands in bucket 0
PERCENTILES = (50, 90, 95, 99)


def _bucket(ms: float) -> int:
    if ms <= _FLOOR_MS:
        return 0
    return int(math.log(ms / _FLOOR_MS) / _LOG_GROWTH) + 1


def _value(bucket: int) -> float:
    """Representative (geometric middle) of a bucket, in milliseconds."""
    if bucket == 0:
        return _FLOOR_MS
    return float(_FLOOR_MS * GROWTH ** (bucket - 0.5))


class LatencyHistogram:
    """Counts of latencies (milliseconds) in 1%-wide log buckets, plus exact count, sum, min and max."""

    def __init__(self) -> None:
        self.buckets: dict[int, int] = {}
        self.count = 0
        self.sum_ms = 0.0
        self.min_ms = math.inf
        self.max_ms = 0.0

    def add(self, ms: float) -> None:
        """Record one latency."""
        key = _bucket(ms)
        self.buckets[key] = self.buckets.get(key, 0) + 1
        self.count += 1
        self.sum_ms += ms
        self.min_ms = min(self.min_ms, ms)
        self.max_ms = max(self.max_ms, ms)

    def merge(self, other: LatencyHistogram) -> None:
        """Add another histogram's counts to this one."""
        for key, n in other.buckets.items():
            self.buckets[key] = self.buckets.get(key, 0) + n
        self.count += other.count
        self.sum_ms += other.sum_ms
        self.min_ms = min(self.min_ms, other.min_ms)
        self.max_ms = max(self.max_ms, other.max_ms)

    def quantile(self, q: float) -> float | None:
        """The q-quantile (0 < q <= 1) by nearest rank, clamped to the exact min and max; None when empty."""
        if self.count == 0:
            return None
        rank = max(1, math.ceil(q * self.count))
        seen = 0
        for key in sorted(self.buckets):
            seen += self.buckets[key]
            if seen >= rank:
                return min(max(_value(key), self.min_ms), self.max_ms)
        return self.max_ms

    def summary(self) -> dict[str, float | None]:
        """mean, min, p50, p90, p95, p99 and max in milliseconds (None when empty)."""
        if self.count == 0:
            return {"mean": None, "min": None, **{f"p{p}": None for p in PERCENTILES}, "max": None}
        return {
            "mean": self.sum_ms / self.count,
            "min": self.min_ms,
            **{f"p{p}": self.quantile(p / 100) for p in PERCENTILES},
            "max": self.max_ms,
        }

    def to_dict(self) -> dict[str, Any]:
        """Plain form (string keys: JSON and msgpack safe)."""
        return {
            "buckets": {str(k): v for k, v in self.buckets.items()},
            "count": self.count,
            "sum_ms": self.sum_ms,
            "min_ms": self.min_ms if self.count else None,
            "max_ms": self.max_ms,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> LatencyHistogram:
        """Inverse of :meth:`to_dict`."""
        hist = cls()
        hist.buckets = {int(k): int(v) for k, v in data["buckets"].items()}
        hist.count = int(data["count"])
        hist.sum_ms = float(data["sum_ms"])
        hist.min_ms = math.inf if data["min_ms"] is None else float(data["min_ms"])
        hist.max_ms = float(data["max_ms"])
        return hist


class Second:
    """What completed in one second of the measured window."""

    def __init__(self) -> None:
        self.requests = 0
        self.failures = 0
        self.latency = LatencyHistogram()  # successful requests only


class Recorder:
    """Every measured request: latency of successes, errors by status and kind, and a per-second timeline.

    Latency percentiles cover successful requests; failed ones are counted in
    ``errors`` (their latency would mix refused connections with timeouts).
    """

    def __init__(self) -> None:
        self.latency = LatencyHistogram()
        self.requests = 0
        self.failures = 0
        self.bytes = 0
        self.errors: dict[str, dict[str, Any]] = {}
        self.timeline: dict[int, Second] = {}
        self.last_end_s = 0.0
        self.dropped_arrivals = 0

    def record(self, end_s: float, ms: float, status: int, kind: str | None, detail: str = "", size: int = 0) -> None:
        """One completed request; ``end_s`` is its completion time in seconds from the start of measurement."""
        self.requests += 1
        self.bytes += size
        self.last_end_s = max(self.last_end_s, end_s)
        second = self.timeline.get(int(end_s))
        if second is None:
            second = self.timeline[int(end_s)] = Second()
        second.requests += 1
        if kind is None:
            self.latency.add(ms)
            second.latency.add(ms)
            return
        self.failures += 1
        second.failures += 1
        key = f"{status}|{kind}"
        entry = self.errors.get(key)
        if entry is None:
            self.errors[key] = {"status": status or None, "kind": kind, "count": 1, "example": detail[:200]}
        else:
            entry["count"] += 1

    def to_dict(self) -> dict[str, Any]:
        """Plain form, for messages between processes and the JSON handed to the parent."""
        return {
            "latency": self.latency.to_dict(),
            "requests": self.requests,
            "failures": self.failures,
            "bytes": self.bytes,
            "errors": self.errors,
            "last_end_s": self.last_end_s,
            "dropped_arrivals": self.dropped_arrivals,
            "timeline": {
                str(t): {"requests": s.requests, "failures": s.failures, "latency": s.latency.to_dict()}
                for t, s in self.timeline.items()
            },
        }

    def merge_dict(self, data: dict[str, Any]) -> None:
        """Add a recorder received as :meth:`to_dict` (from a worker)."""
        self.latency.merge(LatencyHistogram.from_dict(data["latency"]))
        self.requests += int(data["requests"])
        self.failures += int(data["failures"])
        self.bytes += int(data["bytes"])
        self.last_end_s = max(self.last_end_s, float(data["last_end_s"]))
        self.dropped_arrivals += int(data.get("dropped_arrivals", 0))
        for key, entry in data["errors"].items():
            mine = self.errors.get(key)
            if mine is None:
                self.errors[key] = dict(entry)
            else:
                mine["count"] += int(entry["count"])
        for t, item in data["timeline"].items():
            second = self.timeline.get(int(t))
            if second is None:
                second = self.timeline[int(t)] = Second()
            second.requests += int(item["requests"])
            second.failures += int(item["failures"])
            second.latency.merge(LatencyHistogram.from_dict(item["latency"]))

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Recorder:
        """Inverse of :meth:`to_dict`."""
        recorder = cls()
        recorder.merge_dict(data)
        return recorder

    def timeline_rows(self, window_s: float) -> list[dict[str, Any]]:
        """One row per second of the window (empty seconds included): counts, rates and latency percentiles.

        A last, partial second reports its rates over the part of it that was measured.
        """
        rows: list[dict[str, Any]] = []
        for t in range(max(1, math.ceil(window_s - 0.01))):
            second = self.timeline.get(t, Second())
            span = min(1.0, window_s - t) if window_s > t else 1.0
            rows.append(
                {
                    "t": t,
                    "requests": second.requests,
                    "failures": second.failures,
                    "ok_rps": round((second.requests - second.failures) / span, 3),
                    "error_rps": round(second.failures / span, 3),
                    "p50_ms": second.latency.quantile(0.5),
                    "p95_ms": second.latency.quantile(0.95),
                    "p99_ms": second.latency.quantile(0.99),
                }
            )
        return rows


def classify(status: int, exc: BaseException | None, content: bytes, expect: bytes) -> tuple[str | None, str]:
    """Error kind of one response (None for success) and a short detail.

    Kinds: ``http`` (status 400 and up), ``redirect`` (3xx: never followed, so only
    the given URL is targeted), ``invalid_response`` (2xx without ``expect`` in the
    body), and for no response at all ``timeout``, ``connection_refused``,
    ``connection_closed`` or ``connection``.
    """
    if not status:
        name = type(exc).__name__ if exc is not None else "error"
        text = f"{name}: {exc}" if exc is not None else "no response"
        lowered = text.lower()
        if isinstance(exc, TimeoutError) or "timeout" in lowered or "timed out" in lowered:
            return "timeout", text
        if isinstance(exc, ConnectionRefusedError) or "refused" in lowered:
            return "connection_refused", text
        if isinstance(exc, ConnectionResetError | BrokenPipeError) or "closed" in lowered or "reset" in lowered:
            return "connection_closed", text
        return "connection", text
    if status >= 400:
        return "http", content[:200].decode("utf-8", "replace")
    if status >= 300:
        return "redirect", f"HTTP {status} (redirects are not followed: only the given URL is targeted)"
    if expect not in content:
        return "invalid_response", content[:200].decode("utf-8", "replace") or "empty body"
    return None, ""
