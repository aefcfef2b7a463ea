"""server.py: the composed app — REST routes answered before Gradio's catch-all, the UI at "/",
Gradio's file check armed, a full disk inside Gradio's routes a 507; and ``serve run``'s arguments."""

from __future__ import annotations

import asyncio
import errno
from types import SimpleNamespace

import pytest
from fastapi.testclient import TestClient

from gte_ui import server
from gte_ui.server import _is_page_event, create_app, gradio_app


@pytest.fixture(scope="module")
def composed(tiny_encoder, tiny_settings):
    from gte_ui.service.service import EmbeddingService

    service = EmbeddingService(tiny_encoder, tiny_settings)
    app = create_app(service)
    with TestClient(app) as client:
        yield app, client, service


def test_rest_routes_answer_before_the_ui_catch_all(composed):
    _, client, _ = composed
    r = client.post("/v1/embeddings", json={"input": ["今天天气很好"]})
    assert r.status_code == 200 and len(r.json()["data"][0]["embedding"]) == 32
    assert client.get("/health").json()["status"] == "ok"
    page = client.get("/")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert "gradio" in page.text.lower()  # the UI's page, not an API answer


def test_the_mounted_gradio_app_is_armed_and_maps_a_full_disk_to_507(composed):
    app, _, _ = composed
    mounted = gradio_app(app)
    assert mounted is not app and OSError in mounted.exception_handlers
    blocks = mounted.blocks
    assert blocks.has_launched  # Gradio checks uploaded file paths only once "launched"
    public = [i for i, fn in blocks.fns.items() if fn.api_visibility == "public"]
    assert public and not any(_is_page_event(blocks, i) for i in public)
    assert any(_is_page_event(blocks, i) for i in blocks.fns if i not in public)
    assert not _is_page_event(blocks, 10**6)  # an index no event has
    request = SimpleNamespace(method="POST", url=SimpleNamespace(path="/gradio_api/upload"))
    response = asyncio.run(mounted.exception_handlers[OSError](request, OSError(errno.ENOSPC, "No space left")))
    assert response.status_code == 507 and b"disk_full" in response.body


def test_serve_run_arguments_become_the_flags(monkeypatch):
    seen = []
    monkeypatch.setattr(server, "serve_application", lambda settings: seen.append(settings) or "app")
    assert server.build_serve_app({"model": "thenlper/gte-base-zh", "max_texts": 5, "trust_remote_code": True,
                                   "metrics_open": False, "cache_url": None}) == "app"
    (settings,) = seen
    assert (settings.model, settings.max_texts, settings.trust_remote_code) == ("thenlper/gte-base-zh", 5, True)
    assert settings.cache_url is None and settings.metrics_open is False  # None and False add no flag
