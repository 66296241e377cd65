"""Dynamic micro-batching: coalesce concurrent requests into bounded batches, off the event loop.

Texts wait in one queue. Each lane is a thread that, as soon as it is free,
takes up to ``max_batch_size`` of them itself and runs inference, so the event
loop only queues texts and resolves answers, and a busy loop never keeps the
model waiting. With ``lanes`` above 1, that many batches are scored at the same
time (with single-threaded ONNX Runtime calls this beats one batch at a time on
every core: no intra-op synchronisation, and one lane's tokenising overlaps
another's model run). A lone request runs at once; only when several are
waiting does a lane wait up to ``max_wait_ms`` to fill its batch.

Admission is by expected waiting time, not by count: the batcher models the
model time of a batch as a fixed cost plus a cost per text (:class:`BatchCost`,
fitted to recent batches) and rejects a request at once (:class:`Overloaded`,
503 in the app) when the batch in flight, the texts queued ahead of it and its
own batch would take more than ``max_queue_delay_ms`` to score. ``max_queue``
stays as a hard cap on queued texts.

Admission is fair between clients (see :meth:`MicroBatcher.check_admission`):
when several clients have asked for admission within the last
:data:`ACTIVE_WINDOW_S` seconds, a client that would hold more than its equal
share of the queued texts is admitted only while the expected wait, its own
texts included, stays under half the limit; the other half is kept for the
clients within their share. A few
clients sending the largest requests can then no longer fill the queue and shed
everyone else; a lone client still has the whole queue.

A request that stops waiting (its client disconnected, or its deadline passed)
has its texts dropped from the queue before inference. A batch that fails is
bisected until the failing texts are found; their requests fail alone
(:class:`ItemFailed`, naming the text) while every other request in the batch is
answered, unless a probe shows the model itself is broken, in which case the
original error stands (500).
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import logging
import threading
import time
from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass, field
from typing import Any

logger = logging.getLogger("hsctl.serve")


class Overloaded(Exception):
    """The request cannot be admitted now (expected wait too long, queue full, or shutting down)."""


QueueFull = Overloaded  # the name before admission by waiting time
ACTIVE_WINDOW_S = 5.0
"""A client counts towards the shares of the queue for this long after it last asked for admission."""


class DeadlineExceeded(Exception):
    """The request's texts were not scored within its timeout."""


class _WrongCount(RuntimeError):
    """The model returned a different number of results than texts."""


class ItemFailed(Exception):
    """One text failed in the model on its own while the model works: the request's fault, not the server's."""

    def __init__(self, index: int, cause: BaseException) -> None:
        super().__init__(f"text {index} could not be scored ({type(cause).__name__})")
        self.index = index
        self.cause = cause


@dataclass(eq=False)
class _Job:
    texts: Sequence[str]
    future: asyncio.Future[list[float]]
    results: list[float] = field(default_factory=list)
    remaining: int = 0
    client: Hashable | None = None


_Item = tuple[_Job, int]
_Answers = list[tuple[Callable[..., None], tuple[Any, ...]]]
"""What a lane posts to the event loop once a batch is done: ``(callback, args)`` pairs."""


class BatchCost:
    """Model time of a batch of n texts as ``fixed + per_text * n``.

    Fitted by least squares over the recent batches, each weighing ``decay`` times
    less than the next; when the sizes barely vary (under steady load every batch
    is full) the cost per text of those batches, overhead included, is used.
    """

    def __init__(self, decay: float = 0.95) -> None:
        self.decay = decay
        self._s = [0.0] * 5  # sums of w, w*n, w*n^2, w*t, w*n*t

    def observe(self, texts: int, seconds: float) -> None:
        """Record one batch."""
        n = float(texts)
        # One assignment: readers on other threads see the sums before or after, never half-updated.
        self._s = [v * self.decay + x for v, x in zip(self._s, (1.0, n, n * n, seconds, n * seconds), strict=True)]

    @property
    def known(self) -> bool:
        """True once a batch has been observed."""
        return self._s[0] > 0

    def fit(self) -> tuple[float, float]:
        """``(fixed, per_text)`` in seconds; ``(0, 0)`` before any batch."""
        s0, s1, s2, t0, t1 = self._s
        if s1 <= 0:
            return 0.0, 0.0
        spread = s0 * s2 - s1 * s1
        if spread > 1e-6 * s0 * s2:
            per_text = (s0 * t1 - s1 * t0) / spread
            fixed = (t0 - per_text * s1) / s0
            if per_text > 0 and fixed >= 0:
                return fixed, per_text
        return 0.0, t0 / s1

    def seconds(self, texts: int) -> float:
        """Expected model time of one batch of ``texts`` texts."""
        if texts <= 0:
            return 0.0
        fixed, per_text = self.fit()
        return fixed + per_text * texts


class MicroBatcher:
    """Runs ``infer(texts) -> probabilities`` on micro-batches assembled from concurrent requests.

    Each lane is a thread that takes its next batch from the queue itself as soon as it
    is free, so a busy event loop (say, one answering a flood of 503s) never keeps the
    model waiting for work; the loop only queues texts and resolves the answers.
    """

    def __init__(
        self,
        infer: Callable[[list[str]], Any],
        *,
        max_batch_size: int,
        max_wait_ms: float,
        max_queue: int,
        max_queue_delay_ms: float | None = None,
        probe: Callable[[], Any] | None = None,
        on_batch: Callable[[int, float], None] | None = None,
        on_drop: Callable[[str, int], None] | None = None,
        lanes: int = 1,
    ) -> None:
        if lanes < 1:
            raise ValueError("lanes must be at least 1")
        self.infer = infer
        self.lanes = lanes
        self.max_batch_size = max_batch_size
        self.max_wait = max_wait_ms / 1000
        self.max_queue = max_queue
        self.max_delay = None if max_queue_delay_ms is None else max_queue_delay_ms / 1000
        self.probe = probe
        self.on_batch = on_batch
        self.on_drop = on_drop
        self._items: collections.deque[_Item] = collections.deque()
        self._cond = threading.Condition()  # guards the queue and the in-flight counts below
        self._threads: list[threading.Thread] = []
        self._loop: asyncio.AbstractEventLoop | None = None
        self._closing = False
        self._busy = 0  # lanes scoring a batch
        self._in_flight = 0  # texts being scored, all lanes together
        self._in_flight_cost = 0.0  # their expected model time, summed over the lanes
        self._held: dict[Hashable, int] = {}  # queued texts per client (guarded by _cond; read without it)
        self._seen: dict[Hashable, float] = {}  # when each client last asked for admission
        self._pruned = 0.0
        self.cost = BatchCost()

    @property
    def depth(self) -> int:
        """Texts waiting for inference."""
        return len(self._items)

    def expected_wait(self, texts: int = 1) -> float:
        """Seconds before a request of ``texts`` texts arriving now would have its answer.

        The batches in flight and the full batches queued ahead (shared among the
        lanes), and the batch the request would join: what the client waits for,
        whatever the machine's speed.
        """
        if not self.cost.known:
            return 0.0
        size = self.batch_limit()
        full, rest = divmod(len(self._items) + texts, size)
        ahead = self._in_flight_cost + full * self.cost.seconds(size)
        return ahead / self.lanes + self.cost.seconds(rest)

    def batch_limit(self) -> int:
        """Texts per micro-batch: ``max_batch_size``, fewer when one batch would take over half the delay limit.

        On a fast machine this is ``max_batch_size``; when the model slows down (a busy
        machine), batches shrink so that the latency bound still holds.
        """
        if self.max_delay is None or not self.cost.known:
            return self.max_batch_size
        fixed, per_text = self.cost.fit()
        if per_text <= 0:
            return self.max_batch_size
        fits = int((self.max_delay / 2 - fixed) / per_text)
        return max(1, min(self.max_batch_size, fits))

    def check_admission(self, client: Hashable | None = None, texts: int = 1) -> None:
        """Raise :class:`Overloaded` when a new request would wait too long; cheap enough to call per request.

        ``client`` (the caller's address) and ``texts`` (its request's texts, 1 when not known yet) make the
        admission fair: a client over its share of the queue (:meth:`over_share`) is admitted only while the
        expected wait, its own texts included, stays under half the limit.
        """
        if self._closing:
            raise Overloaded("server is shutting down")
        over = client is not None and self.over_share(client, texts)
        # An idle worker always admits: waiting cannot make the request faster, and only new batches can
        # correct an estimate that a slow moment made too high (else nothing would ever be admitted again).
        if self.max_delay is not None and (self._in_flight or self._items):
            wait = self.expected_wait(texts if over else 1)
            limit = self.max_delay / 2 if over else self.max_delay  # the other half is for clients within theirs
            if wait > limit:
                share = " for a client over its share of the queue" if over else ""
                raise Overloaded(f"expected wait {wait * 1000:.0f} ms is over the {limit * 1000:.0f} ms limit{share}")

    def over_share(self, client: Hashable, texts: int = 1) -> bool:
        """Whether ``client``, given ``texts`` more, would hold more than its equal share of the queued texts.

        The shares are among the clients that asked for admission within :data:`ACTIVE_WINDOW_S`
        (this one included), so a client between two requests keeps its share; a lone client is never
        over it. Texts weigh alike: a request's cost is its texts.
        """
        now = time.monotonic()
        seen = self._seen
        seen[client] = now
        if now - self._pruned > 1.0:
            self._pruned = now
            for gone in [c for c, t in seen.items() if now - t > ACTIVE_WINDOW_S]:
                del seen[gone]
        active = len(seen)
        if active < 2:
            return False
        held = self._held.get(client, 0) + texts
        return held * active > len(self._items) + texts

    def warm(self, batches: Sequence[tuple[int, float]]) -> None:
        """Seed the cost model with ``(texts, seconds)`` of warm-up batches, so admission works from the start."""
        if not self.cost.known:
            for texts, seconds in batches:
                self.cost.observe(texts, seconds)

    async def start(self) -> None:
        """Start the lanes' threads; answers are resolved on the running loop."""
        self._loop = asyncio.get_running_loop()
        for k in range(self.lanes):
            thread = threading.Thread(target=self._lane, name=f"hsctl-infer-{k}", daemon=True)
            thread.start()
            self._threads.append(thread)

    async def stop(self) -> None:
        """Finish queued work, then stop the lanes; every answer is resolved when this returns."""
        with self._cond:
            self._closing = True
            self._cond.notify_all()
        threads, self._threads = self._threads, []
        if threads:
            await asyncio.to_thread(_join, threads)
        await asyncio.sleep(0)  # answers posted by the lanes before they ended

    async def submit(
        self, texts: Sequence[str], *, timeout: float | None = None, client: Hashable | None = None
    ) -> list[float]:
        """Queue texts and wait for their probabilities; ``client`` is charged for them until they leave the queue.

        Raises :class:`Overloaded` (not admitted), :class:`DeadlineExceeded` (not scored
        within ``timeout`` seconds) or :class:`ItemFailed`. Cancelling the awaiting task
        (a client that disconnected) drops the texts still queued.
        """
        self.check_admission(client, len(texts) or 1)
        if len(self._items) + len(texts) > self.max_queue:
            raise Overloaded(f"{len(self._items)} texts already queued")
        if not texts:
            return []
        loop = asyncio.get_running_loop()
        job = _Job(
            texts=texts, future=loop.create_future(), results=[0.0] * len(texts), remaining=len(texts), client=client
        )
        timer = loop.call_later(timeout, _expire, job, timeout) if timeout is not None else None
        with self._cond:
            self._items.extend((job, i) for i in range(len(texts)))
            if client is not None:
                self._held[client] = self._held.get(client, 0) + len(texts)
            self._cond.notify()
        try:
            return await job.future
        finally:
            if timer is not None:
                timer.cancel()

    def _live(self, batch: list[_Item]) -> list[_Item]:
        """Drop the items of requests that stopped waiting, counting them by reason."""
        live = [item for item in batch if not item[0].future.done()]
        if len(live) < len(batch) and self.on_drop is not None:
            for job, _ in batch:
                if job.future.cancelled():
                    self._count_drop("disconnected")
                elif job.future.done() and isinstance(job.future.exception(), DeadlineExceeded):
                    self._count_drop("timeout")
        return live

    def _count_drop(self, reason: str) -> None:
        """Call ``on_drop`` on a lane's thread, where a failing callback must not end the lane."""
        assert self.on_drop is not None
        try:
            self.on_drop(reason, 1)
        except Exception:
            logger.warning("the dropped-texts callback failed; the lane goes on", exc_info=True)

    def _take(self, batch: list[_Item], size: int) -> None:
        while self._items and len(batch) < size:
            item = self._items.popleft()
            client = item[0].client
            if client is not None:  # out of the queue: no longer charged to its client
                left = self._held.get(client, 0) - 1
                if left > 0:
                    self._held[client] = left
                else:
                    self._held.pop(client, None)
            if item[0].future.done():
                self._live([item])  # counted, never scored
                continue
            batch.append(item)

    def _next(self) -> tuple[list[_Item], float] | None:
        """Block until this lane has a batch; None once closing and nothing is left."""
        with self._cond:
            while True:
                while not self._items:
                    if self._closing:
                        return None
                    self._cond.wait()
                # What is waiting is shared among the idle lanes, so that no lane idles while another has it all.
                idle = self.lanes - self._busy
                size = max(1, min(self.batch_limit(), -(-len(self._items) // idle)))
                batch: list[_Item] = []
                self._take(batch, size)
                if 1 < len(batch) < size and self.max_wait > 0:
                    # Others are waiting too: give stragglers up to max_wait to join this batch.
                    deadline = time.perf_counter() + self.max_wait
                    while len(batch) < size and (left := deadline - time.perf_counter()) > 0:
                        self._cond.wait(left)
                        self._take(batch, size)
                    batch = self._live(batch)
                if not batch:
                    continue
                cost = self.cost.seconds(len(batch))
                self._busy += 1
                self._in_flight += len(batch)  # counted now, for the admission of the very next request
                self._in_flight_cost += cost
                return batch, cost

    def _lane(self) -> None:
        """One lane's thread; it never dies: a bug here fails this batch's requests only."""
        while (taken := self._next()) is not None:
            batch, cost = taken
            answers: _Answers = []
            try:
                self._score(batch, answers)
            except Exception as exc:
                answers = [(_fail, (batch, exc))]
            with self._cond:  # free before answering: the next request's admission sees this lane idle
                self._busy -= 1
                self._in_flight -= len(batch)
                self._in_flight_cost = max(0.0, self._in_flight_cost - cost)
            for callback, args in answers:
                self._post(callback, *args)

    def _post(self, callback: Callable[..., None], *args: Any) -> None:
        """Run ``callback`` on the loop, which owns the requests' futures."""
        assert self._loop is not None, "start() first"
        with contextlib.suppress(RuntimeError):  # a closed loop: nobody waits for these answers any more
            self._loop.call_soon_threadsafe(callback, *args)

    def _run_infer(self, batch: list[_Item]) -> Any:
        probs = self.infer([job.texts[i] for job, i in batch])
        if len(probs) != len(batch):
            raise _WrongCount(f"the model returned {len(probs)} results for {len(batch)} texts")
        return probs

    def _score(self, batch: list[_Item], answers: _Answers) -> None:
        started = time.perf_counter()
        try:
            probs = self._run_infer(batch)
        except _WrongCount:
            raise  # a bug of the model wrapper, not of a text: fails the batch
        except Exception as exc:
            self._isolate(batch, exc, answers)
            return
        elapsed = time.perf_counter() - started
        self.cost.observe(len(batch), elapsed)
        if self.on_batch is not None:
            try:
                self.on_batch(len(batch), elapsed)
            except Exception:  # metrics: never a reason to fail the requests of a batch that scored
                logger.warning("the batch callback failed; the answers go out", exc_info=True)
        answers.append((_deliver, (batch, probs)))

    def _isolate(self, batch: list[_Item], error: Exception, answers: _Answers) -> None:
        """Bisect a failed batch: answer every text that scores, and find the ones that fail alone."""
        failed: list[tuple[_Item, BaseException]] = []
        if len(batch) == 1:
            failed.append((batch[0], error))
            stack: list[list[_Item]] = []
        else:
            middle = len(batch) // 2
            stack = [batch[middle:], batch[:middle]]
        while stack:
            group = [item for item in stack.pop() if not item[0].future.done()]
            if not group:
                continue
            try:
                probs = self._run_infer(group)
            except _WrongCount:
                raise
            except Exception as exc:
                if len(group) == 1:
                    failed.append((group[0], exc))
                else:
                    middle = len(group) // 2
                    stack += [group[middle:], group[:middle]]
                continue
            answers.append((_deliver, (group, probs)))
        if not failed:
            return
        healthy = True
        if self.probe is not None:
            try:
                self.probe()
            except Exception:
                healthy = False  # the model fails on a known-good text too: a server fault, not the text's
        answers.append((_fail_items, (failed, healthy)))


def _join(threads: list[threading.Thread]) -> None:
    for thread in threads:
        thread.join()


def _expire(job: _Job, timeout: float) -> None:
    if not job.future.done():
        job.future.set_exception(DeadlineExceeded(f"no answer within {timeout:g} s"))


def _deliver(batch: list[_Item], probs: Any) -> None:
    for (job, i), p in zip(batch, probs, strict=True):
        if job.future.done():
            continue
        job.results[i] = float(p)
        job.remaining -= 1
        if job.remaining == 0:
            job.future.set_result(job.results)


def _fail(batch: list[_Item], exc: BaseException) -> None:
    for job, _ in batch:
        if not job.future.done():
            job.future.set_exception(exc)


def _fail_items(failed: list[tuple[_Item, BaseException]], healthy: bool) -> None:
    for (job, i), cause in failed:
        if not job.future.done():
            job.future.set_exception(ItemFailed(i, cause) if healthy else cause)
