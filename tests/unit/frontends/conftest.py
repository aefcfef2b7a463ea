"""Fixtures of the front ends' unit tests."""

from __future__ import annotations

import pytest


@pytest.fixture(scope="module")
def rerank_service(tiny_encoder, tiny_reranker_dir):
    """The tiny BERT with the tiny cross-encoder (``--reranker``) beside it, no batcher."""
    from gte_ui.core.settings import Settings
    from gte_ui.engine.reranker import Reranker
    from gte_ui.service.service import EmbeddingService

    settings = Settings(model=str(tiny_encoder.info.path), reranker=str(tiny_reranker_dir), device="cpu",
                        precision="fp32", max_candidates=8, max_chars=2000)
    return EmbeddingService(tiny_encoder, settings, reranker=Reranker.load(settings))
