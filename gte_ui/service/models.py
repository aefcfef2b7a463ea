"""Models as a capability of the service: what a front end may ask of the model hub.

Front ends never import the engine (an import-linter contract); the CLI's ``download`` comes here.
"""

from __future__ import annotations

from pathlib import Path

from gte_ui.engine.models.hub import download


def download_model(model: str, to: str | Path, *, hub: str = "auto", revision: str | None = None) -> Path:
    """Fetch ``model`` into the folder ``to`` for offline use, every file checked against the hub's
    record (see :func:`gte_ui.engine.models.hub.download`); returns the folder."""
    return download(model, to, hub=hub, revision=revision)
