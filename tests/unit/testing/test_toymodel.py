"""testing/toymodel.py: random BERT / cross-encoder folders that load like real models, with a
real vocabulary (transformers 5 can silently load a 5-token one), seeded and reproducible."""

from __future__ import annotations

import json

import pytest
import torch

from gte_ui.testing import toymodel
from gte_ui.testing.toymodel import (
    build_random_bert,
    build_random_cross_encoder,
    cached_build,
    chinese_vocab,
)


def test_vocab_is_real_and_has_no_duplicates():
    vocab = chinese_vocab()
    assert vocab[:5] == toymodel.SPECIAL_TOKENS and len(vocab) == len(set(vocab)) > 500
    assert {"电", "池", "手", "机", "##a", "phone"} <= set(vocab)


def test_the_tiny_bert_loads_with_its_shape_and_tokenises_chinese(tiny_model_dir):
    from transformers import AutoModel, AutoTokenizer

    tok = AutoTokenizer.from_pretrained(str(tiny_model_dir))
    assert len(tok) == len(chinese_vocab()) and tok.unk_token_id not in tok("这款手机电池续航很强")["input_ids"]
    model = AutoModel.from_pretrained(str(tiny_model_dir))
    cfg = model.config
    assert (cfg.hidden_size, cfg.num_hidden_layers, cfg.vocab_size) == (32, 2, len(tok))
    assert json.loads((tiny_model_dir / "gte_ui_toymodel.json").read_text()) == {"shape": "tiny", "seed": 0}


def test_the_same_seed_gives_the_same_weights_and_another_seed_others(tmp_path, tiny_model_dir):
    from safetensors.torch import load_file

    again = load_file(str(build_random_bert(tmp_path / "again", "tiny", seed=0) / "model.safetensors"))
    other = load_file(str(build_random_bert(tmp_path / "other", "tiny", seed=1) / "model.safetensors"))
    first = load_file(str(tiny_model_dir / "model.safetensors"))
    name = "embeddings.word_embeddings.weight"
    assert torch.equal(first[name], again[name]) and not torch.equal(first[name], other[name])


def test_max_length_and_unknown_shapes(tmp_path):
    from transformers import AutoTokenizer

    folder = build_random_bert(tmp_path / "m", "tiny", max_length=16)
    assert AutoTokenizer.from_pretrained(str(folder)).model_max_length == 16
    with pytest.raises(ValueError, match="unknown shape 'huge'"):
        build_random_bert(tmp_path / "x", "huge")
    with pytest.raises(ValueError, match="unknown cross-encoder shape"):
        build_random_cross_encoder(tmp_path / "y", "huge")


def test_cross_encoders_score_pairs_with_one_logit(tiny_reranker_dir, tmp_path):
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    tok = AutoTokenizer.from_pretrained(str(tiny_reranker_dir))
    enc = tok("电池", "续航", return_tensors="pt")
    assert enc["token_type_ids"][0].tolist() == [0, 0, 0, 0, 1, 1, 1]  # BERT's segment ids: [CLS] 电 池 [SEP] 续 航 [SEP]
    logits = AutoModelForSequenceClassification.from_pretrained(str(tiny_reranker_dir))(**enc).logits
    assert logits.shape == (1, 1)
    xlmr = build_random_cross_encoder(tmp_path / "x", "tiny-xlmr")
    tok = AutoTokenizer.from_pretrained(str(xlmr))
    ids = tok("电池", "天气")["input_ids"]
    assert tok.convert_ids_to_tokens(ids) == ["<s>", "▁电", "池", "</s>", "</s>", "▁天", "气", "</s>"]
    assert tok.unk_token_id not in ids


def test_cached_build_builds_once_in_the_bench_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("GTE_BENCH_CACHE", str(tmp_path))
    built = []

    def build(folder):
        built.append(folder)
        folder.mkdir(parents=True)
        (folder / "model.safetensors").write_bytes(b"x")

    assert cached_build("m", "model", build) == tmp_path / "m"
    assert cached_build("m", "model", build) == tmp_path / "m" and built == [tmp_path / "m"]
