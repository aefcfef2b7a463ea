"""engine/tokenizer.py: the one tokenizer loader (refusing an empty vocabulary) and head-only
tokenising of long texts, which must give exactly the whole text's first tokens."""

from __future__ import annotations

import pytest

from gte_ui.core.errors import ConfigError
from gte_ui.engine.tokenizer import cut_head, head_token_ids, load_tokenizer
from gte_ui.testing.toymodel import save_tokenizer

LONG_ZH = "今天天气很好，我们去公园散步吧。" * 40
LONG_EN = "the phone battery is good and the man is good " * 60


@pytest.fixture(scope="module")
def tokenizer(tiny_model_dir):
    return load_tokenizer(tiny_model_dir)


def test_loads_the_folders_fast_tokenizer(tokenizer):
    assert tokenizer.is_fast and len(tokenizer) > 100
    assert tokenizer.convert_ids_to_tokens(tokenizer("手机")["input_ids"]) == ["[CLS]", "手", "机", "[SEP]"]


def test_a_vocabulary_that_did_not_load_is_refused(tmp_path):
    save_tokenizer(tmp_path, ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "好"], model_max_length=16)
    with pytest.raises(ConfigError, match="has only 6 tokens; its vocabulary did not load"):
        load_tokenizer(tmp_path)


def test_a_folder_without_a_tokenizer_is_a_config_error(tmp_path):
    with pytest.raises(ConfigError, match="cannot load the tokenizer"):
        load_tokenizer(tmp_path)


def test_cut_head_ends_at_whitespace_in_the_last_quarter():
    assert cut_head("short", 10) == "short"
    assert cut_head("aaaaaaaaa bbbbbbbbb", 10) == "aaaaaaaaa"  # a space at 9: in the last quarter, cut there
    assert cut_head("aaaaaaa bbbbbbbbb", 10) == "aaaaaaa bb"  # a space at 7 is too early: a plain cut
    assert cut_head("今天天气很好我们去公园散步", 5) == "今天天气很"  # no whitespace: a plain cut


@pytest.mark.parametrize("keep", [1, 7, 60, 500])
def test_head_ids_are_the_whole_texts_first_tokens(tokenizer, keep):
    texts = [LONG_ZH, LONG_EN, "好", "电池 续航"]
    ids, counts = head_token_ids(tokenizer, texts, keep)
    for text, got, count in zip(texts, ids, counts):
        whole = tokenizer(text, add_special_tokens=False)["input_ids"]
        assert got == whole[:keep]
        assert (count > keep) == (len(whole) > keep)  # says exactly whether the text is cut
        if len(whole) <= keep:
            assert count == len(whole)  # whole texts are counted exactly
