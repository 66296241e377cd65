"""Fair admission: a few clients sending the largest requests cannot shed everyone else."""

from __future__ import annotations

import asyncio
import threading
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from hsctl.serve.app import create_app
from hsctl.serve.batching import MicroBatcher, Overloaded
from hsctl.serve.model import ServedModel
from hsctl.settings import load_settings

DELAY_MS = 100.0


def batcher() -> MicroBatcher:
    """A batcher whose model costs exactly 1 ms per text (no lanes started: what is queued stays queued)."""
    b = MicroBatcher(lambda texts: [0.5] * len(texts), max_batch_size=64, max_wait_ms=0, max_queue=10_000,
                     max_queue_delay_ms=DELAY_MS)  # fmt: skip
    b.warm([(1, 0.001), (64, 0.064), (8, 0.008)])
    return b


def admitted(b: MicroBatcher, client: str | None, texts: int = 1) -> bool:
    try:
        b.check_admission(client, texts)
    except Overloaded:
        return False
    return True


async def queue(b: MicroBatcher, client: str | None, texts: int) -> asyncio.Task[list[float]]:
    task = asyncio.create_task(b.submit([f"t{i}" for i in range(texts)], client=client))
    await asyncio.sleep(0)  # the task queues its texts and waits
    return task


def test_a_client_over_its_share_is_shed_at_half_the_limit_and_a_light_one_is_admitted():
    async def main() -> None:
        b = batcher()
        tasks = [await queue(b, "heavy", 60)]  # an idle batcher admits: 60 texts queued, about 61 ms of wait
        assert 50 < b.expected_wait() * 1000 < DELAY_MS
        assert admitted(b, "heavy", 64)  # alone, a client has the whole queue, as before
        assert admitted(b, "light", 1)  # a second client: within its share (half the queue)
        assert not admitted(b, "heavy", 64)  # now over its share, past half the limit
        assert not admitted(b, "heavy", 1)  # whatever its request's size: it holds 60 of 60 queued texts
        assert admitted(b, None, 64)  # a request without a known client is judged by the wait alone
        tasks.append(await queue(b, "light", 1))
        assert b._held == {"heavy": 60, "light": 1}
        assert admitted(b, "other", 20)  # a third client asking for less than a third
        assert not admitted(b, "other", 40)  # but not for more than its share
        # The light client is admitted up to the full limit, and no further.
        tasks.append(await queue(b, None, 40))  # no client: charged to nobody
        assert b.expected_wait() * 1000 > DELAY_MS
        assert not admitted(b, "light", 1)
        for task in tasks:
            task.cancel()

    asyncio.run(main())


def test_an_over_share_client_is_admitted_while_the_wait_is_under_half_the_limit():
    async def main() -> None:
        b = batcher()
        task = await queue(b, "heavy", 30)
        assert b.expected_wait() * 1000 < DELAY_MS / 2
        assert admitted(b, "light", 1)
        assert b.over_share("heavy", 1) and admitted(b, "heavy", 1)  # over its share, but the queue is short
        assert not admitted(b, "heavy", 30)  # its own 30 texts would take the wait past half the limit
        assert admitted(b, "light", 30)  # within its share: judged as before, by the wait ahead
        task.cancel()

    asyncio.run(main())


def test_a_client_leaves_the_shares_after_the_window():
    async def main() -> None:
        b = batcher()
        task = await queue(b, "heavy", 60)
        assert admitted(b, "light", 1) and not admitted(b, "heavy", 64)
        b._seen["light"] = time.monotonic() - 60  # the light client has not been seen for a minute
        b._pruned = 0.0
        assert admitted(b, "heavy", 64)  # alone again: the whole queue
        assert "light" not in b._seen
        task.cancel()

    asyncio.run(main())


def test_queued_texts_are_charged_to_their_client_until_they_leave_the_queue():
    async def main() -> None:
        b = MicroBatcher(lambda texts: [0.5] * len(texts), max_batch_size=8, max_wait_ms=0, max_queue=1000)
        await b.start()
        try:
            answers = await asyncio.gather(
                *(b.submit([f"{c} {i}" for i in range(n)], client=c) for c, n in [("a", 20), ("b", 3), ("a", 5)])
            )
            assert [len(a) for a in answers] == [20, 3, 5]
        finally:
            await b.stop()
        assert b._held == {}
        # Texts dropped from the queue (their client left) are no longer charged either.
        idle = batcher()
        kept, left = await queue(idle, "a", 3), await queue(idle, "b", 2)
        left.cancel()
        await asyncio.sleep(0)
        assert idle._held == {"a": 3, "b": 2}
        taken: list[Any] = []
        with idle._cond:
            idle._take(taken, 64)
        assert len(taken) == 3 and idle._held == {}
        kept.cancel()

    asyncio.run(main())


def test_the_server_sheds_the_heavy_client_and_admits_the_light_one(
    quantized_model: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    """End to end: the gateway and the app name the client by its address; the batcher judges by it."""
    armed, release = threading.Event(), threading.Event()
    original = ServedModel.predict_proba

    def held(self: ServedModel, texts: list[str]) -> Any:
        if armed.is_set():
            release.wait(10)  # the only lane holds its batch: the rest stays queued
        return original(self, texts)

    monkeypatch.setattr(ServedModel, "predict_proba", held)

    async def main() -> None:
        overrides = {
            "paths.artifacts": str(tmp_path / "artifacts"),
            "serve.backend": "onnx-auto",
            "serve.batch_lanes": 1,
            "serve.request_timeout_s": 60,
            "serve.shed_backoff_ms": 0,
            "serve.log_predictions": False,
        }
        app = create_app(load_settings(overrides).settings, quantized_model)

        def from_address(address: str) -> httpx.AsyncClient:
            transport = httpx.ASGITransport(app=app, client=(address, 40000))
            return httpx.AsyncClient(transport=transport, base_url="http://test")

        async with (
            app.router.lifespan_context(app),
            from_address("10.0.0.1") as heavy,
            from_address("10.0.0.2") as light,
        ):
            b = app.state.hsctl.batcher
            b.cost = type(b.cost)()
            b.warm([(1, 0.001), (64, 0.064), (8, 0.008)])  # 1 ms a text, whatever this machine's speed
            b.max_delay = 0.2
            armed.set()
            big = {"texts": [f"heavy text {i}" for i in range(64)]}
            first = asyncio.create_task(heavy.post("/predict", json=big))
            second = asyncio.create_task(heavy.post("/predict", json=big))
            for _ in range(1000):  # one batch held in the lane, the other queued
                if b.depth + b._in_flight == 128:
                    break
                await asyncio.sleep(0.01)
            assert 0.1 < b.expected_wait() < 0.2  # over half the limit, under the limit
            kept = asyncio.create_task(light.post("/predict", json={"text": "a light request"}))
            for _ in range(1000):
                if b._held.get("10.0.0.2"):
                    break
                await asyncio.sleep(0.01)
            shed = await heavy.post("/predict", json=big)  # before, admitted: the wait is under the limit
            assert shed.status_code == 503 and "over its share" in shed.json()["error"]
            release.set()
            assert (await kept).status_code == 200
            assert [(await t).status_code for t in (first, second)] == [200, 200]

    asyncio.run(main())
