"""The encoder on a real (tiny, random) BERT folder: loading, pooling, truncation, batching."""

from __future__ import annotations

import os
import shutil

import numpy as np
import pytest
import torch

from gte_ui.core.errors import ConfigError
from gte_ui.core.settings import Settings
from gte_ui.engine.encoder import Encoder

SENTENCES = ["这款手机电池续航很强", "手机电量很耐用", "这台设备待机时间久",
             "电池容量大，用一天没问题", "充电速度特别快", "今天天气很好，我们去公园散步吧", "好"]


def test_tokenizer_gives_real_ids_not_unk(tiny_encoder):
    ids = tiny_encoder.tokenize(["这款手机电池续航很强"])[0][0]
    unk = tiny_encoder.tokenizer.unk_token_id
    assert ids[0] == tiny_encoder.tokenizer.cls_token_id and ids[-1] == tiny_encoder.tokenizer.sep_token_id
    assert len(ids) == 12 and unk not in ids  # 10 characters, each its own token


def test_model_facts(tiny_encoder, tiny_model_dir):
    info = tiny_encoder.info
    assert (info.dim, info.pooling, info.device, info.precision) == (32, "cls", "cpu", "fp32")
    assert info.max_length == 128  # the model's own limit
    assert info.path == str(tiny_model_dir) and info.load_seconds > 0


def test_cls_pooling_and_normalisation_match_a_plain_transformers_forward(tiny_encoder, tiny_model_dir):
    from transformers import AutoModel, AutoTokenizer

    tok = AutoTokenizer.from_pretrained(tiny_model_dir)
    model = AutoModel.from_pretrained(tiny_model_dir).eval()
    batch = tok(SENTENCES[:3], padding=True, return_tensors="pt")
    with torch.no_grad():
        cls = model(**batch).last_hidden_state[:, 0]
    expected = torch.nn.functional.normalize(cls, dim=-1).numpy()
    got = tiny_encoder.encode(SENTENCES[:3]).vectors
    assert got.dtype == np.float32 and got.shape == (3, 32)
    np.testing.assert_allclose(got, expected, atol=1e-5)
    np.testing.assert_allclose(np.linalg.norm(got, axis=1), 1.0, atol=1e-6)


@pytest.mark.parametrize("precision", ["fp32", "bf16", "int8"])
def test_cls_pooling_computes_only_the_first_token_in_the_last_layer(tiny_model_dir, precision):
    """CLS pooling reads one token: the backend's last layer computes only that one, and the
    vectors are those of the unpruned model."""
    from transformers import AutoTokenizer

    from gte_ui.engine.backends.pytorch import FirstTokenLastLayer, TorchBackend

    enc = Encoder.load(Settings(model=str(tiny_model_dir), precision=precision, int8_engine="torch"))
    assert enc.backend.first_token_only
    assert isinstance(enc.backend.model.encoder.layer[-1], FirstTokenLastLayer)
    assert not isinstance(enc.backend.model.encoder.layer[0], FirstTokenLastLayer)
    full = TorchBackend(tiny_model_dir, precision=precision)
    assert not full.first_token_only
    batch = AutoTokenizer.from_pretrained(tiny_model_dir)(SENTENCES[:4], padding=True, return_tensors="pt")
    pruned = enc.backend.forward(batch["input_ids"], batch["attention_mask"])
    states = full.forward(batch["input_ids"], batch["attention_mask"])
    assert pruned.shape == (4, 1, 32) and states.shape == (4, batch["input_ids"].shape[1], 32)
    torch.testing.assert_close(pruned[:, 0].float(), states[:, 0].float(), atol=1e-5, rtol=1e-4)


def test_a_first_token_backend_refuses_mean_pooling(tiny_model_dir, tiny_encoder):
    with pytest.raises(ValueError, match="mean pooling needs every token"):
        Encoder(tiny_encoder.tokenizer, tiny_encoder.backend, pooling="mean", max_length=32)


def test_mixed_length_batches_equal_one_by_one(tiny_model_dir):
    enc = Encoder.load(Settings(model=str(tiny_model_dir), precision="fp32", batch_size=3))
    texts = SENTENCES + ["很长的句子" * 9, "the man is good"]
    batched = enc.encode(texts)
    assert enc.forward_calls == 3  # 9 texts in micro-batches of 3
    single = np.stack([enc.encode([t]).vectors[0] for t in texts])
    np.testing.assert_allclose(batched.vectors, single, atol=1e-5)


def test_same_text_twice_gives_identical_vectors(tiny_encoder):
    a = tiny_encoder.encode(["同一句话"]).vectors
    b = tiny_encoder.encode(["同一句话"]).vectors
    assert np.array_equal(a, b)


def test_truncation_at_small_max_length_is_reported(tiny_model_dir):
    enc = Encoder.load(Settings(model=str(tiny_model_dir), precision="fp32", max_length=8))
    long_text = "今天天气很好我们去公园"  # 11 characters -> 13 tokens with [CLS]/[SEP]
    out = enc.encode([long_text, "很好"])
    assert out.token_counts == [13, 4]
    assert out.truncated == [True, False]
    # Truncated = the first 6 characters; text beyond the cut does not change the vector.
    same_start = enc.encode(["今天天气很好我们去爬山吧"]).vectors[0]
    np.testing.assert_allclose(out.vectors[0], same_start, atol=1e-6)
    ids = enc.tokenize([long_text])[0][0]
    assert len(ids) == 8 and ids[-1] == enc.tokenizer.sep_token_id


def test_text_exactly_at_the_limit_is_not_flagged(tiny_model_dir):
    enc = Encoder.load(Settings(model=str(tiny_model_dir), precision="fp32", max_length=8))
    out = enc.encode(["今天天气很好"])  # 6 chars + 2 specials = 8
    assert out.token_counts == [8] and out.truncated == [False]


def test_max_length_above_model_limit_is_refused(tiny_model_dir):
    with pytest.raises(ConfigError, match="above this model's limit of 128 tokens"):
        Encoder.load(Settings(model=str(tiny_model_dir), precision="fp32", max_length=4096))


def test_empty_list(tiny_encoder):
    out = tiny_encoder.encode([])
    assert out.vectors.shape == (0, 32)


def test_broken_vocabulary_is_refused(tiny_model_dir, tmp_path):
    """transformers 5 can load a 5-token vocab silently; the loader must refuse it."""
    broken = tmp_path / "broken"
    shutil.copytree(tiny_model_dir, broken)
    (broken / "tokenizer.json").unlink()
    (broken / "tokenizer_config.json").unlink()
    (broken / "vocab.txt").write_text("[PAD]\n[UNK]\n[CLS]\n[SEP]\n[MASK]\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="has only 5 tokens"):
        Encoder.load(Settings(model=str(broken), precision="fp32"))


def test_int8_runs_and_stays_close_to_fp32(tiny_model_dir, tiny_encoder):
    enc8 = Encoder.load(Settings(model=str(tiny_model_dir), precision="int8",
                                  export_cache=os.environ["GTE_EXPORT_CACHE"]))
    assert enc8.info.precision == "int8"
    v32 = tiny_encoder.encode(SENTENCES).vectors
    v8 = enc8.encode(SENTENCES).vectors
    cos = (v32 * v8).sum(1)
    assert cos.min() > 0.95, cos


def test_one_call_takes_plain_tokenised_and_windowed_texts_in_order(tiny_encoder):
    """What the service's batcher hands the encoder: texts tokenised once (run as they are),
    chunked texts (``Windows``, embedded whole) and plain texts, in one call, in input order."""
    from gte_ui.engine.encoder import Windows

    long_text = "今天天气很好，我们去公园散步吧。" * 20  # over the tiny model's 128 tokens
    tokenized = tiny_encoder.tokenize_once([SENTENCES[0], long_text])
    assert [t.truncated for t in tokenized] == [False, True] and len(tokenized[1].ids) == tiny_encoder.max_length
    assert tokenized[0].unknown.tokens == 10 and tokenized[0].unknown.unknown == 0
    assert tokenized[0] == tiny_encoder.tokenize_once([SENTENCES[0]])[0] and len({*tokenized, *tokenized}) == 2
    mixed = tiny_encoder.encode([tokenized[0], Windows(long_text), SENTENCES[1], tokenized[1]])
    plain = tiny_encoder.encode([SENTENCES[0], SENTENCES[1], long_text])
    chunked = tiny_encoder.encode_chunked([long_text])
    assert np.array_equal(mixed.vectors[[0, 2, 3]], plain.vectors)  # bit-identical to tokenising in encode
    np.testing.assert_allclose(mixed.vectors[1], chunked.vectors[0], atol=1e-6)
    assert mixed.chunks == [1, chunked.chunks[0], 1, 1] and chunked.chunks[0] > 1
    assert mixed.token_counts == [plain.token_counts[0], chunked.token_counts[0], *plain.token_counts[1:]]
    weights = tiny_encoder.run_weights([tokenized[0], Windows(long_text), SENTENCES[1]])
    assert weights[0] == 12 and weights[1] > tiny_encoder.max_length and weights[2] == len(SENTENCES[1]) + 2
