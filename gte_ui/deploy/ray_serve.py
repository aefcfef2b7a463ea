"""Replicas on Ray Serve: the same routes and UI on the same port, N embedder replicas behind them.

Two deployments:

* :class:`Embedder` — one loaded model per replica (``--threads`` CPUs each, or one GPU). Calls
  from every ingress request meet in ``@serve.batch``: one forward pass for many requests,
  Serve's batching in place of the in-process :class:`~gte_ui.engine.batching.DynamicBatcher`.
* :class:`Ingress` — the whole ASGI app (REST + Gradio), built on the replica by the composing
  code (``gte_ui.server``) over an :class:`~gte_ui.service.service.EmbeddingService` whose encoder
  is a :class:`RemoteEncoder`: the service's runner becomes a call to the Embedder's deployment
  handle. Validation, the two cache tiers and scoring stay in the service, unchanged. It reserves
  no CPU (``num_cpus: 0``): on a 2-core machine the replicas need both.

A replica that dies mid-request is retried on another one (Serve replaces the dead one), so a
request is never lost or answered with another request's vectors. ``build_app`` is also the
``import_path`` of ``deploy/serve_config.yaml`` for ``serve run`` / ``serve deploy``.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import Counter
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from ray import serve
from ray.exceptions import ActorUnavailableError, RayActorError
from ray.serve.handle import DeploymentHandle

from gte_ui.core.settings import Settings
from gte_ui.engine.encoder import Encoded, Encoder, ModelInfo
from gte_ui.engine.prompts import Prompts, read_prompts
from gte_ui.engine.models.hub import resolve_model, transformer_folder
from gte_ui.engine.tokenizer import load_tokenizer
from gte_ui.service.service import EmbeddingService, shared_from_settings

log = logging.getLogger(__name__)

#: a dead replica's request is retried this many times, after these pauses (Serve needs a moment
#: to route around it)
RETRY_PAUSES_S = (0.1, 0.3, 0.6, 1.0, 2.0, 3.0)
#: Serve errors that mean "that replica is gone or not ready", never "your input is wrong"
REPLICA_GONE = (RayActorError, ActorUnavailableError)


def replica_name() -> str:
    try:
        return serve.get_replica_context().replica_id.unique_id
    except Exception:  # outside a replica (tests call the class directly)
        return "local"


@serve.deployment(name="Embedder", max_ongoing_requests=64, health_check_period_s=2,
                  health_check_timeout_s=10, graceful_shutdown_timeout_s=20)
class Embedder:
    """One model; ``@serve.batch`` gathers concurrent calls into one ``encode``."""

    def __init__(self, settings: Settings) -> None:
        self.encoder = Encoder.load(settings)
        self.name = replica_name()
        self.requests = 0
        self.encode.set_max_batch_size(settings.batch_size * 4)
        self.encode.set_batch_wait_timeout_s(settings.batch_wait_ms / 1000.0)

    def info(self) -> dict[str, Any]:
        return self.encoder.info.as_dict()

    @serve.batch(max_batch_size=128, batch_wait_timeout_s=0.005)
    async def encode(self, calls: list[list[str]]) -> list[dict[str, Any]]:
        """Each call is one request's texts; the same text in several calls is embedded once."""
        unique: dict[str, int] = {}
        for texts in calls:
            for t in texts:
                unique.setdefault(t, len(unique))
        # The forward pass runs off the replica's event loop, which keeps answering health checks.
        enc = await asyncio.to_thread(self.encoder.encode, list(unique))
        self.requests += len(calls)
        out = []
        for texts in calls:
            rows = [unique[t] for t in texts]
            out.append(_wire(Encoded(np.ascontiguousarray(enc.vectors[rows]),
                                     [enc.token_counts[r] for r in rows], [enc.truncated[r] for r in rows],
                                     [enc.chunks[r] for r in rows]), self.name, len(unique)))
        return out

    async def encode_chunked(self, texts: list[str]) -> dict[str, Any]:
        enc = await asyncio.to_thread(self.encoder.encode_chunked, texts)
        self.requests += 1
        return _wire(enc, self.name, len(texts))

    def stats(self) -> dict[str, Any]:
        return {"replica": self.name, "requests": self.requests,
                "forward_calls": self.encoder.forward_calls, "texts_encoded": self.encoder.texts_encoded}


def _wire(enc: Encoded, replica: str, batch: int) -> dict[str, Any]:
    return {"vectors": enc.vectors, "token_counts": enc.token_counts, "truncated": enc.truncated,
            "chunks": enc.chunks, "replica": replica, "batch": batch}


class RemoteEncoder:
    """What the service needs of an :class:`Encoder`, answered by the Embedder deployment.

    ``encode`` is the service's runner. It blocks (the service runs in FastAPI's thread pool,
    never on an event loop) and retries on another replica when the one it reached died.
    """

    def __init__(self, handle: DeploymentHandle, info: dict[str, Any], tokenizer: Any,
                 timeout_s: float = 120.0, prompts: Prompts | None = None) -> None:
        self.handle = handle
        self.info = ModelInfo(**info)
        #: the service's token-level looks (unknown characters, alignment) run here, on the ingress
        self.tokenizer = tokenizer
        #: instruction prompts are applied by the service before texts travel to a replica
        self.prompts = prompts or Prompts()
        self.dim = self.info.dim
        self.max_length = self.info.max_length
        self.timeout_s = timeout_s
        self.forward_calls = 0  # model calls that served this ingress' requests
        self.texts_encoded = 0
        self.retries = 0
        #: requests each replica answered (/health shows it: both replicas served)
        self.served_by: Counter[str] = Counter()
        #: called as ``observer(texts, requests)`` per answer (the metrics' batch sizes)
        self.observers: list[Callable[[int, int], None]] = []

    def encode(self, texts: Sequence[str]) -> Encoded:
        return self._call("encode", list(texts))

    __call__ = encode  # the service's runner

    def encode_chunked(self, texts: Sequence[str]) -> Encoded:
        return self._call("encode_chunked", list(texts))

    def _call(self, method: str, texts: list[str]) -> Encoded:
        for attempt, pause in enumerate((0.0, *RETRY_PAUSES_S)):
            if pause:
                time.sleep(pause)
            try:
                out = getattr(self.handle, method).remote(texts).result(timeout_s=self.timeout_s)
                break
            except REPLICA_GONE as exc:
                if attempt == len(RETRY_PAUSES_S):
                    raise
                self.retries += 1
                log.warning("embedder replica gone (%s); retrying on another", type(exc).__name__)
        enc = Encoded(np.asarray(out["vectors"], dtype=np.float32), out["token_counts"], out["truncated"],
                      out["chunks"])
        self.forward_calls += 1
        self.texts_encoded += len(texts)
        self.served_by[out["replica"]] += 1
        for observe in self.observers:
            observe(out["batch"], 1)
        return enc

    @property
    def pending(self) -> int:
        return 0  # Serve queues inside the replicas; its own metrics report their queues

    @property
    def batches(self) -> int:
        return self.forward_calls

    @property
    def requests(self) -> int:
        return sum(self.served_by.values())

    @property
    def replicas(self) -> dict[str, int]:
        return dict(self.served_by)


@serve.deployment(name="Ingress", ray_actor_options={"num_cpus": 0}, max_ongoing_requests=256)
@serve.ingress()
class Ingress:
    """The whole app over a service whose runner is the Embedder handle.

    Args:
        embedder: the Embedder deployment's handle (Serve passes it for the bound deployment).
        settings: the server's settings (limits, cache tiers, API key…).
        app_factory: builds the ASGI app over a service: ``gte_ui.server.create_app``, passed in
            because the composing code sits above the front ends.
    """

    def __init__(self, embedder: DeploymentHandle, settings: Settings,
                 app_factory: Callable[[EmbeddingService, Settings], Any]) -> None:
        self.embedder = embedder
        self.settings = settings
        self.app_factory = app_factory
        self.service: EmbeddingService | None = None

    async def __serve_build_asgi_app__(self) -> Any:
        info = await self.embedder.info.remote()
        folder = model_folder(self.settings)
        remote = RemoteEncoder(self.embedder, info, ingress_tokenizer(folder), prompts=read_prompts(folder))
        self.service = EmbeddingService(remote, self.settings, runner=remote,
                                        shared=shared_from_settings(self.settings))
        return self.app_factory(self.service, self.settings)


def model_folder(settings: Settings) -> Path:
    """The model's folder, resolved as the replicas resolve it (the ingress loads no weights)."""
    return resolve_model(settings.model, hub=settings.hub, revision=settings.revision,
                         offline=settings.offline, cache_dir=settings.model_cache_dir)


def ingress_tokenizer(folder: Path) -> Any:
    """The model's tokenizer alone (no weights) for the ingress."""
    inner = transformer_folder(folder)
    return load_tokenizer(inner if (inner / "config.json").is_file() else folder)


def deployment_options(settings: Settings) -> dict[str, Any]:
    """The Embedder's Serve options from ``--replicas``, ``--min/--max-replicas``, ``--threads``,
    ``--device``."""
    gpu = settings.device == "cuda"
    actor = {"num_cpus": 0 if gpu else (settings.threads or 1), "num_gpus": 1 if gpu else 0}
    options: dict[str, Any] = {"ray_actor_options": actor}
    if settings.min_replicas is not None and settings.max_replicas is not None:
        options["autoscaling_config"] = {
            "min_replicas": settings.min_replicas, "max_replicas": settings.max_replicas,
            "initial_replicas": settings.replicas or settings.min_replicas,
            # a replica's batch window fills best with a few requests waiting in it
            "target_ongoing_requests": max(2, settings.batch_size // 4)}
    else:
        options["num_replicas"] = settings.replicas or 1
    return options


def bind_app(settings: Settings, app_factory: Callable[[EmbeddingService, Settings], Any]) -> Any:
    """The Serve application (Ingress → Embedder) for ``serve.run``."""
    # one torch thread per reserved CPU, else N replicas fight over every core
    settings = settings.replace(threads=settings.threads or 1)
    embedder = Embedder.options(**deployment_options(settings)).bind(settings)
    return Ingress.bind(embedder, settings, app_factory)
