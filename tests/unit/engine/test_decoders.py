"""Decoder embedders (Qwen3-Embedding, gte-Qwen2-instruct shapes) on tiny random models built here.

The reference is sentence-transformers on the same folder: last-token pooling, the same prompt,
left- and right-padded batches of mixed lengths, fp32, to 1e-5.
"""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
import torch
from decoder_kit import model_card_scores

from gte_ui.core.errors import ConfigError, GteError
from gte_ui.core.settings import Settings
from gte_ui.engine.encoder import Encoder
from gte_ui.engine.pooling import pool
from gte_ui.service.options import TextOptions
from gte_ui.service.service import EmbeddingService
from gte_ui.testing.decoder_model import ENDOFTEXT, QUERY_PROMPT, build_random_decoder

# mixed lengths (1 to ~20 tokens), Chinese and English, so every batch is padded
SENTENCES = ["这款手机电池续航很强", "好", "A man is playing a guitar on the stage tonight with his friends.",
             "手机电量很耐用", "电池容量大，用一天没问题", "今天天气很好，我们去公园散步吧", "Two dogs run.",
             "花呗怎么提前还款"]
TASK = "Given a question, retrieve passages that answer it"


@pytest.fixture(scope="session")
def qwen3_dir(tmp_path_factory):
    # the folder name carries "Qwen3-Embedding": the known list marks it trained for 32..width outputs
    return build_random_decoder(tmp_path_factory.mktemp("dec") / "Qwen3-Embedding-tiny", "qwen3", seed=1)


@pytest.fixture(scope="session")
def qwen2_dir(tmp_path_factory):
    return build_random_decoder(tmp_path_factory.mktemp("dec") / "gte-Qwen2-tiny", "qwen2", seed=2)


@pytest.fixture(scope="session")
def qwen3_encoder(qwen3_dir):
    return Encoder.load(Settings(model=str(qwen3_dir), device="cpu", precision="fp32", batch_size=3))


@pytest.fixture()
def qwen3_service(qwen3_encoder):
    return EmbeddingService(qwen3_encoder, Settings(model=str(qwen3_encoder.info.path), device="cpu", precision="fp32"))


def st_model(folder, side: str):
    from sentence_transformers import SentenceTransformer

    model = SentenceTransformer(str(folder), device="cpu")
    model.tokenizer.padding_side = side
    return model


# ------------------------------------------------------------------ tokenizer and loading
def test_tokenizer_is_a_real_bpe_that_appends_endoftext(qwen3_encoder):
    tok = qwen3_encoder.tokenizer
    ids = tok(["这款手机电池续航很强", "A man is playing a guitar."])["input_ids"]
    eos = tok.convert_tokens_to_ids(ENDOFTEXT)
    assert len(tok) >= 1000 and tok.padding_side == "left"
    assert all(row[-1] == eos and eos not in row[:-1] for row in ids)
    assert len(ids[0]) < 1 + len("这款手机电池续航很强".encode()) // 2  # real merges, not bytes
    assert tok.decode(ids[1][:-1]) == "A man is playing a guitar."
    assert qwen3_encoder.special_frame() == ([], [eos])


@pytest.mark.parametrize("family", ["qwen3", "qwen2"])
def test_model_facts(family, qwen3_dir, qwen2_dir):
    folder = qwen3_dir if family == "qwen3" else qwen2_dir
    enc = Encoder.load(Settings(model=str(folder), device="cpu", precision="fp32"))
    info = enc.info
    assert (info.pooling, info.decoder, info.dim, info.max_length) == ("lasttoken", True, 64, 512)
    assert not enc.backend.first_token_only  # the CLS-only last layer is for CLS pooling only
    assert info.prompts["prompts"]["query"] == QUERY_PROMPT and info.prompts["default_instruction"].startswith("Given a web")
    assert info.min_dimensions == (32 if family == "qwen3" else None)
    json.dumps(info.as_dict())  # /health serialises it


# ------------------------------------------------------------------ equal to sentence-transformers
@pytest.mark.parametrize("family", ["qwen3", "qwen2"])
@pytest.mark.parametrize("side", ["left", "right"])
@pytest.mark.parametrize("prompt_name", [None, "query"])
def test_vectors_equal_sentence_transformers(family, side, prompt_name, qwen3_dir, qwen2_dir):
    folder = qwen3_dir if family == "qwen3" else qwen2_dir
    enc = Encoder.load(Settings(model=str(folder), device="cpu", precision="fp32", batch_size=3))
    enc.pad_left = side == "left"
    service = EmbeddingService(enc, Settings(model=str(folder), cache_size=0))
    got = service.embed(SENTENCES, options=TextOptions(prompt_name=prompt_name)).vectors
    ref = st_model(folder, side).encode(SENTENCES, prompt_name=prompt_name, batch_size=4)
    assert got.shape == (len(SENTENCES), 64)
    np.testing.assert_allclose(got, ref, atol=1e-5)


def test_naive_last_column_would_be_wrong_under_right_padding(qwen3_encoder):
    """The comparison above can fail: reading the last column of a right-padded batch gives other vectors."""
    ids, _, _ = qwen3_encoder.tokenize(SENTENCES[:2])
    width = max(map(len, ids))
    batch = torch.full((2, width), qwen3_encoder._pad_id)
    mask = torch.zeros((2, width), dtype=torch.long)
    for i, row in enumerate(ids):
        batch[i, :len(row)] = torch.tensor(row)
        mask[i, :len(row)] = 1
    hidden = qwen3_encoder.backend.forward(batch, mask)
    right = pool(hidden, mask, "lasttoken")
    assert not torch.allclose(right[1], hidden[1, -1], atol=1e-3)  # row 1 ("好") is padded
    np.testing.assert_allclose(torch.nn.functional.normalize(right, dim=-1).numpy(),
                               qwen3_encoder.encode(SENTENCES[:2]).vectors, atol=1e-5)


# ------------------------------------------------------------------ instructions
def test_instruction_uses_the_models_template_and_is_shown(qwen3_service, qwen3_dir):
    prompt = f"Instruct: {TASK}\nQuery:"
    res = qwen3_service.embed(SENTENCES[:3], options=TextOptions(instruction=TASK))
    assert res.prompt == prompt
    ref = st_model(qwen3_dir, "left").encode(SENTENCES[:3], prompt=prompt)
    np.testing.assert_allclose(res.vectors, ref, atol=1e-5)
    assert res.token_counts[0] > qwen3_service.embed(SENTENCES[:1]).token_counts[0]  # the prompt is read


def test_pair_and_rank_prompt_the_query_side_only(qwen3_service, qwen3_dir):
    st = st_model(qwen3_dir, "left")
    pair = qwen3_service.pair(SENTENCES[0], SENTENCES[3], options=TextOptions(prompt_name="query"))
    q = st.encode([SENTENCES[0]], prompt_name="query")[0]
    d = st.encode([SENTENCES[3]])[0]
    assert pair.prompt == QUERY_PROMPT and pair.score == pytest.approx(float(q @ d), abs=1e-5)
    rank = qwen3_service.rank(SENTENCES[0], SENTENCES[1:5], options=TextOptions(instruction=TASK))
    q = st.encode([SENTENCES[0]], prompt=f"Instruct: {TASK}\nQuery:")[0]
    docs = st.encode(SENTENCES[1:5])
    np.testing.assert_allclose(rank.scores, docs @ q, atol=1e-5)
    assert rank.prompt.startswith("Instruct: " + TASK)
    bare = qwen3_service.pair(SENTENCES[0], SENTENCES[3])
    assert bare.prompt is None and abs(bare.score - pair.score) > 1e-4


def test_prompt_is_part_of_the_cache_key(qwen3_service):
    bare = qwen3_service.embed([SENTENCES[0]])
    prompted = qwen3_service.embed([SENTENCES[0]], options=TextOptions(prompt_name="query"))
    assert prompted.cached == 0 and not np.allclose(bare.vectors, prompted.vectors, atol=1e-4)
    again = qwen3_service.embed([SENTENCES[0]], options=TextOptions(prompt_name="query"))
    assert again.cached == 1 and np.array_equal(again.vectors, prompted.vectors)
    other = qwen3_service.embed([SENTENCES[0]], options=TextOptions(instruction=TASK))
    assert other.cached == 0 and not np.allclose(other.vectors, prompted.vectors, atol=1e-4)


@pytest.mark.parametrize("kwargs, fragment", [
    ({"prompt_name": "passage"}, "unknown prompt_name 'passage'; this model has: document, query"),
    ({"prompt_name": "query", "instruction": TASK}, "either prompt_name or instruction"),
    ({"instruction": "   "}, "instruction is empty"),
    ({"instruction": "x" * 1001}, "limit is 1,000"),
])
def test_bad_prompts_are_422(qwen3_service, kwargs, fragment):
    with pytest.raises(GteError, match=fragment) as info:
        qwen3_service.embed(["a"], options=TextOptions(**kwargs))
    assert info.value.status_code in (413, 422) and "/" in info.value.message  # bilingual


def test_a_model_without_prompts_refuses_them(tiny_service):
    for kwargs in ({"prompt_name": "query"}, {"instruction": TASK}):
        with pytest.raises(GteError, match="this model has no instruction prompts") as info:
            tiny_service.pair("今天天气很好", "我想借钱", options=TextOptions(**kwargs))
        assert info.value.status_code == 422


# ------------------------------------------------------------------ output dimensions
def test_dimensions_cut_and_renormalise_exactly(qwen3_service, qwen3_dir):
    full = qwen3_service.embed(SENTENCES[:4]).vectors
    cut = qwen3_service.embed(SENTENCES[:4], dimensions=32)
    head = full[:, :32]
    assert cut.vectors.shape == (4, 32) and cut.dimensions == 32 and cut.warnings == []
    np.testing.assert_array_equal(cut.vectors, (head / np.linalg.norm(head, axis=1, keepdims=True)).astype(np.float32))
    np.testing.assert_allclose(np.linalg.norm(cut.vectors, axis=1), 1.0, atol=1e-6)
    ref = st_model(qwen3_dir, "left").encode(SENTENCES[:4], truncate_dim=32, normalize_embeddings=True)
    np.testing.assert_allclose(cut.vectors, ref, atol=1e-5)
    for bad, fragment in ((16, "below 32, the smallest output this model was trained for"),
                          (65, "more than the model's 64"), (0, "positive integer")):
        with pytest.raises(GteError, match=fragment):
            qwen3_service.embed(["a"], dimensions=bad)


def test_models_not_trained_for_truncation_keep_the_warning(tiny_service, qwen2_dir):
    res = tiny_service.embed(["今天天气很好"], dimensions=8)
    assert res.vectors.shape == (1, 8) and "not trained for truncated outputs" in res.warnings[0]
    assert tiny_service.embed(["今天天气很好"], dimensions=32).warnings == []  # the full width: nothing lost
    qwen2 = EmbeddingService(Encoder.load(Settings(model=str(qwen2_dir), device="cpu", precision="fp32")))
    res = qwen2.embed(["今天天气很好"], dimensions=16)  # gte-Qwen2 is not Matryoshka-trained: any width, warned
    assert res.vectors.shape == (1, 16) and "not trained for truncated outputs" in res.warnings[0]


def test_matryoshka_dimensions_in_config_are_read(tmp_path):
    folder = build_random_decoder(tmp_path / "m", "qwen2", matryoshka=True)
    enc = Encoder.load(Settings(model=str(folder), device="cpu", precision="fp32"))
    assert enc.info.min_dimensions == 32


# ------------------------------------------------------------------ precision
def test_bf16_and_int8_run_decoders_and_say_how(qwen3_dir, qwen3_encoder):
    ref = qwen3_encoder.encode(SENTENCES).vectors
    bf16 = Encoder.load(Settings(model=str(qwen3_dir), device="cpu", precision="bf16"))
    assert bf16.info.precision == "bf16"
    assert float(np.min(np.sum(bf16.encode(SENTENCES).vectors * ref, axis=1))) > 0.98
    int8 = Encoder.load(Settings(model=str(qwen3_dir), device="cpu", precision="int8"))
    assert int8.info.backend == "torch-int8-accurate"
    assert "ONNX Runtime int8 export covers BERT-family encoders only" in int8.info.backend_note
    names = {type(m).__name__ for m in int8.backend.model.modules()}
    assert "W8A8Linear" in names
    assert all(isinstance(layer.mlp.down_proj, torch.nn.Linear) for layer in int8.backend.model.layers)  # kept fp32
    assert float(np.min(np.sum(int8.encode(SENTENCES).vectors * ref, axis=1))) > 0.98


def test_fp16_on_cpu_is_refused_with_the_choices(qwen3_dir):
    with pytest.raises(ConfigError, match="On CPU choose: fp32, int8 or bf16"):
        Encoder.load(Settings(model=str(qwen3_dir), device="cpu", precision="fp16"))


# ------------------------------------------------------------------ hub-hosted modelling code
MODELLING = '''
from transformers import BertConfig, BertModel


class ToyGteConfig(BertConfig):
    model_type = "toy-gte-remote"


class ToyGteModel(BertModel):
    config_class = ToyGteConfig
'''


@pytest.fixture()
def remote_code_dir(tiny_model_dir, tmp_path):
    folder = tmp_path / "remote-gte"
    shutil.copytree(tiny_model_dir, folder)
    cfg = json.loads((folder / "config.json").read_text())
    cfg.update(model_type="toy-gte-remote", architectures=["ToyGteModel"],
               auto_map={"AutoConfig": "modeling_toy.ToyGteConfig", "AutoModel": "modeling_toy.ToyGteModel"})
    (folder / "config.json").write_text(json.dumps(cfg))
    (folder / "modeling_toy.py").write_text(MODELLING)
    return folder


def test_remote_code_needs_the_flag_and_says_why(remote_code_dir):
    with pytest.raises(ConfigError) as info:
        Encoder.load(Settings(model=str(remote_code_dir), device="cpu", precision="fp32"))
    message = info.value.message
    assert "--trust-remote-code" in message and "modeling_toy.ToyGteModel" in message
    assert "runs with the server's permissions" in message


def test_remote_code_loads_with_the_flag(remote_code_dir, tiny_encoder):
    enc = Encoder.load(Settings(model=str(remote_code_dir), device="cpu", precision="fp32", trust_remote_code=True))
    assert type(enc.backend.model).__name__ == "ToyGteModel"
    np.testing.assert_allclose(enc.encode(SENTENCES).vectors, tiny_encoder.encode(SENTENCES).vectors, atol=1e-6)


def test_auto_map_on_a_type_transformers_knows_needs_no_flag(qwen2_dir, tmp_path):
    """gte-Qwen2-instruct ships modeling_qwen.py with an auto_map, though Qwen2 is native."""
    folder = tmp_path / "gte-qwen2-automap"
    shutil.copytree(qwen2_dir, folder)
    cfg = json.loads((folder / "config.json").read_text())
    cfg["auto_map"] = {"AutoModel": "modeling_qwen.Qwen2Model"}
    (folder / "config.json").write_text(json.dumps(cfg))
    enc = Encoder.load(Settings(model=str(folder), device="cpu", precision="fp32"))
    assert type(enc.backend.model).__name__ == "Qwen2Model" and enc.info.decoder


def test_trust_remote_code_setting_reads_flag_and_env():
    from gte_ui.core.settings import parse_settings

    assert parse_settings([], env={}).trust_remote_code is False
    assert parse_settings(["--trust-remote-code"], env={}).trust_remote_code is True
    assert parse_settings([], env={"GTE_TRUST_REMOTE_CODE": "1"}).trust_remote_code is True


# ------------------------------------------------------------------ long texts
def test_chunk_mode_frames_windows_with_endoftext(qwen3_dir):
    enc = Encoder.load(Settings(model=str(qwen3_dir), device="cpu", precision="fp32", max_length=16))
    short = enc.encode_chunked(["好"])
    np.testing.assert_allclose(short.vectors, enc.encode(["好"]).vectors, atol=1e-6)
    long = enc.encode_chunked(["今天天气很好，我们去公园散步吧。" * 6])
    assert long.chunks[0] > 1 and not long.truncated[0]


# ------------------------------------------------------------------ decoder reranker (Qwen3-Reranker)
# ------------------------------------------------- Qwen3-Reranker behind --reranker (every rerank route)
@pytest.fixture(scope="module")
def decoder_rerank_server(qwen3_reranker_dir, tmp_path_factory):
    from conftest import serve_app

    from gte_ui.testing.toymodel import build_random_bert

    embedder = build_random_bert(tmp_path_factory.mktemp("emb") / "tiny")
    settings = Settings(model=str(embedder), reranker=str(qwen3_reranker_dir), device="cpu", precision="fp32",
                        reranker_instruction=TASK, batch_size=2)
    with serve_app(settings) as server:
        yield server


def test_decoder_reranker_serves_every_rerank_route(decoder_rerank_server, qwen3_reranker_dir):
    import requests
    from cohere import ClientV2

    query, docs = SENTENCES[0], SENTENCES[1:]
    expected = model_card_scores(qwen3_reranker_dir, [(query, d) for d in docs], instruction=TASK)
    assert np.ptp(expected) > 1e-3
    url = decoder_rerank_server.url
    articles = requests.post(url + "/rerank", json={"query": query, "docs": docs}, timeout=60).json()
    assert articles["method"] == "cross-encoder"  # the --reranker stage, whatever kind of model
    np.testing.assert_allclose(articles["scores"], expected, atol=1e-5)
    tei = requests.post(url + "/rerank", json={"query": query, "texts": docs, "raw_scores": True}, timeout=60).json()
    best = np.argsort(-expected, kind="stable")
    assert [x["index"] for x in tei] == list(best)
    np.testing.assert_allclose([x["score"] for x in tei], np.log(expected / (1 - expected))[best], atol=1e-4)
    cohere = ClientV2(api_key="unused", base_url=url).rerank(model="any", query=query, documents=docs, top_n=2)
    assert [r.index for r in cohere.results] == list(best[:2])
    np.testing.assert_allclose([r.relevance_score for r in cohere.results], expected[best[:2]], atol=1e-5)
    health = requests.get(url + "/health", timeout=10).json()["reranker"]
    assert health["kind"] == "decoder yes/no" and health["architecture"] == "Qwen3ForCausalLM"
    assert health["instruction"] == TASK and health["model"] == qwen3_reranker_dir.name
    assert str(qwen3_reranker_dir) not in json.dumps(health)  # never the server's path


def test_decoder_reranker_on_the_about_tab_and_in_the_service(decoder_rerank_server, qwen3_reranker_dir):
    from gte_ui.frontends.ui.tabs.about import reranker_line
    from gte_ui.frontends.ui.tabs.rerank import summary, two_stage

    line = reranker_line(decoder_rerank_server.service)
    staged = two_stage(decoder_rerank_server.service, SENTENCES[0], SENTENCES[1:], top_k=2)
    assert staged.reranked is not None and len(staged.reranked.rows) == 2
    assert "Stage 2, decoder yes/no" in summary(staged)
    assert "Qwen3ForCausalLM (decoder yes/no)" in line and TASK in line
    r = decoder_rerank_server.service.rerank(SENTENCES[0], SENTENCES[1:3], method="cross-encoder")
    expected = model_card_scores(qwen3_reranker_dir, [(SENTENCES[0], d) for d in SENTENCES[1:3]], instruction=TASK)
    np.testing.assert_allclose(r.scores, expected, atol=1e-5)
    again = decoder_rerank_server.service.rerank(SENTENCES[0], SENTENCES[1:3], method="cross-encoder")
    assert again.cached == 2 and again.scores == r.scores
