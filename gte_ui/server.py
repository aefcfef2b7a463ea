"""Compose the ASGI app: FastAPI routes first, then the Gradio UI mounted at "/".

Routes must be added before ``gr.mount_gradio_app``: Gradio's catch-all would otherwise answer
them (Gradio 6 has no ``/api/predict`` of its own; it lives under ``/gradio_api/``).
"""

from __future__ import annotations

import gradio as gr
from fastapi import FastAPI

from . import security
from .config import Settings
from .service import EmbeddingService
from .ui import build_demo


def create_app(service: EmbeddingService, settings: Settings | None = None) -> FastAPI:
    settings = settings or service.settings
    app = FastAPI(title="GTE Similarity Workbench API",
                  description="Embeddings and similarity with GTE models.")

    @app.get("/health", tags=["meta"])
    def health() -> dict[str, object]:
        """Readiness probe for Docker / Spaces: the model is loaded and serving."""
        return {"status": "ok", **service.info.as_dict()}

    demo = build_demo(service)
    demo.queue(default_concurrency_limit=settings.concurrency)
    security.install(app, settings)
    return gr.mount_gradio_app(app, demo, path="/", auth=security.gradio_auth(settings),
                               auth_message="GTE 相似度工作台 · 请登录 Please log in",
                               max_file_size=settings.max_upload_bytes)
