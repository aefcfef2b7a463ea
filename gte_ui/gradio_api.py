"""Named Gradio endpoints for ``gradio_client`` and the page's "Use via API" panel.

Registered with ``gr.api`` inside the page's ``gr.Blocks`` context: typed parameters and
docstrings become the API documentation. They call the same service as the UI buttons (whose
own events are private, so the public API surface is exactly these).
"""

from __future__ import annotations

import gradio as gr

from .errors import GteError
from .service import EmbeddingService


def register_endpoints(service: EmbeddingService) -> None:
    """Add the named endpoints to the Blocks being built (call inside ``with gr.Blocks()``)."""

    def similarity(sentence_a: str, sentence_b: str) -> dict:
        """Cosine similarity of two sentences.

        Args:
            sentence_a: first sentence.
            sentence_b: second sentence.
        Returns:
            {"score", "percent", "verdict", "tokens_a", "tokens_b", "truncated_a", "truncated_b"}
        """
        try:
            r = service.pair(sentence_a, sentence_b)
        except GteError as exc:
            raise gr.Error(exc.message) from exc
        return {"score": r.score, "percent": r.percent, "verdict": r.verdict.zh,
                "verdict_en": r.verdict.en, "tokens_a": r.tokens_a, "tokens_b": r.tokens_b,
                "truncated_a": r.truncated_a, "truncated_b": r.truncated_b}

    gr.api(similarity, api_name="similarity")
