"""``/docs`` (Swagger UI) and ``/redoc`` served with no network.

FastAPI's own pages load Swagger UI and ReDoc from a CDN, so they are blank on an air-gapped
machine. The ``fastapi-offline`` package ships both bundles (swagger-ui-bundle.js,
swagger-ui.css, redoc.standalone.js); we serve those files under ``/docs-assets`` and point
FastAPI's page builders at it. The app must be created with ``docs_url=None, redoc_url=None``.
"""

from __future__ import annotations

from importlib.resources import files

from fastapi import FastAPI, HTTPException, Request
from fastapi.openapi.docs import (
    get_redoc_html,
    get_swagger_ui_html,
    get_swagger_ui_oauth2_redirect_html,
)
from fastapi.responses import FileResponse, HTMLResponse

ASSETS_URL = "/docs-assets"
#: the files the pages load, with their types
ASSETS = {"swagger-ui-bundle.js": "text/javascript", "swagger-ui.css": "text/css",
          "redoc.standalone.js": "text/javascript", "favicon.png": "image/png"}
#: the one remote URL inside redoc.standalone.js (a decorative logo in its footer)
REDOC_LOGO = "https://cdn.redoc.ly/"


def install_docs(app: FastAPI) -> None:
    """Add ``/docs``, its OAuth2 redirect, ``/redoc`` and the assets they load, all local."""
    folder = files("fastapi_offline") / "static"
    # Plain routes, not a Mount: the app's one Mount is Gradio's at "/" (server.gradio_app finds it).
    assets = {name: folder / name for name in ASSETS}

    @app.get(ASSETS_URL + "/{name}", include_in_schema=False)
    async def asset(name: str) -> FileResponse:
        if name not in assets:
            raise HTTPException(status_code=404)
        return FileResponse(str(assets[name]), media_type=ASSETS[name],
                            headers={"Cache-Control": "public, max-age=86400"})
    openapi_url = app.openapi_url or "/openapi.json"
    redirect_url = app.swagger_ui_oauth2_redirect_url or "/docs/oauth2-redirect"

    @app.get("/docs", include_in_schema=False)
    async def swagger_ui(request: Request) -> HTMLResponse:
        root = request.scope.get("root_path", "")
        return get_swagger_ui_html(openapi_url=root + openapi_url, title=f"{app.title} - Swagger UI",
                                   oauth2_redirect_url=root + redirect_url,
                                   swagger_js_url=f"{root}{ASSETS_URL}/swagger-ui-bundle.js",
                                   swagger_css_url=f"{root}{ASSETS_URL}/swagger-ui.css",
                                   swagger_favicon_url=f"{root}{ASSETS_URL}/favicon.png")

    @app.get(redirect_url, include_in_schema=False)
    async def swagger_ui_redirect() -> HTMLResponse:
        return get_swagger_ui_oauth2_redirect_html()

    @app.get("/redoc", include_in_schema=False)
    async def redoc(request: Request) -> HTMLResponse:
        root = request.scope.get("root_path", "")
        page = get_redoc_html(openapi_url=root + openapi_url, title=f"{app.title} - ReDoc",
                              redoc_js_url=f"{root}{ASSETS_URL}/redoc.standalone.js",
                              redoc_favicon_url=f"{root}{ASSETS_URL}/favicon.png", with_google_fonts=False)
        # ReDoc's bundle hard-codes one remote image (its footer logo): offline it is hidden
        # rather than shown broken; nothing else on the page leaves the machine.
        html = page.body.decode("utf-8").replace("</head>", f"<style>img[src^='{REDOC_LOGO}']{{display:none}}</style></head>")
        return HTMLResponse(html)
