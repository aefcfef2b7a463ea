"""Unknown-token inspection: what share of each text the model's vocabulary cannot read, and the
one wording of the warning every tab, route and subcommand shows about it."""

from __future__ import annotations

from collections.abc import Sequence

from gte_ui.engine.inspection import UnknownTokens, unknown_tokens
from gte_ui.service.served import Served


def report_unknown(model: Served, report: Sequence[UnknownTokens], labels: Sequence[tuple[str, str]] | None = None,
                   *, name: str | None = None) -> tuple[list[float], list[str]]:
    """:func:`unknown_report` under ``model``'s name (or ``name``) and its ``--unknown-warn``."""
    return unknown_report(report, name or model.name, model.settings.unknown_warn, labels)


def report_unknown_texts(model: Served, texts: Sequence[str], labels: Sequence[tuple[str, str]] | None = None, *,
                         tokenizer=None, name: str | None = None) -> tuple[list[float], list[str]]:
    """:func:`report_unknown` of ``texts`` as ``model`` reads them (its tokenizer, the tokens it
    reads of each), or as another model does (``tokenizer`` and ``name``: the reranker's, which
    reads whole pairs, so whole texts are inspected)."""
    limit = None if tokenizer is not None else getattr(model.encoder, "room", model.encoder.max_length)
    return report_unknown(model, unknown_tokens(tokenizer or model.encoder.tokenizer, texts, limit), labels, name=name)


def unknown_report(report: Sequence[UnknownTokens], model: str, threshold: float,
                   labels: Sequence[tuple[str, str]] | None = None) -> tuple[list[float], list[str]]:
    """Per text, the share of tokens the vocabulary does not know; and at most one warning
    (:func:`unknown_warning`) naming the texts above ``threshold`` (``--unknown-warn``) and the
    characters. ``labels``: each text's (中文, English) name (default 文本 i / text i)."""
    labels = labels or [(f"文本 {i + 1}", f"text {i + 1}") for i in range(len(report))]
    over = [(label, u) for label, u in zip(labels, report) if u.tokens and u.ratio > threshold]
    warning = unknown_warning(model, [(label, u.ratio) for label, u in over],
                              [c for _, u in over for c in u.characters])
    return [round(u.ratio, 4) for u in report], [warning] if warning else []


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
