"""Every exception-to-HTTP-status mapping of the server, in one place.

Error bodies are JSON: ``{"error": "<message>", "type": "<kind>"}`` (the Open
Inference Protocol's error shape plus a machine-readable kind).
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from hsctl.serve.batching import QueueFull


class ApiError(Exception):
    """An expected client or availability error with its status code."""

    def __init__(self, status: int, kind: str, message: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.kind = kind
        self.message = message
        self.headers = headers or {}


def error_response(status: int, kind: str, message: str, headers: dict[str, str] | None = None) -> JSONResponse:
    """The one JSON error shape."""
    return JSONResponse({"error": message, "type": kind}, status_code=status, headers=headers)


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


def install_error_handlers(app: FastAPI, retry_after_s: int) -> None:
    """Register the handlers; nothing a client sends may produce a 500."""

    @app.exception_handler(ApiError)
    async def api_error(request: Request, exc: ApiError) -> JSONResponse:
        return error_response(exc.status, exc.kind, exc.message, exc.headers)

    @app.exception_handler(QueueFull)
    async def queue_full(request: Request, exc: QueueFull) -> JSONResponse:
        return error_response(503, "overloaded", f"server busy: {exc}", {"Retry-After": str(retry_after_s)})

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        status, kind, message = _validation_message(exc)
        return error_response(status, kind, message)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        # 400 here means FastAPI could not decode the body (bad encoding): invalid JSON to the client.
        kind = {400: "invalid_json", 404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, "http_error")
        return error_response(exc.status_code, kind, str(exc.detail), getattr(exc, "headers", None))

    @app.exception_handler(Exception)
    async def unexpected(request: Request, exc: Exception) -> JSONResponse:
        return error_response(500, "internal", f"internal error: {type(exc).__name__}")
