"""The FastAPI app, built by a factory; the model loads in the lifespan, never at import.

Endpoints: ``POST /predict``, the Open Inference Protocol v2 (``/v2``,
``/v2/health/{live,ready}``, ``/v2/models/{name}[/ready]``,
``POST /v2/models/{name}[/versions/{version}]/infer`` with the binary tensor data
extension, gzip or deflate request bodies),
``GET /metrics``, ``/docs`` and ``/redoc`` (offline) and a page at ``/``.
"""

from __future__ import annotations

import asyncio
import functools
import gc
import hmac
import json
import re
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, MutableMapping
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

from fastapi import Depends, FastAPI, Request
from fastapi.responses import HTMLResponse, JSONResponse, PlainTextResponse, Response
from pydantic import SecretStr
from starlette.datastructures import Headers

from hsctl.__about__ import __version__
from hsctl.core.predlog_record import PredictionRecord, new_prediction_id
from hsctl.serve.batching import MicroBatcher
from hsctl.serve.docs import add_docs_routes
from hsctl.serve.errors import (
    ApiError,
    CatchAll,
    ErrorMap,
    RequestError,
    install_error_handlers,
)
from hsctl.serve.gateway import INFER, INFER_VERSIONED, PREDICT, REQUEST_ID_KEY, FastPath, Gateway, client_key
from hsctl.serve.metrics import ServerMetrics
from hsctl.serve.model import ServedModel, parallelism
from hsctl.serve.page import render_page
from hsctl.serve.predlog import PredictionLog, default_log_dir, text_field
from hsctl.serve.priority import LoopPriority
from hsctl.serve.schemas import (
    InferRequest,
    InferResponse,
    Live,
    ModelMetadata,
    ModelReady,
    Prediction,
    Predictions,
    PredictRequest,
    Ready,
    ServerMetadata,
    error_responses,
)
from hsctl.serve.texts import prepare_texts
from hsctl.serve.v2 import BINARY_SCOPE_KEY, EXTENSIONS, check_outputs, infer_response, input_texts
from hsctl.settings import Settings

if TYPE_CHECKING:
    from hsctl.inference import Prediction as Decision

__all__ = ["InferRequest", "PredictRequest", "ServerState", "app_from_env", "create_app"]

API_KEY_SCHEMES = {
    "APIKeyHeader": {"type": "apiKey", "in": "header", "name": "X-API-Key"},
    "HTTPBearer": {"type": "http", "scheme": "bearer"},
}
REQUEST_ID_HEADER = "X-Request-ID"
REQUEST_ID_DOC = "The request's id in the prediction log: the client's `X-Request-ID` when valid, else a random one."
_REQUEST_ID_RE = re.compile(r"[A-Za-z0-9._:-]{1,64}")


def request_id(request: Request) -> str:
    """The client's ``X-Request-ID`` when it is a short token, else a random id; echoed in the response."""
    return request.scope.get(REQUEST_ID_KEY) or _request_id(request.headers.get("x-request-id"))


def _request_id(given: str | None) -> str:
    if given is not None and _REQUEST_ID_RE.fullmatch(given):
        return given
    return uuid.uuid4().hex


@dataclass
class ServerState:
    """What the handlers share; built by the factory, filled by the lifespan."""

    settings: Settings
    model: ServedModel
    metrics: ServerMetrics
    errors: ErrorMap
    batcher: MicroBatcher | None = None
    log: PredictionLog | None = None
    priority: LoopPriority | None = None
    started_at: float = 0.0
    fast_predict: FastPath | None = None

    def not_ready_reason(self) -> str | None:
        """Why the server should not get traffic, or None when it is ready."""
        if not self.model.ready or self.batcher is None:
            return "model is loading"
        if self.log is not None and not self.log.alive:
            return "the prediction-log writer has stopped"
        return None


class ServerApp(FastAPI):
    """The FastAPI app with its :class:`Gateway` in front of everything, the framework's own layers included.

    A request shed with a 503, and a valid ``POST /predict``, never reach the framework:
    neither its per-request telemetry check (which reads the environment and the
    OpenTelemetry providers on every request) nor its error middleware's send wrapper,
    work that a flood of rejected requests would otherwise pay thousands of times a second.
    """

    gateway: Gateway | None = None

    async def __call__(self, scope: MutableMapping[str, Any], receive: Any, send: Any) -> None:
        if self.gateway is not None and scope["type"] == "http":
            await self.gateway(cast("dict[str, Any]", scope), receive, send)
        else:
            await super().__call__(scope, receive, send)


def create_app(settings: Settings, model_dir: Path | None = None, *, own_process: bool = False) -> FastAPI:
    """Build the app for a model folder (default: ``serve.model`` or the latest trained model).

    ``own_process``: the app is the process's only job (``hsctl serve`` and its workers), so it may
    lower its event loop's priority while it sheds load (``serve.loop_nice``) and, once the model is
    loaded, move the long-lived objects out of the garbage collector's way. Tests and embedders
    leave it off.
    """
    from hsctl.models import resolve_model_dir

    cfg = settings.serve
    path = model_dir or resolve_model_dir(settings.paths.models_dir, cfg.model)
    plan = parallelism(
        cfg.backend,
        workers=cfg.workers,
        lanes=cfg.batch_lanes,
        threads=cfg.threads,
        model_batch_size=cfg.model_batch_size,
    )
    state = ServerState(
        settings=settings,
        model=ServedModel(
            cfg.model_name,
            path,
            cfg.backend,
            batch_size=plan.model_batch_size,
            threads=plan.threads,
            onnx_spinning=cfg.onnx_spinning,
            normalize=settings.data.normalize,
        ),
        metrics=ServerMetrics(),
        errors=ErrorMap(cfg.retry_after_s),
    )
    if not cfg.cors_origins:  # CORS headers come from the app's middleware: such servers take the app's path
        state.fast_predict = _fast_predict(state)

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
                metrics.expected_wait.set(state.batcher.expected_wait())

        def on_drop(reason: str, count: int) -> None:
            metrics.texts_dropped.labels(reason).inc(count)

        batcher = MicroBatcher(
            state.model.predict_proba,
            max_batch_size=cfg.max_batch_size,
            max_wait_ms=cfg.max_wait_ms,
            max_queue=cfg.max_queue,
            max_queue_delay_ms=cfg.max_queue_delay_ms,
            probe=state.model.probe,
            on_batch=on_batch,
            on_drop=on_drop,
            lanes=plan.lanes,
        )
        batcher.warm(state.model.warmup_batches)
        if not metrics.multiprocess:  # per-process values in files cannot hold a callback
            metrics.queue_depth.set_function(lambda: state.batcher.depth if state.batcher else 0)
            metrics.expected_wait.set_function(lambda: state.batcher.expected_wait() if state.batcher else 0.0)
        await batcher.start()
        if cfg.log_predictions:
            state.log = PredictionLog(
                cfg.log_url or default_log_dir(settings.paths.artifacts),
                max_bytes=cfg.log_max_bytes,
                queue_size=cfg.log_queue,
                on_drop=lambda reason, count: metrics.log_dropped.labels(reason).inc(count),
            )
            state.log.start()
        state.batcher = batcher
        if own_process:
            state.priority = LoopPriority(cfg.loop_nice)  # lowers the loop thread only while shedding
            gc.collect()
            gc.freeze()  # the model and the app live as long as the process: keep them out of collections
        model = state.model
        metrics.model_info.labels(model.name, model.version, model.backend, f"{model.threshold:.4f}").set(1)
        try:
            yield
        finally:
            await batcher.stop()  # answers everything already queued
            if state.log is not None:
                await asyncio.to_thread(state.log.close)

    app = ServerApp(
        title="hsctl prediction server",
        version=__version__,
        description="Hate-speech classification: `/predict`, the Open Inference Protocol (v2) with the binary "
        'tensor data extension, and Prometheus metrics. Every error has the body `{"error", "type"}`.',
        lifespan=lifespan,
        docs_url=None,
        redoc_url=None,
        redirect_slashes=False,  # a redirect would name the Host header; the gateway drops a trailing slash
    )
    app.state.hsctl = state
    install_error_handlers(app, state.errors)
    app.add_middleware(CatchAll, errors=state.errors)
    if cfg.cors_origins:
        from fastapi.middleware.cors import CORSMiddleware

        app.add_middleware(
            CORSMiddleware,
            allow_origins=cfg.cors_origins,
            allow_methods=["GET", "POST"],
            allow_headers=["*"],
            expose_headers=[REQUEST_ID_HEADER, "Retry-After", "Inference-Header-Content-Length"],
        )
    app.gateway = Gateway(functools.partial(FastAPI.__call__, app), state)
    _add_routes(app, state)
    add_docs_routes(app, app.title)
    _install_openapi(app, state)
    return app


def _install_openapi(app: FastAPI, state: ServerState) -> None:
    """The OpenAPI document, corrected where FastAPI's defaults would be wrong for this server.

    * FastAPI documents a ``422 HTTPValidationError`` on every route with a parameter;
      here every error has the :class:`~hsctl.serve.schemas.ErrorBody` shape, and the
      routes that can answer 422 declare it themselves.
    * With an API key set, the key (``X-API-Key`` header or bearer token) is declared as
      a security scheme on the operations that require it; the others lose their 401.
    """
    cfg = state.settings.serve
    from fastapi.openapi.utils import get_openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is not None:
            return app.openapi_schema
        schema = get_openapi(title=app.title, version=app.version, description=app.description, routes=app.routes)
        components = schema.setdefault("components", {})
        for name in ("HTTPValidationError", "ValidationError"):
            components.get("schemas", {}).pop(name, None)
        if cfg.api_key is not None:
            components["securitySchemes"] = API_KEY_SCHEMES
        for path, operations in schema.get("paths", {}).items():
            for operation in operations.values():
                responses = operation.get("responses", {})
                if "HTTPValidationError" in json.dumps(responses.get("422", {})):
                    responses.pop("422")
                protected = path in (PREDICT, INFER, INFER_VERSIONED) or cfg.protect_health
                if cfg.api_key is not None and protected:
                    operation["security"] = [{name: []} for name in API_KEY_SCHEMES]
        app.openapi_schema = schema
        return schema

    app.openapi = openapi  # type: ignore[method-assign]


def _key_matches(headers: Mapping[str, str], key: SecretStr) -> bool:
    """The key of ``X-API-Key`` or ``Authorization: Bearer`` is the server's (constant-time comparison)."""
    given = headers.get("x-api-key") or ""
    auth = headers.get("authorization", "")
    if not given and auth.lower().startswith("bearer "):
        given = auth[7:].strip()
    expected = key.get_secret_value()
    if not given or not expected.strip():  # an empty credential never matches, not even an empty key
        return False
    return hmac.compare_digest(given.encode(), expected.encode())


def _require_key(state: ServerState, *, health: bool = False) -> Callable[[Request], Awaitable[None]]:
    key = state.settings.serve.api_key

    async def check(request: Request) -> None:  # async: a sync dependency would hop to a thread pool
        if key is None or (health and not state.settings.serve.protect_health):
            return
        if not _key_matches(request.headers, key):
            raise ApiError(401, "unauthorized", "missing or invalid API key", {"WWW-Authenticate": "Bearer"})

    return check


def _ready(state: ServerState) -> MicroBatcher:
    if not state.model.ready or state.batcher is None:
        raise ApiError(503, "not_ready", "model is loading", {"Retry-After": str(state.settings.serve.retry_after_s)})
    return state.batcher


async def _score(
    state: ServerState, texts: list[Any], endpoint: str, rid: str, client: str | None = None
) -> tuple[list[Decision], list[str] | None]:
    """Check and normalise the texts, score them in the micro-batcher, count and log the decisions.

    Returns the decisions and their prediction ids (one per text: the key that review labels join on),
    or None when the server keeps no prediction log (an id would then name nothing).
    """
    cfg = state.settings.serve
    started = time.perf_counter()
    batcher = _ready(state)
    sent, cleaned = prepare_texts(
        texts, max_items=cfg.max_batch_items, max_chars=cfg.max_text_chars, normalize=state.model.normalize
    )
    probs = await batcher.submit(cleaned, timeout=cfg.request_timeout_s, client=client)  # fair admission
    latency_ms = round((time.perf_counter() - started) * 1000, 3)
    decided = state.model.decide(probs)
    for d in decided:
        state.metrics.predictions.labels(d.label).inc()
    state.metrics.observe_decisions([d.hate_probability for d in decided], state.model.threshold)
    log = state.log
    if log is None:  # no log, no ids: an id would name nothing
        return decided, None
    ids = [new_prediction_id() for _ in decided]
    # Every answered text is logged, or counted as dropped by the log.
    version, mode, stamp, threshold = state.model.version, cfg.log_text, datetime.now(UTC), state.model.threshold
    for i, (text, d, pid) in enumerate(zip(sent, decided, ids, strict=True)):
        record = PredictionRecord(
            time=stamp,
            prediction_id=pid,
            request_id=rid,
            index=i,
            endpoint=endpoint,
            text=(logged := text_field(text, mode)).get("text"),
            text_sha256=logged.get("text_sha256"),
            hate_probability=round(d.hate_probability, 6),
            label=d.label,
            threshold=threshold,
            model_version=version,
            latency_ms=latency_ms,
        )
        log.write(record.to_json_dict())
    return decided, ids


@dataclass(frozen=True)
class _Auth:
    """The dependencies and documented 401s of the routes, as the API key settings make them."""

    predict: list[Any]
    health: list[Any]
    predict_errors: tuple[int, ...]
    health_errors: tuple[int, ...]


def _auth(state: ServerState) -> _Auth:
    cfg = state.settings.serve
    key_set = cfg.api_key is not None
    protect = key_set and cfg.protect_health
    return _Auth(
        # No key, no dependency: FastAPI resolves nothing extra per request.
        predict=[Depends(_require_key(state))] if key_set else [],
        health=[Depends(_require_key(state, health=True))] if protect else [],
        predict_errors=(401,) if key_set else (),
        health_errors=(401,) if protect else (),
    )


def _add_routes(app: FastAPI, state: ServerState) -> None:
    auth = _auth(state)
    _add_predict_route(app, state, auth)
    _add_v2_routes(app, state, auth)
    _add_health_routes(app, state, auth)


async def _predict_payload(
    state: ServerState, body: PredictRequest, rid: str, client: str | None = None
) -> dict[str, Any]:
    """The answer to a valid ``/predict`` body: what the route and the fast path both send."""

    def prediction(d: Decision, pid: str | None) -> dict[str, Any]:
        out = {**d.to_dict(), "threshold": state.model.threshold, "model_version": state.model.version}
        if pid is not None:
            out["prediction_id"] = pid
        return out

    texts = [body.text] if body.text is not None else list(body.texts or [])
    decided, ids = await _score(state, texts, PREDICT, rid, client)
    pids: list[str | None] = list(ids) if ids is not None else [None] * len(decided)
    if body.text is not None:
        return prediction(decided[0], pids[0])
    return {
        "predictions": [prediction(d, pid) for d, pid in zip(decided, pids, strict=True)],
        "threshold": state.model.threshold,
        "model_version": state.model.version,
    }


def _fast_predict(state: ServerState) -> FastPath:
    """``POST /predict`` without the framework's routing, dependency and response machinery.

    At 64 connections that machinery was about a quarter of the event loop's time per
    request. The fast path answers valid requests only: a body that does not parse or
    validate, or a missing or wrong API key, returns False before anything is sent, and
    the app then answers it (the one place that words those errors). Errors raised while
    scoring are mapped by the same :class:`ErrorMap` as the app's.
    """
    key = state.settings.serve.api_key

    async def fast(scope: dict[str, Any], body: bytes, send: Callable[[dict[str, Any]], Awaitable[None]]) -> bool:
        headers = Headers(scope=scope)
        if key is not None and not _key_matches(headers, key):
            return False
        try:
            parsed = PredictRequest.model_validate(json.loads(body))
        except ValueError:  # invalid JSON, or a body the schema rejects (pydantic's ValidationError)
            return False
        rid = scope.get(REQUEST_ID_KEY) or _request_id(headers.get("x-request-id"))
        try:
            payload = await _predict_payload(state, parsed, rid, client_key(scope))
        except Exception as exc:
            await state.errors.answer(send, exc, scope)
            return True
        # As JSONResponse renders it.
        out = json.dumps(payload, ensure_ascii=False, allow_nan=False, indent=None, separators=(",", ":")).encode()
        raw = [
            (b"content-length", str(len(out)).encode()),
            (b"content-type", b"application/json"),
            (b"x-request-id", rid.encode()),
        ]
        await send({"type": "http.response.start", "status": 200, "headers": raw})
        await send({"type": "http.response.body", "body": out})
        return True

    return fast


def _add_predict_route(app: FastAPI, state: ServerState, auth: _Auth) -> None:
    @app.post(
        PREDICT,
        dependencies=auth.predict,
        tags=["predict"],
        response_model=None,
        responses={
            200: {
                "model": Prediction | Predictions,
                "description": "A prediction for `text`, or the predictions for `texts` in order.",
                "headers": {REQUEST_ID_HEADER: {"description": REQUEST_ID_DOC, "schema": {"type": "string"}}},
            },
            **error_responses(400, *auth.predict_errors, 413, 415, 422, 500, 503),
        },
    )
    async def predict(body: PredictRequest, request: Request) -> JSONResponse:
        """Classify one text (`text`) or several (`texts`)."""
        rid = request_id(request)
        payload = await _predict_payload(state, body, rid, client_key(request.scope))
        return JSONResponse(payload, headers={REQUEST_ID_HEADER: rid})


INFER_DOC: dict[str, Any] = {
    "model": InferResponse,
    "description": "The outputs as JSON; with binary outputs asked for, the JSON part (whose length "
    "is in `Inference-Header-Content-Length`) followed by the binary tensor data.",
    "content": {"application/octet-stream": {"schema": {"type": "string", "format": "binary"}}},
    "headers": {
        "Inference-Header-Content-Length": {
            "description": "Length of the JSON part, when binary outputs follow it.",
            "schema": {"type": "integer"},
        },
        REQUEST_ID_HEADER: {"description": REQUEST_ID_DOC, "schema": {"type": "string"}},
    },
}
INFER_EXTRA: dict[str, Any] = {
    "parameters": [
        {
            "name": "Inference-Header-Content-Length",
            "in": "header",
            "required": False,
            "schema": {"type": "integer", "minimum": 0},
            "description": "Binary tensor data extension: the body is this many bytes of JSON, then the "
            "binary data of the inputs that give `parameters.binary_data_size`.",
        }
    ],
    "requestBody": {"content": {"application/octet-stream": {"schema": {"type": "string", "format": "binary"}}}},
}


def _add_v2_routes(app: FastAPI, state: ServerState, auth: _Auth) -> None:
    name = state.settings.serve.model_name

    def check_model(model_name: str, model_version: str | None = None) -> None:
        if model_name != name:
            raise RequestError("not_found", f"unknown model {model_name!r}; this server serves {name!r}")
        if model_version is not None and model_version != state.model.version:
            served = state.model.version
            raise RequestError(
                "not_found", f"unknown version {model_version!r} of {name!r}; this server serves {served!r}"
            )

    async def infer_any(model_name: str, version: str | None, body: InferRequest, request: Request) -> Response:
        check_model(model_name, version)
        check_outputs(body)
        texts = input_texts(body, request.scope.get(BINARY_SCOPE_KEY, b""))
        rid = request_id(request)
        decided, ids = await _score(state, texts, INFER, rid, client_key(request.scope))
        return infer_response(
            body,
            model_name=name,
            model_version=state.model.version,
            threshold=state.model.threshold,
            labels=[d.label for d in decided],
            probs=[d.hate_probability for d in decided],
            prediction_ids=ids,
            headers={REQUEST_ID_HEADER: rid},
        )

    infer_errors = error_responses(400, *auth.predict_errors, 404, 413, 415, 422, 500, 503)

    @app.post(
        INFER,
        dependencies=auth.predict,
        tags=["v2"],
        response_model=None,
        responses={200: INFER_DOC, **infer_errors},
        openapi_extra=INFER_EXTRA,
    )
    async def infer(model_name: str, body: InferRequest, request: Request) -> Response:
        """Open Inference Protocol: one BYTES input tensor of texts, as JSON or binary data."""
        return await infer_any(model_name, None, body, request)

    @app.post(
        INFER_VERSIONED,
        dependencies=auth.predict,
        tags=["v2"],
        response_model=None,
        responses={200: INFER_DOC, **infer_errors},
        openapi_extra=INFER_EXTRA,
    )
    async def infer_version(model_name: str, model_version: str, body: InferRequest, request: Request) -> Response:
        """As `/v2/models/{model_name}/infer`, for the one version served (404 for any other)."""
        return await infer_any(model_name, model_version, body, request)

    def metadata() -> JSONResponse:
        _ready(state)
        return JSONResponse(
            {
                "name": name,
                "versions": [state.model.version],
                "platform": "pytorch" if state.model.backend == "torch" else "onnxruntime",
                "inputs": [{"name": "text", "datatype": "BYTES", "shape": [-1]}],
                "outputs": [
                    {"name": "label", "datatype": "BYTES", "shape": [-1]},
                    {"name": "hate_probability", "datatype": "FP32", "shape": [-1]},
                    *([{"name": "prediction_id", "datatype": "BYTES", "shape": [-1]}] if state.log else []),
                ],
                "parameters": {
                    "threshold": state.model.threshold,
                    "backend": state.model.backend,
                    "labels": state.model.labels,
                },
            }
        )

    lookup: dict[str, Any] = {
        "dependencies": auth.health,
        "tags": ["v2"],
        "responses": error_responses(*auth.health_errors, 404, 503),
    }

    @app.get("/v2/models/{model_name}", response_model=ModelMetadata, **lookup)
    async def model_metadata(model_name: str) -> JSONResponse:
        """Model metadata (v2)."""
        check_model(model_name)
        return metadata()

    @app.get("/v2/models/{model_name}/versions/{model_version}", response_model=ModelMetadata, **lookup)
    async def model_version_metadata(model_name: str, model_version: str) -> JSONResponse:
        """Model metadata (v2) of the version served."""
        check_model(model_name, model_version)
        return metadata()

    @app.get("/v2/models/{model_name}/ready", response_model=ModelReady, **lookup)
    async def model_ready(model_name: str) -> JSONResponse:
        """Model readiness (v2)."""
        check_model(model_name)
        _ready(state)
        return JSONResponse({"name": name, "ready": True})

    @app.get("/v2/models/{model_name}/versions/{model_version}/ready", response_model=ModelReady, **lookup)
    async def model_version_ready(model_name: str, model_version: str) -> JSONResponse:
        """Readiness (v2) of the version served."""
        check_model(model_name, model_version)
        _ready(state)
        return JSONResponse({"name": name, "ready": True})

    @app.get(
        "/v2",
        dependencies=auth.health,
        tags=["v2"],
        response_model=ServerMetadata,
        responses=error_responses(*auth.health_errors),
    )
    async def server_metadata() -> JSONResponse:
        """Server metadata (v2), with the supported protocol extensions."""
        return JSONResponse({"name": "hsctl", "version": __version__, "extensions": EXTENSIONS})


def _add_health_routes(app: FastAPI, state: ServerState, auth: _Auth) -> None:
    cfg = state.settings.serve

    @app.get(
        "/v2/health/live",
        dependencies=auth.health,
        tags=["health"],
        response_model=Live,
        responses=error_responses(*auth.health_errors),
    )
    async def live() -> JSONResponse:
        """The process is up."""
        return JSONResponse({"live": True})

    @app.get(
        "/v2/health/ready",
        dependencies=auth.health,
        tags=["health"],
        response_model=Ready,
        responses={
            503: {
                "model": Ready,
                "description": "Not ready: the model is loading, or the prediction-log writer "
                "has stopped (`reason` says which).",
            },
            **error_responses(*auth.health_errors),
        },
    )
    async def ready() -> JSONResponse:
        """Ready once the model is loaded, as long as the prediction log can be written (503 otherwise)."""
        reason = state.not_ready_reason()
        if reason is None:
            return JSONResponse({"ready": True})
        return JSONResponse({"ready": False, "reason": reason}, status_code=503)

    @app.get(
        "/metrics",
        dependencies=auth.health,
        tags=["health"],
        response_class=PlainTextResponse,
        responses={
            200: {
                "description": "Prometheus text exposition format.",
                "content": {"text/plain": {"schema": {"type": "string"}}},
            },
            **error_responses(*auth.health_errors),
        },
    )
    async def metrics() -> Response:
        """Prometheus metrics."""
        body, content_type = state.metrics.render()
        return Response(body, media_type=content_type)

    @app.get("/", response_class=HTMLResponse, include_in_schema=False)
    async def page() -> HTMLResponse:
        """A page where a person can type a text and see the prediction."""
        _ready(state)
        return HTMLResponse(
            render_page(
                state.model.version,
                state.model.threshold,
                state.model.labels[1],
                cfg.max_text_chars,
                cfg.api_key is not None,
            )
        )


def configure_server_logging() -> None:
    """Error lines of the server (``hsctl.serve.*`` loggers) on stderr, one line each, like uvicorn's."""
    import logging
    import sys

    logger = logging.getLogger("hsctl.serve")
    if not any(getattr(h, "_hsctl", False) for h in logger.handlers):
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("%(levelname)s:     hsctl serve: %(message)s"))
        handler._hsctl = True  # type: ignore[attr-defined]
        logger.addHandler(handler)
        logger.setLevel(logging.INFO)
        logger.propagate = False


def app_from_env() -> FastAPI:
    """Factory for ``uvicorn --factory`` and worker processes.

    Reads the settings file that ``hsctl serve --workers N`` hands down, else the
    usual layers (hsctl.toml, .env, HSCTL_* variables).
    """
    import json
    import os

    from hsctl.serve.launch import SETTINGS_FILE_ENV
    from hsctl.settings import load_settings

    configure_server_logging()
    path = os.environ.get(SETTINGS_FILE_ENV)
    if path:
        with open(path, encoding="utf-8") as fh:
            return create_app(Settings(**json.load(fh)), own_process=True)
    return create_app(load_settings().settings, own_process=True)
