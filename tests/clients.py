"""The real client packages the integration tests drive (docs/integrations.md's recipes)."""

from __future__ import annotations

import importlib
import os

import pytest


def client_package(module: str):
    """The client package, or a skip naming requirements-test.txt; under CI a failure, so a
    recipe in docs/integrations.md is never left untested by a missing install."""
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        message = f"{module} is not installed ({exc}); pip install -r requirements-test.txt"
        if os.environ.get("CI"):
            pytest.fail(message, pytrace=False)
        pytest.skip(message)
