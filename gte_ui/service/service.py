"""The one service every front end calls: UI callbacks, HTTP routes, the CLI and serverless.

:class:`EmbeddingService` owns the encoder and the cache, validates input before any model work,
and returns the typed results of :mod:`gte_ui.service.results`. It raises :class:`~gte_ui.core.errors.GteError` for anything the
caller did wrong; front ends turn that into a UI warning or an HTTP status.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

from gte_ui.core.bands import load_bands, save_bands
from gte_ui.core.errors import ConfigError, ErrorType, GteError
from gte_ui.core.scoring import VerdictBands, cosine, cosine_matrix, normalize_rows, rank_order, to_percent, verdict
from gte_ui.core.settings import DEFAULT_MAX_BATCH_TOKENS, ModelSpec, Settings, parse_model_spec
from gte_ui.engine.backends.registry import resolve_runtime
from gte_ui.core.textnorm import clean_text, control_character, invisible_only, lone_surrogate
from gte_ui.engine.batching import DynamicBatcher
from gte_ui.engine.caches.local import CachedVector, EmbeddingCache, make_key
from gte_ui.engine.caches.shared import SharedCache, shared_key
from gte_ui.engine.encoder import Encoded, Encoder, ModelInfo, public_model_name
from gte_ui.engine.models.hub import resolve_model, transformer_folder
from gte_ui.engine.inspection import Alignment, TokenAligner, unknown_tokens
from gte_ui.engine.memory import estimate_bytes, human_bytes
from gte_ui.engine.prompts import Prompts
from gte_ui.engine.decoder_reranker import DecoderReranker
from gte_ui.engine.models.rerank_loader import load_reranker
from gte_ui.engine.reranker import Reranker, sigmoid
from gte_ui.service.options import DEFAULT_OPTIONS, TextOptions
from gte_ui.service.results import (EmbedResult, MatrixResult, PairResult, RankResult, RankRow, RerankResult,
                                    RerankRow)

log = logging.getLogger(__name__)

__all__ = ["EmbeddingService", "EmbedResult", "MatrixResult", "PairResult", "RankResult", "RankRow",
           "RerankResult", "RerankRow", "TextOptions", "default_bands"]


RERANK_METHODS = ("auto", "cross-encoder", "embedding")

#: characters no text may hold (422): how to find the first one, and what the answer says of it
_BAD_CHARACTERS = (
    (lone_surrogate, "a lone surrogate", "孤立的代理项",
     "it is not valid Unicode (half of a UTF-16 pair); send the whole character", "不是有效的 Unicode"),
    # docs/security.md promises a 4xx: NUL used to become a space, BEL and ESC reached the model
    (control_character, "a control character", "控制字符", "remove it (tabs and newlines are fine)",
     "请删除（制表符和换行可以保留）"),
)


class EmbeddingService:
    """Validate, look up the cache, embed the misses, score.

    Args:
        encoder: the loaded :class:`Encoder`.
        settings: limits and verdict bands.
        runner: what embeds the cache misses; defaults to ``encoder.encode``. The dynamic
            batcher plugs in here so concurrent requests share forward passes.
    """

    def __init__(self, encoder: Encoder, settings: Settings | None = None,
                 runner: Callable[[Sequence[str]], Encoded] | None = None,
                 bands: VerdictBands | None = None, name: str | None = None,
                 shared: SharedCache | None = None, reranker: Reranker | DecoderReranker | None = None,
                 rerank_runner: Callable[[Sequence[tuple[str, str]]], Encoded] | None = None) -> None:
        self.encoder = encoder
        #: what requests call this model (``model`` in every API); the default model's when alone
        self.name = name or encoder.info.name
        #: the other models served beside this one (the default), by name, in load order
        self._others: dict[str, EmbeddingService] = {}
        self._aligner: TokenAligner | None = None
        self.memory_estimate: int | None = None  # bytes, when loaded through from_settings
        self.settings = settings or Settings()
        self.cache = EmbeddingCache(self.settings.cache_size, self.settings.cache_bytes)
        #: the second tier (Redis), behind ``cache``; None unless --cache-url
        self.shared = shared
        if shared is not None and shared.dim is None:
            shared.dim = encoder.dim  # entries of another width are refused, never served
        self.runner = runner or encoder.encode
        self._bands = bands or default_bands(self.settings)
        self._bands_lock = threading.Lock()
        info = encoder.info
        # Everything that changes a vector. The model is named by its content hash (the same on
        # every machine) when known, so processes sharing a Redis share only identical models.
        int8 = f"{self.settings.int8_mode}/{self.settings.int8_engine}" if info.precision == "int8" else "-"
        self._key_prefix = (f"{info.fingerprint or info.path}|{self.settings.revision or '-'}|"
                            f"{info.precision}|{int8}|{info.backend}|{info.pooling}|{encoder.max_length}")
        #: tokens the model read for cache misses (the metrics' tokens embedded)
        self.tokens_embedded = 0
        #: the cross-encoder, or None: rerank then answers from the embedding cosine and says so
        self.reranker = reranker
        self.rerank_runner = rerank_runner or (reranker.score if reranker is not None else None)
        # its own cache (scores of (query, document) pairs), so reranking never evicts vectors
        self.rerank_cache = EmbeddingCache(self.settings.cache_size, self.settings.cache_bytes)
        if reranker is not None:
            r = reranker.info
            self._rerank_prefix = f"{r.path}|{r.precision}|{r.backend}|{reranker.max_length}|{r.instruction or ''}"
        self.started = time.time()

    @classmethod
    def from_settings(cls, settings: Settings, *, batching: bool = True) -> EmbeddingService:
        """Load the model (and every ``--models`` entry beside it) and, unless ``batching=False``,
        put a dynamic batcher in front of each.

        Before each load the model's memory is estimated from its weight files; with
        ``--max-memory`` set, a model that would take the total over it is refused, naming what is
        already loaded.

        Raises:
            ConfigError: over ``--max-memory``, or two models with one name.
        """
        specs = [ModelSpec(source=settings.model, name=settings.model_name),
                 *(parse_model_spec(m) for m in settings.models)]
        budget = _MemoryBudget(settings.max_memory)
        default: EmbeddingService | None = None
        try:
            for spec in specs:
                own = settings.replace(model=spec.source, model_name=spec.name,
                                       precision=spec.precision or settings.precision, models=(),
                                       # one reranker, beside the default model only
                                       **({} if default is None else {"reranker": None}))
                estimate = budget.admit(spec, own)
                service = cls._load_one(own, batching, spec.name)
                service.memory_estimate = estimate
                if default is None:
                    default = service
                else:
                    default.add_model(service)
        except BaseException:
            if default is not None:
                default.close()
            raise
        return default

    @classmethod
    def _load_one(cls, settings: Settings, batching: bool, name: str | None) -> EmbeddingService:
        encoder = Encoder.load(settings)
        reranker = load_reranker(settings) if settings.reranker else None
        runner = rerank_runner = None
        if batching:
            # gathers up to 4 forward passes of short texts, or one token budget of long ones
            runner = DynamicBatcher(encoder.encode, max_batch=settings.batch_size * 4,
                                    wait_ms=settings.batch_wait_ms, max_queue=settings.max_queue,
                                    max_tokens=encoder.max_batch_tokens, weigh=encoder.run_weights)
            if reranker is not None:  # concurrent rerank requests share forward passes, sliced as texts are
                rerank_runner = DynamicBatcher(reranker.score, max_batch=settings.batch_size * 4,
                                               wait_ms=settings.batch_wait_ms, max_queue=settings.max_queue,
                                               max_tokens=settings.max_batch_tokens
                                               or max(DEFAULT_MAX_BATCH_TOKENS, reranker.max_length),
                                               weigh=reranker.run_weights)
        return cls(encoder, settings, runner=runner, name=name, shared=shared_from_settings(settings),
                   reranker=reranker, rerank_runner=rerank_runner)

    def close(self) -> None:
        """Finish what the batchers have queued and stop them, this model's, its reranker's and the
        others', then send the queued shared-cache writes."""
        close = getattr(self.rerank_runner, "close", None)
        if close is not None:
            close()
        for service in self.models():
            close = getattr(service.runner, "close", None)
            if close is not None:
                close()
            if service.shared is not None:
                service.shared.close()

    def observe_batches(self, observe: Callable[[int, int], None]) -> bool:
        """Call ``observe(texts, requests)`` after every merged forward pass of the dynamic batcher
        (for metrics). Returns False when this service runs without a batcher."""
        observers = getattr(self.runner, "observers", None)
        if observers is None:
            return False
        observers.append(observe)
        return True

    # ------------------------------------------------------------ several models
    def add_model(self, other: EmbeddingService) -> None:
        """Serve ``other`` beside this (the default) model, under ``other.name``.

        Raises:
            ConfigError: the name is taken.
        """
        if other.name in self._others or other.name == self.name:
            raise ConfigError(f"two models are called {other.name!r}; give one a name: --models NAME=SOURCE",
                              f"两个模型同名 {other.name!r}，请用 --models 名称=来源 区分")
        self._others[other.name] = other

    def models(self) -> list[EmbeddingService]:
        """Every loaded model, the default first."""
        return [self, *self._others.values()]

    def for_model(self, name: str | None) -> EmbeddingService:
        """The service of the model called ``name`` (None or "" or the default's name: this one).

        Raises:
            GteError: UNKNOWN_MODEL (404), listing the loaded models.
        """
        if not name or name == self.name:
            return self
        if not isinstance(name, str):
            raise GteError(ErrorType.VALIDATION, f"model must be a string, got {type(name).__name__}",
                           "model 必须是字符串")
        found = self._others.get(name)
        if found is None:
            loaded = ", ".join(s.name for s in self.models())
            raise GteError(ErrorType.UNKNOWN_MODEL, f"model {name!r} is not loaded here; loaded: {loaded}",
                           f"未加载模型 {name!r}；已加载：{loaded}")
        return found

    # ------------------------------------------------------------ facts
    @property
    def info(self) -> ModelInfo:
        return self.encoder.info

    @property
    def dim(self) -> int:
        return self.encoder.dim

    @property
    def prompts(self) -> Prompts:
        """The model's instruction prompts (empty for models without them)."""
        return self.encoder.prompts

    @property
    def max_length(self) -> int:
        """Tokens the model reads per text (per window when chunking)."""
        return self.encoder.max_length

    @property
    def max_batch_tokens(self) -> int | None:
        """Padded tokens one forward pass may hold (TEI's ``--max-batch-tokens``)."""
        return self.encoder.max_batch_tokens

    def stats(self) -> dict[str, object]:
        batcher = {k: getattr(self.runner, k) for k in ("batches", "requests", "pending", "replicas", "retries")
                   if hasattr(self.runner, k)}
        shared = self.shared.stats() if self.shared is not None else {
            "enabled": False, "up": False, "hits": 0, "misses": 0, "errors": 0}
        return {"cache": {"local": self.cache.stats(), "shared": shared}, "forward_calls": self.encoder.forward_calls,
                "texts_encoded": self.encoder.texts_encoded, "batcher": batcher,
                "reranker": self.reranker_facts(), "uptime_s": round(time.time() - self.started, 1)}

    def reranker_facts(self) -> dict[str, object]:
        """What reranks: the cross-encoder's facts and counters, or the embedding fallback."""
        if self.reranker is None:
            return {"loaded": False, "method": "embedding",
                    "note": "no --reranker: rerank answers from the embedding model's cosine"}
        batcher = {k: getattr(self.rerank_runner, k) for k in ("batches", "requests", "pending")
                   if hasattr(self.rerank_runner, k)}
        # "method" names the rerank stage the API's `method` selects; the model's kind is in the facts
        return {"loaded": True, "method": "cross-encoder", **self.reranker.info.public_dict(),
                "forward_calls": self.reranker.forward_calls, "pairs_scored": self.reranker.pairs_scored,
                "cache": self.rerank_cache.stats(), "batcher": batcher}

    # ------------------------------------------------------------ verdict bands
    @property
    def bands(self) -> VerdictBands:
        """The verdict bands every caller's verdicts use (one immutable object, swapped whole)."""
        return self._bands

    def set_bands(self, bands: VerdictBands, *, save: bool = True) -> Path | None:
        """Replace the server-wide verdict bands; with ``save``, first store them as this model's
        calibration file in ``Settings.calibration_dir`` (so a restart keeps them). Returns the
        file written, or None.

        This changes every user's verdicts: front ends decide who may call it (see
        ``Settings.calibration_allowed``). The lock keeps two concurrent saves from leaving the
        file and the bands in use from different calls.
        """
        if not isinstance(bands, VerdictBands):  # VerdictBands itself checks -1 <= mid < high <= 1
            raise GteError(ErrorType.VALIDATION, f"verdict bands must be VerdictBands, got {type(bands).__name__}",
                           "判定阈值类型无效")
        with self._bands_lock:
            path = save_bands(self.settings.model, bands, self.settings.calibration_dir) if save else None
            self._bands = bands
        return path

    # ------------------------------------------------------------ validation
    def check_text(self, text: object, what: str = "text") -> str:
        """Return the cleaned text or raise a specific :class:`GteError`."""
        if not isinstance(text, str):
            raise GteError(ErrorType.VALIDATION, f"{what} must be a string, got {type(text).__name__}",
                           f"{_zh(what)}必须是字符串")
        if len(text) > self.settings.max_chars:
            raise GteError(ErrorType.TOO_LONG,
                           f"{what} has {len(text):,} characters; the limit is {self.settings.max_chars:,}",
                           f"{_zh(what)}有 {len(text):,} 个字符，超过上限 {self.settings.max_chars:,}")
        for find, kind, kind_zh, advice, advice_zh in _BAD_CHARACTERS:
            at = find(text)
            if at is not None:
                code = f"U+{ord(text[at]):04X}"
                raise GteError(ErrorType.VALIDATION, f"{what} has {kind} {code} at character {at}: {advice}",
                               f"{_zh(what)}第 {at} 个字符是{kind_zh} {code}，{advice_zh}")
        cleaned = clean_text(text)
        if not cleaned:
            raise GteError(ErrorType.EMPTY, f"{what} is empty", f"{_zh(what)}为空")
        if invisible_only(cleaned):
            shown = " ".join(f"U+{ord(c):04X}" for c in dict.fromkeys(cleaned[:8]))
            raise GteError(ErrorType.EMPTY,
                           f"{what} has only invisible characters ({shown}: zero-width, bidi, combining or "
                           "space characters): the model would read it as empty",
                           f"{_zh(what)}只有不可见字符（{shown}：零宽、双向控制、组合符号或空白），模型会把它当作空文本")
        return cleaned

    def check_texts(self, texts: object, what: str = "texts", limit: int | None = None) -> list[str]:
        if isinstance(texts, str) or not isinstance(texts, Sequence):
            raise GteError(ErrorType.VALIDATION, f"{what} must be a list of strings",
                           f"{_zh(what)}必须是字符串列表")
        limit = self.settings.max_texts if limit is None else limit
        if len(texts) == 0:
            raise GteError(ErrorType.EMPTY, f"no {what} given", f"没有提供{_zh(what)}")
        if len(texts) > limit:
            raise GteError(ErrorType.TOO_MANY, f"{len(texts):,} {what} given; the limit is {limit:,}",
                           f"{_zh(what)}数量 {len(texts):,} 超过上限 {limit:,}")
        return [self.check_text(t, f"{what}[{i}]") for i, t in enumerate(texts)]

    # ------------------------------------------------------------ prompts and dimensions
    def prompt_for(self, options: TextOptions | None) -> str | None:
        """The prompt put before query-side texts: a named one of the model's prompts, the
        model's template around the caller's ``instruction``, or the model's default (usually none).

        Raises:
            GteError: 422 for a model without prompts, an unknown name, both given, an empty one.
        """
        options = options or DEFAULT_OPTIONS
        return self.encoder.prompts.resolve(options.prompt_name, options.instruction, side="query")

    def check_dimensions(self, dimensions: object) -> int | None:
        """Validate an output width: ``min_dimensions``..dim for a model trained for truncation
        (Qwen3-Embedding: 32..width), 1..dim for the others (which lose quality: see
        :meth:`dimension_warning`).

        Raises:
            GteError: 422 naming the range.
        """
        if dimensions is None:
            return None
        floor = self.info.min_dimensions or 1
        if not isinstance(dimensions, int) or isinstance(dimensions, bool) or dimensions < 1:
            raise GteError(ErrorType.VALIDATION, f"dimensions must be a positive integer, got {dimensions!r}",
                           "dimensions 必须是正整数")
        if dimensions > self.dim:
            raise GteError(ErrorType.VALIDATION, f"dimensions={dimensions} is more than the model's {self.dim}",
                           f"dimensions={dimensions} 超过模型维度 {self.dim}")
        if dimensions < floor:
            raise GteError(ErrorType.VALIDATION,
                           f"dimensions={dimensions} is below {floor}, the smallest output this model was trained "
                           f"for; choose {floor} to {self.dim}", f"dimensions 不能小于 {floor}（可选 {floor}–{self.dim}）")
        return dimensions

    def dimension_warning(self, dimensions: int | None) -> str | None:
        """Why truncating this model's vectors costs quality (None for Matryoshka-trained models)."""
        if dimensions is None or dimensions >= self.dim or self.info.min_dimensions:
            return None
        return (f"本模型未为截断训练：只取前 {dimensions} / {self.dim} 维会损失质量，使用前请先评估 / "
                f"this model was not trained for truncated outputs: its first {dimensions} of {self.dim} "
                "dimensions lose quality; measure before relying on them")

    # ------------------------------------------------------------ token-level looks
    def unknown_report(self, texts: Sequence[str], labels: Sequence[tuple[str, str]] | None = None, *,
                       tokenizer=None, model: str | None = None,
                       max_length: int | None = None) -> tuple[list[float], list[str]]:
        """Per text, the share of tokens the vocabulary does not know; and at most one warning
        (:func:`unknown_warning`) naming the texts above ``--unknown-warn`` and the characters.

        ``labels``: each text's (中文, English) name in the warning (default 文本 i / text i);
        ``tokenizer`` / ``model`` / ``max_length``: another model's (the reranker's), else this one's.
        """
        report = unknown_tokens(tokenizer or self.encoder.tokenizer, texts,
                                max_length or (None if tokenizer is not None else self.max_length))
        labels = labels or [(f"文本 {i + 1}", f"text {i + 1}") for i in range(len(texts))]
        flagged = [(label, u.ratio) for label, u in zip(labels, report) if u.tokens and u.ratio > self.settings.unknown_warn]
        chars = [c for label, u in zip(labels, report) if u.tokens and u.ratio > self.settings.unknown_warn
                 for c in u.characters]
        warning = unknown_warning(model or self.name, flagged, chars)
        return [round(u.ratio, 4) for u in report], [warning] if warning else []

    def unknown_share(self, texts: Sequence[str], *, tokenizer=None, model: str | None = None) -> tuple[float, list[str]]:
        """For a data set (evaluation): the share of all its (distinct) texts' tokens the
        vocabulary does not know, and a warning when it is above ``--unknown-warn``."""
        tally = self.unknown_tally(tokenizer=tokenizer, model=model)
        tally.add(list(dict.fromkeys(texts)))
        return tally.share, tally.warnings()

    def unknown_tally(self, *, tokenizer=None, model: str | None = None) -> UnknownTally:
        """A running :meth:`unknown_share` for input that comes in chunks (``embed`` on the CLI)."""
        return UnknownTally(tokenizer or self.encoder.tokenizer, model or self.name,
                            None if tokenizer is not None else self.max_length, self.settings.unknown_warn)

    def align(self, a: str, b: str) -> Alignment:
        """Which tokens carry the match: last-layer token × token cosines of ``a`` and ``b`` and
        their greedy (BERTScore-style) matching. The first call loads the model's fp32 weights
        once (see :class:`~gte_ui.engine.inspection.TokenAligner`)."""
        a = self.check_text(a, "sentence A")
        b = self.check_text(b, "sentence B")
        result = self._token_aligner().align(a, b)
        if not result.tokens_a or not result.tokens_b:
            raise GteError(ErrorType.VALIDATION, "a sentence has no tokens the model reads",
                           "句子中没有模型可读的词元")
        return result

    def token_states(self, text: str, *, what: str = "text") -> np.ndarray:
        """Last-layer states [tokens, dim] of every token of ``text`` (special tokens included,
        truncated at ``max_length``, fp32, not normalised): TEI's ``embed_all``. The fp32 weights
        are the ones :meth:`align` loads, once."""
        text = self.check_text(text, what)
        return self._token_aligner().token_states(text, keep_special=True)[1]

    def _token_aligner(self) -> TokenAligner:
        if self._aligner is None:
            folder = transformer_folder(Path(self.info.path))
            self._aligner = TokenAligner(folder, self.encoder.tokenizer, self.max_length)
        return self._aligner

    # ------------------------------------------------------------ operations
    def embed(self, texts: Sequence[str], *, limit: int | None = None, what: str = "texts",
              options: TextOptions | None = None, dimensions: int | None = None) -> EmbedResult:
        """Vectors for ``texts`` (validated, cached, deduplicated within the request).

        Args:
            options: text normalisation (the cache keys on its result), the long-text mode, and
                the prompt put before every text (instruction models; see :meth:`prompt_for`).
            dimensions: keep the first N numbers of each vector and re-normalise (OpenAI's
                ``dimensions``; see :meth:`check_dimensions`); None keeps all.
        """
        t0 = time.perf_counter()
        dimensions = self.check_dimensions(dimensions)
        texts = self.check_texts(texts, what, limit)
        prompt = self.prompt_for(options)
        res = self._embed_clean(texts, t0, options, prompt=prompt)
        if dimensions is not None and dimensions < self.dim:
            res.vectors = normalize_rows(res.vectors[:, :dimensions])
        res.unknown_token_ratio, res.warnings = self.unknown_report(res.texts)
        res.model = self.name
        if dimensions is not None and dimensions < self.dim:
            res.dimensions = dimensions
            warning = self.dimension_warning(dimensions)
            if warning:
                res.warnings.append(warning)
        return res

    def embed_corpus(self, texts: Sequence[str], names: Sequence[str], *,
                     options: TextOptions | None = None) -> EmbedResult:
        """Vectors for one chunk of a corpus (``embed`` on the CLI): no request limit, no cache.

        A corpus is seen once, so caching it would only evict what interactive users need. Each
        text is validated under its name in ``names`` (e.g. ``"line 12"``).
        """
        t0 = time.perf_counter()
        options = options or DEFAULT_OPTIONS
        clean = [self.check_text(t, name) for t, name in zip(texts, names, strict=True)]
        clean = options.norm.apply_all(clean)
        prompt = self.prompt_for(options)
        enc = self._encode([(prompt or "") + t for t in clean], self._long_text(options), self.encoder.encode)
        return EmbedResult(vectors=enc.vectors, texts=clean, token_counts=list(enc.token_counts),
                           truncated=list(enc.truncated), chunks=list(enc.chunks), cached=0,
                           elapsed_ms=_ms(t0), max_length=self.max_length, prompt=prompt)

    def warm_cache(self, texts: Sequence[str], *, what: str = "texts", options: TextOptions | None = None,
                   progress: Callable[[int, int], None] | None = None, chunk: int = 64) -> int:
        """Embed a big input in chunks, calling ``progress(done, total)`` after each, so that the
        real request that follows finds every vector in the cache. Returns the texts embedded
        (0 when the input is small or would not fit the cache: then warming buys nothing)."""
        if len(texts) <= chunk or self.cache.max_entries < len(texts):
            return 0
        texts = self.check_texts(texts, what, max(self.settings.max_candidates, self.settings.max_texts))
        options = (options or DEFAULT_OPTIONS).without_prompt()  # candidates are documents: bare
        for start in range(0, len(texts), chunk):
            self._embed_clean(texts[start:start + chunk], time.perf_counter(), options)
            if progress is not None:
                progress(min(start + chunk, len(texts)), len(texts))
        return len(texts)

    def _long_text(self, options: TextOptions) -> str:
        return options.long_text or self.settings.long_text

    def _encode(self, texts: list[str], mode: str, runner: Callable[[Sequence[str]], Encoded]) -> Encoded:
        """The long-text dispatch: sliding windows when chunking, else ``runner`` (truncating)."""
        return self.encoder.encode_chunked(texts) if mode == "chunk" else runner(texts)

    def check_work(self, texts: list[str], options: TextOptions | None = None) -> None:
        """:meth:`_check_work` for a capability that embeds through :meth:`embed_corpus` on behalf of
        a request (the embedding map): the same ``--max-tokens-per-request`` 413."""
        self._check_work(texts, self._long_text(options or DEFAULT_OPTIONS))

    def _check_work(self, texts: list[str], mode: str) -> None:
        """Refuse a request whose model work is over ``--max-tokens-per-request`` (413), before any
        of it runs. Truncated texts are weighed free (at most ``max_length`` each) unless that bound
        is over the limit; chunked ones by their windows, from counts that tokenise only a head of
        each text (:meth:`~gte_ui.engine.encoder.Encoder.tokenize`)."""
        limit = self.settings.max_tokens_per_request
        chunked = mode == "chunk"
        if not chunked and len(texts) * self.max_length <= limit:
            return
        weigh = getattr(self.encoder, "tokens_to_run", None)
        if weigh is not None:
            need = weigh(texts, chunked=chunked)
        else:  # a remote encoder (Ray Serve) without the tokenizer's head counts: a character bound
            step = max(1, (self.max_length - 2) * 3 // 4)
            need = sum(-(-len(t) // step) if chunked else 1 for t in texts) * self.max_length
        refuse_over_budget(need, limit, " (every window of its long texts)" if chunked else "")

    def check_rerank_work(self, pairs: Sequence[tuple[str, str]]) -> None:
        """Refuse a rerank whose model work is over ``--max-tokens-per-request`` (413), before any of
        it runs: each pair's window, counted from heads of its texts (as the embedder's)."""
        limit = self.settings.max_tokens_per_request
        if self.reranker is None or len(pairs) * self.reranker.max_length <= limit:
            return
        refuse_over_budget(self.reranker.tokens_to_run(pairs), limit, " (each query-document pair's window)")

    def _embed_clean(self, texts: list[str], t0: float, options: TextOptions | None = None,
                     prompt: str | None = None, prompted: int | None = None) -> EmbedResult:
        """Embed validated texts; ``prompt`` goes before the first ``prompted`` texts (all when None)."""
        options = options or DEFAULT_OPTIONS
        mode = self._long_text(options)
        norm = options.norm
        texts = norm.apply_all(texts)
        prefix = f"{self._key_prefix}|{mode}|{norm.key()}"
        shown = texts
        if prompt:  # the model reads prompt + text; the cache keys on exactly that
            n = len(texts) if prompted is None else prompted
            texts = [prompt + t for t in texts[:n]] + texts[n:]
        found: dict[str, CachedVector] = {}
        missing: list[str] = []
        for text in texts:
            if text in found or text in missing:
                continue
            hit = self.cache.get(make_key(prefix, text))
            if hit is None:
                missing.append(text)
            else:
                found[text] = hit
        if missing and self.shared is not None:
            keys = [shared_key(prefix, t) for t in missing]
            still: list[str] = []
            for text, hit in zip(missing, self.shared.get_many(keys)):
                if hit is None:
                    still.append(text)
                else:
                    found[text] = hit
                    self.cache.put(make_key(prefix, text), hit)
            missing = still
        cached = len(found)
        if missing:
            self._check_work(missing, mode)
            enc = self._encode(missing, mode, self.runner)
            fresh = []
            for i, text in enumerate(missing):
                item = CachedVector(np.array(enc.vectors[i], dtype=np.float32), enc.token_counts[i],
                                    enc.truncated[i], enc.chunks[i])
                found[text] = item
                self.cache.put(make_key(prefix, text), item)
                fresh.append(item)
            self.tokens_embedded += sum(it.token_count if it.chunks > 1 else min(it.token_count, self.encoder.max_length)
                                        for it in fresh)
            if self.shared is not None:
                self.shared.put_many([(shared_key(prefix, t), it) for t, it in zip(missing, fresh)])
        items = [found[t] for t in texts]
        vectors = np.stack([it.vector for it in items]) if items else np.zeros((0, self.dim), np.float32)
        return EmbedResult(vectors=vectors, texts=shown, token_counts=[it.token_count for it in items],
                           truncated=[it.truncated for it in items], chunks=[it.chunks for it in items],
                           cached=cached, elapsed_ms=_ms(t0), max_length=self.encoder.max_length,
                           prompt=prompt)

    def pair(self, a: str, b: str, *, options: TextOptions | None = None) -> PairResult:
        """Cosine similarity of two texts, with its verdict. A prompt in ``options``
        (instruction models) goes before A, the query side; B stays bare."""
        t0 = time.perf_counter()
        a = self.check_text(a, "sentence A")
        b = self.check_text(b, "sentence B")
        prompt = self.prompt_for(options)
        res = self._embed_clean([a, b], t0, options, prompt=prompt, prompted=1)
        score = cosine(res.vectors[0], res.vectors[1])
        ratios, warnings = self.unknown_report(res.texts, [("句子 A", "sentence A"), ("句子 B", "sentence B")])
        bands = self.bands  # once: a concurrent set_bands must not split verdict and gauge
        return PairResult(score=score, percent=to_percent(score), verdict=verdict(score, bands),
                          tokens_a=res.token_counts[0], tokens_b=res.token_counts[1],
                          truncated_a=res.truncated[0], truncated_b=res.truncated[1],
                          elapsed_ms=_ms(t0), bands=bands, model=self.name,
                          default_verdict=None if bands.source == "default" else verdict(score, VerdictBands()),
                          unknown_token_ratio=ratios, warnings=warnings, prompt=prompt)

    def rank(self, source: str, candidates: Sequence[str], top_k: int | None = None, *,
             options: TextOptions | None = None) -> RankResult:
        """Score every candidate against ``source`` and sort, best first (ties keep input order).
        A prompt in ``options`` (instruction models) goes before the source, the query side;
        candidates stay bare."""
        t0 = time.perf_counter()
        source = self.check_text(source, "source")
        cands = self.check_texts(candidates, "candidates", self.settings.max_candidates)
        if top_k is not None and (not isinstance(top_k, int) or isinstance(top_k, bool) or top_k < 1):
            raise GteError(ErrorType.VALIDATION, f"top_k must be a positive integer, got {top_k!r}",
                           "top_k 必须是正整数")
        prompt = self.prompt_for(options)
        res = self._embed_clean([source] + cands, t0, options, prompt=prompt, prompted=1)
        scores = cosine_matrix(res.vectors[1:], res.vectors[:1])[:, 0]
        seen: set[str] = set()
        duplicate = []
        for c in cands:
            duplicate.append(c in seen)
            seen.add(c)
        order = rank_order(scores)
        # candidates named by their rank, as every ranked table shows them
        ranks = {int(i): r + 1 for r, i in enumerate(order)}
        ratios, warnings = self.unknown_report(
            res.texts, [("源句子", "the source")] + [(f"第 {ranks[i]} 名", f"rank {ranks[i]}") for i in range(len(cands))])
        if top_k is not None:
            order = order[:top_k]
        bands = self.bands
        rows = [RankRow(rank=r + 1, index=int(i), text=cands[i], score=float(scores[i]),
                        percent=to_percent(scores[i]), verdict=verdict(float(scores[i]), bands),
                        tokens=res.token_counts[i + 1], truncated=res.truncated[i + 1],
                        duplicate=duplicate[i], unknown_token_ratio=ratios[i + 1])
                for r, i in enumerate(order)]
        return RankResult(source=source, source_tokens=res.token_counts[0],
                          source_truncated=res.truncated[0], rows=rows, total=len(cands),
                          elapsed_ms=_ms(t0), scores=[float(s) for s in scores], model=self.name,
                          source_unknown_token_ratio=ratios[0], warnings=warnings, prompt=prompt)

    def matrix(self, texts: Sequence[str], *, options: TextOptions | None = None) -> MatrixResult:
        """N x N cosine matrix of ``texts`` (2 <= N <= max_matrix). A prompt in ``options`` goes
        before every text: they are compared alike."""
        t0 = time.perf_counter()
        texts = self.check_texts(texts, "texts", self.settings.max_matrix)
        if len(texts) < 2:
            raise GteError(ErrorType.VALIDATION, "the matrix needs at least 2 texts", "矩阵至少需要 2 条文本")
        prompt = self.prompt_for(options)
        res = self._embed_clean(texts, t0, options, prompt=prompt)
        ratios, warnings = self.unknown_report(res.texts)
        return MatrixResult(texts=texts, scores=cosine_matrix(res.vectors), token_counts=res.token_counts,
                            truncated=res.truncated, elapsed_ms=_ms(t0), prompt=prompt,
                            unknown_token_ratio=ratios, warnings=warnings)


    def rerank(self, query: str, documents: Sequence[str], *, top_n: int | None = None,
               raw_scores: bool = False, method: str = "auto", what: str = "documents",
               options: TextOptions | None = None) -> RerankResult:
        """Score ``documents`` against ``query`` and sort them, best first (ties keep input order).

        Args:
            top_n: keep the best n rows (``scores`` still holds every document's).
            raw_scores: the cross-encoder's raw logits instead of their sigmoid.
            method: "auto" (the cross-encoder when one is loaded, else the embedding cosine),
                "cross-encoder" (422 when none is loaded) or "embedding".
            what: the documents' name in error messages ("docs", "texts", "documents").
            options: the text options every operation takes. 繁→简, NFKC and whitespace apply to
                the query and every document before either path scores them (the reranker's
                score cache keys on the normalised pair, so both spellings share one score).
                On the embedding path they go through :meth:`rank`'s embedding exactly, the
                prompt (instruction models) before the query only, ``long_text`` as there. On the
                reranker path ``long_text`` has no effect: the reranker truncates each pair at its
                own max length (``truncated`` says which), never chunks; and the embedding
                model's prompt does not apply (a decoder reranker's instruction is
                ``--reranker-instruction``): asking for one there is a 422, not silently dropped.

        Rows' ``text`` and ``query`` are the caller's own (ends stripped), not the normalised
        forms: clients map answers back by index and expect their own text.
        """
        t0 = time.perf_counter()
        options = options or DEFAULT_OPTIONS
        if method not in RERANK_METHODS:
            raise GteError(ErrorType.VALIDATION, f"method must be one of {', '.join(RERANK_METHODS)}, got {method!r}",
                           f"method 取值无效：{method!r}")
        if method == "cross-encoder" and self.reranker is None:
            raise GteError(ErrorType.VALIDATION, "no reranker is loaded: start the server with --reranker MODEL "
                           "(or ask for method \"embedding\")", "未加载重排模型：请用 --reranker 启动")
        query = self.check_text(query, "query")
        docs = self.check_texts(documents, what, self.settings.max_candidates)
        if top_n is not None and (not isinstance(top_n, int) or isinstance(top_n, bool) or top_n < 1):
            raise GteError(ErrorType.VALIDATION, f"top_n must be a positive integer, got {top_n!r}",
                           "top_n 必须是正整数")
        cross = self.reranker is not None and method != "embedding"
        if cross and options.prompted:
            raise GteError(ErrorType.VALIDATION,
                           "prompt_name / instruction are the embedding model's; the reranker reads the query "
                           "as sent (a decoder reranker's instruction is the server's --reranker-instruction): "
                           "leave them out, or ask for method \"embedding\"",
                           "prompt_name / instruction 只用于嵌入模型，重排模型不读取它们：请去掉，或使用 method \"embedding\"")
        cached = 0
        if cross:
            # the texts the reranker reads: normalised, and the cache keys on exactly those
            read_query, *read_docs = options.norm.apply_all([query, *docs])
            found: dict[str, CachedVector] = {}
            missing: list[str] = []
            for doc in read_docs:
                if doc in found or doc in missing:
                    continue
                hit = self.rerank_cache.get((self._rerank_prefix, read_query, doc))
                if hit is None:
                    missing.append(doc)
                else:
                    found[doc] = hit
            cached = len(found)
            if missing:
                assert self.rerank_runner is not None
                self.check_rerank_work([(read_query, d) for d in missing])
                enc = self.rerank_runner([(read_query, d) for d in missing])
                for i, doc in enumerate(missing):
                    item = CachedVector(np.array(enc.vectors[i], dtype=np.float32), enc.token_counts[i],
                                        enc.truncated[i])
                    found[doc] = item
                    self.rerank_cache.put((self._rerank_prefix, read_query, doc), item)
            items = [found[d] for d in read_docs]
            logits = np.array([float(it.vector[0]) for it in items])
            scores = logits if raw_scores else sigmoid(logits)
            tokens = [it.token_count for it in items]
            truncated = [it.truncated for it in items]
            used = sum(min(n, self.reranker.max_length) for n in tokens)
            model = self.reranker.info.name
        else:  # what rank() embeds: normalised, the prompt before the query only
            res = self._embed_clean([query] + docs, t0, options, prompt=self.prompt_for(options), prompted=1)
            scores = cosine_matrix(res.vectors[1:], res.vectors[:1])[:, 0].astype(np.float64)
            tokens, truncated = res.token_counts[1:], res.truncated[1:]
            cached = res.cached
            used = res.total_tokens
            model = self.info.name
        order = rank_order(np.asarray(scores, dtype=np.float64))
        # what the scoring model could not read: the query and each document (named by rank)
        ranks = {int(i): r + 1 for r, i in enumerate(order)}
        reader = {"tokenizer": self.reranker.tokenizer, "model": model} if cross else {}
        ratios, warnings = self.unknown_report(
            [query, *docs], [("查询", "the query")] + [(f"第 {ranks[i]} 名", f"rank {ranks[i]}") for i in range(len(docs))],
            **reader)
        if top_n is not None:
            order = order[:top_n]
        rows = [RerankRow(rank=r + 1, index=int(i), text=docs[i], score=float(scores[i]), tokens=int(tokens[i]),
                          truncated=bool(truncated[i]), unknown_token_ratio=ratios[i + 1]) for r, i in enumerate(order)]
        return RerankResult(query=query, method="cross-encoder" if cross else "embedding", model=model,
                            raw_scores=bool(raw_scores and cross), scores=[float(x) for x in scores], rows=rows,
                            total=len(docs), tokens=int(used), cached=cached, elapsed_ms=_ms(t0),
                            query_unknown_token_ratio=ratios[0], warnings=warnings)


class UnknownTally:
    """Tokens and unknown tokens summed over texts added chunk by chunk; :meth:`warnings` says
    (:func:`unknown_share_warning`) what share the model cannot read when above the threshold."""

    def __init__(self, tokenizer, model: str, max_length: int | None, threshold: float) -> None:
        self.tokenizer, self.model, self.max_length, self.threshold = tokenizer, model, max_length, threshold
        self.tokens = self.unknown = 0
        self.characters: dict[str, None] = {}

    def add(self, texts: Sequence[str]) -> None:
        for u in unknown_tokens(self.tokenizer, texts, self.max_length):
            self.tokens += u.tokens
            self.unknown += u.unknown
            self.characters.update(dict.fromkeys(u.characters))

    @property
    def share(self) -> float:
        return round(self.unknown / self.tokens, 4) if self.tokens else 0.0

    def warnings(self) -> list[str]:
        if not self.tokens or self.unknown / self.tokens <= self.threshold:
            return []
        return [unknown_share_warning(self.model, self.unknown / self.tokens, list(self.characters))]


def _chars(chars: Sequence[str], most: int = 12) -> str:
    distinct = list(dict.fromkeys(chars))
    return " ".join(distinct[:most]) + (" …" if len(distinct) > most else "")


def unknown_warning(model: str, flagged: Sequence[tuple[tuple[str, str], float]], chars: Sequence[str],
                    most: int = 6) -> str | None:
    """The one wording of the unknown-token warning (every tab, route and subcommand shows it):
    ``flagged`` are the texts above ``--unknown-warn`` as ((中文 name, English name), share)."""
    if not flagged:
        return None
    shown = _chars(chars)
    if len(flagged) == 1:
        (zh, en), ratio = flagged[0]
        return (f"{zh} 有 {ratio:.0%} 的词元不在 {model} 的词表中（{shown}），模型读不懂这部分，结果参考价值有限 / "
                f"{en}: {ratio:.0%} of its tokens are unknown to {model}'s vocabulary ({shown}); the model "
                "cannot read them, so results from it mean little")
    more = len(flagged) - most
    zh_list = "、".join(f"{zh} {r:.0%}" for (zh, _), r in flagged[:most]) + (f" 等 {len(flagged)} 条" if more > 0 else "")
    en_list = ", ".join(f"{en} {r:.0%}" for (_, en), r in flagged[:most]) + (f" and {more} more" if more > 0 else "")
    return (f"{len(flagged)} 条文本的词元大量不在 {model} 的词表中（{shown}）：{zh_list}；模型读不懂这部分，结果参考价值有限 / "
            f"{len(flagged)} texts have many tokens unknown to {model}'s vocabulary ({shown}): {en_list}; the model "
            "cannot read them, so results from them mean little")


def unknown_share_warning(model: str, share: float, chars: Sequence[str]) -> str:
    """The data-set form of :func:`unknown_warning` (evaluation): what share of all its tokens
    the model cannot read."""
    return (f"数据中 {share:.1%} 的词元不在 {model} 的词表中（{_chars(chars)}），模型读不懂这部分，指标参考价值有限 / "
            f"{share:.1%} of the data's tokens are unknown to {model}'s vocabulary ({_chars(chars)}); the model "
            "cannot read them, so these metrics mean little")


def refuse_over_budget(need: int, limit: int, what: str = "") -> None:
    """The one refusal of a request over ``--max-tokens-per-request`` (413), for every operation."""
    if need > limit:
        raise GteError(ErrorType.TOO_LARGE,
                       f"this request needs {need:,} tokens of model work{what}; "
                       f"one request may cost at most {limit:,} (--max-tokens-per-request): send fewer or "
                       "shorter texts, or split the request",
                       f"该请求需要 {need:,} 个词元的模型计算，超过单个请求上限 {limit:,}"
                       "（--max-tokens-per-request）：请减少或缩短文本，或拆分请求")


def shared_from_settings(settings: Settings) -> SharedCache | None:
    """The Redis tier ``--cache-url`` asks for (None without one). Never fails: a Redis that is
    not there yet is warned about and retried (see :class:`SharedCache`)."""
    if not settings.cache_url:
        return None
    return SharedCache(settings.cache_url, ttl_s=settings.cache_ttl,
                       timeout_s=settings.cache_timeout_ms / 1000.0, secret=settings.cache_secret)


def default_bands(settings: Settings) -> VerdictBands:
    """Verdict bands: ``--verdict-high/--verdict-mid`` > the model's calibration file > SPEC's 0.75 / 0.50."""
    calibrated = load_bands(settings.model, settings.calibration_dir)
    if settings.verdict_high is None and settings.verdict_mid is None:
        return calibrated or VerdictBands()
    base = calibrated or VerdictBands()
    high = settings.verdict_high if settings.verdict_high is not None else base.high
    mid = settings.verdict_mid if settings.verdict_mid is not None else min(base.mid, high - 0.01)
    return VerdictBands(high=high, mid=mid, source="settings")


class _MemoryBudget:
    """Estimated memory of the models loaded so far, against ``--max-memory``."""

    def __init__(self, limit: int | None) -> None:
        self.limit = limit
        self.used = 0
        self.loaded: list[str] = []

    def admit(self, spec: ModelSpec, settings: Settings) -> int | None:
        """Estimate the model's memory before loading it; refuse it if the total would exceed
        the limit. Returns the estimate (None when the model's files cannot be read yet)."""
        try:
            folder = transformer_folder(resolve_model(settings.model, hub=settings.hub, revision=settings.revision,
                                                      offline=settings.offline, cache_dir=settings.model_cache_dir))
        except GteError:
            if self.limit is not None:
                raise
            return None  # Encoder.load reports the missing model properly
        # a look ahead: the load that follows logs what --precision auto chose, once
        _, precision = resolve_runtime(settings.device, settings.precision, spaces=settings.spaces, explain=False)
        need = estimate_bytes(folder, precision)
        name = spec.name or public_model_name(spec.source)
        if self.limit is not None and self.used + need > self.limit:
            held = ", ".join(self.loaded) or "nothing"
            raise ConfigError(
                f"loading {name} ({precision}) needs about {human_bytes(need)}; with {held} loaded "
                f"({human_bytes(self.used)}) that is over --max-memory {human_bytes(self.limit)}. "
                "Drop a model, choose int8 for one (NAME=SOURCE@int8), or raise --max-memory",
                f"加载 {name} 约需 {human_bytes(need)}，加上已加载的 {human_bytes(self.used)} 超过 "
                f"--max-memory {human_bytes(self.limit)}")
        self.used += need
        self.loaded.append(name)
        log.info("%s: estimated %s (%s)", name, human_bytes(need), precision)
        return need


_ZH_NAMES = {"text": "文本", "texts": "文本", "sentence A": "句子 A", "sentence B": "句子 B",
             "source": "源句子", "candidates": "候选句子", "query": "查询", "documents": "文档", "docs": "文档"}


def _zh(what: str) -> str:
    base, _, idx = what.partition("[")
    name = _ZH_NAMES.get(base, base)
    return f"{name}[{idx}" if idx else name


def _ms(t0: float) -> float:
    return round((time.perf_counter() - t0) * 1000.0, 2)
