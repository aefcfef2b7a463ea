"""GTE similarity workbench: read settings, load the model once, serve UI + API with uvicorn.

    python app.py --model ./models/gte-large-zh        # see --help for every option
"""

from __future__ import annotations

import logging
import sys

from gte_ui.config import parse_settings
from gte_ui.errors import GteError


def main(argv: list[str] | None = None) -> int:
    try:
        settings = parse_settings(argv)
    except GteError as exc:
        print(f"error: {exc.message}", file=sys.stderr)
        return 2
    logging.basicConfig(level=settings.log_level.upper(),
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    # Heavy imports after --help has had its chance to be instant.
    import uvicorn

    from gte_ui.security import startup_warnings
    from gte_ui.server import create_app
    from gte_ui.service import EmbeddingService

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


if __name__ == "__main__":
    sys.exit(main())
