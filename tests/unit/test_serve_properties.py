"""Property tests of the server: schemathesis against its OpenAPI document, hypothesis over arbitrary texts.

* schemathesis generates requests for every operation from the document and checks
  that no answer is a 5xx and that every answer (status, content type, headers,
  body) conforms to the document;
* hypothesis sends arbitrary JSON strings (lone surrogates, NUL and control
  characters, combining marks, right-to-left text, emoji, texts around the
  2,000-character limit, URLs) to ``/predict`` and to v2 infer (JSON and binary),
  all at once: each request is answered as an oracle says, failures name the
  text, a bad text never hurts the requests beside it, and every text answered
  200 is in the prediction log (none is counted as dropped).
"""

from __future__ import annotations

import asyncio
import json
import struct
import threading
from collections.abc import Coroutine
from pathlib import Path
from typing import Any

import httpx
import pytest
import schemathesis
from fastapi import FastAPI
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis.checks import not_a_server_error
from schemathesis.generation.modes import GenerationMode
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from hsctl.core.text import normalize_text
from hsctl.serve.app import create_app
from hsctl.settings import NormalizeSettings, load_settings

RELAXED = {"serve.max_queue_delay_ms": 60_000, "serve.request_timeout_s": 120}
MAX_CHARS = 2000


def make_app(model: Path, artifacts: Path, **serve: Any) -> FastAPI:
    overrides: dict[str, Any] = {"paths.artifacts": str(artifacts), "serve.backend": "onnx-auto", **RELAXED}
    overrides.update({f"serve.{k}": v for k, v in serve.items()})
    return create_app(load_settings(overrides).settings, model)


# --- schemathesis ------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def api_schema(quantized_model: Path, tmp_path_factory: pytest.TempPathFactory) -> Any:
    app = make_app(quantized_model, tmp_path_factory.mktemp("schemathesis") / "artifacts", max_batch_items=8)
    return schemathesis.openapi.from_asgi("/openapi.json", app)


CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
]
OPERATIONS = [
    ("POST", "/predict"),
    ("POST", "/v2/models/{model_name}/infer"),
    ("GET", "/v2/models/{model_name}"),
    ("GET", "/v2/models/{model_name}/ready"),
    ("POST", "/v2/models/{model_name}/versions/{model_version}/infer"),
    ("GET", "/v2/models/{model_name}/versions/{model_version}"),
    ("GET", "/v2/models/{model_name}/versions/{model_version}/ready"),
    ("GET", "/v2"),
    ("GET", "/v2/health/live"),
    ("GET", "/v2/health/ready"),
    ("GET", "/metrics"),
]


def test_the_document_lists_every_operation(api_schema: Any) -> None:
    listed = {(op.ok().method.upper(), op.ok().path) for op in api_schema.get_all_operations()}
    assert listed == set(OPERATIONS)


# Negative data (a wrong body, a malformed binary header) exists only for the operations that take a body.
CASES = [(m, p, GenerationMode.POSITIVE) for m, p in OPERATIONS] + [
    (m, p, GenerationMode.NEGATIVE) for m, p in OPERATIONS if m == "POST"
]


# (schemathesis.pytest.from_fixture does not work with this pytest; the strategies are driven directly.)
@pytest.mark.parametrize(("method", "path", "mode"), CASES)
def test_every_answer_conforms_to_the_openapi_document(api_schema: Any, method: str, path: str, mode: Any) -> None:
    operation = api_schema[path][method]

    @settings(max_examples=30, deadline=None, suppress_health_check=list(HealthCheck))
    @given(case=operation.as_strategy(generation_mode=mode))
    def check(case: Any) -> None:
        case.call_and_validate(checks=CHECKS)

    check()


# --- hypothesis over arbitrary texts -----------------------------------------------------------------------------

SPECIAL = [
    "\x00", "\x07", "\x1b", "\x7f", "\u0301", "\u0308\u0308\u0308", "\u202e", "\u200f", "\u200b",
    "العربية", "עברית", "🤬", "👩\u200d👩\u200d👧", "🏳️\u200d🌈", "\ufeff", "\ufffd", "\u2028", "\n", "\t", " ",
    "&amp;", "&#xD800;", "@user", "https://x.io/", "\\", '"',
]  # fmt: skip
chars = st.one_of(st.characters(), st.characters(categories=["Cs"]), st.sampled_from(SPECIAL))
short_texts = st.lists(chars, max_size=30).map("".join)
long_texts = st.builds(
    lambda piece, n: (piece * n)[:n],
    st.lists(chars, min_size=1, max_size=4).map("".join),
    st.sampled_from([1999, 2000, 2001]),
)
url_texts = short_texts.map(lambda t: f"see https://example.org/{t} ok")
any_text = st.one_of(short_texts, short_texts, long_texts, url_texts)


def has_surrogate(text: str) -> bool:
    return any(0xD800 <= ord(c) <= 0xDFFF for c in text)


def verdict(text: str, *, binary: bool = False) -> tuple[int, str | None]:
    """The oracle: the status and error type one text gets on its own."""
    if binary and has_surrogate(text):
        return 422, "invalid_text"  # it cannot be UTF-8: decoding fails before any other check
    if not binary:
        text = json.loads(jbody(text))  # what the server reads: an escaped surrogate pair is one character
    if len(text) > MAX_CHARS:
        return 413, "text_too_long"
    if has_surrogate(text):
        return 422, "invalid_text"
    if not normalize_text(text, NormalizeSettings()):
        return 422, "empty_text"
    return 200, None


def batch_verdict(texts: list[str], *, binary: bool = False) -> tuple[int, str | None, int | None]:
    for i, text in enumerate(texts):
        status, kind = verdict(text, binary=binary)
        if status != 200:
            return status, kind, i
    return 200, None, None


class Runner:
    """The app, its lifespan and an HTTP client on an event loop of their own, for sync hypothesis examples."""

    def __init__(self, app: FastAPI) -> None:
        self.app = app
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        self.started = asyncio.Event()
        self.stop = asyncio.Event()
        self.lifespan = asyncio.run_coroutine_threadsafe(self._lifespan(), self.loop)
        self.run(self.started.wait())
        self.client = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test", timeout=120)

    async def _lifespan(self) -> None:
        async with self.app.router.lifespan_context(self.app):
            self.started.set()
            await self.stop.wait()

    def run(self, coro: Coroutine[Any, Any, Any]) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout=300)

    def close(self) -> None:
        async def finish() -> None:
            await self.client.aclose()
            self.stop.set()

        self.run(finish())
        self.lifespan.result(timeout=120)  # the lifespan has ended: the log is flushed and closed
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)


def jbody(value: Any) -> bytes:
    return json.dumps(value, ensure_ascii=True).encode()  # lone surrogates travel as \\udXXX escapes


def v2_binary(texts: list[str]) -> tuple[bytes, dict[str, str]]:
    raw = b"".join(struct.pack("<I", len(b)) + b for b in (t.encode("utf-8", "surrogatepass") for t in texts))
    head = jbody(
        {
            "inputs": [
                {"name": "t", "shape": [len(texts)], "datatype": "BYTES", "parameters": {"binary_data_size": len(raw)}}
            ]
        }
    )
    return head + raw, {"Inference-Header-Content-Length": str(len(head))}


def test_arbitrary_texts_fail_alone_name_the_text_and_every_answer_is_logged(quantized_model: Path, tmp_path: Path):
    runner = Runner(make_app(quantized_model, tmp_path / "artifacts"))
    answered: list[tuple[str, int]] = []  # (request id, texts) of every 200
    counter = iter(range(10**9))

    @settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))
    @given(texts=st.lists(any_text, min_size=1, max_size=4))
    def check(texts: list[str]) -> None:
        c = runner.client
        calls: list[tuple[str, int, Any, list[str], bool]] = []
        for text in texts:
            calls.append(("/predict", 1, jbody({"text": text}), [text], False))
        calls.append(("/predict", len(texts), jbody({"texts": texts}), texts, False))
        v2 = {"inputs": [{"name": "t", "shape": [len(texts)], "datatype": "BYTES", "data": texts}]}
        calls.append(("/v2/models/hsctl/infer", len(texts), jbody(v2), texts, False))
        calls.append(("/v2/models/hsctl/infer", len(texts), v2_binary(texts), texts, True))

        async def send() -> list[httpx.Response]:
            requests = []
            for path, _, body, _, _ in calls:
                rid = f"p{next(counter)}"
                content, headers = body if isinstance(body, tuple) else (body, {})
                requests.append(c.post(path, content=content, headers={**headers, "X-Request-ID": rid}))
            return list(await asyncio.gather(*requests))

        for (path, n, _, sent, binary), response in zip(calls, asyncio_run(send()), strict=True):
            status, kind, index = batch_verdict(sent, binary=binary)
            assert response.status_code == status, (path, sent, response.text)
            if status == 200:
                rid = response.headers["x-request-id"]
                answered.append((rid, n))
                size = int(response.headers.get("inference-header-content-length", len(response.content)))
                body = json.loads(response.content[:size])
                count = len(body["predictions"]) if "predictions" in body else 1
                if "outputs" in body:
                    count = body["outputs"][0]["shape"][0]
                assert count == n
            else:
                error = response.json()
                assert error["type"] == kind and error["error"].startswith(f"text {index} "), (path, sent, error)

    def asyncio_run(coro: Coroutine[Any, Any, Any]) -> Any:
        return runner.run(coro)

    try:
        check()
        log = runner.app.state.hsctl.log
        assert runner.run(runner.client.get("/v2/health/ready")).status_code == 200
    finally:
        runner.close()
    files = sorted((tmp_path / "artifacts" / "predictions").glob("*.jsonl"))
    logged = {(r["request_id"], r["index"]) for f in files for r in map(json.loads, f.read_text("utf-8").splitlines())}
    expected = {(rid, i) for rid, n in answered for i in range(n)}
    assert answered and log.dropped == 0 and log.records == len(expected)
    assert expected == logged  # every 200 is in the log: nothing dropped, nothing extra
