"""Every check a request passes before any model work: texts, counts, output widths, the work budget.

Written once here for every capability (pair, rank, embed, matrix, rerank, align) and every front
end; each raises a bilingual :class:`~gte_ui.core.errors.GteError` whose type the front ends turn
into a status (422 malformed, 413 too much work).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from gte_ui.core.errors import ErrorType, GteError
from gte_ui.core.settings import Settings
from gte_ui.core.textnorm import (
    clean_text,
    control_character,
    invisible_only,
    lone_surrogate,
)

#: characters no text may hold (422): how to find the first one, and what the answer says of it
_BAD_CHARACTERS = (
    (lone_surrogate, "a lone surrogate", "孤立的代理项",
     "it is not valid Unicode (half of a UTF-16 pair); send the whole character", "不是有效的 Unicode"),
    # docs/security.md promises a 4xx: NUL used to become a space, BEL and ESC reached the model
    (control_character, "a control character", "控制字符", "remove it (tabs and newlines are fine)",
     "请删除（制表符和换行可以保留）"),
)

_ZH_NAMES = {"text": "文本", "texts": "文本", "sentence A": "句子 A", "sentence B": "句子 B",
             "source": "源句子", "candidates": "候选句子", "query": "查询", "documents": "文档", "docs": "文档"}


def _zh(what: str) -> str:
    base, _, idx = what.partition("[")
    name = _ZH_NAMES.get(base, base)
    return f"{name}[{idx}" if idx else name


def check_text(text: object, what: str, max_chars: int) -> str:
    """Return the cleaned text or raise a specific :class:`GteError` naming ``what``."""
    if not isinstance(text, str):
        raise GteError(ErrorType.VALIDATION, f"{what} must be a string, got {type(text).__name__}",
                       f"{_zh(what)}必须是字符串")
    if len(text) > max_chars:
        raise GteError(ErrorType.TOO_LONG, f"{what} has {len(text):,} characters; the limit is {max_chars:,}",
                       f"{_zh(what)}有 {len(text):,} 个字符，超过上限 {max_chars:,}")
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


def check_texts(texts: object, what: str, limit: int, max_chars: int) -> list[str]:
    """Every text cleaned (:func:`check_text`, each named ``what[i]``), at most ``limit`` of them."""
    if isinstance(texts, str) or not isinstance(texts, Sequence):
        raise GteError(ErrorType.VALIDATION, f"{what} must be a list of strings", f"{_zh(what)}必须是字符串列表")
    if len(texts) == 0:
        raise GteError(ErrorType.EMPTY, f"no {what} given", f"没有提供{_zh(what)}")
    if len(texts) > limit:
        raise GteError(ErrorType.TOO_MANY, f"{len(texts):,} {what} given; the limit is {limit:,}",
                       f"{_zh(what)}数量 {len(texts):,} 超过上限 {limit:,}")
    return [check_text(t, f"{what}[{i}]", max_chars) for i, t in enumerate(texts)]


class TextChecks:
    """:func:`check_text` / :func:`check_texts` under one server's limits (``--max-chars``,
    ``--max-texts``)."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings

    def text(self, text: object, what: str = "text") -> str:
        return check_text(text, what, self.settings.max_chars)

    def texts(self, texts: object, what: str = "texts", limit: int | None = None) -> list[str]:
        return check_texts(texts, what, self.settings.max_texts if limit is None else limit, self.settings.max_chars)


def check_positive(value: object, name: str) -> int | None:
    """``top_k`` / ``top_n``: None, or a positive integer (422 otherwise)."""
    if value is not None and (not isinstance(value, int) or isinstance(value, bool) or value < 1):
        raise GteError(ErrorType.VALIDATION, f"{name} must be a positive integer, got {value!r}",
                       f"{name} 必须是正整数")
    return value


def check_dimensions(dimensions: object, dim: int, min_dimensions: int | None) -> int | None:
    """Validate an output width: ``min_dimensions``..dim for a model trained for truncation
    (Qwen3-Embedding: 32..width), 1..dim for the others (which lose quality: see
    :func:`dimension_warning`). Raises 422 naming the range."""
    if dimensions is None:
        return None
    floor = min_dimensions or 1
    if not isinstance(dimensions, int) or isinstance(dimensions, bool) or dimensions < 1:
        raise GteError(ErrorType.VALIDATION, f"dimensions must be a positive integer, got {dimensions!r}",
                       "dimensions 必须是正整数")
    if dimensions > dim:
        raise GteError(ErrorType.VALIDATION, f"dimensions={dimensions} is more than the model's {dim}",
                       f"dimensions={dimensions} 超过模型维度 {dim}")
    if dimensions < floor:
        raise GteError(ErrorType.VALIDATION,
                       f"dimensions={dimensions} is below {floor}, the smallest output this model was trained "
                       f"for; choose {floor} to {dim}", f"dimensions 不能小于 {floor}（可选 {floor}–{dim}）")
    return dimensions


def dimension_warning(dimensions: int | None, dim: int, min_dimensions: int | None) -> str | None:
    """Why truncating this model's vectors costs quality (None for Matryoshka-trained models)."""
    if dimensions is None or dimensions >= dim or min_dimensions:
        return None
    return (f"本模型未为截断训练：只取前 {dimensions} / {dim} 维会损失质量，使用前请先评估 / "
            f"this model was not trained for truncated outputs: its first {dimensions} of {dim} "
            "dimensions lose quality; measure before relying on them")


def refuse_over_budget(need: int, limit: int, what: str = "") -> None:
    """The one refusal of a request over ``--max-tokens-per-request`` (413), for every operation."""
    if need > limit:
        raise GteError(ErrorType.TOO_LARGE,
                       f"this request needs {need:,} tokens of model work{what}; "
                       f"one request may cost at most {limit:,} (--max-tokens-per-request): send fewer or "
                       "shorter texts, or split the request",
                       f"该请求需要 {need:,} 个词元的模型计算，超过单个请求上限 {limit:,}"
                       "（--max-tokens-per-request）：请减少或缩短文本，或拆分请求")


def check_work(texts: Sequence[str], *, chunked: bool, limit: int, max_length: int,
               weigh: Callable[..., int] | None) -> None:
    """Refuse a request whose model work is over ``--max-tokens-per-request`` (413), before any of
    it runs. Truncated texts are weighed free (at most ``max_length`` each) unless that bound is
    over the limit; chunked ones by their windows. ``weigh(texts, chunked=)`` counts tokens from
    heads of the texts (:meth:`~gte_ui.engine.encoder.Encoder.tokens_to_run`); without one (a
    remote encoder: Ray Serve) a character bound stands in."""
    if not chunked and len(texts) * max_length <= limit:
        return
    if weigh is not None:
        need = weigh(texts, chunked=chunked)
    else:
        step = max(1, (max_length - 2) * 3 // 4)
        need = sum(-(-len(t) // step) if chunked else 1 for t in texts) * max_length
    refuse_over_budget(need, limit, " (every window of its long texts)" if chunked else "")


def check_rerank_work(reranker, pairs: Sequence[tuple[str, str]], limit: int) -> None:
    """Refuse a rerank whose model work is over ``--max-tokens-per-request`` (413), before any of
    it runs: each pair's window, counted from heads of its texts (as the embedder's)."""
    if reranker is None or len(pairs) * reranker.max_length <= limit:
        return
    refuse_over_budget(reranker.tokens_to_run(pairs), limit, " (each query-document pair's window)")
