"""The FastAPI app, built by a factory; the model loads in the lifespan, never at import.

Endpoints: ``POST /predict``, the Open Inference Protocol v2 (``/v2``,
``/v2/health/{live,ready}``, ``/v2/models/{name}[/ready]``,
``POST /v2/models/{name}/infer``), ``GET /metrics``, ``/docs`` and a page at ``/``.
"""

from __future__ import annotations

import asyncio
import hmac
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fastapi import Depends, FastAPI, Request
from fastapi.responses import HTMLResponse, JSONResponse, Response
from pydantic import BaseModel, ConfigDict, Field, StrictStr, model_validator

from hsctl.__about__ import __version__
from hsctl.serve.batching import MicroBatcher
from hsctl.serve.errors import ApiError, error_response, install_error_handlers
from hsctl.serve.metrics import ServerMetrics
from hsctl.serve.model import ServedModel
from hsctl.serve.page import render_page
from hsctl.serve.predlog import PredictionLog, default_log_dir, now_iso, text_field
from hsctl.settings import Settings

ASGIApp = Callable[
    [dict[str, Any], Callable[[], Awaitable[dict[str, Any]]], Callable[[dict[str, Any]], Awaitable[None]]],
    Awaitable[None],
]


class PredictRequest(BaseModel):
    """One text or a list of texts."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [{"text": "what a lovely day"}, {"texts": ["first text", "second text"]}]},
    )
    text: StrictStr | None = Field(None, description="A single text.")
    texts: list[StrictStr] | None = Field(None, description="Several texts, scored together.")

    @model_validator(mode="after")
    def _exactly_one(self) -> PredictRequest:
        if (self.text is None) == (self.texts is None):
            raise ValueError("give exactly one of 'text' or 'texts'")
        return self


class InferTensor(BaseModel):
    """An input tensor of the Open Inference Protocol (v2)."""

    model_config = ConfigDict(extra="allow")
    name: StrictStr
    shape: list[int]
    datatype: StrictStr
    data: list[Any]
    parameters: dict[str, Any] | None = None


class InferRequest(BaseModel):
    """``POST /v2/models/{name}/infer`` body: one BYTES tensor of texts."""

    model_config = ConfigDict(
        extra="allow",
        json_schema_extra={
            "examples": [{"inputs": [{"name": "text", "shape": [2], "datatype": "BYTES", "data": ["one", "two"]}]}]
        },
    )
    id: StrictStr | None = None
    inputs: list[InferTensor]
    outputs: list[dict[str, Any]] | None = None
    parameters: dict[str, Any] | None = None


@dataclass
class ServerState:
    """What the handlers share; built by the factory, filled by the lifespan."""

    settings: Settings
    model: ServedModel
    metrics: ServerMetrics
    batcher: MicroBatcher | None = None
    log: PredictionLog | None = None
    started_at: float = 0.0


class JsonBody:
    """Buffer POST bodies, reject those over ``max_bytes`` (413), and treat them as JSON.

    Every POST endpoint takes JSON, whatever the Content-Type says: ``curl -d``
    sends form encoding by default and must still work.
    """

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http" or scope["method"] not in ("POST", "PUT", "PATCH"):
            await self.app(scope, receive, send)
            return
        too_large = error_response(413, "body_too_large", f"request body over {self.max_bytes} bytes")
        length = dict(scope.get("headers") or []).get(b"content-length")
        if length is not None and length.isdigit() and int(length) > self.max_bytes:
            await too_large(scope, receive, send)
            return
        body = bytearray()
        more = True
        while more:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            body.extend(message.get("body", b""))
            more = message.get("more_body", False)
            if len(body) > self.max_bytes:
                await too_large(scope, receive, send)
                return
        headers = [(k, v) for k, v in scope.get("headers") or [] if k != b"content-type"]
        scope["headers"] = [
            *headers,
            (b"content-type", b"application/json"),
        ]  # in place: the router's "route" key must reach RequestMetrics
        replayed = False

        async def replay() -> dict[str, Any]:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": bytes(body), "more_body": False}
            return await receive()  # type: ignore[no-any-return]

        await self.app(scope, replay, send)


class RequestMetrics:
    """Count requests by route template (never the raw path) and status, and time them."""

    def __init__(self, app: ASGIApp, metrics: ServerMetrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500

        async def capture(message: dict[str, Any]) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, capture)
        finally:
            route = scope.get("route")
            endpoint = getattr(route, "path", None) or "unmatched"
            self.metrics.requests.labels(endpoint, str(status)).inc()
            self.metrics.duration.labels(endpoint).observe(time.perf_counter() - started)


def create_app(settings: Settings, model_dir: Path | None = None) -> FastAPI:
    """Build the app for a model folder (default: ``serve.model`` or the latest trained model)."""
    from hsctl.models import resolve_model_dir

    cfg = settings.serve
    path = model_dir or resolve_model_dir(settings.paths.models_dir, cfg.model)
    state = ServerState(
        settings=settings,
        model=ServedModel(cfg.model_name, path, cfg.backend, batch_size=cfg.model_batch_size, threads=cfg.threads),
        metrics=ServerMetrics(),
    )

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        state.started_at = time.time()
        await asyncio.to_thread(state.model.load)
        metrics = state.metrics

        def on_batch(size: int, seconds: float) -> None:
            metrics.batch_size.observe(size)
            metrics.inference.observe(seconds)
            if metrics.multiprocess and state.batcher is not None:
                metrics.queue_depth.set(state.batcher.depth)

        state.batcher = MicroBatcher(
            state.model.predict_proba,
            max_batch_size=cfg.max_batch_size,
            max_wait_ms=cfg.max_wait_ms,
            max_queue=cfg.max_queue,
            on_batch=on_batch,
        )
        if not metrics.multiprocess:  # per-process values in files cannot hold a callback
            metrics.queue_depth.set_function(lambda: state.batcher.depth if state.batcher else 0)
        await state.batcher.start()
        if cfg.log_predictions:
            state.log = PredictionLog(
                cfg.log_url or default_log_dir(settings.paths.artifacts),
                max_bytes=cfg.log_max_bytes,
                queue_size=cfg.log_queue,
                on_drop=metrics.log_dropped.inc,
            )
            state.log.start()
        model = state.model
        metrics.model_info.labels(model.name, model.version, model.backend, f"{model.threshold:.4f}").set(1)
        try:
            yield
        finally:
            await state.batcher.stop()  # answers everything already queued
            if state.log is not None:
                await asyncio.to_thread(state.log.close)

    app = FastAPI(
        title="hsctl prediction server",
        version=__version__,
        description="Hate-speech classification: `/predict`, the Open Inference Protocol (v2) and Prometheus metrics.",
        lifespan=lifespan,
    )
    app.state.hsctl = state
    install_error_handlers(app, cfg.retry_after_s)
    if cfg.cors_origins:
        from fastapi.middleware.cors import CORSMiddleware

        app.add_middleware(
            CORSMiddleware, allow_origins=cfg.cors_origins, allow_methods=["GET", "POST"], allow_headers=["*"]
        )
    app.add_middleware(JsonBody, max_bytes=cfg.max_body_bytes)
    app.add_middleware(RequestMetrics, metrics=state.metrics)
    _add_routes(app, state)
    return app


def _require_key(state: ServerState, *, health: bool = False) -> Callable[[Request], Awaitable[None]]:
    key = state.settings.serve.api_key

    async def check(request: Request) -> None:  # async: a sync dependency would hop to a thread pool
        if key is None or (health and not state.settings.serve.protect_health):
            return
        given = request.headers.get("x-api-key") or ""
        auth = request.headers.get("authorization", "")
        if not given and auth.lower().startswith("bearer "):
            given = auth[7:].strip()
        if not hmac.compare_digest(given.encode(), key.get_secret_value().encode()):
            raise ApiError(401, "unauthorized", "missing or invalid API key", {"WWW-Authenticate": "Bearer"})

    return check


def _ready(state: ServerState) -> MicroBatcher:
    if not state.model.ready or state.batcher is None:
        raise ApiError(503, "not_ready", "model is loading", {"Retry-After": str(state.settings.serve.retry_after_s)})
    return state.batcher


async def _score(state: ServerState, texts: list[Any], endpoint: str) -> tuple[list[float], float]:
    """Validate, normalise, batch and log; returns probabilities and latency in ms."""
    from hsctl.preprocess.normalize import normalize_text

    cfg = state.settings.serve
    started = time.perf_counter()
    if not texts:
        raise ApiError(422, "invalid_request", "no texts given")
    if len(texts) > cfg.max_batch_items:
        raise ApiError(413, "too_many_texts", f"{len(texts)} texts in one request; the limit is {cfg.max_batch_items}")
    cleaned: list[str] = []
    for i, text in enumerate(texts):
        if not isinstance(text, str):
            raise ApiError(422, "invalid_request", f"text {i} is not a string")
        if len(text) > cfg.max_text_chars:
            raise ApiError(
                413, "text_too_long", f"text {i} has {len(text)} characters; the limit is {cfg.max_text_chars}"
            )
        normalized = normalize_text(text, state.settings.data.normalize)
        if not normalized:
            raise ApiError(422, "empty_text", f"text {i} is empty")
        cleaned.append(normalized)
    probs = await _ready(state).submit(cleaned)
    latency_ms = (time.perf_counter() - started) * 1000
    threshold, labels = state.model.threshold, state.model.labels
    for p in probs:
        state.metrics.predictions.labels(labels[int(p >= threshold)]).inc()
    if state.log is not None:
        request_id = uuid.uuid4().hex
        version, mode = state.model.version, cfg.log_text
        for i, (text, p) in enumerate(zip(texts, probs, strict=True)):
            state.log.write(
                {
                    "time": now_iso(),
                    "request_id": request_id,
                    "index": i,
                    "endpoint": endpoint,
                    **text_field(text, mode),
                    "hate_probability": round(p, 6),
                    "label": labels[int(p >= threshold)],
                    "threshold": threshold,
                    "model_version": version,
                    "latency_ms": round(latency_ms, 3),
                }
            )
    return probs, latency_ms


def _add_routes(app: FastAPI, state: ServerState) -> None:
    predict_auth = Depends(_require_key(state))
    health_auth = Depends(_require_key(state, health=True))
    name = state.settings.serve.model_name

    def prediction(p: float) -> dict[str, Any]:
        label_id = int(p >= state.model.threshold)
        return {
            "label": state.model.labels[label_id],
            "label_id": label_id,
            "hate_probability": p,
            "threshold": state.model.threshold,
            "model_version": state.model.version,
        }

    @app.post("/predict", dependencies=[predict_auth], tags=["predict"])
    async def predict(body: PredictRequest) -> JSONResponse:
        """Classify one text (`text`) or several (`texts`)."""
        texts = [body.text] if body.text is not None else list(body.texts or [])
        probs, _ = await _score(state, texts, "/predict")
        if body.text is not None:
            return JSONResponse(prediction(probs[0]))
        return JSONResponse(
            {
                "predictions": [prediction(p) for p in probs],
                "threshold": state.model.threshold,
                "model_version": state.model.version,
            }
        )

    def check_name(model_name: str) -> None:
        if model_name != name:
            raise ApiError(404, "not_found", f"unknown model {model_name!r}; this server serves {name!r}")

    @app.post("/v2/models/{model_name}/infer", dependencies=[predict_auth], tags=["v2"])
    async def infer(model_name: str, body: InferRequest) -> JSONResponse:
        """Open Inference Protocol: one BYTES input tensor of texts."""
        check_name(model_name)
        if len(body.inputs) != 1:
            raise ApiError(422, "invalid_request", "expected exactly one input tensor of texts")
        tensor = body.inputs[0]
        if tensor.datatype != "BYTES":
            raise ApiError(422, "invalid_request", f"input datatype must be BYTES, not {tensor.datatype}")
        data = _flatten(tensor.data)
        count = 1
        for dim in tensor.shape:
            count *= dim
        if count != len(data):
            raise ApiError(422, "invalid_request", f"shape {tensor.shape} does not match {len(data)} data elements")
        probs, _ = await _score(state, data, "/v2/models/{model_name}/infer")
        labels = [state.model.labels[int(p >= state.model.threshold)] for p in probs]
        return JSONResponse(
            {
                "model_name": name,
                "model_version": state.model.version,
                **({"id": body.id} if body.id is not None else {}),
                "parameters": {"threshold": state.model.threshold},
                "outputs": [
                    {"name": "label", "shape": [len(labels)], "datatype": "BYTES", "data": labels},
                    {"name": "hate_probability", "shape": [len(probs)], "datatype": "FP32", "data": probs},
                ],
            }
        )

    @app.get("/v2/models/{model_name}", dependencies=[health_auth], tags=["v2"])
    async def model_metadata(model_name: str) -> dict[str, Any]:
        """Model metadata (v2)."""
        check_name(model_name)
        _ready(state)
        return {
            "name": name,
            "versions": [state.model.version],
            "platform": "pytorch" if state.model.backend == "torch" else "onnxruntime",
            "inputs": [{"name": "text", "datatype": "BYTES", "shape": [-1]}],
            "outputs": [
                {"name": "label", "datatype": "BYTES", "shape": [-1]},
                {"name": "hate_probability", "datatype": "FP32", "shape": [-1]},
            ],
            "parameters": {
                "threshold": state.model.threshold,
                "backend": state.model.backend,
                "labels": state.model.labels,
            },
        }

    @app.get("/v2/models/{model_name}/ready", dependencies=[health_auth], tags=["v2"])
    async def model_ready(model_name: str) -> dict[str, Any]:
        """Model readiness (v2)."""
        check_name(model_name)
        _ready(state)
        return {"name": name, "ready": True}

    @app.get("/v2", dependencies=[health_auth], tags=["v2"])
    async def server_metadata() -> dict[str, Any]:
        """Server metadata (v2)."""
        return {"name": "hsctl", "version": __version__, "extensions": []}

    @app.get("/v2/health/live", dependencies=[health_auth], tags=["health"])
    async def live() -> dict[str, bool]:
        """The process is up."""
        return {"live": True}

    @app.get("/v2/health/ready", dependencies=[health_auth], tags=["health"])
    async def ready() -> JSONResponse:
        """Ready once the model is loaded (503 before)."""
        is_ready = state.model.ready and state.batcher is not None
        return JSONResponse({"ready": is_ready}, status_code=200 if is_ready else 503)

    @app.get("/metrics", dependencies=[health_auth], tags=["health"])
    async def metrics() -> Response:
        """Prometheus metrics."""
        body, content_type = state.metrics.render()
        return Response(body, media_type=content_type)

    @app.get("/", response_class=HTMLResponse, include_in_schema=False)
    async def page() -> HTMLResponse:
        """A page where a person can type a text and see the prediction."""
        _ready(state)
        cfg = state.settings.serve
        return HTMLResponse(
            render_page(
                state.model.version,
                state.model.threshold,
                state.model.labels[1],
                cfg.max_text_chars,
                cfg.api_key is not None,
            )
        )


def _flatten(data: list[Any]) -> list[Any]:
    out: list[Any] = []
    for item in data:
        out.extend(_flatten(item) if isinstance(item, list) else [item])
    return out


SETTINGS_FILE_ENV = "HSCTL_SERVE_SETTINGS_FILE"


def dump_settings_for_workers(settings: Settings, path: str) -> None:
    """Write the effective settings (secrets included, file mode 0600) for worker processes."""
    import json
    import os

    data = settings.model_dump(mode="json")
    if settings.serve.api_key is not None:
        data["serve"]["api_key"] = settings.serve.api_key.get_secret_value()
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        json.dump(data, fh)


def app_from_env() -> FastAPI:
    """Factory for ``uvicorn --factory`` and worker processes.

    Reads the settings file that ``hsctl serve --workers N`` hands down, else the
    usual layers (hsctl.toml, .env, HSCTL_* variables).
    """
    import json
    import os

    from hsctl.settings import load_settings

    path = os.environ.get(SETTINGS_FILE_ENV)
    if path:
        with open(path, encoding="utf-8") as fh:
            return create_app(Settings(**json.load(fh)))
    return create_app(load_settings().settings)
