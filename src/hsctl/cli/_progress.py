"""The command line's progress reporter: a rich bar on a terminal, a plain line every few seconds otherwise.

Library stages call it through :class:`hsctl.core.progress.Progress`. In a CI
log a bar would either be invisible or redraw into noise, so when stderr is
not a terminal the reporter prints ``stage: done/total (pct%) details,
elapsed`` at most once per ``interval`` seconds per stage, and once when a
stage finishes. ``--quiet`` and ``--no-progress`` turn it off.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from types import TracebackType
from typing import Any

from rich.console import Console
from rich.markup import escape

PROGRESS_INTERVAL_S = 5.0


def _number(value: float) -> str:
    return f"{value:,.0f}" if float(value).is_integer() else f"{value:,.1f}"


def _details(details: dict[str, float | str]) -> str:
    return ", ".join(f"{k} {v:.4g}" if isinstance(v, float) else f"{k} {v}" for k, v in details.items())


class Reporter:
    """Implements :class:`hsctl.core.progress.Progress`; use as a context manager."""

    def __init__(
        self, console: Console, *, enabled: bool = True, interval: float = PROGRESS_INTERVAL_S, unit: str = ""
    ) -> None:
        self.console = console
        self.enabled = enabled and not console.quiet
        self.interval = interval
        self.unit = unit
        self.live = self.enabled and console.is_terminal
        self._bar: Any = None
        self._tasks: dict[str, Any] = {}
        self._last: dict[str, float] = {}
        self._started: dict[str, float] = {}
        self._lock = threading.Lock()

    def __enter__(self) -> Reporter:
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self.close()

    def close(self) -> None:
        """Stop the bar (a no-op without one)."""
        if self._bar is not None:
            self._bar.stop()
            self._bar = None

    def __call__(self, stage: str, done: float, total: float | None, /, **details: float | str) -> None:
        """Report progress of ``stage``."""
        if not self.enabled:
            return
        with self._lock:
            now = time.monotonic()
            self._started.setdefault(stage, now)
            if self.live:
                self._update_bar(stage, done, total, details)
                return
            finished = total is not None and done >= total
            last = self._last.get(stage)
            if last is not None and now - last < self.interval and not finished:
                return
            if last is None and done == 0 and not finished:
                self._last[stage] = now  # the first line comes after one interval, not at 0%
                return
            self._last[stage] = float("inf") if finished else now
            self.console.print(self._line(stage, done, total, details, now), highlight=False, soft_wrap=True)

    def _line(self, stage: str, done: float, total: float | None, details: dict[str, float | str], now: float) -> str:
        unit = f" {self.unit}" if self.unit else ""
        text = f"{stage}: {_number(done)}"
        if total:
            text += f"/{_number(total)}{unit} ({100 * done / total:.0f}%)"
        else:
            text += unit
        extra = _details(details)
        text += f", {extra}" if extra else ""
        return escape(f"{text}, {now - self._started[stage]:.0f}s elapsed")

    def _update_bar(self, stage: str, done: float, total: float | None, details: dict[str, float | str]) -> None:
        if self._bar is None:
            from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

            self._bar = Progress(
                TextColumn("[bold]{task.description}[/]"),
                BarColumn(),
                MofNCompleteColumn(),
                TextColumn("{task.fields[details]}"),
                TimeRemainingColumn(),
                console=self.console,
            )
            self._bar.start()
        if stage not in self._tasks:
            self._tasks[stage] = self._bar.add_task(stage, total=total, details="")
        self._bar.update(self._tasks[stage], completed=done, total=total, details=escape(_details(details)))

    def log(self, message: str) -> None:
        """A line above the bar (or in the log); shown unless quiet."""
        if not self.console.quiet:
            self.console.print(message, highlight=False, soft_wrap=True)

    @contextmanager
    def ticking(self, stage: str, total_s: float, tick_s: float = 1.0) -> Iterator[None]:
        """Report elapsed seconds of ``stage`` against ``total_s`` while the block runs (no callback needed)."""
        if not self.enabled:
            yield
            return
        stop = threading.Event()
        started = time.monotonic()

        def tick() -> None:
            while not stop.wait(tick_s):
                self(stage, min(round(time.monotonic() - started), int(total_s)), total_s)

        thread = threading.Thread(target=tick, name="hsctl-progress", daemon=True)
        thread.start()
        try:
            yield
        finally:
            stop.set()
            thread.join()
            self.close()
