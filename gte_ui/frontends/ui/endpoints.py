"""Named Gradio endpoints for ``gradio_client`` and the page's "Use via API" panel.

Registered with ``gr.api`` inside the page's ``gr.Blocks`` context: typed parameters and
docstrings become the API documentation. They call the same service as the UI buttons (whose
own events are private, so the public API surface is exactly these) and answer its results'
canonical ``to_dict()``, ``/rank`` its rows (:func:`gte_ui.frontends.protocols.gradio.rank_rows`;
see docs/api.md). Each takes the text options.
"""

from __future__ import annotations

import gradio as gr

from gte_ui.core.errors import ErrorType, GteError
from gte_ui.core.textnorm import split_lines
from gte_ui.frontends.protocols.gradio import rank_rows
from gte_ui.service import search as search_service
from gte_ui.service.options import read_options
from gte_ui.service.service import EmbeddingService


def register_endpoints(service: EmbeddingService) -> None:
    """Add /similarity, /align, /rank, /embed, /rerank and /search to the Blocks being built (call inside
    ``gr.Blocks()``)."""

    @_with_text_options
    def similarity(sentence_a: str, sentence_b: str, t2s: bool = False, long_text: str = "",
                   nfkc: bool = False, collapse_whitespace: bool = False, model: str = "",
                   prompt_name: str = "", instruction: str = "") -> dict:
        """Cosine similarity of two sentences.

        Args:
            sentence_a: first sentence.
            sentence_b: second sentence.
            {text_options}
        Returns:
            {"score", "percent", "verdict", "verdict_en", "tokens": [a, b], "truncated": [a, b], "elapsed_ms"}
        """
        return _answer(lambda o: service.for_model(model).pair(sentence_a, sentence_b, options=o).to_dict(),
                       t2s, long_text, nfkc, collapse_whitespace, prompt_name, instruction)

    @_with_text_options
    def rank(source: str, candidates: str, top_k: int = 0, t2s: bool = False, long_text: str = "",
             nfkc: bool = False, collapse_whitespace: bool = False, model: str = "",
             prompt_name: str = "", instruction: str = "") -> list[dict]:
        """Rank candidates (one per line; blank lines ignored) by similarity to the source.

        Args:
            source: the source sentence.
            candidates: candidate sentences, one per line.
            top_k: keep only the best k (0 = all).
            {text_options}
        Returns:
            rows best first: {"rank", "index", "text", "score", "percent", "verdict", "verdict_en",
            "tokens", "truncated", "duplicate", "unknown_token_ratio", "prompt"}; "index" is the 0-based
            position among the non-blank lines, "prompt" the one put before the source (or null).
        """
        _require_whole("top_k", top_k)
        return _answer(lambda o: rank_rows(service.for_model(model).rank(
            source, split_lines(candidates or ""), top_k=int(top_k) or None, options=o)),
            t2s, long_text, nfkc, collapse_whitespace, prompt_name, instruction)

    @_with_text_options
    def embed(texts: str, t2s: bool = False, long_text: str = "", nfkc: bool = False,
              collapse_whitespace: bool = False, model: str = "", prompt_name: str = "",
              instruction: str = "", dimensions: int = 0) -> dict:
        """Embed texts (one per line; blank lines ignored) into L2-normalised vectors.

        Args:
            texts: one text per line.
            {text_options}
            dimensions: keep the first N dimensions and re-normalise (0 = all; Qwen3-Embedding: 32 up).
        Returns:
            {"dim", "vectors" (one list of floats per text), "tokens", "truncated", "chunks",
            "total_tokens", "elapsed_ms"}
        """
        _require_whole("dimensions", dimensions)
        return _answer(lambda o: service.for_model(model).embed(split_lines(texts or ""), options=o,
                                                                dimensions=int(dimensions) or None).to_dict(),
                       t2s, long_text, nfkc, collapse_whitespace, prompt_name, instruction)

    def rerank(query: str, documents: str, top_n: int = 0, raw_scores: bool = False, t2s: bool = False,
               long_text: str = "", nfkc: bool = False, collapse_whitespace: bool = False,
               prompt_name: str = "", instruction: str = "") -> dict:
        """Rerank documents (one per line; blank lines ignored) against a query with the
        cross-encoder (``--reranker``); without one, by the embedding cosine (``method`` says which).

        Args:
            query: the query.
            documents: candidate documents, one per line.
            top_n: keep only the best n (0 = all).
            raw_scores: the cross-encoder's raw logits instead of their sigmoid.
            t2s: convert Traditional to Simplified Chinese first (OpenCC), query and documents.
            long_text: embedding method only: "truncate" or "chunk"; the reranker truncates each pair.
            nfkc: full-width → half-width (Unicode NFKC) first.
            collapse_whitespace: runs of whitespace → one space first.
            prompt_name: embedding method only (instruction models): one of its prompts, before the query.
            instruction: embedding method only (instruction models): a task description, before the query.
        Returns:
            {"method", "model", "scores" (document order), "results": rows best first
            {"rank", "index", "score", "tokens", "truncated", "text" (as sent)}, "total_tokens", "elapsed_ms"}
        """
        _require_whole("top_n", top_n)
        if not isinstance(raw_scores, bool):
            raise gr.Error(GteError(ErrorType.VALIDATION, f"raw_scores must be true or false, got {raw_scores!r}",
                                    "raw_scores 必须是 true 或 false").message)
        return _answer(lambda o: service.rerank(query, split_lines(documents or ""), top_n=int(top_n) or None,
                                                raw_scores=raw_scores, options=o).to_dict(),
                       t2s, long_text, nfkc, collapse_whitespace, prompt_name, instruction)

    def align(sentence_a: str, sentence_b: str, model: str = "") -> dict:
        """Which tokens carry the match: the last layer's token × token cosines of the two sentences
        and their greedy (BERTScore-style) matching. The first call loads the model's fp32 weights.

        Args:
            sentence_a: first sentence.
            sentence_b: second sentence.
            model: which loaded model answers ("" = the default).
        Returns:
            {"tokens_a", "tokens_b", "matrix" (len(tokens_a) × len(tokens_b)), "best_b", "best_a",
            "precision", "recall", "f1"}
        """
        return _answer(lambda _o: service.for_model(model).align(sentence_a, sentence_b).to_dict(),
                       False, "", False, False)

    catalog = search_service.catalog_from_settings(service.settings)

    def search(index: str, query: str, top_k: int = 10, rerank: bool = False, highlight: bool = False,
               t2s: bool = False, nfkc: bool = False, collapse_whitespace: bool = False, model: str = "") -> dict:
        """Search a corpus index (``gte-ui index build`` or the Search tab): the same answer as
        POST /v1/search.

        Args:
            index: the index's name (GET /v1/indexes lists them).
            query: the query.
            top_k: hits, 1-100.
            rerank: reorder the hits with the --reranker cross-encoder.
            highlight: each hit's best-matching tokens.
            t2s: convert Traditional to Simplified Chinese first (default: the index's own options).
            nfkc: full-width → half-width (Unicode NFKC) first.
            collapse_whitespace: runs of whitespace → one space first.
            model: must be the model that built the index ("" = whichever loaded model did).
        Returns:
            {"index", "model", "query", "rows", "store", "reranker", "hits": [{"rank", "retrieval_rank",
            "row", "id", "title", "text", "score", "percent", "verdict", "verdict_zh", "rerank_score"?,
            "moved"?, "highlights"?}], "timing_ms", "warnings"}
        """
        _require_whole("top_k", top_k)
        return _answer(lambda o: search_service.search(service, catalog, index, query, int(top_k), rerank=rerank,
                                                       highlight=highlight, model=model or None,
                                                       options=o).to_dict(),
                       t2s, "", nfkc, collapse_whitespace)

    gr.api(similarity, api_name="similarity")
    gr.api(align, api_name="align")
    gr.api(rank, api_name="rank")
    gr.api(embed, api_name="embed")
    gr.api(rerank, api_name="rerank")
    gr.api(search, api_name="search")


#: The Args lines of the text options, the same in every endpoint that takes them all.
TEXT_OPTION_ARGS = """t2s: convert Traditional to Simplified Chinese first (OpenCC).
            long_text: "truncate" or "chunk" for texts over the model's token limit; "" = the server's.
            nfkc: full-width → half-width (Unicode NFKC) first.
            collapse_whitespace: runs of whitespace → one space first.
            model: which loaded model answers ("" = the default; /v1/models lists them).
            prompt_name: instruction models only: one of the model's prompts, before the query side.
            instruction: instruction models only: a task description, before the query side."""


def _with_text_options(fn):
    """Write :data:`TEXT_OPTION_ARGS` where ``fn``'s docstring says ``{text_options}``."""
    fn.__doc__ = fn.__doc__.replace("{text_options}", TEXT_OPTION_ARGS)
    return fn


def _require_whole(name: str, value) -> None:
    """A count parameter (JSON may send 3.0): a whole number, not a bool, else a bilingual gr.Error."""
    if not isinstance(value, (int, float)) or isinstance(value, bool) or value != int(value):
        raise gr.Error(GteError(ErrorType.VALIDATION, f"{name} must be a whole number, got {value!r}",
                                f"{name} 必须是整数").message)


def _answer(call, t2s, long_text, nfkc, collapse_whitespace, prompt_name="", instruction=""):
    """Build the options the way every front end does, call, and turn a GteError into gr.Error."""
    try:
        return call(read_options({"t2s": t2s, "nfkc": nfkc, "collapse_whitespace": collapse_whitespace,
                                  "long_text": long_text, "prompt_name": prompt_name, "instruction": instruction}))
    except GteError as exc:
        raise gr.Error(exc.message) from exc
