"""The one tokenizer loader: the encoder loads it once and hands it to the backend it builds."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from gte_ui.core.errors import ConfigError


def load_tokenizer(folder: Path, trust_remote_code: bool = False):
    """``AutoTokenizer`` for the folder, checked to have a real vocabulary.

    transformers 5 can silently build a 5-token vocabulary (every text -> [UNK]); that would give
    meaningless but plausible-looking scores, so it is refused here.
    """
    # heavy: transformers takes seconds to import, so it loads with the first model, not the module
    from transformers import AutoTokenizer

    try:
        tokenizer = AutoTokenizer.from_pretrained(str(folder), trust_remote_code=trust_remote_code)
    except Exception as exc:
        raise ConfigError(f"cannot load the tokenizer from {folder}: {exc}",
                          f"无法从 {folder} 加载分词器") from exc
    if len(tokenizer) < 100:
        raise ConfigError(
            f"the tokenizer in {folder} has only {len(tokenizer)} tokens; its vocabulary did not load "
            "(every text would become [UNK]). Check tokenizer.json / vocab.txt.",
            f"{folder} 的分词器词表只有 {len(tokenizer)} 个词，加载失败")
    return tokenizer


#: characters tokenised first per token a model reads: a head of 2 x max_length characters holds
#: the whole window for Chinese (about a token per character); English needs a longer head, so
#: heads grow 4x until they hold the window (or are the whole text)
HEAD_CHARS_PER_TOKEN = 2
HEAD_GROWTH = 4


def cut_head(text: str, chars: int) -> str:
    """The first ``chars`` characters of ``text``, ended at whitespace when the last quarter of them
    has some (every tokenizer ends a word there, so the tokens before the cut are exactly those of
    the whole text). Tokenising a head costs what the head costs, not what the whole text costs:
    a 20,000-character text tokenised whole took 0.1 s on a 2-core box (docs/performance.md)."""
    if len(text) <= chars:
        return text
    for at in range(chars, chars - chars // 4, -1):
        if text[at].isspace():
            return text[:at]
    return text[:chars]


@dataclass(frozen=True)
class UnknownTokens:
    """How much of one text the vocabulary does not know."""

    tokens: int  # content tokens (special tokens such as [CLS] / [SEP] not counted)
    unknown: int  # of which map to the unknown token
    characters: tuple[str, ...]  # the distinct texts behind the unknown tokens, in order of first use

    @property
    def ratio(self) -> float:
        return self.unknown / self.tokens if self.tokens else 0.0


def count_unknown(text: str, ids: Sequence[int], offsets: Sequence[tuple[int, int]], unk: int | None) -> UnknownTokens:
    """The :class:`UnknownTokens` of ``text`` from its token ``ids`` and their character ``offsets``."""
    seen: dict[str, None] = {}
    n_unk = 0
    for tid, (start, end) in zip(ids, offsets):
        if unk is not None and tid == unk:
            n_unk += 1
            seen.setdefault(text[start:end] if end > start else "?", None)
    return UnknownTokens(tokens=len(ids), unknown=n_unk, characters=tuple(seen))


def head_token_ids(tokenizer, texts: Sequence[str], keep: int, *,
                   unknown: list[UnknownTokens] | None = None) -> tuple[list[list[int]], list[int]]:
    """Each text's first ``keep`` token ids (no special tokens), exactly those of the whole text,
    and its token count, from a head of the text only (:func:`cut_head`, grown until it holds
    ``keep`` tokens that are surely the whole text's). The count is exact when the whole text was
    tokenised and estimated from its characters (the head's tokens per character) past the head,
    where it is always above ``keep``: ``count > keep`` says exactly whether the text is cut.
    A slow (pure Python) tokenizer cannot say which tokens are whole words: it tokenises whole texts.

    ``unknown``, a list, receives each text's :class:`UnknownTokens` over its ``keep`` tokens,
    read off the same tokenisation (a fast tokenizer's offsets), so inspecting costs no second pass.
    """
    texts = list(texts)
    ids: list[list[int]] = [[] for _ in texts]
    counts = [0] * len(texts)
    todo = list(range(len(texts)))
    chars = HEAD_CHARS_PER_TOKEN * max(1, keep) if getattr(tokenizer, "is_fast", False) else None
    found: list[UnknownTokens | None] = [None] * len(texts)
    while todo:
        heads = [cut_head(texts[i], chars) if chars else texts[i] for i in todo]
        enc = tokenizer(heads, add_special_tokens=False, truncation=False, verbose=False,
                        **({"return_offsets_mapping": True} if unknown is not None else {}))
        later = []
        for k, (i, part) in enumerate(zip(todo, heads)):
            body = enc["input_ids"][k]
            whole = len(part) == len(texts[i])
            if not whole:
                # the head may end inside a word, whose tokens can differ from the whole text's;
                # every earlier word's tokens are the whole text's own
                words = enc.word_ids(k)
                sure = len(words)
                while sure and words[sure - 1] == words[-1]:
                    sure -= 1
                if sure <= keep:
                    later.append(i)  # the head is too short to hold the window: a longer one next round
                    continue
            ids[i] = list(body[:keep])
            if unknown is not None:
                found[i] = count_unknown(part, ids[i], enc["offset_mapping"][k][:keep], tokenizer.unk_token_id)
            counts[i] = len(body) if whole else max(len(body), round(len(body) * len(texts[i]) / max(1, len(part))))
        todo = later
        chars = chars * HEAD_GROWTH if chars else None
    if unknown is not None:
        unknown.extend(u for u in found if u is not None)
    return ids, counts
