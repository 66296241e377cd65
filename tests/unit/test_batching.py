from __future__ import annotations

import asyncio
import threading
import time

import pytest

from hsctl.serve.batching import BatchCost, DeadlineExceeded, ItemFailed, MicroBatcher, Overloaded, QueueFull


class Model:
    """A fake model: sleeps ``delay`` per call, scores len(text), fails on texts containing "boom"."""

    def __init__(self, delay: float = 0.02, broken: bool = False) -> None:
        self.delay = delay
        self.broken = broken
        self.calls: list[list[str]] = []
        self.lock = threading.Lock()

    def __call__(self, texts: list[str]) -> list[float]:
        time.sleep(self.delay)
        with self.lock:
            self.calls.append(list(texts))
        if self.broken or any("boom" in t for t in texts):
            raise RuntimeError("model failure")
        return [float(len(t)) for t in texts]

    def probe(self) -> None:
        if self.broken:
            raise RuntimeError("model failure")

    @property
    def seen(self) -> list[str]:
        return [t for call in self.calls for t in call]


def make(max_batch_size: int = 8, max_wait_ms: float = 5.0, max_queue: int = 100, delay: float = 0.02, **kw):
    model = Model(delay, broken=kw.pop("broken", False))
    drops: list[tuple[str, int]] = []
    batcher = MicroBatcher(
        model,
        max_batch_size=max_batch_size,
        max_wait_ms=max_wait_ms,
        max_queue=max_queue,
        probe=model.probe,
        on_drop=lambda reason, n: drops.append((reason, n)),
        **kw,
    )
    return batcher, model, drops


def test_concurrent_requests_are_coalesced_in_order():
    async def main() -> None:
        batcher, model, _ = make()
        await batcher.start()
        requests = [["x" * (i + 1)] for i in range(20)] + [["a", "bb", "ccc"]]
        results = await asyncio.gather(*(batcher.submit(r) for r in requests))
        await batcher.stop()
        assert results[:20] == [[float(i + 1)] for i in range(20)]
        assert results[20] == [1.0, 2.0, 3.0]
        sizes = [len(c) for c in model.calls]
        assert max(sizes) <= 8
        assert len(sizes) < 21  # fewer model calls than requests
        assert sum(sizes) == 23

    asyncio.run(main())


def test_lone_request_does_not_wait():
    async def main() -> None:
        batcher, _, _ = make(max_wait_ms=2000, delay=0)
        await batcher.start()
        started = time.perf_counter()
        assert await batcher.submit(["hello"]) == [5.0]
        assert time.perf_counter() - started < 0.5
        await batcher.stop()

    asyncio.run(main())


def test_full_queue_rejects():
    assert QueueFull is Overloaded  # the old name still works

    async def main() -> None:
        batcher, _, _ = make(max_queue=3, delay=0.2)
        await batcher.start()
        first = asyncio.create_task(batcher.submit(["a"]))
        await asyncio.sleep(0.05)  # the first batch is running, the queue is empty again
        waiting = asyncio.create_task(batcher.submit(["b", "c"]))
        await asyncio.sleep(0)
        with pytest.raises(Overloaded, match="already queued"):
            await batcher.submit(["d", "e"])
        assert await first == [1.0] and await waiting == [1.0, 1.0]
        await batcher.stop()
        with pytest.raises(Overloaded, match="shutting down"):
            await batcher.submit(["late"])

    asyncio.run(main())


def test_a_failing_text_fails_only_its_own_request():
    async def main() -> None:
        batcher, model, _ = make(max_batch_size=16, max_wait_ms=20)
        await batcher.start()
        blocker = asyncio.create_task(batcher.submit(["first"]))  # so that the rest queue up and share a batch
        await asyncio.sleep(0.005)
        good = [asyncio.create_task(batcher.submit([f"good {i}"])) for i in range(6)]
        bad = asyncio.create_task(batcher.submit(["fine", "a boom here", "also fine"]))
        more = [asyncio.create_task(batcher.submit([f"more {i}", "x"])) for i in range(3)]
        assert await blocker == [5.0]
        assert [await t for t in good] == [[6.0]] * 6
        assert [await t for t in more] == [[6.0, 1.0]] * 3
        with pytest.raises(ItemFailed) as failed:
            await bad
        assert failed.value.index == 1 and "text 1" in str(failed.value)
        assert isinstance(failed.value.cause, RuntimeError)
        assert any(len(call) > 4 and "a boom here" in call for call in model.calls)  # it really was batched
        assert await batcher.submit(["after"]) == [5.0]  # the worker lives on
        await batcher.stop()

    asyncio.run(main())


def test_a_broken_model_is_a_server_error_not_the_text():
    async def main() -> None:
        batcher, _, _ = make(broken=True)
        await batcher.start()
        results = await asyncio.gather(batcher.submit(["a"]), batcher.submit(["b", "c"]), return_exceptions=True)
        assert all(type(r) is RuntimeError for r in results)  # not ItemFailed: the probe failed too
        await batcher.stop()

    asyncio.run(main())


def test_admission_by_expected_wait():
    async def main() -> None:
        batcher, _, _ = make(max_batch_size=4, max_wait_ms=0, delay=0.04, max_queue_delay_ms=105)
        batcher.check_admission()  # nothing measured yet: admitted
        batcher.warm([(1, 0.01), (4, 0.04)])  # no fixed cost, 10 ms per text
        assert batcher.cost.fit() == pytest.approx((0.0, 0.01))
        await batcher.start()
        tasks = [asyncio.create_task(batcher.submit([f"t{i}"])) for i in range(7)]
        await asyncio.sleep(0)
        # 4 texts in flight, 3 queued, and the new request's own text: 10 ms each
        assert batcher.expected_wait() == pytest.approx(0.08)
        batcher.check_admission()
        tasks += [asyncio.create_task(batcher.submit([f"u{i}"])) for i in range(3)]
        await asyncio.sleep(0)  # the last of them expected its answer in 100 ms: admitted
        with pytest.raises(Overloaded, match="expected wait 110 ms is over the 105 ms limit"):
            await batcher.submit(["shed"])
        assert len(await asyncio.gather(*tasks)) == 10
        batcher.check_admission()  # drained: admitted again
        await batcher.stop()

    asyncio.run(main())


def test_timed_out_and_cancelled_requests_never_reach_the_model():
    async def main() -> None:
        batcher, model, drops = make(max_batch_size=1, max_wait_ms=0, delay=0.1)
        await batcher.start()
        running = asyncio.create_task(batcher.submit(["running"]))
        await asyncio.sleep(0.01)
        with pytest.raises(DeadlineExceeded):
            await batcher.submit(["too late"], timeout=0.03)
        gone = asyncio.create_task(batcher.submit(["client left"]))
        await asyncio.sleep(0.01)
        gone.cancel()  # what the app does when the client disconnects
        assert await running == [7.0]
        assert await batcher.submit(["next"]) == [4.0]
        assert model.seen == ["running", "next"]
        assert sorted(drops) == [("disconnected", 1), ("timeout", 1)]
        await batcher.stop()

    asyncio.run(main())


def test_wrong_result_count_fails_the_batch_not_the_worker():
    async def main() -> None:
        calls = 0

        def infer(texts: list[str]) -> list[float]:
            nonlocal calls
            calls += 1
            return [0.5] * (len(texts) + (1 if calls == 1 else 0))

        batcher = MicroBatcher(infer, max_batch_size=4, max_wait_ms=0, max_queue=10)
        await batcher.start()
        with pytest.raises(RuntimeError, match="returned 2 results for 1 texts"):
            await batcher.submit(["a"])
        assert await batcher.submit(["b"]) == [0.5]
        await batcher.stop()

    asyncio.run(main())


def test_stop_answers_queued_work():
    async def main() -> None:
        batcher, _, _ = make(max_batch_size=2, delay=0.05)
        await batcher.start()
        tasks = [asyncio.create_task(batcher.submit([str(i)])) for i in range(6)]
        await asyncio.sleep(0)
        await batcher.stop()
        assert [t.result() for t in tasks] == [[1.0]] * 6

    asyncio.run(main())


def test_batch_cost_separates_fixed_and_per_text_time():
    cost = BatchCost()
    assert not cost.known and cost.seconds(10) == 0.0
    for n in (1, 7, 64, 3, 64, 32, 64):
        cost.observe(n, 0.005 + 0.001 * n)
    fixed, per_text = cost.fit()
    assert fixed == pytest.approx(0.005) and per_text == pytest.approx(0.001)
    assert cost.seconds(64) == pytest.approx(0.069) and cost.seconds(0) == 0.0
    steady = BatchCost()
    for _ in range(5):
        steady.observe(64, 0.128)  # every batch full: no spread to fit, the time per text of those batches
    assert steady.fit() == pytest.approx((0.0, 0.002))


def test_expected_wait_counts_batches_not_just_texts():
    async def main() -> None:
        batcher, _, _ = make(max_batch_size=4, delay=0.2, max_wait_ms=0)
        batcher.warm([(1, 0.015), (4, 0.030)])  # 10 ms per batch plus 5 ms per text
        await batcher.start()
        tasks = [asyncio.create_task(batcher.submit([f"t{i}"])) for i in range(7)]
        await asyncio.sleep(0)
        # in flight: 4 texts (30 ms); queued: 3 texts, which the next request joins: one batch of 4 (30 ms)
        assert batcher.expected_wait() == pytest.approx(0.060)
        await asyncio.gather(*tasks)
        await batcher.stop()

    asyncio.run(main())


def test_batches_shrink_when_one_would_take_over_half_the_delay_limit():
    async def main() -> None:
        batcher, model, _ = make(max_batch_size=16, max_wait_ms=0, delay=0, max_queue_delay_ms=100)
        assert batcher.batch_limit() == 16  # nothing measured yet
        batcher.warm([(1, 0.01), (4, 0.04)])  # 10 ms per text: 5 texts fill half of the 100 ms limit
        assert batcher.batch_limit() == 5
        await batcher.start()
        await asyncio.gather(*(batcher.submit([f"t{i}"]) for i in range(8)))
        assert max(len(call) for call in model.calls) <= 5
        await batcher.stop()

    asyncio.run(main())


def test_an_idle_worker_always_admits_so_a_stale_estimate_heals():
    async def main() -> None:
        batcher, _, _ = make(max_batch_size=4, max_wait_ms=0, delay=0.002, max_queue_delay_ms=100)
        batcher.warm([(1, 5.0), (4, 20.0)])  # a moment when the machine was 500 times slower
        assert batcher.expected_wait() > 1
        batcher.check_admission()  # idle: admitted all the same
        await batcher.start()
        for _ in range(100):  # each lone request is a new, fast batch: the estimate comes back down
            assert await batcher.submit(["x"]) == [1.0]
        assert batcher.expected_wait() < 0.1
        await batcher.stop()

    asyncio.run(main())


class Gate:
    """A fake model whose calls block until released, recording how many run at once."""

    def __init__(self) -> None:
        self.release = threading.Event()
        self.lock = threading.Lock()
        self.running = 0
        self.most = 0
        self.calls: list[list[str]] = []

    def __call__(self, texts: list[str]) -> list[float]:
        with self.lock:
            self.running += 1
            self.most = max(self.most, self.running)
            self.calls.append(list(texts))
        self.release.wait(5)
        with self.lock:
            self.running -= 1
        return [float(len(t)) for t in texts]


def test_lanes_score_batches_at_the_same_time_and_share_the_queue():
    async def main() -> None:
        gate = Gate()
        batcher = MicroBatcher(gate, max_batch_size=8, max_wait_ms=0, max_queue=100, lanes=2)
        await batcher.start()
        first = asyncio.create_task(batcher.submit(["a"]))
        await asyncio.sleep(0.05)  # lane 1 holds "a"
        rest = [asyncio.create_task(batcher.submit(["b" * (i + 2)])) for i in range(6)]
        await asyncio.sleep(0.05)  # lane 2 takes what waits
        assert gate.most == 2  # two batches in the model at once
        gate.release.set()
        assert await first == [1.0]
        assert [await t for t in rest] == [[float(i + 2)] for i in range(6)]
        await batcher.stop()
        assert sorted(len(c) for c in gate.calls) == [1, 6]  # the second lane took all that waited

    asyncio.run(main())


def test_queued_texts_are_split_among_idle_lanes():
    async def main() -> None:
        gate = Gate()
        batcher = MicroBatcher(gate, max_batch_size=64, max_wait_ms=0, max_queue=100, lanes=2)
        # Queued before the lanes start: 10 texts, 2 idle lanes -> 5 each, not 10 on one lane and none on the other.
        tasks = [asyncio.create_task(batcher.submit([f"t{i}"])) for i in range(10)]
        await asyncio.sleep(0)
        assert batcher.depth == 10
        await batcher.start()
        await asyncio.sleep(0.05)
        assert sorted(len(c) for c in gate.calls) == [5, 5]
        gate.release.set()
        assert len(await asyncio.gather(*tasks)) == 10
        await batcher.stop()

    asyncio.run(main())


def test_lanes_keep_scoring_while_the_event_loop_is_busy():
    """Lanes take their next batch themselves: a loop held up (say, answering a flood of 503s) never starves them."""

    async def main() -> None:
        batcher, model, _ = make(max_batch_size=2, max_wait_ms=0, delay=0.02)
        await batcher.start()
        tasks = [asyncio.create_task(batcher.submit([f"t{i}"])) for i in range(10)]
        await asyncio.sleep(0)  # all 10 queued
        time.sleep(0.5)  # the loop runs nothing for 0.5 s: 5 batches of 20 ms fit in it many times over
        assert sorted(model.seen) == sorted(f"t{i}" for i in range(10))
        assert await asyncio.gather(*tasks) == [[2.0]] * 10
        await batcher.stop()

    asyncio.run(main())


def test_expected_wait_shares_the_work_ahead_among_lanes():
    async def main() -> None:
        one, _, _ = make(max_batch_size=4, max_wait_ms=0, delay=0.05)
        two, _, _ = make(max_batch_size=4, max_wait_ms=0, delay=0.05, lanes=2)
        for batcher in (one, two):
            batcher.warm([(1, 0.01), (4, 0.04)])  # 10 ms per text
            batcher._items.extend((None, i) for i in range(8))  # type: ignore[arg-type]  # 2 full batches queued
        # one lane: 2 batches ahead (80 ms) + its own (10 ms); two lanes: the 80 ms shared by 2
        assert one.expected_wait() == pytest.approx(0.09)
        assert two.expected_wait() == pytest.approx(0.05)

    asyncio.run(main())


def test_stop_waits_for_every_lane():
    async def main() -> None:
        batcher, model, _ = make(max_batch_size=1, max_wait_ms=0, delay=0.05, lanes=3)
        await batcher.start()
        tasks = [asyncio.create_task(batcher.submit([f"t{i}"])) for i in range(6)]
        await asyncio.sleep(0)
        await batcher.stop()
        assert [t.result() for t in tasks] == [[2.0]] * 6
        assert len(model.calls) == 6

    asyncio.run(main())


def test_lanes_must_be_positive():
    with pytest.raises(ValueError, match="lanes"):
        MicroBatcher(lambda texts: texts, max_batch_size=1, max_wait_ms=0, max_queue=1, lanes=0)


def test_a_failing_drop_callback_does_not_end_the_lane(caplog: pytest.LogCaptureFixture):
    def broken_counter(reason: str, count: int) -> None:
        raise RuntimeError("metrics backend down")

    async def main() -> None:
        model = Model(delay=0.1)
        batcher = MicroBatcher(model, max_batch_size=1, max_wait_ms=0, max_queue=10, on_drop=broken_counter)
        await batcher.start()
        running = asyncio.create_task(batcher.submit(["running"]))
        await asyncio.sleep(0.02)
        gone = asyncio.create_task(batcher.submit(["client left"]))
        await asyncio.sleep(0)
        gone.cancel()  # its text is dropped when the lane next looks at the queue: the callback raises there
        assert await running == [7.0]
        assert await asyncio.wait_for(batcher.submit(["next"]), 5) == [4.0]  # the only lane is still alive
        assert model.seen == ["running", "next"]
        await batcher.stop()

    with caplog.at_level("WARNING", logger="hsctl.serve"):
        asyncio.run(main())
    assert "dropped-texts callback failed" in caplog.text


def test_a_failing_batch_callback_does_not_fail_the_answers(caplog: pytest.LogCaptureFixture):
    def broken_observer(size: int, seconds: float) -> None:
        raise RuntimeError("metrics backend down")

    async def main() -> None:
        batcher = MicroBatcher(Model(delay=0), max_batch_size=4, max_wait_ms=0, max_queue=10, on_batch=broken_observer)
        await batcher.start()
        assert await asyncio.wait_for(batcher.submit(["abc", "de"]), 5) == [3.0, 2.0]
        await batcher.stop()

    with caplog.at_level("WARNING", logger="hsctl.serve"):
        asyncio.run(main())
    assert "batch callback failed" in caplog.text
