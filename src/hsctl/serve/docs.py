"""``/docs`` (Swagger UI) and ``/redoc`` (ReDoc) served from files shipped in the package: no CDN, no fonts.

The assets are vendored under ``hsctl/serve/static`` with their licences (see
the README there); each is read once, on its first request, and served with a
long cache lifetime.
"""

from __future__ import annotations

from functools import cache
from importlib import resources

from fastapi import FastAPI, Request
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html
from fastapi.responses import HTMLResponse, Response

from hsctl.serve.errors import ApiError

ASSETS = {
    "swagger-ui-bundle.js": "text/javascript; charset=utf-8",
    "swagger-ui.css": "text/css; charset=utf-8",
    "redoc.standalone.js": "text/javascript; charset=utf-8",
}
STATIC_PREFIX = "/docs-static"
# An empty inline icon, so the browser asks no server (and no third party) for a favicon.
FAVICON = "data:,"


@cache
def asset(name: str) -> bytes:
    """The bytes of one vendored file."""
    return (resources.files("hsctl.serve") / "static" / name).read_bytes()


def add_docs_routes(app: FastAPI, title: str) -> None:
    """Register /docs, /redoc and the asset route (none of them in the OpenAPI document)."""

    def prefix(request: Request) -> str:
        return str(request.scope.get("root_path", "")).rstrip("/")

    @app.get("/docs", include_in_schema=False)
    async def swagger_ui(request: Request) -> HTMLResponse:
        root = prefix(request)
        return get_swagger_ui_html(
            openapi_url=f"{root}/openapi.json",
            title=f"{title} - Swagger UI",
            swagger_js_url=f"{root}{STATIC_PREFIX}/swagger-ui-bundle.js",
            swagger_css_url=f"{root}{STATIC_PREFIX}/swagger-ui.css",
            swagger_favicon_url=FAVICON,
            swagger_ui_parameters={"validatorUrl": None},
        )

    @app.get("/redoc", include_in_schema=False)
    async def redoc(request: Request) -> HTMLResponse:
        root = prefix(request)
        return get_redoc_html(
            openapi_url=f"{root}/openapi.json",
            title=f"{title} - ReDoc",
            redoc_js_url=f"{root}{STATIC_PREFIX}/redoc.standalone.js",
            redoc_favicon_url=FAVICON,
            with_google_fonts=False,
        )

    @app.get(STATIC_PREFIX + "/{name}", include_in_schema=False)
    async def static_asset(name: str) -> Response:
        media_type = ASSETS.get(name)
        if media_type is None:
            raise ApiError(404, "not_found", f"no asset {name!r}")
        return Response(asset(name), media_type=media_type, headers={"Cache-Control": "public, max-age=86400"})
