"""Start the server: read settings, load the model once, serve UI + API with uvicorn.

``python app.py`` (the Spaces entry) and ``python -m gte_ui serve`` / ``gte-ui serve`` both land
here, so an installed package serves without a checkout around it.
"""

from __future__ import annotations

import logging
import platform
import signal
import sys
import threading
from typing import Any

from gte_ui.core.errors import GteError
from gte_ui.core.settings import Settings, parse_settings
from gte_ui.engine.models.hub import resolve_model


def main(argv: list[str] | None = None) -> int:
    try:
        settings = parse_settings(argv)
    except GteError as exc:
        print(f"error: {exc.message}", file=sys.stderr)
        return 2
    logging.basicConfig(level=settings.log_level.upper(),
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        # Before the heavy imports: a missing model or an unreachable hub is reported in a second
        # or two, not after torch and gradio have loaded. The loading reuses the folder.
        folder = resolve_model(settings.model, hub=settings.hub, revision=settings.revision,
                               offline=settings.offline, cache_dir=settings.model_cache_dir)
    except GteError as exc:
        print(f"error: {exc.message}", file=sys.stderr)
        return 2
    # Heavy imports after --help has had its chance to be instant.
    import uvicorn

    from gte_ui.frontends.http.security import startup_warnings
    from gte_ui.server import create_app
    from gte_ui.service.service import EmbeddingService

    if settings.replicas is not None or settings.min_replicas is not None:
        return serve_on_ray(settings)
    try:
        service = EmbeddingService.from_settings(settings, folders={settings.model: folder})
    except GteError as exc:
        print(f"error: {exc.message}", file=sys.stderr)
        return 2
    app = create_app(service, settings)
    for warning in startup_warnings(settings):
        logging.getLogger("gte_ui").warning(warning)
    logging.getLogger("gte_ui").info("versions: %s", versions())  # the log's, never the page's
    grpc_server = None
    if settings.grpc_port is not None:
        # grpcio: loaded only when --grpc-port asks for the gRPC front end
        from gte_ui.frontends.grpc.server import serve_grpc

        try:
            grpc_server = serve_grpc(service, settings)
        except GteError as exc:
            service.close()
            print(f"error: {exc.message}", file=sys.stderr)
            return 2
    print(f"GTE workbench ready: http://{settings.host}:{settings.port}  "
          f"({service.info.model}, {service.info.dim}-dim, {service.info.device}/{service.info.precision})"
          + (f"  gRPC (tei.v1) on {settings.host}:{settings.grpc_port}" if grpc_server else ""),
          flush=True)
    # SIGTERM / Ctrl-C: uvicorn stops accepting, lets in-flight requests finish (at most
    # --shutdown-timeout s), then the batcher empties its queue and the shared-cache writes go out.
    # uvicorn re-raises the signal it caught once it has drained; these handlers take it so that
    # the batcher and the shared-cache writer are closed below instead of the process dying.
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda signum, frame: None)
    config = uvicorn.Config(app, host=settings.host, port=settings.port, log_level=settings.log_level,
                            **uvicorn_limits(settings))
    server = _draining_server(uvicorn.Server, config, grpc_server, settings.shutdown_timeout)
    server.run()
    if grpc_server is not None:  # its in-flight RPCs finish, as uvicorn's requests did
        grpc_server.wait(settings.shutdown_timeout)
    service.close()
    if not server.started:  # uvicorn could not listen (it logged why): uvicorn.run's exit status
        return 3
    logging.getLogger("gte_ui").info("drained and stopped")
    return 0


def _draining_server(base: type, config: object, grpc_server: object, grace_s: float) -> object:
    """uvicorn's ``Server`` that on SIGTERM / Ctrl-C also starts the gRPC server's drain at once
    (health NOT_SERVING, new calls refused, running ones finish), beside its own."""

    class DrainingServer(base):
        def handle_exit(self, sig, frame) -> None:
            if grpc_server is not None:
                grpc_server.drain(grace_s)
            super().handle_exit(sig, frame)

    return DrainingServer(config)


def uvicorn_limits(settings: Settings) -> dict[str, Any]:
    """What one connection may hold. h11, not httptools: only h11 bounds the request line and
    headers (``--max-header-bytes``; more is a 400 and a closed connection). Idle keep-alive
    sockets close after 5 s and past ``--max-connections`` new ones get 503. A client that sends
    its headers a byte at a time is not timed out by uvicorn: docs/deploy.md puts nginx in front."""
    return {"http": "h11", "h11_max_incomplete_event_size": settings.max_header_bytes,
            "limit_concurrency": settings.max_connections, "timeout_keep_alive": 5,
            "timeout_graceful_shutdown": settings.shutdown_timeout}


def versions() -> str:
    """Python and the libraries that answer, for the start-up log (the page does not show them)."""
    # heavy imports, already loaded by the service at this point
    import gradio
    import torch
    import transformers

    return (f"Python {platform.python_version()} · torch {torch.__version__} · "
            f"transformers {transformers.__version__} · gradio {gradio.__version__}")


def serve_on_ray(settings: Settings) -> int:
    """``--replicas N``: the same app on the same port through Ray Serve, until SIGTERM / Ctrl-C."""
    # ray: a heavy optional dependency, imported only when serving on it
    import ray
    from ray import serve

    from gte_ui.server import serve_application

    if settings.ray_address:
        ray.init(address=settings.ray_address, namespace="gte")
    else:
        ray.init(include_dashboard=False, namespace="gte")
    serve.start(http_options={"host": settings.host, "port": settings.port})
    serve.run(serve_application(settings), name="gte", route_prefix="/")
    # after ray.init, which installs its own SIGTERM handler in this process
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda signum, frame: stop.set())
    print(f"GTE workbench ready on Ray Serve: http://{settings.host}:{settings.port}  "
          f"({settings.replicas or settings.min_replicas} embedder replicas)", flush=True)
    stop.wait()
    # Serve drains: replicas finish their requests (graceful_shutdown_timeout_s) before stopping.
    serve.delete("gte")
    if not settings.ray_address:
        serve.shutdown()
        ray.shutdown()
    logging.getLogger("gte_ui").info("drained and stopped")
    return 0
