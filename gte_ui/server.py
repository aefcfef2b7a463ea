"""Compose the ASGI app: REST routes first, then the Gradio UI mounted at "/".

Routes must be added before ``gr.mount_gradio_app``: Gradio's catch-all would otherwise answer
them (Gradio 6 has no ``/api/predict`` of its own; its routes live under ``/gradio_api/``).
"""

from __future__ import annotations

import functools
from typing import Any

import gradio as gr
from fastapi import FastAPI
from gradio.utils import get_upload_folder
from starlette.routing import Mount

from gte_ui.frontends.http import security
from gte_ui.frontends.http.docs_assets import install_docs
from gte_ui.frontends.http.metrics import install_metrics
from gte_ui.frontends.http.routes import install_api
from gte_ui.frontends.http.tei_routes import install_tei
from gte_ui.core.settings import Settings, parse_settings
from gte_ui.service.service import EmbeddingService
from gte_ui.frontends.ui.app import build_demo, ui_assets


def create_app(service: EmbeddingService, settings: Settings | None = None) -> FastAPI:
    """The whole server: REST API + Gradio UI over one loaded service."""
    settings = settings or service.settings
    app = FastAPI(title="GTE Similarity Workbench API",
                  description="Sentence embeddings and similarity with GTE models. The web UI is at /.",
                  version="1.0", docs_url=None, redoc_url=None)  # install_docs: served offline
    install_docs(app)
    install_api(app, service, settings)
    install_tei(app, service, settings)  # TEI's other routes + /tei/{model}; POST / before the UI's GET /
    install_metrics(app, service, settings)
    demo = build_demo(service)
    # Gradio's default is one running event per function. Each request only waits on the shared
    # dynamic batcher, so letting several run at once is what lets the batcher merge them.
    demo.queue(default_concurrency_limit=settings.concurrency, max_size=settings.max_queue)
    security.install(app, settings, page_event=functools.partial(_is_page_event, demo), blocks=demo,
                     upload_folder=get_upload_folder)
    # Gradio's monitoring summary (/monitoring/summary: calls and latency per event) answers
    # without the key; /metrics carries the same figures behind it, so monitoring is off.
    app = gr.mount_gradio_app(app, demo, path="/", auth=security.gradio_auth(settings),
                              auth_message="GTE 相似度工作台 · 请登录 Please log in",
                              max_file_size=settings.max_upload_bytes, enable_monitoring=False, **ui_assets())
    # Gradio accepts a file input's path only inside its upload folder, but checks that only once
    # the Blocks "has launched" (processing_utils._check_allowed), which launch() sets and
    # mount_gradio_app does not: without this, an event's FileData can name any server file.
    demo.has_launched = True
    # a full disk inside Gradio's routes (an upload) answers 507, not Gradio's 500
    gradio_app(app).add_exception_handler(OSError, security.disk_full_response)
    return app


def gradio_app(app: FastAPI) -> FastAPI:
    """The Gradio app that :func:`gr.mount_gradio_app` mounted at "/"."""
    return next(route.app for route in app.routes if isinstance(route, Mount))


def _is_page_event(demo: gr.Blocks, fn_index: int) -> bool:
    """The page's own events (private or undocumented), not the named API endpoints."""
    fn = demo.fns.get(fn_index)
    return fn is not None and fn.api_visibility != "public"


def serve_application(settings: Settings) -> Any:
    """The Ray Serve application (Ingress → N Embedder replicas) serving this same app."""
    from gte_ui.deploy.ray_serve import bind_app  # ray: only when serving on Ray

    return bind_app(settings, create_app)


def build_serve_app(args: dict[str, Any]) -> Any:
    """``import_path`` target for ``serve run`` / ``serve deploy`` (deploy/serve_config.yaml).

    ``args`` are the command line's settings by their flag names (``model``, ``threads``,
    ``cache_url``…); environment variables (``GTE_MODEL``…) fill in the rest, as for ``serve``.
    """
    argv: list[str] = []
    for name, value in (args or {}).items():
        flag = "--" + str(name).replace("_", "-")
        if value is True:
            argv.append(flag)
        elif value is not None and value is not False:
            argv += [flag, str(value)]
    return serve_application(parse_settings(argv))
