"""Named Gradio endpoints for ``gradio_client`` and the page's "Use via API" panel.

Registered with ``gr.api`` inside the page's ``gr.Blocks`` context: typed parameters and
docstrings become the API documentation. They call the same service as the UI buttons (whose
own events are private, so the public API surface is exactly these three).
"""

from __future__ import annotations

import gradio as gr

from gte_ui.core.errors import GteError
from gte_ui.core.textnorm import split_lines
from gte_ui.service.service import EmbeddingService
from gte_ui.core.textnorm import TextNorm


def register_endpoints(service: EmbeddingService) -> None:
    """Add /similarity, /rank and /embed to the Blocks being built (call inside ``gr.Blocks()``)."""

    def similarity(sentence_a: str, sentence_b: str, t2s: bool = False, long_text: str = "truncate",
                   prompt_name: str = "", instruction: str = "") -> dict:
        """Cosine similarity of two sentences.

        Args:
            sentence_a: first sentence (the query side for instruction models).
            sentence_b: second sentence.
            t2s: convert Traditional to Simplified Chinese first (OpenCC).
            long_text: "truncate" or "chunk" for texts over the model's token limit.
            prompt_name: instruction models only: one of the model's prompts, before sentence_a.
            instruction: instruction models only: a task description, before sentence_a.
        Returns:
            {"score", "percent", "verdict", "verdict_en", "tokens_a", "tokens_b", "truncated_a", "truncated_b",
            "prompt"}
        """
        try:
            r = service.pair(sentence_a, sentence_b, **_options(t2s, long_text, prompt_name, instruction))
        except GteError as exc:
            raise gr.Error(exc.message) from exc
        return {"score": r.score, "percent": r.percent, "verdict": r.verdict.zh,
                "verdict_en": r.verdict.en, "tokens_a": r.tokens_a, "tokens_b": r.tokens_b,
                "truncated_a": r.truncated_a, "truncated_b": r.truncated_b, "prompt": r.prompt}

    def rank(source: str, candidates: str, top_k: int = 0, t2s: bool = False,
             long_text: str = "truncate", prompt_name: str = "", instruction: str = "") -> list[dict]:
        """Rank candidates (one per line; blank lines ignored) by similarity to the source.

        Args:
            source: the source sentence (the query side for instruction models).
            candidates: candidate sentences, one per line.
            top_k: keep only the best k (0 = all).
            t2s: convert Traditional to Simplified Chinese first (OpenCC).
            long_text: "truncate" or "chunk" for texts over the model's token limit.
            prompt_name: instruction models only: one of the model's prompts, before the source.
            instruction: instruction models only: a task description, before the source.
        Returns:
            rows best first: {"rank", "index", "text", "score", "percent", "verdict", "tokens",
            "truncated", "duplicate", "prompt"}; "index" is the 0-based position among the
            non-blank lines; "prompt" the one put before the source (the same in every row).
        """
        try:
            r = service.rank(source, split_lines(candidates), top_k=int(top_k) or None,
                             **_options(t2s, long_text, prompt_name, instruction))
        except (GteError, ValueError, TypeError) as exc:
            raise gr.Error(getattr(exc, "message", str(exc))) from exc
        return [{"rank": row.rank, "index": row.index, "text": row.text, "score": row.score,
                 "percent": row.percent, "verdict": row.verdict.zh, "tokens": row.tokens,
                 "truncated": row.truncated, "duplicate": row.duplicate, "prompt": r.prompt} for row in r.rows]

    def embed(texts: str, t2s: bool = False, long_text: str = "truncate", prompt_name: str = "",
              instruction: str = "", dimensions: int = 0) -> dict:
        """Embed texts (one per line; blank lines ignored) into L2-normalised vectors.

        Args:
            texts: one text per line.
            t2s: convert Traditional to Simplified Chinese first (OpenCC).
            long_text: "truncate" or "chunk" for texts over the model's token limit.
            prompt_name: instruction models only: one of the model's prompts (e.g. "query"), before every text.
            instruction: instruction models only: a task description, before every text (queries).
            dimensions: keep the first N dimensions and re-normalise (0 = all).
        Returns:
            {"dim", "vectors" (one list of floats per text), "tokens", "truncated", "prompt", "warnings"}
        """
        try:
            r = service.embed(split_lines(texts), dimensions=int(dimensions) or None,
                              **_options(t2s, long_text, prompt_name, instruction))
        except (GteError, ValueError, TypeError) as exc:
            raise gr.Error(getattr(exc, "message", str(exc))) from exc
        return {"dim": int(r.vectors.shape[1]), "vectors": r.vectors.tolist(),
                "tokens": r.token_counts, "truncated": r.truncated, "prompt": r.prompt, "warnings": r.warnings}

    def _options(t2s: bool, long_text: str, prompt_name: str = "", instruction: str = "") -> dict:
        return {"norm": TextNorm(t2s=bool(t2s)), "long_text": long_text or None,
                "prompt_name": prompt_name or None, "instruction": instruction or None}

    gr.api(similarity, api_name="similarity")
    gr.api(rank, api_name="rank")
    gr.api(embed, api_name="embed")
