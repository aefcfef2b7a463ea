"""The one tokenizer loader: the encoder loads it once and hands it to the backend it builds."""

from __future__ import annotations

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
