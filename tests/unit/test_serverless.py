"""serverless.py, the deprecated alias: the old handler path is the moved module's objects under the
old name, and says once where to point the deployment. (A request through it: tests/e2e/serverless.)"""

from __future__ import annotations

import importlib
import logging
import sys

import pytest

from gte_ui.frontends import serverless as moved


@pytest.fixture()
def alias(monkeypatch, caplog):
    monkeypatch.delitem(sys.modules, "gte_ui.serverless", raising=False)
    with caplog.at_level(logging.WARNING, logger="gte_ui.serverless"), \
            pytest.warns(DeprecationWarning, match="gte_ui.serverless moved to gte_ui.frontends.serverless"):
        module = importlib.import_module("gte_ui.serverless")
    return module


def test_importing_warns_and_logs_where_the_handler_moved(alias, caplog):
    logged = [r.getMessage() for r in caplog.get_records("setup") if r.name == "gte_ui.serverless"]
    assert len(logged) == 1 and "gte_ui.frontends.serverless.handler" in logged[0]  # seen in Lambda / FC logs


def test_every_name_is_the_moved_modules_object_even_when_it_changes_later(alias, monkeypatch):
    assert alias.handler is moved.handler and alias.ROUTES is moved.ROUTES
    sentinel = object()
    monkeypatch.setattr(moved, "_SERVICE", sentinel)  # the warm instance's model, loaded after import
    assert alias._SERVICE is sentinel
    with pytest.raises(AttributeError):
        alias.no_such_name  # noqa: B018 - the attribute access is the test
