"""Prometheus /metrics (gte_ui.frontends.http.metrics) on a bare FastAPI app: requests counted by
route template and status, the service's counters read at scrape time, the key guard."""

from __future__ import annotations

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families

from gte_ui.core.errors import GteError
from gte_ui.frontends.http.metrics import install_metrics
from gte_ui.service.service import EmbeddingService


def app_with_metrics(service: EmbeddingService, settings):
    app = FastAPI()

    @app.get("/items/{item_id}")
    def item(item_id: int) -> dict:
        return {"id": item_id}

    @app.post("/pair")
    def pair(body: dict) -> dict:
        return {"score": service.pair(body["a"], body["b"]).score}

    registry = install_metrics(app, service, settings)
    return app, registry


def scrape(client: TestClient, **headers) -> list:
    """Every sample of one scrape."""
    r = client.get("/metrics", headers=headers)
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/plain")
    return [s for f in text_string_to_metric_families(r.text) for s in f.samples]


def value(samples: list, name: str, **labels) -> float:
    """The sum of the samples called ``name`` with these labels (a missing series fails)."""
    found = [s.value for s in samples if s.name == name and all(s.labels.get(k) == v for k, v in labels.items())]
    assert found, f"no sample {name} {labels}"
    return sum(found)


def test_requests_are_counted_by_route_template_and_status(tiny_encoder, tiny_settings):
    settings = tiny_settings.replace(metrics_open=True)
    app, registry = app_with_metrics(EmbeddingService(tiny_encoder, settings), settings)
    with TestClient(app) as client:
        for i in (1, 2, 3):
            assert client.get(f"/items/{i}").status_code == 200
        assert client.get("/items/not-a-number").status_code == 422
        assert client.get("/no/such/route").status_code == 404
        families = scrape(client)
    total = "gte_http_requests_total"
    assert value(families, total, route="/items/{item_id}", method="GET", status="200") == 3  # the template
    assert value(families, total, route="/items/{item_id}", status="422") == 1
    assert value(families, total, route="unmatched", status="404") == 1
    assert not any(s.labels.get("route", "").startswith("/items/1") for s in families)  # never the raw path
    assert value(families, "gte_http_request_duration_seconds_count", route="/items/{item_id}", status="200") == 3
    assert registry.get_sample_value("gte_http_requests_in_progress") == 0


def test_the_services_counters_are_read_at_scrape_time(tiny_settings):
    settings = tiny_settings.replace(metrics_open=True)
    service = EmbeddingService.from_settings(settings)  # with its dynamic batcher, as served
    app, _ = app_with_metrics(service, settings)
    try:
        with TestClient(app) as client:
            before = scrape(client)
            client.post("/pair", json={"a": "今天天气很好", "b": "我想借钱"})
            client.post("/pair", json={"a": "今天天气很好", "b": "我想借钱"})  # both texts from the cache now
            after = scrape(client)
    finally:
        service.close()
    assert value(after, "gte_texts_embedded_total") - value(before, "gte_texts_embedded_total") == 2
    assert value(after, "gte_cache_hits_total", tier="local") - value(before, "gte_cache_hits_total", tier="local") == 2
    assert value(after, "gte_tokens_embedded_total") == service.tokens_embedded > 0
    assert value(after, "gte_batch_size_count") >= 1  # the batcher's model calls observed
    info = next(s for s in after if s.name == "gte_model_info")
    assert info.labels["model"] == service.info.name and info.labels["dim"] == str(service.dim)
    assert value(after, "gte_cache_up", tier="shared") == 0  # no --cache-url


def test_metrics_need_the_key_unless_open(tiny_encoder, tiny_settings):
    settings = tiny_settings.replace(api_key="k3y")
    app, _ = app_with_metrics(EmbeddingService(tiny_encoder, settings), settings)
    with TestClient(app) as client:
        with pytest.raises(GteError, match="API key"):  # the app's GteError handler makes it a 401
            client.get("/metrics")
        assert value(scrape(client, authorization="Bearer k3y"), "gte_model_load_seconds") > 0
