"""The one service every front end calls: UI callbacks, HTTP routes, the CLI and serverless.

:class:`EmbeddingService` owns the encoder and the cache, validates input before any model work,
and returns plain dataclasses. It raises :class:`~gte_ui.core.errors.GteError` for anything the
caller did wrong; front ends turn that into a UI warning or an HTTP status.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np

from gte_ui.core.bands import load_bands
from gte_ui.engine.batching import DynamicBatcher
from gte_ui.engine.cache import CachedVector, EmbeddingCache, make_key
from gte_ui.core.settings import LONG_TEXT_MODES, Settings
from gte_ui.engine.encoder import Encoded, Encoder, ModelInfo
from gte_ui.core.errors import ErrorType, GteError
from gte_ui.core.textnorm import NO_NORM, TextNorm, clean_text
from gte_ui.core.scoring import (Verdict, VerdictBands, cosine_matrix, rank_order, to_percent, verdict)


# ---------------------------------------------------------------- results
@dataclass
class EmbedResult:
    """Vectors [n, dim] float32 (L2-normalised) in input order, with per-text facts."""

    vectors: np.ndarray
    texts: list[str]
    token_counts: list[int]
    truncated: list[bool]
    chunks: list[int]
    cached: int  # how many came from the cache
    elapsed_ms: float
    max_length: int | None = None  # tokens the model reads per text at most
    prompt: str | None = None  # put before every text (instruction models), shown for reproducibility
    dimensions: int | None = None  # vectors cut to this many dimensions and re-normalised
    warnings: list[str] = field(default_factory=list)

    @property
    def total_tokens(self) -> int:
        """Tokens the model actually read (after truncation): the ``usage`` of an API call."""
        if self.max_length is None:
            return int(sum(self.token_counts))
        return int(sum(n if c > 1 else min(n, self.max_length)
                       for n, c in zip(self.token_counts, self.chunks)))


@dataclass
class PairResult:
    score: float  # cosine, [-1, 1]
    percent: float  # 0–100, what the gauge shows
    verdict: Verdict
    tokens_a: int
    tokens_b: int
    truncated_a: bool
    truncated_b: bool
    elapsed_ms: float
    bands: VerdictBands
    prompt: str | None = None  # put before sentence A (the query side); B is bare


@dataclass
class RankRow:
    rank: int  # 1-based
    index: int  # position in the candidates as given (0-based)
    text: str
    score: float
    percent: float
    verdict: Verdict
    tokens: int
    truncated: bool
    duplicate: bool  # the same text appears earlier in the candidates


@dataclass
class RankResult:
    source: str
    source_tokens: int
    source_truncated: bool
    rows: list[RankRow]  # best first, at most top_k
    total: int  # candidates scored
    elapsed_ms: float
    scores: list[float] = field(default_factory=list)  # every score, in candidate order
    prompt: str | None = None  # put before the source (the query side); candidates are bare


@dataclass
class MatrixResult:
    texts: list[str]
    scores: np.ndarray  # [n, n]
    token_counts: list[int]
    truncated: list[bool]
    elapsed_ms: float


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
                 bands: VerdictBands | None = None) -> None:
        self.encoder = encoder
        self.settings = settings or Settings()
        self.cache = EmbeddingCache(self.settings.cache_size, self.settings.cache_bytes)
        self.runner = runner or encoder.encode
        self.bands = bands or default_bands(self.settings)
        info = encoder.info
        self._key_prefix = f"{info.path}|{info.precision}|{info.backend}|{encoder.max_length}"
        self.started = time.time()

    @classmethod
    def from_settings(cls, settings: Settings, *, batching: bool = True) -> EmbeddingService:
        """Load the model and, unless ``batching=False``, put the dynamic batcher in front of it."""
        encoder = Encoder.load(settings)
        runner = None
        if batching:
            runner = DynamicBatcher(encoder.encode, max_batch=settings.batch_size * 4,
                                    wait_ms=settings.batch_wait_ms, max_queue=settings.max_queue)
        return cls(encoder, settings, runner=runner)

    def close(self) -> None:
        """Stop the batcher's worker thread (if any)."""
        close = getattr(self.runner, "close", None)
        if close is not None:
            close()

    # ------------------------------------------------------------ facts
    @property
    def info(self) -> ModelInfo:
        return self.encoder.info

    @property
    def dim(self) -> int:
        return self.encoder.dim

    def stats(self) -> dict[str, object]:
        batcher = {k: getattr(self.runner, k) for k in ("batches", "requests", "pending")
                   if hasattr(self.runner, k)}
        return {"cache": self.cache.stats(), "forward_calls": self.encoder.forward_calls,
                "texts_encoded": self.encoder.texts_encoded, "batcher": batcher,
                "uptime_s": round(time.time() - self.started, 1)}

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
        cleaned = clean_text(text)
        if not cleaned:
            raise GteError(ErrorType.EMPTY, f"{what} is empty", f"{_zh(what)}为空")
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
    def prompt_for(self, prompt_name: str | None = None, instruction: str | None = None) -> str | None:
        """The prompt put before query-side texts: a named one of the model's prompts, the
        model's template around a caller's ``instruction``, or the model's default (usually none).

        Raises:
            GteError: 422 for a model without prompts, an unknown name, both given, an empty one.
        """
        return self.encoder.prompts.resolve(prompt_name, instruction, side="query")

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
        return (f"this model was not trained for truncated outputs: its first {dimensions} of {self.dim} "
                "dimensions lose quality; measure before relying on them")

    # ------------------------------------------------------------ operations
    def embed(self, texts: Sequence[str], *, limit: int | None = None, what: str = "texts",
              norm: TextNorm | None = None, long_text: str | None = None,
              prompt_name: str | None = None, instruction: str | None = None,
              dimensions: int | None = None) -> EmbedResult:
        """Vectors for ``texts`` (validated, cached, deduplicated within the request).

        Args:
            norm: optional text normalisation (繁→简, NFKC, whitespace); the cache keys on its result.
            long_text: "truncate" (cut at max_length) or "chunk" (sliding windows, averaged);
                default: the server's ``--long-text``.
            prompt_name, instruction: a prompt before every text (instruction models only; see
                :meth:`prompt_for`); the result says which.
            dimensions: keep the first N dimensions and re-normalise (see :meth:`check_dimensions`).
        """
        t0 = time.perf_counter()
        texts = self.check_texts(texts, what, limit)
        prompt = self.prompt_for(prompt_name, instruction)
        dimensions = self.check_dimensions(dimensions)
        res = self._embed_clean(texts, t0, norm, long_text, prompt=prompt)
        if dimensions is not None and dimensions < self.dim:
            cut = res.vectors[:, :dimensions]
            res.vectors = (cut / np.maximum(np.linalg.norm(cut, axis=1, keepdims=True), 1e-12)).astype(np.float32)
            res.dimensions = dimensions
            warning = self.dimension_warning(dimensions)
            if warning:
                res.warnings.append(warning)
        return res

    def _embed_clean(self, texts: list[str], t0: float, norm: TextNorm | None = None,
                     long_text: str | None = None, prompt: str | None = None,
                     prompted: int | None = None) -> EmbedResult:
        """Embed validated texts; ``prompt`` goes before the first ``prompted`` texts (all when None)."""
        mode = long_text or self.settings.long_text
        if mode not in LONG_TEXT_MODES:
            raise GteError(ErrorType.VALIDATION, f"long_text must be one of {', '.join(LONG_TEXT_MODES)}, got {mode!r}",
                           f"long_text 取值无效：{mode!r}")
        norm = norm or NO_NORM
        if norm.active:
            texts = [norm.apply(t) or t for t in texts]
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
        cached = len(found)
        if missing:
            enc = self.encoder.encode_chunked(missing) if mode == "chunk" else self.runner(missing)
            for i, text in enumerate(missing):
                item = CachedVector(np.array(enc.vectors[i], dtype=np.float32), enc.token_counts[i],
                                    enc.truncated[i], enc.chunks[i])
                found[text] = item
                self.cache.put(make_key(prefix, text), item)
        items = [found[t] for t in texts]
        vectors = np.stack([it.vector for it in items]) if items else np.zeros((0, self.dim), np.float32)
        return EmbedResult(vectors=vectors, texts=shown, token_counts=[it.token_count for it in items],
                           truncated=[it.truncated for it in items], chunks=[it.chunks for it in items],
                           cached=cached, elapsed_ms=_ms(t0), max_length=self.encoder.max_length,
                           prompt=prompt)

    def pair(self, a: str, b: str, *, norm: TextNorm | None = None, long_text: str | None = None,
             prompt_name: str | None = None, instruction: str | None = None) -> PairResult:
        """Cosine similarity of two texts, with its verdict. ``prompt_name`` / ``instruction``
        (instruction models): the prompt goes before A, the query side; B stays bare."""
        t0 = time.perf_counter()
        a = self.check_text(a, "sentence A")
        b = self.check_text(b, "sentence B")
        prompt = self.prompt_for(prompt_name, instruction)
        res = self._embed_clean([a, b], t0, norm, long_text, prompt=prompt, prompted=1)
        score = float(np.clip(np.dot(res.vectors[0], res.vectors[1]), -1.0, 1.0))
        return PairResult(score=score, percent=to_percent(score), verdict=verdict(score, self.bands),
                          tokens_a=res.token_counts[0], tokens_b=res.token_counts[1],
                          truncated_a=res.truncated[0], truncated_b=res.truncated[1],
                          elapsed_ms=_ms(t0), bands=self.bands, prompt=prompt)

    def rank(self, source: str, candidates: Sequence[str], top_k: int | None = None, *,
             norm: TextNorm | None = None, long_text: str | None = None,
             prompt_name: str | None = None, instruction: str | None = None) -> RankResult:
        """Score every candidate against ``source`` and sort, best first (ties keep input order).
        ``prompt_name`` / ``instruction`` (instruction models): the prompt goes before the
        source, the query side; candidates stay bare."""
        t0 = time.perf_counter()
        source = self.check_text(source, "source")
        cands = self.check_texts(candidates, "candidates", self.settings.max_candidates)
        if top_k is not None and (not isinstance(top_k, int) or isinstance(top_k, bool) or top_k < 1):
            raise GteError(ErrorType.VALIDATION, f"top_k must be a positive integer, got {top_k!r}",
                           "top_k 必须是正整数")
        prompt = self.prompt_for(prompt_name, instruction)
        res = self._embed_clean([source] + cands, t0, norm, long_text, prompt=prompt, prompted=1)
        scores = np.clip(res.vectors[1:] @ res.vectors[0], -1.0, 1.0)
        seen: set[str] = set()
        duplicate = []
        for c in cands:
            duplicate.append(c in seen)
            seen.add(c)
        order = rank_order(scores)
        if top_k is not None:
            order = order[:top_k]
        rows = [RankRow(rank=r + 1, index=int(i), text=cands[i], score=float(scores[i]),
                        percent=to_percent(scores[i]), verdict=verdict(float(scores[i]), self.bands),
                        tokens=res.token_counts[i + 1], truncated=res.truncated[i + 1],
                        duplicate=duplicate[i])
                for r, i in enumerate(order)]
        return RankResult(source=source, source_tokens=res.token_counts[0],
                          source_truncated=res.truncated[0], rows=rows, total=len(cands),
                          elapsed_ms=_ms(t0), scores=[float(s) for s in scores], prompt=prompt)

    def matrix(self, texts: Sequence[str], *, norm: TextNorm | None = None,
               long_text: str | None = None) -> MatrixResult:
        """N x N cosine matrix of ``texts`` (2 <= N <= max_matrix)."""
        t0 = time.perf_counter()
        texts = self.check_texts(texts, "texts", self.settings.max_matrix)
        if len(texts) < 2:
            raise GteError(ErrorType.VALIDATION, "the matrix needs at least 2 texts", "矩阵至少需要 2 条文本")
        res = self._embed_clean(texts, t0, norm, long_text)
        return MatrixResult(texts=texts, scores=cosine_matrix(res.vectors), token_counts=res.token_counts,
                            truncated=res.truncated, elapsed_ms=_ms(t0))


def default_bands(settings: Settings) -> VerdictBands:
    """Verdict bands: ``--verdict-high/--verdict-mid`` > the model's calibration file > SPEC's 0.75 / 0.50."""
    calibrated = load_bands(settings.model)
    if settings.verdict_high is None and settings.verdict_mid is None:
        return calibrated or VerdictBands()
    base = calibrated or VerdictBands()
    high = settings.verdict_high if settings.verdict_high is not None else base.high
    mid = settings.verdict_mid if settings.verdict_mid is not None else min(base.mid, high - 0.01)
    return VerdictBands(high=high, mid=mid, source="settings")


_ZH_NAMES = {"text": "文本", "texts": "文本", "sentence A": "句子 A", "sentence B": "句子 B",
             "source": "源句子", "candidates": "候选句子"}


def _zh(what: str) -> str:
    base, _, idx = what.partition("[")
    name = _ZH_NAMES.get(base, base)
    return f"{name}[{idx}" if idx else name


def _ms(t0: float) -> float:
    return round((time.perf_counter() - t0) * 1000.0, 2)
