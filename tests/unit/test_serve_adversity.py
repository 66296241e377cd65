"""The server under adversity: bad texts fail alone, the log cannot go blind, overload stays bounded."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import struct
import sys
import threading
import time
from collections.abc import AsyncIterator, Callable, Coroutine
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from hsctl.serve.app import create_app
from hsctl.serve.model import ServedModel
from hsctl.serve.priority import LoopPriority
from hsctl.settings import load_settings

RELAXED = {"max_queue_delay_ms": 60_000, "request_timeout_s": 60}  # no shedding unless a test asks for it


def make_app(model: Path, tmp: Path, **serve: Any) -> FastAPI:
    overrides: dict[str, Any] = {"paths.artifacts": str(tmp / "artifacts"), "serve.backend": "onnx-auto"}
    overrides.update({f"serve.{k}": v for k, v in {**RELAXED, **serve}.items()})
    return create_app(load_settings(overrides).settings, model)


@asynccontextmanager
async def client(model: Path, tmp: Path, **serve: Any) -> AsyncIterator[tuple[httpx.AsyncClient, FastAPI]]:
    app = make_app(model, tmp, **serve)
    transport = httpx.ASGITransport(app=app)
    async with app.router.lifespan_context(app), httpx.AsyncClient(transport=transport, base_url="http://test") as c:
        yield c, app


def run(coro: Callable[[], Coroutine[Any, Any, None]]) -> None:
    asyncio.run(coro())


def metric(text: str, name: str) -> float:
    return sum(float(line.rsplit(" ", 1)[1]) for line in text.splitlines() if line.startswith(name))


def log_records(tmp: Path) -> list[dict[str, Any]]:
    files = sorted((tmp / "artifacts" / "predictions").glob("*.jsonl"))
    return [json.loads(line) for f in files for line in f.read_text(encoding="utf-8").splitlines()]


@pytest.fixture
def poisoned(monkeypatch: pytest.MonkeyPatch) -> list[list[str]]:
    """The model raises on any batch holding a text with "poison" in it (as a tokenizer bug would)."""
    calls: list[list[str]] = []
    original = ServedModel.predict_proba

    def predict_proba(self: ServedModel, texts: list[str]) -> Any:
        calls.append(list(texts))
        time.sleep(0.005)  # long enough for concurrent requests to pile up into one micro-batch
        if any("poison" in t for t in texts):
            raise TypeError("TextEncodeInput must be Union[TextInputSequence, Tuple[InputSequence, InputSequence]]")
        return original(self, texts)

    monkeypatch.setattr(ServedModel, "predict_proba", predict_proba)
    return calls


def test_a_text_failing_in_the_model_fails_only_its_request(
    quantized_model: Path,
    tmp_path: Path,
    poisoned: list[list[str]],
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
):
    # The only lane holds its first batch until every other text is queued, so the rest (poison included)
    # share one micro-batch whatever the timing of the machine.
    first: list[int] = []
    release = threading.Event()
    poisoned_model = ServedModel.predict_proba

    def held_at_first(self: ServedModel, texts: list[str]) -> Any:
        if not first:
            first.append(len(texts))
            release.wait(10)
        return poisoned_model(self, texts)

    monkeypatch.setattr(ServedModel, "predict_proba", held_at_first)

    async def main() -> None:
        async with client(quantized_model, tmp_path, max_wait_ms=20, batch_lanes=1) as (c, app):
            good = [c.post("/predict", json={"text": f"a perfectly normal text {i}"}) for i in range(40)]
            bad = c.post("/predict", json={"texts": ["fine", "fine too", "this is poison"]})
            v2_bad = c.post(
                "/v2/models/hsctl/infer",
                json={"inputs": [{"name": "t", "shape": [2], "datatype": "BYTES", "data": ["poison", "ok"]}]},
            )
            sent = asyncio.gather(*good, bad, v2_bad)
            batcher = app.state.hsctl.batcher
            for _ in range(1000):  # 45 texts in all: those of the held batch, and the rest queued
                if first and first[0] + batcher.depth == 45:
                    break
                await asyncio.sleep(0.01)
            release.set()
            responses = await sent
            assert [r.status_code for r in responses[:40]] == [200] * 40
            assert responses[40].status_code == 422
            assert responses[40].json() == {
                "error": "text 2 could not be scored (TypeError)",
                "type": "unprocessable_text",
            }
            assert responses[41].status_code == 422 and responses[41].json()["error"].startswith("text 0 ")
            assert any(len(call) > 3 and any("poison" in t for t in call) for call in poisoned)  # really batched
            metrics = (await c.get("/metrics")).text
            assert 'hsctl_requests_total{endpoint="/predict",status="200"} 40.0' in metrics
        records = log_records(tmp_path)
        assert len(records) == 40 and not any("poison" in r["text"] for r in records)

    with caplog.at_level(logging.WARNING, logger="hsctl.serve"):
        run(main)
    warnings = [r for r in caplog.records if r.name == "hsctl.serve"]
    assert 1 <= len(warnings) <= 2 and all(r.exc_info is None for r in warnings)  # one line, no traceback


def test_a_broken_model_is_a_500_without_traceback(
    quantized_model: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
):
    async def main() -> None:
        async with client(quantized_model, tmp_path) as (c, app):
            state = app.state.hsctl

            def broken(texts: list[str]) -> Any:
                raise RuntimeError("onnxruntime session died")

            monkeypatch.setattr(state.model.predictor, "predict_proba", broken)
            response = await c.post("/predict", json={"text": "hello"})
            assert response.status_code == 500
            assert response.json() == {"error": "internal error: RuntimeError", "type": "internal"}

    with caplog.at_level(logging.ERROR, logger="hsctl.serve"):
        run(main)
    errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert len(errors) == 1 and "onnxruntime session died" in errors[0].getMessage() and errors[0].exc_info is None


INVALID = [
    ('"\\ud800"', "lone surrogate U+D800 at character 0"),
    ('"abc \\udfff def"', "lone surrogate U+DFFF at character 4"),
    ('"see https://example.org/\\ud83d now"', "lone surrogate U+D83D at character 24"),  # hidden in a URL
]


@pytest.mark.parametrize(("literal", "problem"), INVALID)
def test_invalid_unicode_is_a_422_naming_the_text_and_the_log_stays_healthy(
    quantized_model: Path, tmp_path: Path, literal: str, problem: str
):
    async def main() -> None:
        async with client(quantized_model, tmp_path) as (c, _app):
            body = ('{"texts": ["fine", ' + literal + "]}").encode()
            v2 = '{"inputs": [{"name": "t", "shape": [2], "datatype": "BYTES", "data": ["ok", ' + literal + "]}]}"
            neighbours = [c.post("/predict", json={"text": f"neighbour {i}"}) for i in range(20)]
            results = await asyncio.gather(
                c.post("/predict", content=body), c.post("/v2/models/hsctl/infer", content=v2.encode()), *neighbours
            )
            for response in results[:2]:
                assert response.status_code == 422
                assert response.json() == {
                    "error": f"text 1 is not valid Unicode ({problem}); it is not scored",
                    "type": "invalid_text",
                }
            assert all(r.status_code == 200 for r in results[2:])
            assert (await c.get("/v2/health/ready")).status_code == 200
            metrics = (await c.get("/metrics")).text
            assert metric(metrics, "hsctl_prediction_log_dropped_total") == 0
        assert len(log_records(tmp_path)) == 20

    run(main)


def test_every_answered_text_is_logged_or_counted_even_when_the_writer_dies(quantized_model: Path, tmp_path: Path):
    async def main() -> None:
        async with client(quantized_model, tmp_path) as (c, app):
            log = app.state.hsctl.log
            ok = [(await c.post("/predict", json={"texts": [f"early {i}", "x"]})).status_code for i in range(5)]
            assert ok == [200] * 5
            deadline = time.monotonic() + 10
            while log.records < 10 and time.monotonic() < deadline:  # the writer has caught up
                await asyncio.sleep(0.01)

            def crash(records: list[dict[str, Any]]) -> None:
                raise SystemExit("simulated writer crash")

            log._write_lines = crash
            answered = 10
            for i in range(5):
                response = await c.post("/predict", json={"text": f"late {i}"})
                answered += response.status_code == 200
            deadline = time.monotonic() + 10
            while log.alive and time.monotonic() < deadline:
                await asyncio.sleep(0.01)
            ready = await c.get("/v2/health/ready")
            assert ready.status_code == 503
            assert ready.json() == {"ready": False, "reason": "the prediction-log writer has stopped"}
            metrics = (await c.get("/metrics")).text
            dropped = metric(metrics, 'hsctl_prediction_log_dropped_total{reason="writer_stopped"}')
            assert dropped >= 1
        written = len(log_records(tmp_path))
        assert written + log.dropped >= answered == 15  # the invariant: nothing answered is silently missing
        assert written >= 10  # the records before the crash are there

    run(main)


async def asgi_post(app: FastAPI, path: str, body: bytes, disconnect: asyncio.Event) -> list[dict[str, Any]]:
    """A raw ASGI request whose client disconnects when ``disconnect`` is set."""
    sent: list[dict[str, Any]] = []
    delivered = False

    async def receive() -> dict[str, Any]:
        nonlocal delivered
        if not delivered:
            delivered = True
            return {"type": "http.request", "body": body, "more_body": False}
        await disconnect.wait()
        return {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": [(b"host", b"test"), (b"content-length", str(len(body)).encode())],
        "client": ("127.0.0.1", 1234),
        "server": ("test", 80),
    }
    await app(scope, receive, send)
    return sent


@pytest.fixture
def slow_model(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    seen: list[str] = []
    original = ServedModel.predict_proba

    def predict_proba(self: ServedModel, texts: list[str]) -> Any:
        seen.extend(texts)
        time.sleep(0.3)
        return original(self, texts)

    monkeypatch.setattr(ServedModel, "predict_proba", predict_proba)
    return seen


def test_disconnected_clients_are_dropped_before_inference(quantized_model: Path, tmp_path: Path, slow_model):
    async def main() -> None:
        # One lane: the busy request holds the only one, so the others wait in the queue.
        async with client(quantized_model, tmp_path, max_batch_size=1, batch_lanes=1) as (c, app):
            slow_model.clear()
            never = asyncio.Event()
            busy = asyncio.create_task(asgi_post(app, "/predict", b'{"text": "keeps the model busy"}', never))
            await asyncio.sleep(0.05)
            left = asyncio.Event()
            gone = asyncio.create_task(asgi_post(app, "/predict", b'{"text": "client gone"}', left))
            v2_gone = asyncio.create_task(
                asgi_post(
                    app,
                    "/v2/models/hsctl/infer",
                    b'{"inputs": [{"name": "t", "shape": [1], "datatype": "BYTES", "data": ["v2 client gone"]}]}',
                    left,
                )
            )
            await asyncio.sleep(0.05)
            left.set()
            assert await gone == [] and await v2_gone == []  # nothing sent to a client that left
            first = await busy
            assert first[0]["status"] == 200
            assert (await c.post("/predict", json={"text": "after"})).status_code == 200
            assert "client gone" not in slow_model and "v2 client gone" not in slow_model
            metrics = (await c.get("/metrics")).text
            assert metric(metrics, 'hsctl_texts_dropped_total{reason="disconnected"}') == 2
            assert 'hsctl_requests_total{endpoint="/predict",status="499"} 1.0' in metrics
        assert {r["text"] for r in log_records(tmp_path)} == {"keeps the model busy", "after"}

    run(main)


def test_request_timeout_is_503_and_the_text_is_never_scored(quantized_model: Path, tmp_path: Path, slow_model):
    async def main() -> None:
        async with client(
            quantized_model, tmp_path, max_batch_size=1, batch_lanes=1, request_timeout_s=0.1, retry_after_s=3
        ) as (
            c,
            _app,
        ):
            slow_model.clear()
            busy = asyncio.create_task(c.post("/predict", json={"text": "busy"}))
            await asyncio.sleep(0.05)
            late = await c.post("/predict", json={"text": "too late"})
            assert late.status_code == 503 and late.headers["retry-after"] == "3"
            assert late.json() == {"error": "server busy: no answer within 0.1 s", "type": "timeout"}
            assert (await busy).status_code == 503  # it waited over 0.1 s for the slow model too
            await asyncio.sleep(0.4)
            assert "too late" not in slow_model
            metrics = (await c.get("/metrics")).text
            assert metric(metrics, 'hsctl_texts_dropped_total{reason="timeout"}') == 1

    run(main)


def test_overload_is_shed_at_once_before_the_body_is_parsed(quantized_model: Path, tmp_path: Path, slow_model):
    async def main() -> None:
        async with client(quantized_model, tmp_path, max_batch_size=1, retry_after_s=2) as (
            c,
            app,
        ):
            batcher = app.state.hsctl.batcher
            waiting = [asyncio.create_task(c.post("/predict", json={"text": f"queued {i}"})) for i in range(4)]
            await asyncio.sleep(0.05)
            assert batcher.expected_wait() > 0
            batcher.max_delay = batcher.expected_wait() * 0.9  # the next request would wait too long
            started = time.perf_counter()
            shed = await c.post("/predict", content=b"{not even json")
            assert time.perf_counter() - started < 0.1  # at once, not after the queue
            assert shed.status_code == 503 and shed.headers["retry-after"] == "2"
            assert shed.json()["type"] == "overloaded"
            assert shed.json()["error"].startswith("server busy: expected wait ")
            v2 = await c.post("/v2/models/hsctl/infer", content=b"{}")
            assert v2.status_code == 503
            assert (await c.get("/v2/health/live")).status_code == 200  # only prediction requests are shed
            assert [r.status_code for r in await asyncio.gather(*waiting)] == [200] * 4
            metrics = (await c.get("/metrics")).text
            assert 'hsctl_requests_total{endpoint="/predict",status="503"} 1.0' in metrics
            assert 'hsctl_requests_total{endpoint="/predict",status="200"} 4.0' in metrics
            assert 'hsctl_requests_total{endpoint="/v2/models/{model_name}/infer",status="503"} 1.0' in metrics
            assert "hsctl_expected_wait_seconds" in metrics

    run(main)


def test_a_connection_just_shed_is_looked_at_again_only_after_the_backoff(
    quantized_model: Path, tmp_path: Path, slow_model
):
    """A client that ignores Retry-After cannot make shedding a busy loop; other connections are not slowed."""

    async def main() -> None:
        app = make_app(quantized_model, tmp_path, max_batch_size=1, batch_lanes=1, shed_backoff_ms=1500)

        def connection(port: int) -> httpx.AsyncClient:
            transport = httpx.ASGITransport(app=app, client=("127.0.0.1", port))
            return httpx.AsyncClient(transport=transport, base_url="http://test")

        async with app.router.lifespan_context(app), connection(1) as one, connection(2) as two:
            batcher = app.state.hsctl.batcher
            busy = asyncio.create_task(two.post("/predict", json={"text": "keeps the model busy"}))
            await asyncio.sleep(0.05)
            batcher.max_delay = 1e-6  # anything that would wait is shed
            started = time.perf_counter()
            shed = await one.post("/predict", json={"text": "shed"})
            assert shed.status_code == 503 and time.perf_counter() - started < 0.5  # the 503 itself: at once
            batcher.max_delay = 60.0  # from now on everything is admitted
            again = asyncio.create_task(one.post("/predict", json={"text": "same connection, right away"}))
            other = await two.post("/predict", json={"text": "another connection"})
            assert other.status_code == 200 and (await busy).status_code == 200
            assert not again.done()  # still in its backoff while the other connection was answered
            assert (await again).status_code == 200  # then admitted as usual
            assert time.perf_counter() - started >= 1.5

    run(main)


def binary_body(texts: list[bytes], **outputs: bool) -> tuple[bytes, dict[str, str]]:
    raw = b"".join(struct.pack("<I", len(t)) + t for t in texts)
    head: dict[str, Any] = {
        "inputs": [
            {"name": "text", "shape": [len(texts)], "datatype": "BYTES", "parameters": {"binary_data_size": len(raw)}}
        ]
    }
    if outputs:
        head["outputs"] = [{"name": k, "parameters": {"binary_data": v}} for k, v in outputs.items()]
    json_part = json.dumps(head).encode()
    return json_part + raw, {"Inference-Header-Content-Length": str(len(json_part))}


def parse_v2(response: httpx.Response) -> dict[str, list[Any]]:
    size = int(response.headers.get("inference-header-content-length", len(response.content)))
    head = json.loads(response.content[:size])
    rest = response.content[size:]
    out: dict[str, list[Any]] = {}
    for tensor in head["outputs"]:
        n = (tensor.get("parameters") or {}).get("binary_data_size")
        if n is None:
            out[tensor["name"]] = tensor["data"]
            continue
        raw, rest = rest[:n], rest[n:]
        if tensor["datatype"] == "FP32":
            out[tensor["name"]] = list(struct.unpack(f"<{n // 4}f", raw))
        else:
            items, pos = [], 0
            while pos < len(raw):
                (length,) = struct.unpack_from("<I", raw, pos)
                items.append(raw[pos + 4 : pos + 4 + length].decode())
                pos += 4 + length
            out[tensor["name"]] = items
    assert rest == b""
    return out


def test_v2_binary_tensor_data(quantized_model: Path, tmp_path: Path):
    async def main() -> None:
        async with client(quantized_model, tmp_path) as (c, _app):
            assert (await c.get("/v2")).json()["extensions"] == ["binary_tensor_data"]
            texts = ["what a lovely morning", "ünïcödé and emoji 🤬", "third"]
            expected = (await c.post("/predict", json={"texts": texts})).json()["predictions"]
            body, headers = binary_body([t.encode() for t in texts], label=True, hate_probability=True)
            response = await c.post("/v2/models/hsctl/infer", content=body, headers=headers)
            assert response.status_code == 200, response.text
            assert response.headers["content-type"] == "application/octet-stream"
            out = parse_v2(response)
            assert out["label"] == [p["label"] for p in expected]
            assert out["hate_probability"] == pytest.approx([p["hate_probability"] for p in expected], abs=1e-6)
            mixed_body, mixed_headers = binary_body([t.encode() for t in texts], label=False, hate_probability=True)
            mixed = parse_v2(await c.post("/v2/models/hsctl/infer", content=mixed_body, headers=mixed_headers))
            assert mixed["label"] == out["label"]
            json_out = await c.post(
                "/v2/models/hsctl/infer", content=binary_body([b"one"])[0], headers=binary_body([b"one"])[1]
            )
            assert json_out.headers["content-type"] == "application/json" and "data" in json_out.json()["outputs"][0]
            # Invalid UTF-8 is the same error as a lone surrogate, naming the text.
            bad_body, bad_headers = binary_body([b"fine", b"\xff\xfe broken"])
            bad = await c.post("/v2/models/hsctl/infer", content=bad_body, headers=bad_headers)
            assert bad.status_code == 422 and bad.json()["type"] == "invalid_text"
            assert bad.json()["error"].startswith("text 1 is not valid UTF-8")
            for content, header, kind in [
                (body, "12x", "invalid_binary"),
                (body, str(len(body) + 1), "invalid_binary"),
                (body[:-2], headers["Inference-Header-Content-Length"], "invalid_binary"),
                (body + b"xx", headers["Inference-Header-Content-Length"], "invalid_binary"),
            ]:
                response = await c.post(
                    "/v2/models/hsctl/infer", content=content, headers={"Inference-Header-Content-Length": header}
                )
                assert response.status_code == 400 and response.json()["type"] == kind, (header, response.text)
            unknown = {
                "inputs": [{"name": "t", "shape": [1], "datatype": "BYTES", "data": ["a"]}],
                "outputs": [{"name": "x"}],
            }
            response = await c.post("/v2/models/hsctl/infer", json=unknown)
            assert response.status_code == 422 and "unknown output 'x'" in response.json()["error"]

    run(main)


def test_docs_pages_work_offline(quantized_model: Path, tmp_path: Path):
    async def main() -> None:
        async with client(quantized_model, tmp_path) as (c, _app):
            for page, assets in [
                ("/docs", ["/docs-static/swagger-ui-bundle.js", "/docs-static/swagger-ui.css"]),
                ("/redoc", ["/docs-static/redoc.standalone.js"]),
            ]:
                html = (await c.get(page)).text
                assert "http://" not in html and "https://" not in html, page  # nothing from a CDN or Google Fonts
                for asset in assets:
                    assert f'"{asset}"' in html
                    response = await c.get(asset)
                    assert response.status_code == 200 and len(response.content) > 100_000
                    assert response.headers["content-type"].startswith(("text/javascript", "text/css"))
            assert (await c.get("/docs-static/../../settings.py")).status_code == 404
            assert (await c.get("/docs-static/LICENSE-redoc")).status_code == 404

    run(main)


def test_openapi_document_is_accurate(quantized_model: Path, tmp_path: Path):
    async def main() -> None:
        async with client(quantized_model, tmp_path) as (c, _app):
            schema = (await c.get("/openapi.json")).json()
        paths = schema["paths"]
        assert "HTTPValidationError" not in json.dumps(schema)
        assert "securitySchemes" not in schema.get("components", {})  # no key set: nothing to declare
        predict = paths["/predict"]["post"]["responses"]
        assert set(predict) == {"200", "400", "413", "415", "422", "500", "503"}
        ok = predict["200"]["content"]["application/json"]["schema"]
        assert {ref["$ref"].rsplit("/", 1)[1] for ref in ok["anyOf"]} == {"Prediction", "Predictions"}
        for status in ("400", "413", "422", "500", "503"):
            assert predict[status]["content"]["application/json"]["schema"]["$ref"].endswith("/ErrorBody")
        assert "Retry-After" in predict["503"]["headers"]
        infer = paths["/v2/models/{model_name}/infer"]["post"]
        assert set(infer["responses"]) == {"200", "400", "404", "413", "415", "422", "500", "503"}
        assert set(infer["requestBody"]["content"]) == {"application/json", "application/octet-stream"}
        assert infer["responses"]["200"]["content"]["application/json"]["schema"]["$ref"].endswith("/InferResponse")
        assert "application/octet-stream" in infer["responses"]["200"]["content"]
        assert set(paths["/metrics"]["get"]["responses"]["200"]["content"]) == {"text/plain"}
        assert paths["/v2/health/ready"]["get"]["responses"]["503"]["content"]["application/json"]["schema"][
            "$ref"
        ].endswith("/Ready")
        assert set(paths["/v2/models/{model_name}"]["get"]["responses"]) == {"200", "404", "503"}
        kinds = schema["components"]["schemas"]["ErrorBody"]["properties"]["type"]["enum"]
        assert {"invalid_text", "unprocessable_text", "overloaded", "timeout", "invalid_binary"} <= set(kinds)

    run(main)


@pytest.mark.parametrize("protect_health", [False, True])
def test_openapi_declares_the_api_key(quantized_model: Path, tmp_path: Path, protect_health: bool):
    async def main() -> None:
        async with client(quantized_model, tmp_path, api_key="s3cret", protect_health=protect_health) as (c, _app):
            schema = (await c.get("/openapi.json")).json()
        schemes = schema["components"]["securitySchemes"]
        assert schemes["APIKeyHeader"] == {"type": "apiKey", "in": "header", "name": "X-API-Key"}
        assert schemes["HTTPBearer"] == {"type": "http", "scheme": "bearer"}
        predict = schema["paths"]["/predict"]["post"]
        assert predict["security"] == [{"APIKeyHeader": []}, {"HTTPBearer": []}] and "401" in predict["responses"]
        metrics = schema["paths"]["/metrics"]["get"]
        assert ("security" in metrics) is protect_health and ("401" in metrics["responses"]) is protect_health

    run(main)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="per-thread niceness is Linux's")
def test_the_loop_yields_the_cpu_only_while_shedding_and_only_its_own_thread():
    seen: list[int] = []
    priority = LoopPriority(5, restore_after_s=0.05)

    def nice() -> int:
        return os.getpriority(os.PRIO_PROCESS, threading.get_native_id())

    def loop_thread() -> None:
        seen.append(nice())
        priority.calm()  # nothing shed: nothing changes
        seen.append(nice())
        priority.shed()
        priority.shed()  # once is enough
        seen.append(nice())
        priority.calm()  # too early to restore
        seen.append(nice())
        time.sleep(0.06)
        priority.calm()
        seen.append(nice())

    main_before = nice()
    thread = threading.Thread(target=loop_thread)
    thread.start()
    thread.join()
    base = seen[0]
    assert seen[1] == base and seen[2] == seen[3] == min(19, base + 5)
    if priority.can_restore:  # root or CAP_SYS_NICE
        assert seen[4] == base and not priority.lowered
    else:
        assert seen[4] == seen[3] and priority.lowered
    assert nice() == main_before  # other threads keep their priority
    assert not LoopPriority(0).enabled


@pytest.mark.parametrize("spinning", [False, True])
def test_onnx_threads_sleep_when_idle_unless_asked_to_spin(quantized_model: Path, tmp_path: Path, spinning: bool):
    async def main() -> None:
        async with client(quantized_model, tmp_path, onnx_spinning=spinning) as (c, app):
            options = app.state.hsctl.model.predictor.session.get_session_options()
            if spinning:  # ONNX Runtime's default: the entry is not set at all
                with pytest.raises(RuntimeError, match="does not have configuration"):
                    options.get_session_config_entry("session.intra_op.allow_spinning")
            else:
                assert options.get_session_config_entry("session.intra_op.allow_spinning") == "0"
            assert (await c.post("/predict", json={"text": "still scores"})).status_code == 200

    run(main)


def test_compressed_bodies_are_inflated_within_the_body_limit(quantized_model: Path, tmp_path: Path):
    import gzip
    import zlib

    payload = json.dumps({"texts": ["a normal text", "another one"]}).encode()

    async def main() -> None:
        async with client(quantized_model, tmp_path, max_body_bytes=4096) as (c, _app):
            plain = await c.post("/predict", content=payload)
            for encoding, body in (("gzip", gzip.compress(payload)), ("deflate", zlib.compress(payload))):
                r = await c.post("/predict", content=body, headers={"Content-Encoding": encoding})
                assert r.status_code == 200, r.text
                unlogged = [
                    [{k: v for k, v in x.items() if k != "prediction_id"} for x in y.json()["predictions"]]
                    for y in (r, plain)
                ]  # prediction ids are new for every prediction
                assert unlogged[0] == unlogged[1]
            infer = {"inputs": [{"name": "text", "datatype": "BYTES", "shape": [1], "data": ["hello"]}]}
            r = await c.post(
                "/v2/models/hsctl/infer",
                content=gzip.compress(json.dumps(infer).encode()),
                headers={"Content-Encoding": "gzip"},
            )
            assert r.status_code == 200, r.text
            # A 40-byte bomb that inflates to 1 MB is refused without inflating it all.
            bomb = gzip.compress(b" " * 1_000_000)
            assert len(bomb) < 4096
            r = await c.post("/predict", content=bomb, headers={"Content-Encoding": "gzip"})
            assert r.status_code == 413 and r.json()["type"] == "body_too_large"
            r = await c.post("/predict", content=b"not gzip at all", headers={"Content-Encoding": "gzip"})
            assert r.status_code == 400 and r.json()["type"] == "invalid_encoding"
            r = await c.post("/predict", content=gzip.compress(payload)[:-12], headers={"Content-Encoding": "gzip"})
            assert r.status_code == 400 and r.json()["type"] == "invalid_encoding"
            r = await c.post("/predict", content=payload, headers={"Content-Encoding": "br"})
            assert r.status_code == 415 and r.json()["type"] == "unsupported_encoding"

    run(main)


def test_versioned_v2_routes_answer_for_the_served_version_only(quantized_model: Path, tmp_path: Path):
    async def main() -> None:
        async with client(quantized_model, tmp_path) as (c, _app):
            meta = (await c.get("/v2/models/hsctl")).json()
            version = meta["versions"][0]
            assert (await c.get(f"/v2/models/hsctl/versions/{version}")).json() == meta
            assert (await c.get(f"/v2/models/hsctl/versions/{version}/ready")).json()["ready"] is True
            body = {"inputs": [{"name": "text", "datatype": "BYTES", "shape": [2], "data": ["hi there", "you idiot"]}]}
            versioned = await c.post(f"/v2/models/hsctl/versions/{version}/infer", json=body)
            plain = await c.post("/v2/models/hsctl/infer", json=body)
            assert versioned.status_code == 200, versioned.text
            same = [[o for o in r.json()["outputs"] if o["name"] != "prediction_id"] for r in (versioned, plain)]
            assert same[0] == same[1]  # prediction ids are new for every prediction
            assert versioned.json()["model_version"] == version
            for path in ("/v2/models/hsctl/versions/nope/infer", "/v2/models/other/versions/x/infer"):
                r = await c.post(path, json=body)
                assert r.status_code == 404 and r.json()["type"] == "not_found"
            assert (await c.get("/v2/models/hsctl/versions/nope")).status_code == 404
            metrics = (await c.get("/metrics")).text
            assert 'endpoint="/v2/models/{model_name}/versions/{model_version}/infer"' in metrics

    run(main)
