from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable, Coroutine
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hsctl.serve.app import create_app
from hsctl.settings import load_settings


@asynccontextmanager
async def client(model: Path, tmp: Path, **serve: Any) -> AsyncIterator[httpx.AsyncClient]:
    async with app_client(model, tmp, **serve) as (c, _state):
        yield c


@asynccontextmanager
async def app_client(model: Path, tmp: Path, **serve: Any) -> AsyncIterator[tuple[httpx.AsyncClient, Any]]:
    """A client of the app, and the app's state, whose fast path is wrapped to count the requests it answers."""
    overrides = {"paths.artifacts": str(tmp / "artifacts"), "serve.backend": "onnx-auto"}
    overrides.update({f"serve.{k}": v for k, v in serve.items()})
    app = create_app(load_settings(overrides).settings, model)
    state = app.state.hsctl
    state.fast_answers = 0
    if state.fast_predict is not None:
        inner = state.fast_predict

        async def counted(scope: Any, body: bytes, send: Any) -> bool:
            handled = await inner(scope, body, send)
            state.fast_answers += handled
            return handled

        state.fast_predict = counted
    transport = httpx.ASGITransport(app=app)
    async with app.router.lifespan_context(app), httpx.AsyncClient(transport=transport, base_url="http://test") as c:
        yield c, state


def run(coro: Callable[[], Coroutine[Any, Any, None]]) -> None:
    asyncio.run(coro())


def test_predict_single_and_batch(quantized_model: Path, tmp_path: Path):
    async def main() -> None:
        async with client(quantized_model, tmp_path) as c:
            one = await c.post("/predict", content=b'{"text": "hello there"}')  # curl -d: no JSON content type
            assert one.status_code == 200
            body = one.json()
            assert body["label"] in {"hate", "non-hate"} and 0 <= body["hate_probability"] <= 1
            assert body["model_version"].startswith("tiny@") and 0 < body["threshold"] < 1
            many = await c.post("/predict", json={"texts": ["a b c", "all glorbians are worthless"]})
            assert many.status_code == 200 and len(many.json()["predictions"]) == 2

    run(main)


def test_v2_protocol(quantized_model: Path, tmp_path: Path):
    async def main() -> None:
        async with client(quantized_model, tmp_path) as c:
            assert (await c.get("/v2/health/live")).json() == {"live": True}
            assert (await c.get("/v2/health/ready")).status_code == 200
            assert (await c.get("/v2")).json()["name"] == "hsctl"
            meta = (await c.get("/v2/models/hsctl")).json()
            assert meta["platform"] == "onnxruntime" and meta["inputs"][0]["datatype"] == "BYTES"
            assert (await c.get("/v2/models/hsctl/ready")).json()["ready"] is True
            request = {
                "id": "r1",
                "inputs": [{"name": "text", "shape": [2, 1], "datatype": "BYTES", "data": [["a"], ["b"]]}],
            }
            out = (await c.post("/v2/models/hsctl/infer", json=request)).json()
            assert out["id"] == "r1" and out["model_name"] == "hsctl"
            outputs = {o["name"]: o for o in out["outputs"]}
            assert outputs["label"]["shape"] == [2] and outputs["hate_probability"]["datatype"] == "FP32"
            assert (await c.post("/v2/models/other/infer", json=request)).status_code == 404
            bad_type = {"inputs": [{"name": "text", "shape": [1], "datatype": "FP32", "data": [1.0]}]}
            assert (await c.post("/v2/models/hsctl/infer", json=bad_type)).status_code == 422
            bad_shape = {"inputs": [{"name": "text", "shape": [3], "datatype": "BYTES", "data": ["a"]}]}
            assert (await c.post("/v2/models/hsctl/infer", json=bad_shape)).status_code == 422

    run(main)


@pytest.mark.parametrize(
    ("body", "status", "kind"),
    [
        (b"{bad json", 400, "invalid_json"),
        (b'\xff\xfe{"text": "x"}', 400, "invalid_json"),
        (b'{"text": 5}', 422, "invalid_request"),
        (b'{"texts": "not a list"}', 422, "invalid_request"),
        (b'{"text": "a", "texts": ["b"]}', 422, "invalid_request"),
        (b'{"unknown": 1}', 422, "invalid_request"),
        (b'{"text": "   "}', 422, "empty_text"),
        (b'{"texts": []}', 422, "invalid_request"),
        (b'{"text": "' + b"x" * 201 + b'"}', 413, "text_too_long"),
        (json.dumps({"texts": ["a"] * 9}).encode(), 413, "too_many_texts"),
        (b'{"text": "' + b"x" * 5000 + b'"}', 413, "body_too_large"),
    ],
)
def test_bad_input_gets_4xx_json(quantized_model: Path, tmp_path: Path, body: bytes, status: int, kind: str):
    async def main() -> None:
        async with client(quantized_model, tmp_path, max_text_chars=200, max_batch_items=8, max_body_bytes=4096) as c:
            response = await c.post("/predict", content=body)
            assert response.status_code == status
            assert response.json()["type"] == kind and response.json()["error"]

    run(main)


def test_streamed_body_over_limit(quantized_model: Path, tmp_path: Path):
    async def chunks() -> AsyncIterator[bytes]:
        for _ in range(10):
            yield b"x" * 1024

    async def main() -> None:
        async with client(quantized_model, tmp_path, max_body_bytes=4096) as c:
            response = await c.post("/predict", content=chunks())  # no Content-Length
            assert response.status_code == 413

    run(main)


def test_api_key(quantized_model: Path, tmp_path: Path):
    async def main() -> None:
        async with client(quantized_model, tmp_path, api_key="s3cret") as c:
            assert (await c.post("/predict", json={"text": "x"})).status_code == 401
            assert (await c.post("/predict", json={"text": "x"}, headers={"X-API-Key": "wrong"})).status_code == 401
            assert (await c.post("/predict", json={"text": "x"}, headers={"X-API-Key": "s3cret"})).status_code == 200
            bearer = {"Authorization": "Bearer s3cret"}
            assert (await c.post("/predict", json={"text": "x"}, headers=bearer)).status_code == 200
            assert (await c.get("/v2/health/ready")).status_code == 200
            assert (await c.get("/metrics")).status_code == 200
        async with client(quantized_model, tmp_path, api_key="s3cret", protect_health=True) as c:
            assert (await c.get("/metrics")).status_code == 401

    run(main)


def test_metrics(quantized_model: Path, tmp_path: Path):
    async def main() -> None:
        async with client(quantized_model, tmp_path) as c:
            secret_text = "a very particular sentence"
            await c.post("/predict", json={"texts": [secret_text, "another one"]})
            await c.post("/predict", content=b"{bad")
            text = (await c.get("/metrics")).text
            assert 'hsctl_requests_total{endpoint="/predict",status="200"} 1.0' in text
            assert 'hsctl_requests_total{endpoint="/predict",status="400"} 1.0' in text
            assert "hsctl_request_duration_seconds_bucket" in text
            assert "hsctl_batch_size_bucket" in text and "hsctl_queue_depth" in text
            assert "hsctl_predictions_total{label=" in text
            assert 'hsctl_model_info{backend="onnx-int8"' in text
            assert secret_text not in text

    run(main)


def test_queue_full_is_503_with_retry_after(quantized_model: Path, tmp_path: Path):
    async def main() -> None:
        async with client(quantized_model, tmp_path, max_queue=1, retry_after_s=7) as c:
            response = await c.post("/predict", json={"texts": ["a", "b"]})
            assert response.status_code == 503
            assert response.headers["retry-after"] == "7" and response.json()["type"] == "overloaded"

    run(main)


def test_not_ready_before_lifespan(quantized_model: Path, tmp_path: Path):
    async def main() -> None:
        app = create_app(load_settings({"paths.artifacts": str(tmp_path)}).settings, quantized_model)
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test") as c:
            assert (await c.get("/v2/health/ready")).status_code == 503
            assert (await c.post("/predict", json={"text": "x"})).status_code == 503

    run(main)


def test_page_and_docs(quantized_model: Path, tmp_path: Path):
    async def main() -> None:
        async with client(quantized_model, tmp_path) as c:
            page = await c.get("/")
            assert page.status_code == 200 and 'id="classify"' in page.text and "tiny@" in page.text
            assert (await c.get("/docs")).status_code == 200
            schema = (await c.get("/openapi.json")).json()
            assert "/predict" in schema["paths"] and "/v2/models/{model_name}/infer" in schema["paths"]

    run(main)


@pytest.mark.parametrize("mode", ["text", "sha256", "none"])
def test_prediction_log(quantized_model: Path, tmp_path: Path, mode: str):
    async def main() -> None:
        async with client(quantized_model, tmp_path, log_text=mode, log_max_bytes=1024) as c:
            for i in range(12):
                assert (await c.post("/predict", json={"texts": [f"text number {i}", "x"]})).status_code == 200
        files = sorted((tmp_path / "artifacts" / "predictions").glob("*.jsonl"))
        assert len(files) > 1  # rotated by size
        records = [json.loads(line) for f in files for line in f.read_text().splitlines()]
        assert len(records) == 24
        assert {"time", "hate_probability", "label", "model_version", "latency_ms"} <= set(records[0])
        if mode == "text":
            assert {r["text"] for r in records} >= {f"text number {i}" for i in range(12)}
        elif mode == "sha256":
            assert all(len(r["text_sha256"]) == 64 and "text" not in r for r in records)
        else:
            assert all("text" not in r and "text_sha256" not in r for r in records)

    run(main)


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=30),
    lambda children: (
        st.lists(children, max_size=4)
        | st.dictionaries(st.sampled_from(["text", "texts", "inputs", "x"]), children, max_size=3)
    ),
    max_leaves=12,
)


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow]
)
@given(payload=st.one_of(json_values.map(lambda v: json.dumps(v).encode()), st.binary(max_size=200)))
def test_no_input_gives_a_500(quantized_model: Path, tmp_path: Path, payload: bytes):
    async def main() -> None:
        async with client(quantized_model, tmp_path, log_predictions=False) as c:
            for path in ("/predict", "/v2/models/hsctl/infer"):
                response = await c.post(path, content=payload)
                assert response.status_code < 500, (path, payload, response.text)
                assert response.headers["content-type"].startswith("application/json")

    run(main)


REQUESTS = [
    ({"text": "hello there"}, {"X-Request-ID": "abc-1"}),
    ({"texts": ["a b c", "all glorbians are worthless"]}, {}),
    ({"text": "\ud800 lone surrogate"}, {}),  # 422 from the texts check, raised while scoring
    ({"text": ""}, {}),
    ({"texts": []}, {}),
]


def test_fast_path_answers_exactly_as_the_app(quantized_model: Path, tmp_path: Path):
    """The same requests to a server on the fast path and to one on the app's path (CORS on) get the same answers."""

    async def answers(**serve: Any) -> tuple[list[tuple[int, Any, str | None, str]], int]:
        out = []
        async with app_client(quantized_model, tmp_path, **serve) as (c, state):
            for body, headers in REQUESTS:
                r = await c.post("/predict", content=json.dumps(body).encode(), headers=headers)
                rid = r.headers.get("x-request-id")
                out.append((r.status_code, r.json(), rid if headers else None, r.headers["content-type"]))
                if r.status_code == 200 and not headers:
                    assert rid and len(rid) == 32  # a random id when the client gave none
        return out, state.fast_answers

    fast, fast_count = asyncio.run(answers(log_predictions=False))
    slow, slow_count = asyncio.run(answers(log_predictions=False, cors_origins=["https://example.org"]))
    assert fast == slow
    assert [a[0] for a in fast] == [200, 200, 422, 422, 422]
    assert fast_count == len(REQUESTS) and slow_count == 0


@pytest.mark.parametrize(
    "body",
    [b"{bad json", b'{"text": 5}', b'{"text": "a", "texts": ["b"]}', b'{"text": "x", "extra": 1}', b"[]"],
)
def test_bodies_the_fast_path_cannot_take_get_the_apps_answer(quantized_model: Path, tmp_path: Path, body: bytes):
    async def main() -> None:
        async with app_client(quantized_model, tmp_path, log_predictions=False) as (c, state):
            r = await c.post("/predict", content=body)
            assert r.status_code in (400, 422) and set(r.json()) == {"error", "type"}
            assert state.fast_answers == 0

    run(main)


def test_the_gateway_stands_in_front_of_the_framework(quantized_model: Path, tmp_path: Path):
    """A valid /predict never enters FastAPI (its telemetry check, error middleware, router); the rest does."""

    async def main() -> None:
        async with app_client(quantized_model, tmp_path, log_predictions=False) as (c, state):
            app = c._transport.app  # type: ignore[attr-defined]
            gateway = app.gateway
            entered: list[str] = []
            framework = gateway.app

            async def counted(scope: Any, receive: Any, send: Any) -> None:
                entered.append(scope["path"])
                await framework(scope, receive, send)

            gateway.app = counted
            ok = await c.post("/predict", json={"text": "hello"})
            assert ok.status_code == 200 and state.fast_answers == 1
            assert entered == []
            bad = await c.post("/predict", content=b"{bad json")
            assert bad.status_code == 400 and entered == ["/predict"]  # the app words the error
            assert (await c.get("/v2/health/ready")).status_code == 200 and entered[-1] == "/v2/health/ready"

    run(main)


def test_fast_path_checks_the_api_key(quantized_model: Path, tmp_path: Path):
    async def main() -> None:
        async with app_client(quantized_model, tmp_path, api_key="s3cret", log_predictions=False) as (
            c,
            state,
        ):
            wrong = await c.post("/predict", json={"text": "x"}, headers={"X-API-Key": "wrong"})
            assert wrong.status_code == 401 and wrong.headers["www-authenticate"] == "Bearer"
            assert state.fast_answers == 0  # refused by the app, which words the 401
            ok = await c.post("/predict", json={"text": "x"}, headers={"Authorization": "Bearer s3cret"})
            assert ok.status_code == 200 and state.fast_answers == 1

    run(main)


def test_a_fault_on_the_fast_path_is_one_line_and_a_500(
    quantized_model: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
):
    from hsctl.serve.model import ServedModel

    def broken(self: Any, probabilities: list[float]) -> Any:
        raise RuntimeError("decision bug")

    monkeypatch.setattr(ServedModel, "decide", broken)

    async def main() -> None:
        async with app_client(quantized_model, tmp_path, log_predictions=False) as (c, state):
            r = await c.post("/predict", json={"text": "x"})
            assert r.status_code == 500
            assert r.json() == {"error": "internal error: RuntimeError", "type": "internal"}
            assert state.fast_answers == 1
            ok = await c.get("/v2/health/live")
            assert ok.status_code == 200

    with caplog.at_level("ERROR", logger="hsctl.serve"):
        run(main)
    expected = "internal error on POST /predict: RuntimeError: decision bug"
    lines = [r for r in caplog.records if expected in r.getMessage()]
    assert len(lines) == 1 and lines[0].exc_info is None
