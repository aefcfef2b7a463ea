"""testing/decoder_model.py: random Qwen3 / Qwen2 embedders and a Qwen3-Reranker laid out as the
real ones ship (BPE tokenizer, sentence-transformers files), offline."""

from __future__ import annotations

import json

import pytest

from gte_ui.engine.pooling import read_pooling_mode
from gte_ui.engine.prompts import read_prompts
from gte_ui.testing.decoder_model import ENDOFTEXT, QUERY_PROMPT, build_random_decoder


@pytest.fixture(scope="module")
def qwen3(tmp_path_factory):
    return build_random_decoder(tmp_path_factory.mktemp("q3") / "Qwen3-Embedding-tiny", "qwen3")


def test_the_sentence_transformers_files_say_last_token_and_prompts(qwen3):
    assert read_pooling_mode(qwen3) == "lasttoken"
    prompts = read_prompts(qwen3)
    assert prompts.prompts == {"query": QUERY_PROMPT, "document": ""} and prompts.query_name == "query"
    assert json.loads((qwen3 / "config.json").read_text())["model_type"] == "qwen3"


def test_the_bpe_tokenizer_appends_endoftext_pads_left_and_knows_chinese(qwen3):
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(str(qwen3))
    ids = tok("这款手机电池续航很强")["input_ids"]
    assert ids[-1] == tok.convert_tokens_to_ids(ENDOFTEXT) and tok.padding_side == "left"
    assert tok.decode(ids[:-1]) == "这款手机电池续航很强"  # byte-level BPE: the text comes back whole
    assert len(ids) < len("这款手机电池续航很强".encode()) + 1  # real merges, not one token per byte


def test_qwen2_without_prompts_and_with_matryoshka(tmp_path):
    folder = build_random_decoder(tmp_path / "q2", "qwen2", with_prompts=False, matryoshka=True, max_length=64)
    cfg = json.loads((folder / "config.json").read_text())
    assert cfg["model_type"] == "qwen2" and cfg["matryoshka_dimensions"] == [32, 64]
    assert not read_prompts(folder).available
    assert json.loads((folder / "sentence_bert_config.json").read_text())["max_seq_length"] == 64


def test_unknown_family_or_shape(tmp_path):
    with pytest.raises(ValueError, match="unknown family 'llama'"):
        build_random_decoder(tmp_path / "x", "llama")
    with pytest.raises(ValueError, match="unknown shape 'huge'"):
        build_random_decoder(tmp_path / "y", "qwen3", "huge")


def test_the_reranker_has_single_yes_and_no_tokens_and_no_appended_eos(qwen3_reranker_dir):
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(str(qwen3_reranker_dir))
    assert tok("yes", add_special_tokens=True)["input_ids"] == [tok.convert_tokens_to_ids("yes")]
    assert tok("no")["input_ids"] == [tok.convert_tokens_to_ids("no")]
    assert json.loads((qwen3_reranker_dir / "config.json").read_text())["architectures"] == ["Qwen3ForCausalLM"]
