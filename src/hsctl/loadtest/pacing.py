"""Open-loop pacing: arrivals on a fixed schedule, shared by a pool of users (as k6's constant-arrival-rate).

Locust's users are closed loops. For a target rate, every user of a process takes
the next slot of one shared schedule (``start + k / rate``) and waits for it. When
every user is busy, slots pass by; a slot no user could start within
``tolerance_s`` is dropped and counted rather than sent late, so that latency is
never measured from a delayed start (no coordinated omission) and a saturated
server shows up as dropped arrivals and a rate under target.
"""

from __future__ import annotations

import math

LATE_TOLERANCE_S = 0.05


def count_between(first: float, n: int, interval: float, lo: float, hi: float) -> int:
    """How many of ``first + i * interval`` (0 <= i < n) lie in ``[lo, hi)``; none when ``lo`` is infinite."""
    if math.isinf(lo):
        return 0
    i_lo = max(0, math.ceil((lo - first) / interval))
    i_hi = n if math.isinf(hi) else min(n, math.ceil((hi - first) / interval))
    return max(0, i_hi - i_lo)


class ArrivalSchedule:
    """Slots at a constant rate from the first call on."""

    def __init__(self, rate: float, tolerance_s: float = LATE_TOLERANCE_S) -> None:
        if rate <= 0:
            raise ValueError("rate must be positive")
        self.interval = 1.0 / rate
        self.tolerance_s = tolerance_s
        self.start: float | None = None
        self.next_slot = 0

    def next(self, now: float, window: tuple[float, float] = (math.inf, math.inf)) -> tuple[float, int]:
        """The due time of the next slot, and how many missed slots inside ``window`` were dropped to reach it."""
        if self.start is None:
            self.start = now
        due = self.start + self.next_slot * self.interval
        dropped = 0
        if due < now - self.tolerance_s:
            missed = math.floor((now - self.tolerance_s - due) / self.interval) + 1
            dropped = count_between(due, missed, self.interval, *window)
            self.next_slot += missed
            due = self.start + self.next_slot * self.interval
        self.next_slot += 1
        return due, dropped
