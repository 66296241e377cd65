from __future__ import annotations

import asyncio
import threading
import time

import pytest

from hsctl.serve.batching import MicroBatcher, QueueFull


def make(max_batch_size: int = 8, max_wait_ms: float = 5.0, max_queue: int = 100, delay: float = 0.02):
    sizes: list[int] = []
    lock = threading.Lock()

    def infer(texts: list[str]) -> list[float]:
        time.sleep(delay)
        with lock:
            sizes.append(len(texts))
        if "boom" in texts:
            raise RuntimeError("model failure")
        return [float(len(t)) for t in texts]

    batcher = MicroBatcher(infer, max_batch_size=max_batch_size, max_wait_ms=max_wait_ms, max_queue=max_queue)
    return batcher, sizes


def test_concurrent_requests_are_coalesced_in_order():
    async def main() -> None:
        batcher, sizes = make()
        await batcher.start()
        requests = [["x" * (i + 1)] for i in range(20)] + [["a", "bb", "ccc"]]
        results = await asyncio.gather(*(batcher.submit(r) for r in requests))
        await batcher.stop()
        assert results[:20] == [[float(i + 1)] for i in range(20)]
        assert results[20] == [1.0, 2.0, 3.0]
        assert max(sizes) <= 8
        assert len(sizes) < 21  # fewer model calls than requests
        assert sum(sizes) == 23

    asyncio.run(main())


def test_lone_request_does_not_wait():
    async def main() -> None:
        batcher, _ = make(max_wait_ms=2000, delay=0)
        await batcher.start()
        started = time.perf_counter()
        assert await batcher.submit(["hello"]) == [5.0]
        assert time.perf_counter() - started < 0.5
        await batcher.stop()

    asyncio.run(main())


def test_full_queue_rejects():
    async def main() -> None:
        batcher, _ = make(max_queue=3, delay=0.2)
        await batcher.start()
        first = asyncio.create_task(batcher.submit(["a"]))
        await asyncio.sleep(0.05)  # the first batch is running, the queue is empty again
        waiting = asyncio.create_task(batcher.submit(["b", "c"]))
        await asyncio.sleep(0)
        with pytest.raises(QueueFull):
            await batcher.submit(["d", "e"])
        assert await first == [1.0] and await waiting == [1.0, 1.0]
        await batcher.stop()
        with pytest.raises(QueueFull, match="shutting down"):
            await batcher.submit(["late"])

    asyncio.run(main())


def test_failed_batch_fails_its_requests_only():
    async def main() -> None:
        batcher, _ = make(max_batch_size=1)
        await batcher.start()
        bad = batcher.submit(["boom"])
        good = batcher.submit(["fine"])
        results = await asyncio.gather(bad, good, return_exceptions=True)
        assert isinstance(results[0], RuntimeError)
        assert results[1] == [4.0]
        await batcher.stop()

    asyncio.run(main())


def test_stop_answers_queued_work():
    async def main() -> None:
        batcher, _ = make(max_batch_size=2, delay=0.05)
        await batcher.start()
        tasks = [asyncio.create_task(batcher.submit([str(i)])) for i in range(6)]
        await asyncio.sleep(0)
        await batcher.stop()
        assert [t.result() for t in tasks] == [[1.0]] * 6

    asyncio.run(main())
