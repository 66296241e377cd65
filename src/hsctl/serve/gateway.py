"""The outermost ASGI layer: metrics, cheap load shedding, body limits, binary v2 bodies, disconnects.

Per HTTP request, in order:

1. A prediction request (``POST /predict`` or ``POST /v2/models/{name}/infer``)
   that the batcher would not admit (expected wait over
   ``serve.max_queue_delay_ms``) is answered ``503 overloaded`` at once, before
   its body is read or parsed, so that shedding costs little CPU and never
   starves inference. The next prediction request on the same connection is
   looked at no sooner than ``serve.shed_backoff_ms`` later: a client that
   ignores ``Retry-After`` cannot make shedding a busy loop.
2. The body is buffered; over ``serve.max_body_bytes`` it is ``413``; not all
   received within ``serve.body_timeout_s`` it is ``408`` (and the connection is
   closed); a client that leaves while sending it is counted as 499. A gzip or
   deflate body is inflated (one stream, nothing after it). Every POST body is
   treated as JSON whatever its Content-Type (``curl -d`` must work); JSON nested
   deeper than :data:`MAX_JSON_DEPTH` is ``400 invalid_json`` before any parser
   recurses into it. A v2 body with ``Inference-Header-Content-Length`` is split
   into its JSON part (parsed by FastAPI) and its binary part (kept in the scope).
3. While a prediction request waits, the connection is watched: when the client
   disconnects, the request is cancelled, so its texts leave the batch queue
   before inference. It is counted with status 499 (client closed request).
4. A valid ``POST /predict`` is answered by the state's fast path (no routing, dependency
   or response machinery of the framework); anything else reaches the app.
5. Requests are counted by route template (never the raw path) and status, and timed.

Before all that, every HTTP request gets its request id (the client's valid
``X-Request-ID``, else a random one), which every answer carries, errors
included; a request with more than ``serve.max_headers`` headers is ``431``; and
a trailing slash is dropped from the path, so ``/predict/`` is ``/predict`` (the
app never redirects: a redirect would name the client's Host header).
"""

from __future__ import annotations

import asyncio
import re
import time
import uuid
from collections.abc import Awaitable, Callable, MutableMapping
from typing import TYPE_CHECKING, Any

from hsctl.serve.batching import Overloaded
from hsctl.serve.errors import STATUS_BY_KIND, RequestError, send_error
from hsctl.serve.v2 import BINARY_SCOPE_KEY, HEADER, split_body

if TYPE_CHECKING:
    from hsctl.serve.app import ServerState

ASGIApp = Callable[
    [dict[str, Any], Callable[[], Awaitable[dict[str, Any]]], Callable[[dict[str, Any]], Awaitable[None]]],
    Awaitable[None],
]
PREDICT = "/predict"
INFER = "/v2/models/{model_name}/infer"
INFER_VERSIONED = "/v2/models/{model_name}/versions/{model_version}/infer"
CLIENT_CLOSED = 499
MAX_JSON_DEPTH = 32
"""Deepest JSON nesting accepted in a body (a v2 request needs about 4 plus its tensor's dimensions)."""
REQUEST_ID_KEY = "hsctl.request_id"
"""The scope key of the request's id, set by the gateway for every HTTP request."""
FastPath = Callable[[dict[str, Any], bytes, Callable[[dict[str, Any]], Awaitable[None]]], Awaitable[bool]]
"""``(scope, body, send) -> handled``: answers a prediction request without the app, or returns False untouched."""
_HEADER = HEADER.encode()
_REQUEST_ID_RE = re.compile(r"[A-Za-z0-9._:-]{1,64}")
_JSON_STRING = re.compile(rb'"(?:[^"\\]|\\.)*"', re.DOTALL)
_BRACKETS_ONLY = bytes(b for b in range(256) if b not in b"[]{}")
_SQUARE = bytes.maketrans(b"{}", b"[]")


def request_id(given: str | bytes | None) -> str:
    """The client's ``X-Request-ID`` when it is a short token, else a random id; every answer carries it."""
    if isinstance(given, bytes):
        given = given.decode("latin-1")
    if given is not None and _REQUEST_ID_RE.fullmatch(given):
        return given
    return uuid.uuid4().hex


def client_key(scope: MutableMapping[str, Any]) -> str | None:
    """Who a request is from, for fair admission: the client's address (not its port: one client, many
    connections); None when the server does not know it."""
    client = scope.get("client")
    return str(client[0]) if client else None


def json_too_deep(body: bytes, limit: int = MAX_JSON_DEPTH) -> bool:
    """True when the JSON in ``body`` nests arrays or objects more than ``limit`` deep.

    Checked before any parser sees the body: Python's ``json`` and pydantic recurse per
    level, so a 2 KB body of ``[[[[...`` would otherwise exhaust the stack (a 500). Cheap
    for ordinary bodies (two counts); otherwise strings are cut out and the brackets
    peeled level by level, at most ``limit`` times. Unbalanced brackets count as open.
    """
    if body.count(b"[") + body.count(b"{") <= limit:
        return False
    brackets = _JSON_STRING.sub(b"", body).translate(_SQUARE, _BRACKETS_ONLY)
    for _ in range(limit):
        if not brackets:
            return False
        peeled = brackets.replace(b"[]", b"")
        if len(peeled) == len(brackets):  # nothing closes at this level: the rest is unbalanced
            break
        brackets = peeled
    return b"[" in brackets


def prediction_endpoint(path: str) -> str | None:
    """The route template of a prediction path, without routing; None for any other path."""
    if path == PREDICT:
        return PREDICT
    if path.startswith("/v2/models/") and path.endswith("/infer"):
        parts = path.split("/")  # "", "v2", "models", name, ["versions", version,] "infer"
        if len(parts) == 5:
            return INFER
        if len(parts) == 7 and parts[4] == "versions":
            return INFER_VERSIONED
    return None


class _ClientLeft(Exception):
    """The client disconnected before its request's body was complete."""


class Gateway:
    """See the module docstring."""

    def __init__(self, app: ASGIApp, state: ServerState) -> None:
        self.app = app
        self.state = state
        cfg = state.settings.serve
        self.max_bytes = cfg.max_body_bytes
        self.max_headers = cfg.max_headers
        self.body_timeout = cfg.body_timeout_s
        self.backoff = cfg.shed_backoff_ms / 1000
        self._shed: dict[Any, float] = {}  # connection (client address) -> when its last request was shed
        self._counters: dict[tuple[str, int], Any] = {}  # metric children by labels: no lookup per request
        self._timers: dict[str, Any] = {}

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500
        answered = False
        endpoint: str | None = None
        metrics = self.state.metrics
        headers = scope.get("headers") or []
        rid = scope[REQUEST_ID_KEY] = request_id(next((v for k, v in headers if k == b"x-request-id"), None))
        rid_header = (b"x-request-id", rid.encode())

        async def capture(message: MutableMapping[str, Any]) -> None:
            nonlocal status, answered
            if message["type"] == "http.response.start":
                status, answered = message["status"], True
                sent = message.get("headers") or []
                if not any(k.lower() == b"x-request-id" for k, _ in sent):  # every answer carries it
                    message = {**message, "headers": [*sent, rid_header]}
            await send(message)

        path = scope["path"]
        if len(path) > 1 and path.endswith("/"):  # /predict/ is /predict: answered, never redirected
            scope["path"] = path.rstrip("/") or "/"
            if raw := scope.get("raw_path"):
                scope["raw_path"] = raw.rstrip(b"/") or b"/"

        try:
            if len(headers) > self.max_headers:
                await send_error(
                    capture, 431, "too_many_headers", f"{len(headers)} headers; the limit is {self.max_headers}"
                )
                return
            if scope["method"] not in ("POST", "PUT", "PATCH"):
                await self.app(scope, receive, capture)
                return
            endpoint = prediction_endpoint(scope["path"])
            batcher = self.state.batcher
            if endpoint is not None and batcher is not None:
                priority = self.state.priority
                client = scope.get("client") if self.backoff > 0 else None
                if client is not None and (shed_at := self._shed.pop(client, None)) is not None:
                    wait = shed_at + self.backoff - time.monotonic()
                    if wait > 0:  # this connection was just told to come back later: not before the backoff
                        await asyncio.sleep(wait)
                try:
                    batcher.check_admission(client_key(scope))
                except Overloaded as exc:  # shed before reading or parsing anything
                    if priority is not None:
                        priority.shed()
                    if client is not None:
                        if len(self._shed) > 100_000:  # connections that left after a 503
                            self._shed.clear()
                        self._shed[client] = time.monotonic()
                    await self.state.errors.answer(capture, exc, scope)  # 503 overloaded, with Retry-After
                    return
                if priority is not None:
                    priority.calm()
            try:
                body = await self._read_body(scope, receive, capture)
            except _ClientLeft:
                status = CLIENT_CLOSED
                return
            if body is None:
                return
            try:
                body, headers = self._decode(scope, body, headers, endpoint)
            except RequestError as exc:
                await send_error(capture, exc.status, exc.kind, exc.message)
                return
            # In place: the router's "route" key must reach the metrics below.
            kept = [h for h in headers if h[0] != b"content-type"]
            scope["headers"] = [*kept, (b"content-type", b"application/json")]
            if endpoint is None:
                await self.app(scope, _replay(body, receive), capture)
            else:
                app = self._fast_or_app if endpoint == PREDICT and self.state.fast_predict is not None else self.app
                if await _run_watching_disconnect(app, scope, body, receive, capture):
                    status = CLIENT_CLOSED
        except Exception as exc:  # a fault in front of the app: one line and a JSON 500, never uvicorn's traceback
            message = self.state.errors.internal(scope, exc)
            if not answered:
                await send_error(capture, 500, "internal", message)
        finally:
            route = scope.get("route")
            label = getattr(route, "path", None) or endpoint or "unmatched"
            counter = self._counters.get((label, status))
            if counter is None:
                counter = self._counters[(label, status)] = metrics.requests.labels(label, str(status))
            timer = self._timers.get(label)
            if timer is None:
                timer = self._timers[label] = metrics.duration.labels(label)
            counter.inc()
            timer.observe(time.perf_counter() - started)

    def _decode(
        self, scope: dict[str, Any], body: bytes, headers: list[tuple[bytes, bytes]], endpoint: str | None
    ) -> tuple[bytes, list[tuple[bytes, bytes]]]:
        """The body as the app reads it (inflated, its binary part split off) and the headers that go with it."""
        encoding = next((v for k, v in headers if k == b"content-encoding"), b"identity")
        if encoding.strip().lower() not in (b"", b"identity"):
            body = decode_body(body, encoding, self.max_bytes)
            headers = [h for h in headers if h[0] not in (b"content-encoding", b"content-length")]
        binary_header = next((v for k, v in headers if k == _HEADER), None)
        if binary_header is not None and endpoint in (INFER, INFER_VERSIONED):
            body, scope[BINARY_SCOPE_KEY] = split_body(body, binary_header)
        if json_too_deep(body):
            raise RequestError("invalid_json", f"invalid JSON: nested deeper than {MAX_JSON_DEPTH} levels")
        return body, headers

    async def _fast_or_app(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        """The state's fast path when it takes the request, else the app."""
        message = await receive()  # the body, replayed
        body: bytes = message.get("body", b"")
        fast = self.state.fast_predict
        if fast is None or not await fast(scope, body, send):
            await self.app(scope, _replay(body, receive), send)

    async def _read_body(self, scope: dict[str, Any], receive: Any, send: Any) -> bytes | None:
        """The whole body; None when it was too large (413 sent) or too slow to arrive (408 sent, connection closed).

        Raises :class:`_ClientLeft` when the client disconnects before the body is complete.
        """
        length = next((v for k, v in scope.get("headers") or [] if k == b"content-length"), None)
        if length is not None and length.isdigit() and int(length) > self.max_bytes:
            await send_error(send, 413, "body_too_large", f"request body over {self.max_bytes} bytes")
            return None
        try:
            async with asyncio.timeout(self.body_timeout):
                return await self._receive_body(receive, send)
        except TimeoutError:
            kind = "body_timeout"
            message = f"the request body did not arrive within {self.body_timeout:g} s"
            await send_error(send, STATUS_BY_KIND[kind], kind, message, {"Connection": "close"})
            return None

    async def _receive_body(self, receive: Any, send: Any) -> bytes | None:
        too_large = f"request body over {self.max_bytes} bytes"
        message = await receive()
        if message["type"] == "http.disconnect":
            raise _ClientLeft
        if not message.get("more_body", False):  # the usual case: the whole body in one message
            body: bytes = message.get("body", b"")
            if len(body) > self.max_bytes:
                await send_error(send, 413, "body_too_large", too_large)
                return None
            return body
        buffer = bytearray(message.get("body", b""))
        while True:
            if len(buffer) > self.max_bytes:
                await send_error(send, 413, "body_too_large", too_large)
                return None
            message = await receive()
            if message["type"] == "http.disconnect":
                raise _ClientLeft
            buffer.extend(message.get("body", b""))
            if not message.get("more_body", False):
                break
        if len(buffer) > self.max_bytes:
            await send_error(send, 413, "body_too_large", too_large)
            return None
        return bytes(buffer)


def decode_body(body: bytes, encoding: bytes, max_bytes: int) -> bytes:
    """A gzip- or deflate-encoded body, decompressed; never more than ``max_bytes`` are inflated.

    Decompression stops one byte past the limit, so a small "zip bomb" costs no more
    memory than an honest body at the limit (413 then). Tritonclient and KServe's
    client send gzip or deflate when asked (``request_compression_algorithm``).
    The body must be exactly one gzip member (or one zlib stream): anything after
    it, trailing garbage or a second member, is ``400 invalid_encoding`` rather than
    silently dropped, so that what is scored is all that was sent.
    """
    import zlib

    name = encoding.strip().lower()
    if name in (b"gzip", b"x-gzip"):
        wbits = 16 + zlib.MAX_WBITS
    elif name == b"deflate":
        wbits = zlib.MAX_WBITS  # zlib-wrapped, as HTTP's "deflate" means
    else:
        shown = name.decode("latin-1")[:40]
        raise RequestError("unsupported_encoding", f"Content-Encoding {shown!r} is not supported (gzip, deflate)")
    inflater = zlib.decompressobj(wbits)
    try:
        out = inflater.decompress(body, max_bytes + 1)
    except zlib.error as exc:
        raise RequestError("invalid_encoding", f"the body is not valid {name.decode()} data ({exc})") from None
    if len(out) > max_bytes or inflater.unconsumed_tail:
        raise RequestError("body_too_large", f"request body over {max_bytes} bytes once decompressed")
    if not inflater.eof:
        raise RequestError("invalid_encoding", f"the body is truncated {name.decode()} data")
    if inflater.unused_data:
        extra = len(inflater.unused_data)
        what = "a second gzip member" if inflater.unused_data.startswith(b"\x1f\x8b") else "trailing data"
        raise RequestError(
            "invalid_encoding", f"the body has {what} ({extra} bytes) after its {name.decode()} data; send one stream"
        )
    return out


def _replay(body: bytes, receive: Any) -> Callable[[], Awaitable[dict[str, Any]]]:
    replayed = False

    async def replay() -> dict[str, Any]:
        nonlocal replayed
        if not replayed:
            replayed = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()  # type: ignore[no-any-return]

    return replay


async def _run_watching_disconnect(app: ASGIApp, scope: dict[str, Any], body: bytes, receive: Any, send: Any) -> bool:
    """Run the app; cancel it if the client disconnects before the response is complete. True if it did."""
    current = asyncio.current_task()
    finished = False
    gone = False
    left: asyncio.Future[None] | None = None

    async def watch() -> None:
        nonlocal gone
        message = await receive()  # after the whole body, an ASGI server answers this only at disconnect
        if message["type"] != "http.disconnect":
            return  # a server that does not follow that: no disconnect detection (and no busy loop)
        if left is not None and not left.done():
            left.set_result(None)
        if not finished and current is not None:
            gone = True
            current.cancel()

    replayed = False

    async def replay() -> dict[str, Any]:  # the watcher owns the real receive; the app only learns of the end
        nonlocal replayed, left
        if not replayed:
            replayed = True
            return {"type": "http.request", "body": body, "more_body": False}
        if left is None:
            left = asyncio.get_running_loop().create_future()
        await left
        return {"type": "http.disconnect"}

    async def tracking_send(message: dict[str, Any]) -> None:
        nonlocal finished
        if message["type"] == "http.response.body" and not message.get("more_body", False):
            finished = True  # complete: a disconnect from now on must not cancel the request's last steps
        await send(message)

    watcher = asyncio.get_running_loop().create_task(watch())
    try:
        await app(scope, replay, tracking_send)
    except asyncio.CancelledError:
        if not gone or current is None:
            raise
        current.uncancel()
        return True
    finally:
        finished = True
        watcher.cancel()
    return False
