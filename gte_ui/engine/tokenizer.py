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
