"""Every exception-to-HTTP-status mapping of the server, in one place.

Error bodies are JSON: ``{"error": "<message>", "type": "<kind>"}`` (the Open
Inference Protocol's error shape plus a machine-readable kind). Nothing a client
sends may produce a 500; a 500 (a server fault) is logged as one line, without
the traceback uvicorn would print.
"""

from __future__ import annotations

import json
import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from hsctl.serve.batching import DeadlineExceeded, ItemFailed, Overloaded
from hsctl.serve.ratelog import RateLimitedLog
from hsctl.serve.texts import TextsError

logger = logging.getLogger("hsctl.serve")

# The status of each error type raised by request checks (texts, tensors, binary data).
STATUS_BY_KIND = {
    "invalid_json": 400,
    "invalid_binary": 400,
    "invalid_encoding": 400,
    "unsupported_encoding": 415,
    "not_found": 404,
    "body_too_large": 413,
    "body_timeout": 408,
    "too_many_headers": 431,
    "head_too_large": 431,  # answered by hsctl.serve.connection, before a request reaches the app
    "head_timeout": 408,
    "invalid_http": 400,
    "too_many_texts": 413,
    "text_too_long": 413,
    "invalid_request": 422,
    "invalid_text": 422,
    "empty_text": 422,
    "unprocessable_text": 422,
}


class ApiError(Exception):
    """An expected client or availability error with its status code."""

    def __init__(self, status: int, kind: str, message: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.kind = kind
        self.message = message
        self.headers = headers or {}


class RequestError(ApiError):
    """A client error whose status follows from its kind (:data:`STATUS_BY_KIND`)."""

    def __init__(self, kind: str, message: str) -> None:
        super().__init__(STATUS_BY_KIND[kind], kind, message)


def error_response(status: int, kind: str, message: str, headers: dict[str, str] | None = None) -> JSONResponse:
    """The one JSON error shape."""
    return JSONResponse({"error": message, "type": kind}, status_code=status, headers=headers)


async def send_error(send: Any, status: int, kind: str, message: str, headers: dict[str, str] | None = None) -> None:
    """The same JSON error, sent as raw ASGI messages: what the middleware in front of the app uses (cheaper)."""
    body = json.dumps({"error": message, "type": kind}, ensure_ascii=False, separators=(",", ":")).encode()
    raw = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    raw += [(k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in (headers or {}).items()]
    await send({"type": "http.response.start", "status": status, "headers": raw})
    await send({"type": "http.response.body", "body": body})


def _validation_message(exc: RequestValidationError) -> tuple[int, str, str]:
    errors: list[Any] = list(exc.errors())
    for err in errors:
        if err.get("type") == "json_invalid":
            return 400, "invalid_json", f"invalid JSON: {err.get('ctx', {}).get('error', err.get('msg'))}"
    parts = []
    for err in errors[:5]:
        loc = ".".join(str(p) for p in err.get("loc", ()) if p != "body") or "body"
        parts.append(f"{loc}: {err.get('msg')}")
    return 422, "invalid_request", "; ".join(parts) or "invalid request"


class ErrorMap:
    """The response of each expected exception raised while a request is served: one mapping, used by the
    app's exception handlers and by the gateway's fast path alike."""

    def __init__(self, retry_after_s: int) -> None:
        self.retry = {"Retry-After": str(retry_after_s)}
        self.item_failures = RateLimitedLog(logger, level=logging.WARNING)
        self.internal_errors = RateLimitedLog(logger)

    def __call__(self, exc: BaseException, path: str) -> ApiError | None:
        """The error answer for ``exc`` (status, kind, message, headers); None for an unexpected one (a 500)."""
        if isinstance(exc, ApiError):
            return exc
        if isinstance(exc, TextsError):  # and TextError, its subclass: one text, named in the message
            return ApiError(STATUS_BY_KIND[exc.kind], exc.kind, exc.message)
        if isinstance(exc, ItemFailed):
            cause = f"{type(exc.cause).__name__}: {exc.cause}"
            self.item_failures.event("texts failed in the model", f"{path}: {exc} ({cause[:200]}); answered 422")
            return ApiError(STATUS_BY_KIND["unprocessable_text"], "unprocessable_text", str(exc))
        if isinstance(exc, Overloaded):
            return ApiError(503, "overloaded", f"server busy: {exc}", self.retry)
        if isinstance(exc, DeadlineExceeded):
            return ApiError(503, "timeout", f"server busy: {exc}", self.retry)
        return None

    async def answer(self, send: Any, exc: Exception, scope: dict[str, Any]) -> None:
        """Send the answer to ``exc`` as raw ASGI messages: its mapped error, else a logged ``500 internal``."""
        error = self(exc, scope["path"])
        if error is None:
            await send_error(send, 500, "internal", self.internal(scope, exc))
        else:
            await send_error(send, error.status, error.kind, error.message, error.headers)

    def internal(self, scope: dict[str, Any], exc: Exception) -> str:
        """Log an unexpected exception as one (rate-limited) line; the message of its ``500 internal`` answer."""
        name = type(exc).__name__
        self.internal_errors.event(
            "internal errors", f"internal error on {scope.get('method')} {scope.get('path')}: {name}: {str(exc)[:200]}"
        )
        logger.debug("internal error", exc_info=exc)
        return f"internal error: {name}"


def install_error_handlers(app: FastAPI, errors: ErrorMap) -> None:
    """Register the handlers of every expected exception."""

    async def expected(request: Request, exc: Exception) -> JSONResponse:
        error = errors(exc, request.url.path)
        if error is None:  # not one of the types registered below
            raise exc
        return error_response(error.status, error.kind, error.message, error.headers)

    for kind in (ApiError, TextsError, ItemFailed, Overloaded, DeadlineExceeded):
        app.add_exception_handler(kind, expected)

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        status, kind, message = _validation_message(exc)
        return error_response(status, kind, message)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        # 400 here means FastAPI could not decode the body (bad encoding): invalid JSON to the client.
        kind = {400: "invalid_json", 404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, "http_error")
        return error_response(exc.status_code, kind, str(exc.detail), getattr(exc, "headers", None))


class CatchAll:
    """Innermost middleware: an unexpected exception becomes ``500 internal`` and one error line.

    (Starlette's own catch-all re-raises, so uvicorn would print a traceback per failure.)
    """

    def __init__(self, app: Any, errors: ErrorMap) -> None:
        self.app = app
        self.errors = errors

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def watch(message: dict[str, Any]) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, receive, watch)
        except Exception as exc:
            message = self.errors.internal(scope, exc)
            if not started:
                await send_error(send, 500, "internal", message)
