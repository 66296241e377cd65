"""Dynamic micro-batching: coalesce concurrent requests into bounded batches, off the event loop.

Texts wait in a bounded queue; one worker takes up to ``max_batch_size`` of them
and runs inference in a thread, so the event loop keeps accepting requests.
A lone request runs at once; only when several are waiting does the worker
wait up to ``max_wait_ms`` to fill the batch. A full queue rejects new work
(the app answers 503 with Retry-After) instead of growing without limit.
"""

from __future__ import annotations

import asyncio
import collections
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any


class QueueFull(Exception):
    """The batch queue cannot take the request's texts."""


@dataclass
class _Job:
    texts: Sequence[str]
    future: asyncio.Future[list[float]]
    results: list[float] = field(default_factory=list)
    remaining: int = 0


class MicroBatcher:
    """Runs ``infer(texts) -> probabilities`` on micro-batches assembled from concurrent requests."""

    def __init__(
        self,
        infer: Callable[[list[str]], Any],
        *,
        max_batch_size: int,
        max_wait_ms: float,
        max_queue: int,
        on_batch: Callable[[int, float], None] | None = None,
    ) -> None:
        self.infer = infer
        self.max_batch_size = max_batch_size
        self.max_wait = max_wait_ms / 1000
        self.max_queue = max_queue
        self.on_batch = on_batch
        self._items: collections.deque[tuple[_Job, int]] = collections.deque()
        self._wakeup = asyncio.Event()
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="hsctl-infer")
        self._task: asyncio.Task[None] | None = None
        self._closing = False

    @property
    def depth(self) -> int:
        """Texts waiting for inference."""
        return len(self._items)

    async def start(self) -> None:
        """Start the batching worker on the running loop."""
        self._task = asyncio.create_task(self._run(), name="hsctl-batcher")

    async def stop(self) -> None:
        """Finish queued work, then stop the worker and its thread."""
        self._closing = True
        self._wakeup.set()
        if self._task is not None:
            await self._task
        self._executor.shutdown(wait=True)

    async def submit(self, texts: Sequence[str]) -> list[float]:
        """Queue texts and wait for their probabilities; raises :class:`QueueFull`."""
        if self._closing:
            raise QueueFull("server is shutting down")
        if len(self._items) + len(texts) > self.max_queue:
            raise QueueFull(f"{len(self._items)} texts already queued")
        loop = asyncio.get_running_loop()
        job = _Job(texts=texts, future=loop.create_future(), results=[0.0] * len(texts), remaining=len(texts))
        if not texts:
            return []
        self._items.extend((job, i) for i in range(len(texts)))
        self._wakeup.set()
        return await job.future

    def _take(self, batch: list[tuple[_Job, int]]) -> None:
        while self._items and len(batch) < self.max_batch_size:
            batch.append(self._items.popleft())

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            if not self._items:
                if self._closing:
                    return
                self._wakeup.clear()
                await self._wakeup.wait()
                continue
            batch: list[tuple[_Job, int]] = []
            self._take(batch)
            if 1 < len(batch) < self.max_batch_size and self.max_wait > 0:
                # Others are waiting too: give stragglers up to max_wait to join this batch.
                deadline = time.perf_counter() + self.max_wait
                while len(batch) < self.max_batch_size and (left := deadline - time.perf_counter()) > 0:
                    self._wakeup.clear()
                    try:
                        await asyncio.wait_for(self._wakeup.wait(), timeout=left)
                    except TimeoutError:
                        break
                    self._take(batch)
            texts = [job.texts[i] for job, i in batch]
            started = time.perf_counter()
            try:
                probs = await loop.run_in_executor(self._executor, self.infer, texts)
            except Exception as exc:  # a failed batch fails its requests, not the worker
                for job, _ in batch:
                    if not job.future.done():
                        job.future.set_exception(exc)
                continue
            if self.on_batch is not None:
                self.on_batch(len(batch), time.perf_counter() - started)
            for (job, i), p in zip(batch, probs, strict=True):
                job.results[i] = float(p)
                job.remaining -= 1
                if job.remaining == 0 and not job.future.done():
                    job.future.set_result(job.results)
