"""Fixtures of the Gradio UI's unit tests (helpers: tests/ui_kit.py)."""

from __future__ import annotations

import pytest


@pytest.fixture(autouse=True)
def uploads_in_tmp_path(monkeypatch, tmp_path):
    """Files a test writes to its tmp_path count as uploads (Gradio's upload folder), as the page's
    do: the tabs open no other path (tests/e2e/http/test_security_boundary.py proves the refusal)."""
    monkeypatch.setenv("GRADIO_TEMP_DIR", str(tmp_path))


@pytest.fixture(scope="module")
def two_models(tiny_model_dir, tmp_path_factory):
    """A service with two loaded models, so the page offers "compare all": the tiny BERT and
    "twin", another random BERT of the same shape (seed 1: its scores differ)."""
    from gte_ui.core.settings import Settings
    from gte_ui.service.service import EmbeddingService
    from gte_ui.testing.toymodel import build_random_bert

    twin = build_random_bert(tmp_path_factory.mktemp("twin-bert"), "tiny", seed=1)
    settings = Settings(model=str(tiny_model_dir), device="cpu", precision="fp32", models=(f"twin={twin}",))
    service = EmbeddingService.from_settings(settings)
    yield service
    service.close()
