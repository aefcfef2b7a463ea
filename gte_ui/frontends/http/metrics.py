"""Prometheus ``GET /metrics`` (prometheus_client): what TEI and infinity expose, so one Grafana
board fits all three.

* ``gte_http_requests_total`` / ``gte_http_request_duration_seconds`` per route template, method
  and status, and ``gte_http_requests_in_progress``: an ASGI middleware around the whole app
  (REST routes and the Gradio UI alike; the route label is the template, never the raw path).
* ``gte_batch_size`` (texts per model call) observed by the dynamic batcher; ``gte_queue_depth``.
* ``gte_tokens_embedded_total``, ``gte_texts_embedded_total``, ``gte_forward_passes_total``,
  ``gte_cache_{hits,misses,errors}_total{tier="local"|"shared"}``, ``gte_cache_rejected_total{tier="shared",reason}``, ``gte_cache_up``,
  ``gte_model_load_seconds``, ``gte_model_info``: read from the service at scrape time, so the
  layers below the front ends know nothing of Prometheus.

Each app gets its own registry (tests build many apps in one process). ``/metrics`` sits behind
``--api-key`` like the other routes unless ``--metrics-open``.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import Response
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, InfoMetricFamily
from prometheus_client.registry import Collector
from starlette.routing import Mount

from gte_ui.core.auth import check_api_key
from gte_ui.core.settings import Settings
from gte_ui.service.service import EmbeddingService

#: latency buckets (seconds): a cache hit (~1 ms) up to a long batch on CPU
LATENCY_BUCKETS = (0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512)


class HttpMetrics:
    """The request-side metrics, in one registry."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.requests = Counter("gte_http_requests", "HTTP requests answered",
                                ("route", "method", "status"), registry=registry)
        self.latency = Histogram("gte_http_request_duration_seconds", "time to answer an HTTP request",
                                 ("route", "method", "status"), buckets=LATENCY_BUCKETS, registry=registry)
        self.in_progress = Gauge("gte_http_requests_in_progress", "HTTP requests being served now",
                                 registry=registry)
        self.batch_size = Histogram("gte_batch_size", "texts per model call made by the dynamic batcher",
                                    buckets=BATCH_BUCKETS, registry=registry)


class RequestMetrics:
    """ASGI middleware: count and time every HTTP request by route template and status."""

    def __init__(self, app: Any, metrics: HttpMetrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        status = [500]

        async def send_and_record(message: dict) -> None:
            if message["type"] == "http.response.start":
                status[0] = message["status"]
            await send(message)

        t0 = time.perf_counter()
        self.metrics.in_progress.inc()
        try:
            await self.app(scope, receive, send_and_record)
        finally:
            self.metrics.in_progress.dec()
            labels = (route_label(scope), scope.get("method", "?"), str(status[0]))
            self.metrics.requests.labels(*labels).inc()
            self.metrics.latency.labels(*labels).observe(time.perf_counter() - t0)


def route_label(scope: dict) -> str:
    """The matched route's template (``/v1/embeddings``); ``/`` for the UI; ``unmatched`` for 404s."""
    route = scope.get("route")
    if route is None:
        return "unmatched"
    if isinstance(route, Mount):
        return route.path or "/"
    return getattr(route, "path", "unmatched")


class ServiceCollector(Collector):
    """Counters the service keeps, turned into metric families at scrape time."""

    def __init__(self, service: EmbeddingService) -> None:
        self.service = service

    def collect(self) -> Iterator[Any]:
        svc = self.service
        st = svc.stats()
        yield CounterMetricFamily("gte_tokens_embedded", "tokens the model read (cache misses)",
                                  value=svc.tokens_embedded)
        yield CounterMetricFamily("gte_texts_embedded", "texts the model embedded (cache misses)",
                                  value=st["texts_encoded"])
        yield CounterMetricFamily("gte_forward_passes", "model forward passes", value=st["forward_calls"])
        tiers = st["cache"]
        for what in ("hits", "misses", "errors"):
            fam = CounterMetricFamily(f"gte_cache_{what}", f"embedding cache {what} per tier", labels=["tier"])
            for tier in ("local", "shared"):
                fam.add_metric([tier], tiers[tier].get(what, 0))
            yield fam
        rejected = CounterMetricFamily("gte_cache_rejected", "shared-cache entries refused on read and "
                                       "recomputed (key, width, non_finite, norm, signature, ...)",
                                       labels=["tier", "reason"])
        for reason, count in sorted(tiers["shared"].get("rejected", {}).items()):
            rejected.add_metric(["shared", reason], count)
        yield rejected
        up = GaugeMetricFamily("gte_cache_up", "1 when the cache tier is reachable", labels=["tier"])
        up.add_metric(["shared"], 1.0 if tiers["shared"]["up"] else 0.0)
        yield up
        yield GaugeMetricFamily("gte_cache_entries", "vectors in the in-process cache",
                                value=tiers["local"]["entries"])
        yield GaugeMetricFamily("gte_queue_depth", "texts waiting for the model in the dynamic batcher",
                                value=st["batcher"].get("pending", 0))
        info = svc.info
        yield GaugeMetricFamily("gte_model_load_seconds", "seconds the model took to load",
                                value=info.load_seconds)
        fam = InfoMetricFamily("gte_model", "the served model")
        fam.add_metric([], {"model": info.name, "dim": str(info.dim), "device": info.device,
                            "precision": info.precision, "backend": info.backend})
        yield fam


def install_metrics(app: FastAPI, service: EmbeddingService, settings: Settings) -> CollectorRegistry:
    """Add the middleware and ``GET /metrics`` to ``app`` (before Gradio mounts)."""
    registry = CollectorRegistry()
    metrics = HttpMetrics(registry)
    registry.register(ServiceCollector(service))
    service.observe_batches(lambda texts, requests: metrics.batch_size.observe(texts))
    app.add_middleware(RequestMetrics, metrics=metrics)

    @app.get("/metrics", tags=["meta"], response_class=Response)
    def prometheus(request: Request) -> Response:
        """Prometheus text format. Needs the API key unless the server runs with --metrics-open."""
        if not settings.metrics_open:
            check_api_key(settings, request.headers.get("authorization"))
        return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)

    return registry
