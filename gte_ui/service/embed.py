"""Embedding: vectors for texts (cached, deduplicated, within the work budget), a corpus' chunks,
and warming the cache before a big request. Every other capability embeds through
:func:`embed_clean`."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence

import numpy as np

from gte_ui.core.scoring import normalize_rows
from gte_ui.engine.caches.local import CachedVector
from gte_ui.engine.encoder import Encoded, Tokenized, Windows
from gte_ui.engine.inspection import UnknownTokens, unknown_tokens
from gte_ui.service.inspection import report_unknown
from gte_ui.service.options import DEFAULT_OPTIONS, TextOptions
from gte_ui.service.results import EmbedResult
from gte_ui.service.served import Served
from gte_ui.service.validation import check_dimensions, check_work, dimension_warning


def prompt_for(model: Served, options: TextOptions | None) -> str | None:
    """The prompt put before query-side texts: a named one of the model's prompts, the model's
    template around the caller's ``instruction``, or the model's default (usually none).

    Raises:
        GteError: 422 for a model without prompts, an unknown name, both given, an empty one.
    """
    options = options or DEFAULT_OPTIONS
    return model.encoder.prompts.resolve(options.prompt_name, options.instruction, side="query")


def long_text_mode(model: Served, options: TextOptions | None) -> str:
    """``truncate`` or ``chunk``: the request's choice, else ``--long-text``."""
    return (options or DEFAULT_OPTIONS).long_text or model.settings.long_text


def check_request_work(model: Served, texts: Sequence[str], mode: str,
                       tokenized: Sequence[Tokenized] | None = None) -> None:
    """:func:`~gte_ui.service.validation.check_work` for this model: ``--max-tokens-per-request``,
    weighed from ``tokenized`` (the texts' one tokenisation) when the request has it."""
    weigh = getattr(model.encoder, "tokens_to_run", None)
    if tokenized is not None:
        def weigh(_texts: Sequence[str], chunked: bool) -> int:
            if chunked:
                return model.encoder.window_tokens([t.count for t in tokenized])
            return sum(len(t.ids) for t in tokenized)
    check_work(texts, chunked=mode == "chunk", limit=model.settings.max_tokens_per_request,
               max_length=model.encoder.max_length, weigh=weigh)


def run_misses(model: Served, texts: list[str], mode: str) -> tuple[Encoded, dict[str, UnknownTokens]]:
    """Embed the cache misses through the model's runner (the dynamic batcher: its queue limit
    answers 429 when full, in either long-text mode), each text tokenised once: the same ids are
    weighed against the work budget, inspected for unknown tokens (returned by text) and run (a
    chunked text's head serves the budget and the inspection; its windows need the whole text's
    tokens). A remote encoder (Ray Serve) tokenises on its replicas and runs chunked texts itself."""
    if not hasattr(model.encoder, "tokenize_once"):
        check_request_work(model, texts, mode)
        return model.encoder.encode_chunked(texts) if mode == "chunk" else model.runner(texts), {}
    tokenized = model.encoder.tokenize_once(texts)
    check_request_work(model, texts, mode, tokenized)
    known = {t.text: t.unknown for t in tokenized if t.unknown is not None}
    # a chunked text's windows need its whole tokenisation, which the encoder makes (heads served above)
    return model.runner([Windows(t) for t in texts] if mode == "chunk" else tokenized), known


def inspect_unknown(model: Served, texts: Sequence[str], known: dict[str, UnknownTokens]) -> list[UnknownTokens]:
    """Each text's unknown tokens (within the tokens the model reads): from ``known`` (the
    request's one tokenisation) where it holds the text, else from one pass over the rest."""
    rest = [t for t in dict.fromkeys(texts) if t not in known]
    if rest:
        limit = getattr(model.encoder, "room", model.encoder.max_length)
        known = {**known, **dict(zip(rest, unknown_tokens(model.encoder.tokenizer, rest, limit)))}
    return [known[t] for t in texts]


def embed_clean(model: Served, texts: list[str], t0: float, options: TextOptions | None = None,
                prompt: str | None = None, prompted: int | None = None) -> tuple[EmbedResult, list[UnknownTokens]]:
    """Embed validated texts; ``prompt`` goes before the first ``prompted`` texts (all when None).
    The cache keys on exactly what the model reads: prompt + normalised text, under the long-text
    mode and the normalisation. Returns the result and each text's unknown tokens (as shown,
    without the prompt), read off the tokenisation that embedded it where there was one."""
    options = options or DEFAULT_OPTIONS
    mode = long_text_mode(model, options)
    norm = options.norm
    texts = norm.apply_all(texts)
    prefix = f"{model.vector_prefix}|{mode}|{norm.key()}"
    shown = texts
    if prompt:
        n = len(texts) if prompted is None else prompted
        texts = [prompt + t for t in texts[:n]] + texts[n:]
    found, missing = model.vectors.lookup(prefix, texts)
    cached = len(found)
    known: dict[str, UnknownTokens] = {}
    if missing:
        enc, known = run_misses(model, missing, mode)
        fresh = [(text, CachedVector(np.array(enc.vectors[i], dtype=np.float32), enc.token_counts[i],
                                     enc.truncated[i], enc.chunks[i])) for i, text in enumerate(missing)]
        found.update(fresh)
        model.vectors.store(prefix, fresh)
        model.tokens_embedded += sum(it.token_count if it.chunks > 1 else min(it.token_count, model.encoder.max_length)
                                     for _, it in fresh)
    items = [found[t] for t in texts]
    vectors = np.stack([it.vector for it in items]) if items else np.zeros((0, model.encoder.dim), np.float32)
    result = EmbedResult(vectors=vectors, texts=shown, token_counts=[it.token_count for it in items],
                         truncated=[it.truncated for it in items], chunks=[it.chunks for it in items],
                         cached=cached, elapsed_ms=ms_since(t0), max_length=model.encoder.max_length,
                         prompt=prompt)
    return result, known


def unknown_of(model: Served, result: EmbedResult, known: dict[str, UnknownTokens]) -> list[UnknownTokens]:
    """Each text of ``result``'s unknown tokens, as shown (a prompted text is inspected bare), from
    ``known`` (:func:`embed_clean`'s) where the text was read as shown."""
    if result.prompt:
        known = {t: u for t, u in known.items() if not t.startswith(result.prompt)}
    return inspect_unknown(model, result.texts, known)


def embed(model: Served, texts: Sequence[str], *, limit: int | None = None, what: str = "texts",
          options: TextOptions | None = None, dimensions: int | None = None) -> EmbedResult:
    """Vectors for ``texts`` (validated, cached, deduplicated within the request); the prompt of
    ``options`` before every text; ``dimensions`` keeps the first N numbers of each vector,
    re-normalised (OpenAI's ``dimensions``)."""
    t0 = time.perf_counter()
    dim, floor = model.encoder.dim, model.encoder.info.min_dimensions
    dimensions = check_dimensions(dimensions, dim, floor)
    texts = model.checks.texts(texts, what, limit)
    prompt = prompt_for(model, options)
    res, known = embed_clean(model, texts, t0, options, prompt=prompt)
    res.unknown_token_ratio, res.warnings = report_unknown(model, unknown_of(model, res, known))
    res.model = model.name
    if dimensions is not None and dimensions < dim:
        res.vectors = normalize_rows(res.vectors[:, :dimensions])
        res.dimensions = dimensions
        warning = dimension_warning(dimensions, dim, floor)
        if warning:
            res.warnings.append(warning)
    return res


def embed_corpus(model: Served, texts: Sequence[str], names: Sequence[str], *,
                 options: TextOptions | None = None) -> EmbedResult:
    """Vectors for one chunk of a corpus (``embed`` on the CLI): no request limit, no cache.

    A corpus is seen once, so caching it would only evict what interactive users need. Each text
    is validated under its name in ``names`` (e.g. ``"line 12"``).
    """
    t0 = time.perf_counter()
    options = options or DEFAULT_OPTIONS
    clean = [model.checks.text(t, name) for t, name in zip(texts, names, strict=True)]
    clean = options.norm.apply_all(clean)
    prompt = prompt_for(model, options)
    read = [(prompt or "") + t for t in clean]
    enc = model.encoder.encode_chunked(read) if long_text_mode(model, options) == "chunk" else model.encoder.encode(read)
    return EmbedResult(vectors=enc.vectors, texts=clean, token_counts=list(enc.token_counts),
                       truncated=list(enc.truncated), chunks=list(enc.chunks), cached=0,
                       elapsed_ms=ms_since(t0), max_length=model.encoder.max_length, prompt=prompt)


def warm_cache(model: Served, texts: Sequence[str], *, what: str = "texts", options: TextOptions | None = None,
               progress: Callable[[int, int], None] | None = None, chunk: int = 64) -> int:
    """Embed a big input in chunks, calling ``progress(done, total)`` after each, so that the real
    request that follows finds every vector in the cache. Returns the texts embedded (0 when the
    input is small or would not fit the cache: then warming buys nothing)."""
    if len(texts) <= chunk or model.cache.max_entries < len(texts):
        return 0
    texts = model.checks.texts(texts, what, max(model.settings.max_candidates, model.settings.max_texts))
    options = (options or DEFAULT_OPTIONS).without_prompt()  # candidates are documents: bare
    for start in range(0, len(texts), chunk):
        embed_clean(model, texts[start:start + chunk], time.perf_counter(), options)
        if progress is not None:
            progress(min(start + chunk, len(texts)), len(texts))
    return len(texts)


def ms_since(t0: float) -> float:
    return round((time.perf_counter() - t0) * 1000.0, 2)
