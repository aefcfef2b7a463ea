"""Start the server: read settings, load the model once, serve UI + API with uvicorn.

``python app.py`` (the Spaces entry) and ``python -m gte_ui serve`` / ``gte-ui serve`` both land
here, so an installed package serves without a checkout around it.
"""

from __future__ import annotations

import logging
import sys

from gte_ui.core.errors import GteError
from gte_ui.core.settings import parse_settings
from gte_ui.engine.hub import resolve_model


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
        # or two, not after torch and gradio have loaded. The encoder reuses the result.
        resolve_model(settings.model, hub=settings.hub, revision=settings.revision,
                      offline=settings.offline, cache_dir=settings.model_cache_dir)
    except GteError as exc:
        print(f"error: {exc.message}", file=sys.stderr)
        return 2
    # Heavy imports after --help has had its chance to be instant.
    import uvicorn

    from gte_ui.frontends.http.security import startup_warnings
    from gte_ui.server import create_app
    from gte_ui.service.service import EmbeddingService

    try:
        service = EmbeddingService.from_settings(settings)
    except GteError as exc:
        print(f"error: {exc.message}", file=sys.stderr)
        return 2
    app = create_app(service, settings)
    for warning in startup_warnings(settings):
        logging.getLogger("gte_ui").warning(warning)
    print(f"GTE workbench ready: http://{settings.host}:{settings.port}  "
          f"({service.info.model}, {service.info.dim}-dim, {service.info.device}/{service.info.precision})",
          flush=True)
    uvicorn.run(app, host=settings.host, port=settings.port, log_level=settings.log_level)
    return 0
