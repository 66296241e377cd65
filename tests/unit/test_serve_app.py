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
    overrides = {"paths.artifacts": str(tmp / "artifacts"), "serve.backend": "onnx-auto"}
    overrides.update({f"serve.{k}": v for k, v in serve.items()})
    app = create_app(load_settings(overrides).settings, model)
    transport = httpx.ASGITransport(app=app)
    async with app.router.lifespan_context(app), httpx.AsyncClient(transport=transport, base_url="http://test") as c:
        yield c


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
