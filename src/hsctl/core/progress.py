"""The one progress protocol of the library stages.

A stage that takes long (embedding, scoring, training, a load test) calls a
``Progress`` as work advances: ``progress(stage, done, total)``, with keyword
details (``loss=0.41``) when it has them. The library never draws anything;
the command line passes a reporter that is a bar on a terminal and a plain
line every few seconds otherwise.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol


class Progress(Protocol):
    """``progress(stage, done, total, **details)``; ``total`` is None when unknown."""

    def __call__(self, stage: str, done: float, total: float | None, /, **details: float | str) -> None:
        """Report that ``done`` of ``total`` units of ``stage`` are finished."""


ProgressFn = Callable[[str, int, int], None]
"""The positional part of :class:`Progress`: what a stage needs when it has no details."""


def counter(progress: ProgressFn | None, stage: str, total: int) -> Callable[[int], None] | None:
    """An ``on_batch(n)`` callback that reports ``stage`` cumulatively (None without progress)."""
    if progress is None:
        return None
    progress(stage, 0, total)
    done = 0

    def on_batch(n: int) -> None:
        nonlocal done
        done += n
        progress(stage, done, total)

    return on_batch
