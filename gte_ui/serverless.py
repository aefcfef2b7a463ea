"""Deprecated: the serverless handler's home before 1.1. It lives in :mod:`gte_ui.frontends.serverless`.

Functions deployed with the handler ``gte_ui.serverless.handler`` keep working: this module is
that module's attributes under the old name (the same objects, so the warm-instance model cache is
shared), and says once, at import, where to point the deployment.
"""

from __future__ import annotations

import logging
import warnings
from typing import Any

from gte_ui.frontends import serverless as _moved

MOVED = ("gte_ui.serverless moved to gte_ui.frontends.serverless in 1.1: set the function's handler to "
         "gte_ui.frontends.serverless.handler; the old path will be removed in a later release")

warnings.warn(MOVED, DeprecationWarning, stacklevel=2)
logging.getLogger(__name__).warning(MOVED)  # Function Compute / Lambda logs hide DeprecationWarning

handler = _moved.handler


def __getattr__(name: str) -> Any:
    return getattr(_moved, name)
