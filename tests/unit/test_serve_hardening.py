"""Malformed and hostile input: every answer is a JSON 4xx with a request id, never a 500, a redirect or a hang.

The ASGI tests drive the app in process; the connection tests run a real uvicorn
server on 127.0.0.1 with small limits and timeouts (bounded loops, no fixed sleeps).
"""

from __future__ import annotations

import asyncio
import gzip
import json
import socket
import struct
import threading
import time
import zlib
from collections.abc import AsyncIterator, Callable, Coroutine, Iterator
from contextlib import asynccontextmanager, contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from fastapi import FastAPI

from hsctl.serve.app import create_app
from hsctl.serve.connection import uvicorn_options
from hsctl.serve.gateway import MAX_JSON_DEPTH, decode_body, json_too_deep
from hsctl.serve.model import ServedModel
from hsctl.serve.v2 import split_body
from hsctl.settings import load_settings

RELAXED = {"max_queue_delay_ms": 60_000, "request_timeout_s": 60}
INFER_PATHS = ["/v2/models/hsctl/infer", "/v2/models/hsctl/versions/{version}/infer"]


def settings_for(tmp: Path, **serve: Any) -> Any:
    overrides: dict[str, Any] = {"paths.artifacts": str(tmp / "artifacts"), "serve.backend": "onnx-auto"}
    overrides.update({f"serve.{k}": v for k, v in {**RELAXED, **serve}.items()})
    return load_settings(overrides).settings


@asynccontextmanager
async def client(model: Path, tmp: Path, **serve: Any) -> AsyncIterator[tuple[httpx.AsyncClient, FastAPI]]:
    app = create_app(settings_for(tmp, **serve), model)
    transport = httpx.ASGITransport(app=app)
    async with app.router.lifespan_context(app), httpx.AsyncClient(transport=transport, base_url="http://test") as c:
        yield c, app


def run(coro: Callable[[], Coroutine[Any, Any, None]]) -> None:
    asyncio.run(coro())


def metric(text: str, name: str) -> float:
    return sum(float(line.rsplit(" ", 1)[1]) for line in text.splitlines() if line.startswith(name))


def is_json_error(response: httpx.Response, status: int, kind: str) -> bool:
    return (
        response.status_code == status
        and response.headers["content-type"] == "application/json"
        and response.json()["type"] == kind
        and bool(response.headers.get("x-request-id"))
    )


async def version_of(c: httpx.AsyncClient) -> str:
    return str((await c.get("/v2/models/hsctl")).json()["versions"][0])


def v2_body(data: Any, shape: list[int]) -> dict[str, Any]:
    return {"inputs": [{"name": "text", "shape": shape, "datatype": "BYTES", "data": data}]}


# --- 1. deep JSON ------------------------------------------------------------------------------------------------


def deep(kind: str, depth: int) -> bytes:
    if kind == "array":
        return b"[" * depth + b"]" * depth
    if kind == "object":
        return b'{"a":' * depth + b"1" + b"}" * depth
    inner = b'{"text": ' + b"[" * depth + b'"x"' + b"]" * depth + b"}"  # deep inside a valid-looking body
    return inner


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (b"[" * MAX_JSON_DEPTH + b"]" * MAX_JSON_DEPTH, False),
        (b"[" * (MAX_JSON_DEPTH + 1) + b"]" * (MAX_JSON_DEPTH + 1), True),
        (b'{"a":' * (MAX_JSON_DEPTH + 1) + b"1" + b"}" * (MAX_JSON_DEPTH + 1), True),
        (b"[" * 5000, True),  # unclosed: as deep as it opens
        (b"[" + b"[]," * 5000 + b"[]]", False),  # many brackets, shallow
        (b'{"text": "' + b"[" * 5000 + b'"}', False),  # brackets inside a string do not nest
        (b'{"text": "\\"' + b"{" * 5000 + b'"}', False),  # nor after an escaped quote
        (b'{"texts": ["a", "b"]}', False),
    ],
)
def test_json_depth_is_measured_outside_strings(body: bytes, expected: bool):
    assert json_too_deep(body) is expected


@pytest.mark.parametrize("kind", ["array", "object", "inside"])
@pytest.mark.parametrize("encoding", ["identity", "gzip", "deflate"])
def test_deeply_nested_json_is_a_400_on_every_prediction_route(
    quantized_model: Path, tmp_path: Path, kind: str, encoding: str
):
    body = deep(kind, 1000)
    sent = {"identity": body, "gzip": gzip.compress(body), "deflate": zlib.compress(body)}[encoding]
    headers = {} if encoding == "identity" else {"Content-Encoding": encoding}

    async def main() -> None:
        async with client(quantized_model, tmp_path) as (c, _app):
            version = await version_of(c)
            for path in ["/predict", *(p.format(version=version) for p in INFER_PATHS)]:
                r = await c.post(path, content=sent, headers=headers)
                assert is_json_error(r, 400, "invalid_json"), (path, r.status_code, r.text[:200])
                assert f"nested deeper than {MAX_JSON_DEPTH} levels" in r.json()["error"]
            # Ordinary nesting still works: a v2 tensor of shape [1, 1, 1].
            ok = await c.post(INFER_PATHS[0], json=v2_body([[["fine text"]]], [1, 1, 1]))
            assert ok.status_code == 200, ok.text
            brackets = await c.post("/predict", json={"text": "[[[[" * 200 + "text in brackets"})
            assert brackets.status_code == 200, brackets.text

    run(main)


# --- 2. the binary header length ---------------------------------------------------------------------------------

BAD_LENGTHS = [
    "١٢".encode(),  # Arabic-Indic digits, as UTF-8
    "１２".encode(),  # fullwidth digits
    "\u00b2".encode("latin-1"),  # superscript two: str.isdigit() and int() take it once decoded as Latin-1
    b"\xd9\xa1",  # half of an Arabic-Indic digit
    b"-5",
    b"+5",
    b"1e3",
    b"0x10",
    b"1_0",
    b"",
    b"99999999999999999999999999",
    b"\xff\xfe",
]


@pytest.mark.parametrize("value", BAD_LENGTHS)
def test_a_malformed_binary_header_length_is_refused(value: bytes):
    from hsctl.serve.errors import RequestError

    with pytest.raises(RequestError) as info:
        split_body(b'{"inputs": []}' + b"x" * 20, value)
    assert info.value.status == 400 and info.value.kind == "invalid_binary"


def test_a_malformed_binary_header_length_is_a_400_over_http(quantized_model: Path, tmp_path: Path):
    raw = struct.pack("<I", 5) + b"hello"
    head = json.dumps(
        {"inputs": [{"name": "t", "shape": [1], "datatype": "BYTES", "parameters": {"binary_data_size": len(raw)}}]}
    ).encode()

    async def main() -> None:
        async with client(quantized_model, tmp_path) as (c, _app):
            version = await version_of(c)
            for path in (p.format(version=version) for p in INFER_PATHS):
                good = await c.post(
                    path, content=head + raw, headers={"Inference-Header-Content-Length": str(len(head))}
                )
                assert good.status_code == 200, good.text
                for value in [*BAD_LENGTHS, str(len(head)).encode().replace(b"1", "١".encode())]:
                    r = await c.post(path, content=head + raw, headers=[(b"inference-header-content-length", value)])
                    assert is_json_error(r, 400, "invalid_binary"), (value, r.status_code, r.text[:200])

    run(main)


# --- 4. a client that leaves while uploading ---------------------------------------------------------------------


async def upload_then_leave(app: FastAPI, path: str) -> list[dict[str, Any]]:
    """A raw ASGI request whose client disconnects after the first part of its body."""
    sent: list[dict[str, Any]] = []
    parts = iter([{"type": "http.request", "body": b'{"texts": ["a", ', "more_body": True}])

    async def receive() -> dict[str, Any]:
        return next(parts, {"type": "http.disconnect"})

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
        "headers": [(b"host", b"test"), (b"content-length", b"4000")],
        "client": ("127.0.0.1", 1234),
        "server": ("test", 80),
    }
    await app(scope, receive, send)
    return sent


def test_a_client_leaving_mid_upload_is_counted_as_499(quantized_model: Path, tmp_path: Path):
    async def main() -> None:
        async with client(quantized_model, tmp_path) as (c, app):
            assert await upload_then_leave(app, "/predict") == []
            assert await upload_then_leave(app, "/v2/models/hsctl/infer") == []
            assert await upload_then_leave(app, "/somewhere/else") == []
            metrics = (await c.get("/metrics")).text
            assert 'status="500"' not in metrics
            assert 'hsctl_requests_total{endpoint="/predict",status="499"} 1.0' in metrics
            assert 'hsctl_requests_total{endpoint="/v2/models/{model_name}/infer",status="499"} 1.0' in metrics

    run(main)


# --- 5. gzip and deflate: one stream, nothing after it -----------------------------------------------------------

PAYLOAD = json.dumps({"texts": ["a normal text", "another one"]}).encode()


@pytest.mark.parametrize(
    ("encoding", "body", "what"),
    [
        ("gzip", gzip.compress(PAYLOAD) + b"trailing garbage", "trailing data"),
        ("gzip", gzip.compress(PAYLOAD) + b"\x00" * 8, "trailing data"),
        ("gzip", gzip.compress(PAYLOAD) + gzip.compress(b'{"text": "x"}'), "a second gzip member"),
        ("gzip", gzip.compress(PAYLOAD) + gzip.compress(b""), "a second gzip member"),
        ("x-gzip", gzip.compress(PAYLOAD) + b"!", "trailing data"),
        ("deflate", zlib.compress(PAYLOAD) + b"junk", "trailing data"),
    ],
)
def test_anything_after_the_compressed_stream_is_refused(encoding: str, body: bytes, what: str):
    from hsctl.serve.errors import RequestError

    with pytest.raises(RequestError) as info:
        decode_body(body, encoding.encode(), 4096)
    assert info.value.status == 400 and info.value.kind == "invalid_encoding" and what in info.value.message
    assert decode_body(gzip.compress(PAYLOAD), b"gzip", 4096) == PAYLOAD


def test_gzip_trailing_data_is_a_400_over_http_and_the_size_cap_holds(quantized_model: Path, tmp_path: Path):
    async def main() -> None:
        async with client(quantized_model, tmp_path, max_body_bytes=4096) as (c, _app):
            for body in (gzip.compress(PAYLOAD) + b"garbage", gzip.compress(PAYLOAD) + gzip.compress(PAYLOAD)):
                r = await c.post("/predict", content=body, headers={"Content-Encoding": "gzip"})
                assert is_json_error(r, 400, "invalid_encoding"), r.text
            bomb = gzip.compress(b" " * 1_000_000) + b"garbage"  # over the cap before the garbage is reached
            r = await c.post("/predict", content=bomb, headers={"Content-Encoding": "gzip"})
            assert is_json_error(r, 413, "body_too_large")
            ok = await c.post("/predict", content=gzip.compress(PAYLOAD), headers={"Content-Encoding": "gzip"})
            assert ok.status_code == 200

    run(main)


# --- 6. X-Request-ID on every answer -----------------------------------------------------------------------------


def test_every_answer_carries_the_request_id(quantized_model: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    async def main() -> None:
        async with client(quantized_model, tmp_path, max_body_bytes=1024, max_headers=20) as (c, app):
            requests = [
                ("POST", "/predict", {"content": b"{not json"}, 400),
                ("POST", "/predict", {"json": {"text": ""}}, 422),
                ("POST", "/predict", {"json": {"nope": 1}}, 422),
                ("POST", "/predict", {"content": b"x" * 2000}, 413),
                ("POST", "/predict", {"content": b"{}", "headers": {"Content-Encoding": "br"}}, 415),
                ("POST", "/v2/models/other/infer", {"json": v2_body(["a"], [1])}, 404),
                ("GET", "/predict", {}, 405),
                ("GET", "/nowhere", {}, 404),
                ("GET", "/v2/health/live", {}, 200),
                ("POST", "/predict", {"json": {"text": "fine"}}, 200),
                ("POST", "/v2/models/hsctl/infer", {"json": v2_body(["a"], [1])}, 200),
                ("GET", "/v2", {"headers": {f"x-extra-{i}": "1" for i in range(30)}}, 431),
            ]
            for method, path, kwargs, status in requests:
                for given, echoed in (("client-id-42", True), ("not a valid id!", False), (None, False)):
                    headers = {**kwargs.get("headers", {}), **({"X-Request-ID": given} if given else {})}
                    r = await c.request(method, path, **{**kwargs, "headers": headers})
                    assert r.status_code == status, (method, path, r.text)
                    rid = r.headers.get_list("x-request-id")
                    assert len(rid) == 1, (method, path, r.headers)
                    assert rid[0] == given if echoed else len(rid[0]) == 32 and rid[0] != given
            # 503 from the gateway's shedding, 500 from the fast path's error map
            batcher = app.state.hsctl.batcher
            batcher.check_admission = _overloaded
            shed = await c.post("/predict", json={"text": "x"}, headers={"X-Request-ID": "shed-1"})
            assert shed.status_code == 503 and shed.headers["x-request-id"] == "shed-1"
            del batcher.check_admission

            def broken(texts: list[str]) -> Any:
                raise RuntimeError("boom")

            monkeypatch.setattr(app.state.hsctl.model.predictor, "predict_proba", broken)
            failed = await c.post("/predict", json={"text": "x"}, headers={"X-Request-ID": "fail-1"})
            assert failed.status_code == 500 and failed.headers["x-request-id"] == "fail-1"
            v2_failed = await c.post("/v2/models/hsctl/infer", json=v2_body(["x"], [1]))
            assert v2_failed.status_code == 500 and len(v2_failed.headers["x-request-id"]) == 32

    run(main)


def test_a_fault_in_front_of_the_app_is_a_json_500_with_the_request_id(
    quantized_model: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
):
    from hsctl.serve.gateway import Gateway

    def broken(self: Any, *args: Any) -> Any:
        raise RuntimeError("a bug in the gateway")

    monkeypatch.setattr(Gateway, "_decode", broken)

    async def main() -> None:
        async with client(quantized_model, tmp_path) as (c, _app):
            r = await c.post("/predict", json={"text": "x"}, headers={"X-Request-ID": "bug-1"})
            assert r.status_code == 500 and r.json() == {"error": "internal error: RuntimeError", "type": "internal"}
            assert r.headers["x-request-id"] == "bug-1"
            assert 'endpoint="/predict",status="500"' in (await c.get("/metrics")).text

    with caplog.at_level("ERROR", logger="hsctl.serve"):
        run(main)
    assert any("a bug in the gateway" in r.getMessage() and r.exc_info is None for r in caplog.records)


def _overloaded(*args: Any, **kwargs: Any) -> None:
    from hsctl.serve.batching import Overloaded

    raise Overloaded("test")


# --- 7. trailing slashes -----------------------------------------------------------------------------------------


def test_trailing_slash_paths_are_answered_never_redirected(quantized_model: Path, tmp_path: Path):
    async def main() -> None:
        async with client(quantized_model, tmp_path) as (c, _app):
            version = await version_of(c)
            evil = {"Host": "evil.example"}
            plain = (await c.post("/predict", json={"text": "hello there"})).json()
            for path in ("/predict/", "/predict//"):
                r = await c.post(path, json={"text": "hello there"}, headers=evil)
                assert r.status_code == 200 and "location" not in r.headers, (path, r.status_code)
                assert r.json()["hate_probability"] == plain["hate_probability"]
            for path in (p.format(version=version) + "/" for p in INFER_PATHS):
                r = await c.post(path, json=v2_body(["hello there"], [1]), headers=evil)
                assert r.status_code == 200 and "location" not in r.headers, (path, r.status_code)
            for path in ("/metrics/", "/v2/health/ready/", "/v2/"):
                r = await c.get(path, headers=evil)
                assert r.status_code == 200 and "location" not in r.headers, path
            for method, path in (("POST", "/nope/"), ("GET", "/v2/models/other/")):
                r = await c.request(method, path, headers=evil)
                assert r.status_code == 404 and "location" not in r.headers and r.json()["type"] == "not_found"
            metrics = (await c.get("/metrics")).text
            assert 'hsctl_requests_total{endpoint="/predict",status="200"} 3.0' in metrics

    run(main)


# --- 3. connection limits, against a real server -----------------------------------------------------------------


@contextmanager
def real_server(model: Path, tmp: Path, **serve: Any) -> Iterator[int]:
    """A uvicorn server on 127.0.0.1 with the options ``hsctl serve`` uses; yields its port."""
    settings = settings_for(tmp, log_predictions=False, **serve)
    app = create_app(settings, model)
    config = uvicorn.Config(
        app, host="127.0.0.1", port=0, log_level="critical", access_log=False, **uvicorn_options(settings.serve)
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + 60
        while not server.started:
            assert thread.is_alive() and time.monotonic() < deadline, "the server did not start"
            time.sleep(0.01)
        yield server.servers[0].sockets[0].getsockname()[1]
    finally:
        server.should_exit = True
        thread.join(30)


def read_until_closed(sock: socket.socket, limit_s: float = 10.0) -> bytes:
    """Everything the server sends until it closes the connection; fails if it stays open ``limit_s``."""
    sock.settimeout(limit_s)
    data = b""
    while True:
        try:
            chunk = sock.recv(65536)
        except TimeoutError:
            pytest.fail(f"the server kept the connection open over {limit_s} s (got {data[:80]!r})")
        except ConnectionResetError:
            return data
        if not chunk:
            return data
        data += chunk


def connect(port: int) -> socket.socket:
    return socket.create_connection(("127.0.0.1", port), timeout=10)


def status_and_body(reply: bytes) -> tuple[int, dict[str, Any]]:
    head, _, body = reply.partition(b"\r\n\r\n")
    assert b"x-request-id:" in head.lower()
    return int(head.split(b" ", 2)[1]), json.loads(body)


def test_idle_slow_and_oversized_connections_are_closed(quantized_model: Path, tmp_path: Path):
    limits = {"keep_alive_timeout_s": 0.3, "body_timeout_s": 0.3, "max_header_bytes": 4096, "max_headers": 30}
    with real_server(quantized_model, tmp_path, **limits) as port:
        # An idle connection is closed without an answer.
        with connect(port) as idle:
            assert read_until_closed(idle) == b""
        # A half-sent request head: 408, closed.
        with connect(port) as slow:
            slow.sendall(b"POST /predict HTTP/1.1\r\nHost: x\r\nContent-Type: appl")
            status, body = status_and_body(read_until_closed(slow))
            assert status == 408 and body["type"] == "head_timeout"
        # A half-sent body: 408 from the gateway, closed.
        with connect(port) as slow_body:
            slow_body.sendall(b'POST /predict HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n{"text": ')
            status, body = status_and_body(read_until_closed(slow_body))
            assert status == 408 and body["type"] == "body_timeout"
        # A keep-alive connection goes idle after its answer: closed too.
        with connect(port) as kept:
            kept.sendall(b'POST /predict HTTP/1.1\r\nHost: x\r\nContent-Length: 16\r\n\r\n{"text": "fine"}')
            reply = read_until_closed(kept)
            assert reply.startswith(b"HTTP/1.1 200 ") and reply.count(b"HTTP/1.1") == 1
        # A huge header: 431 once the head passes the limit, long before 64 MB are buffered.
        with connect(port) as big:
            big.sendall(b"GET /v2/health/live HTTP/1.1\r\nHost: x\r\nX-Big: ")
            sent = 0
            try:
                while sent < 64 * 1024 * 1024:  # bounded: the server must cut this short
                    big.sendall(b"a" * 8192)
                    sent += 8192
            except (BrokenPipeError, ConnectionResetError):
                pass
            assert sent < 16 * 1024 * 1024  # what the socket buffers hold at most, not 64 MB
            reply = read_until_closed(big)
            if reply:  # the answer can be lost in the reset of a connection whose peer still writes
                status, body = status_and_body(reply)
                assert status == 431 and body["type"] == "head_too_large"
        # Too many headers: 431 from the gateway.
        with connect(port) as many:
            lines = b"".join(b"X-H%d: 1\r\n" % i for i in range(40))
            many.sendall(b"GET /v2/health/live HTTP/1.1\r\nHost: x\r\n" + lines + b"Connection: close\r\n\r\n")
            status, body = status_and_body(read_until_closed(many))
            assert status == 431 and body["type"] == "too_many_headers"
        # A request the parser cannot read: the JSON error shape too, not uvicorn's plain text.
        with connect(port) as garbage:
            garbage.sendall(b"GARBAGE / NOT-HTTP\r\n\r\n")
            status, body = status_and_body(read_until_closed(garbage))
            assert status == 400 and body["type"] == "invalid_http"
        # And the server still answers.
        assert httpx.get(f"http://127.0.0.1:{port}/v2/health/live", timeout=10).status_code == 200


def test_a_big_header_is_answered_431(quantized_model: Path, tmp_path: Path):
    with real_server(quantized_model, tmp_path, max_header_bytes=4096) as port, connect(port) as sock:
        sock.sendall(b"GET /v2/health/live HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 6000)  # then waits
        status, body = status_and_body(read_until_closed(sock))
        assert status == 431 and body["type"] == "head_too_large"


def test_the_model_is_untouched_by_refused_requests(quantized_model: Path, tmp_path: Path, monkeypatch):
    seen: list[str] = []
    original = ServedModel.predict_proba

    def spy(self: ServedModel, texts: list[str]) -> Any:
        seen.extend(texts)
        return original(self, texts)

    monkeypatch.setattr(ServedModel, "predict_proba", spy)

    async def main() -> None:
        async with client(quantized_model, tmp_path) as (c, _app):
            seen.clear()
            for body in (deep("inside", 100), gzip.compress(PAYLOAD) + b"x"):
                headers = {"Content-Encoding": "gzip"} if body[:2] == b"\x1f\x8b" else {}
                assert (await c.post("/predict", content=body, headers=headers)).status_code == 400
            assert seen == []

    run(main)
