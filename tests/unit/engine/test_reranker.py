"""Reranking: tiny random cross-encoders (BERT and XLM-R, real tokenizers) equal
sentence-transformers' ``CrossEncoder.predict`` through the engine and every front end; int8
within its bound; every route's bad input answers a specific 4xx; no reranker → embedding, said so."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import requests
from conftest import LiveServer
from rerank_kit import DOCS, QUERY, TW_DOCS, TW_QUERY, ZH_DOCS, crossencoder_scores


@pytest.fixture(scope="session", params=["tiny-bert", "tiny-xlmr"])
def ce_dir(request, tmp_path_factory) -> Path:
    from gte_ui.testing.toymodel import build_random_cross_encoder

    return build_random_cross_encoder(tmp_path_factory.mktemp(request.param), request.param, seed=1)


@pytest.fixture(scope="session")
def bert_ce_dir(tmp_path_factory) -> Path:
    from gte_ui.testing.toymodel import build_random_cross_encoder

    return build_random_cross_encoder(tmp_path_factory.mktemp("tiny-bert-ce"), "tiny-bert", seed=1)


# ------------------------------------------------------------------ engine
def test_tokenizers_give_real_ids(ce_dir):
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(str(ce_dir))
    ids = tok(QUERY, DOCS[0])["input_ids"]
    unk = tok.unk_token_id
    assert len(tok) > 500 and len(ids) > 10 and ids.count(unk) == 0
    assert len(set(ids)) > 8  # distinct characters map to distinct ids, not one fallback id


def test_engine_equals_crossencoder_fp32(ce_dir):
    from gte_ui.core.settings import Settings
    from gte_ui.engine.reranker import Reranker, sigmoid

    reranker = Reranker.load(Settings(reranker=str(ce_dir), device="cpu", precision="fp32", batch_size=2))
    enc = reranker.score([(QUERY, d) for d in DOCS])
    np.testing.assert_allclose(sigmoid(enc.vectors[:, 0]), crossencoder_scores(ce_dir, QUERY, DOCS), atol=1e-5)
    np.testing.assert_allclose(enc.vectors[:, 0], crossencoder_scores(ce_dir, QUERY, DOCS, raw=True), atol=1e-5)
    assert enc.truncated == [False] * 5 + [True]
    assert enc.token_counts[-1] > reranker.max_length == 128
    assert reranker.forward_calls == 3  # 6 pairs, length-sorted micro-batches of 2
    assert reranker.info.backend == "torch" and reranker.info.architecture.endswith("ForSequenceClassification")


def test_engine_int8_within_bound(ce_dir):
    """The accurate int8 path (ONNX export with segment ids, fp32 head) on the tiny random models.

    Bound 0.05 in sigmoid score: these toy models use a wide random initialisation (std 0.5) that
    makes activations far rougher than a trained model's; the realistic figure (MiniLM's encoder,
    STS-B pairs) is bench/bench_rerank.py's and test_int8_on_minilm_cross_encoder's."""
    from gte_ui.core.settings import Settings
    from gte_ui.engine.reranker import Reranker, sigmoid

    reranker = Reranker.load(Settings(reranker=str(ce_dir), device="cpu", precision="int8"))
    assert reranker.info.backend == "onnx-int8-accurate"
    got = sigmoid(reranker.score([(QUERY, d) for d in DOCS]).vectors[:, 0])
    assert np.abs(got - crossencoder_scores(ce_dir, QUERY, DOCS)).max() < 0.05


def test_int8_on_minilm_cross_encoder(minilm_dir, tmp_path, stsb_en):
    """MiniLM's real encoder + a seeded random one-logit head, int8 vs fp32 on 200 STS-B pairs.

    The head is scaled (x100) so that its scores spread like a trained reranker's (sigmoid std
    ~0.27): with BERT's plain 0.02 initialisation every score is 0.50 +- 0.005 and any |dscore|
    bound would hold trivially. Stated bound: mean |dscore| <= 0.025 (measured 0.015, see
    docs/performance.md; the issue's goal of 0.005 is not met at this spread), i.e. int8 noise
    within 8 % of the logits' own spread."""
    from gte_ui.core.settings import Settings
    from gte_ui.engine.reranker import Reranker, sigmoid
    from gte_ui.testing.toymodel import build_minilm_cross_encoder

    folder = build_minilm_cross_encoder(tmp_path / "minilm-ce", minilm_dir, seed=0, head_scale=100.0)
    pairs = list(zip(stsb_en.a[:200], stsb_en.b[:200]))
    fp32 = Reranker.load(Settings(reranker=str(folder), device="cpu", precision="fp32")).score(pairs).vectors[:, 0]
    int8 = Reranker.load(Settings(reranker=str(folder), device="cpu", precision="int8")).score(pairs).vectors[:, 0]
    assert np.std(sigmoid(fp32)) > 0.1  # the scores really spread
    assert np.abs(sigmoid(fp32) - sigmoid(int8)).mean() <= 0.025
    assert np.abs(fp32 - int8).mean() <= 0.08 * np.std(fp32)


def test_wrong_head_and_remote_code_are_refused(bert_ce_dir, tmp_path):
    import shutil

    from gte_ui.core.errors import ConfigError
    from gte_ui.core.settings import Settings
    from gte_ui.engine.reranker import Reranker

    two = tmp_path / "two-labels"
    shutil.copytree(bert_ce_dir, two)
    cfg = json.loads((two / "config.json").read_text())
    cfg["id2label"] = {"0": "a", "1": "b"}
    cfg["label2id"] = {"a": 0, "b": 1}
    (two / "config.json").write_text(json.dumps(cfg))
    with pytest.raises(ConfigError, match="2 outputs"):
        Reranker.load(Settings(reranker=str(two), device="cpu", precision="fp32"))

    remote = tmp_path / "remote"
    shutil.copytree(bert_ce_dir, remote)
    cfg = json.loads((remote / "config.json").read_text())
    cfg.update(model_type="new", auto_map={"AutoConfig": "configuration.NewConfig",
                                          "AutoModelForSequenceClassification": "modeling.NewForSequenceClassification"})
    (remote / "config.json").write_text(json.dumps(cfg))
    with pytest.raises(ConfigError, match="--trust-remote-code") as info:
        Reranker.load(Settings(reranker=str(remote), device="cpu", precision="fp32"))
    assert "off by" in info.value.en and "modeling" in info.value.en


def test_settings_flags_and_env():
    from gte_ui.core.errors import ConfigError
    from gte_ui.core.settings import parse_settings

    s = parse_settings(["--reranker", "BAAI/bge-reranker-base", "--reranker-precision", "int8",
                        "--trust-remote-code"], env={})
    assert (s.reranker, s.reranker_precision, s.trust_remote_code) == ("BAAI/bge-reranker-base", "int8", True)
    s = parse_settings([], env={"GTE_RERANKER": "/models/rr", "GTE_RERANKER_MAX_LENGTH": "256"})
    assert (s.reranker, s.reranker_max_length, s.trust_remote_code) == ("/models/rr", 256, False)
    with pytest.raises(ConfigError, match="reranker-precision"):
        parse_settings(["--reranker-precision", "int4"], env={})


# ------------------------------------------------------------------ service
@pytest.fixture(scope="module")
def rerank_service(tiny_encoder, bert_ce_dir):
    from gte_ui.core.settings import Settings
    from gte_ui.engine.reranker import Reranker
    from gte_ui.service.service import EmbeddingService

    settings = Settings(model=str(tiny_encoder.info.path), reranker=str(bert_ce_dir), device="cpu",
                        precision="fp32", max_candidates=8, max_chars=2000)
    return EmbeddingService(tiny_encoder, settings, reranker=Reranker.load(settings))


def test_service_rerank_scores_ranks_and_caches(rerank_service, bert_ce_dir):
    ref = crossencoder_scores(bert_ce_dir, QUERY, DOCS)
    r = rerank_service.rerank(QUERY, DOCS, top_n=3)
    assert r.method == "cross-encoder" and r.total == 6 and len(r.rows) == 3
    np.testing.assert_allclose(r.scores, ref, atol=1e-5)
    assert [row.index for row in r.rows] == list(np.argsort(-ref, kind="stable")[:3])
    assert r.rows[0].score >= r.rows[1].score >= r.rows[2].score
    again = rerank_service.rerank(QUERY, DOCS[:2] + ["新的文档"])
    assert again.cached == 2  # keyed on (model, precision, query, document)
    other = rerank_service.rerank("另一个查询", DOCS[:2])
    assert other.cached == 0
    raw = rerank_service.rerank(QUERY, DOCS, raw_scores=True)
    assert raw.raw_scores
    np.testing.assert_allclose(raw.scores, crossencoder_scores(bert_ce_dir, QUERY, DOCS, raw=True), atol=1e-5)


def test_service_without_reranker_says_embedding(tiny_service):
    r = tiny_service.rerank(QUERY, DOCS[:4])
    assert r.method == "embedding" and not r.raw_scores
    ref = tiny_service.rank(QUERY, DOCS[:4]).scores
    np.testing.assert_allclose(r.scores, ref, atol=1e-6)
    from gte_ui.core.errors import GteError

    with pytest.raises(GteError, match="--reranker"):
        tiny_service.rerank(QUERY, DOCS, method="cross-encoder")
    assert tiny_service.stats()["reranker"]["method"] == "embedding"


@pytest.mark.parametrize("args, kwargs, fragment", [
    (("", DOCS), {}, "query is empty"),
    ((QUERY, []), {}, "no documents given"),
    ((QUERY, ["x"] * 9), {}, "limit is 8"),
    ((QUERY, ["长" * 2001]), {}, "limit is 2,000"),
    ((QUERY, [1, 2]), {}, "documents[0] must be a string"),
    ((QUERY, "one string"), {}, "must be a list"),
    ((QUERY, DOCS), {"top_n": 0}, "top_n must be a positive integer"),
    ((QUERY, DOCS), {"method": "bm25"}, "method must be one of"),
])
def test_service_rejects_bad_input(rerank_service, args, kwargs, fragment):
    from gte_ui.core.errors import GteError

    with pytest.raises(GteError) as info:
        rerank_service.rerank(*args, **kwargs)
    assert fragment in info.value.en and info.value.zh


# ------------------------------------------------------------------ HTTP, Gradio, serverless, CLI
@pytest.fixture(scope="module")
def rerank_server(tiny_model_dir, bert_ce_dir):
    from gte_ui.core.settings import Settings
    from gte_ui.server import create_app
    from gte_ui.service.service import EmbeddingService

    settings = Settings(model=str(tiny_model_dir), reranker=str(bert_ce_dir), device="cpu", precision="fp32",
                        max_candidates=8, max_chars=2000)
    service = EmbeddingService.from_settings(settings)
    with LiveServer(create_app(service, settings)) as server:
        server.service = service
        server.ce_dir = bert_ce_dir
        yield server
    service.close()


def post(server, path, **kw):
    return requests.post(server.url + path, timeout=60, **kw)


def test_articles_rerank_shape(rerank_server):
    r = post(rerank_server, "/rerank", json={"query": QUERY, "docs": DOCS})
    assert r.status_code == 200 and r.headers["x-rerank-method"] == "cross-encoder"
    body = r.json()
    assert body["method"] == "cross-encoder"
    np.testing.assert_allclose(body["scores"], crossencoder_scores(rerank_server.ce_dir, QUERY, DOCS), atol=1e-5)


def test_tei_rerank_shape(rerank_server):
    ref = crossencoder_scores(rerank_server.ce_dir, QUERY, DOCS)
    r = post(rerank_server, "/rerank", json={"query": QUERY, "texts": DOCS, "return_text": True})
    assert r.status_code == 200
    ranks = r.json()
    assert [x["index"] for x in ranks] == list(np.argsort(-ref, kind="stable"))
    np.testing.assert_allclose([x["score"] for x in ranks], np.sort(ref)[::-1], atol=1e-5)
    assert all(x["text"] == DOCS[x["index"]].strip() for x in ranks)  # as scored: ends stripped
    raw = post(rerank_server, "/rerank", json={"query": QUERY, "texts": DOCS, "raw_scores": True}).json()
    assert "text" not in raw[0]
    logits = crossencoder_scores(rerank_server.ce_dir, QUERY, DOCS, raw=True)
    np.testing.assert_allclose([x["score"] for x in raw], np.sort(logits)[::-1], atol=1e-5)


def test_cohere_jina_shape(rerank_server):
    ref = crossencoder_scores(rerank_server.ce_dir, QUERY, DOCS)
    docs = [{"text": d} if i % 2 else d for i, d in enumerate(DOCS)]
    r = post(rerank_server, "/v1/rerank", json={"model": "any", "query": QUERY, "documents": docs, "top_n": 2,
                                                 "return_documents": True})
    assert r.status_code == 200
    body = r.json()
    best = list(np.argsort(-ref, kind="stable")[:2])
    assert [x["index"] for x in body["results"]] == best
    np.testing.assert_allclose([x["relevance_score"] for x in body["results"]], ref[best], atol=1e-5)
    assert body["results"][0]["document"] == {"text": DOCS[best[0]].strip()}
    assert body["method"] == "cross-encoder" and body["usage"]["total_tokens"] > 0
    plain = post(rerank_server, "/v1/rerank", json={"query": QUERY, "documents": DOCS[:2]}).json()
    assert "document" not in plain["results"][0]


@pytest.mark.parametrize("version", ["v1", "v2"])
def test_real_cohere_client(rerank_server, version):
    import cohere

    ref = crossencoder_scores(rerank_server.ce_dir, QUERY, DOCS)
    if version == "v1":  # cohere.Client posts to /v1/rerank
        client = cohere.Client(api_key="unused", base_url=rerank_server.url)
        res = client.rerank(model="gte-reranker", query=QUERY, documents=DOCS, top_n=3, return_documents=True)
    else:  # cohere.ClientV2 posts to /v2/rerank
        client = cohere.ClientV2(api_key="unused", base_url=rerank_server.url)
        res = client.rerank(model="gte-reranker", query=QUERY, documents=DOCS, top_n=3)
    best = list(np.argsort(-ref, kind="stable")[:3])
    assert [x.index for x in res.results] == best
    np.testing.assert_allclose([x.relevance_score for x in res.results], ref[best], atol=1e-5)


def test_gradio_endpoint(rerank_server):
    from gradio_client import Client

    client = Client(rerank_server.url + "/", verbose=False)
    out = client.predict(QUERY, "\n".join(DOCS), 0, False, api_name="/rerank")
    assert out["method"] == "cross-encoder"
    np.testing.assert_allclose(out["scores"], crossencoder_scores(rerank_server.ce_dir, QUERY, DOCS), atol=1e-5)


def test_health_shows_reranker(rerank_server):
    h = requests.get(rerank_server.url + "/health", timeout=10).json()
    assert h["reranker"]["loaded"] and h["reranker"]["model"] == rerank_server.ce_dir.name
    assert "path" not in h["reranker"] and str(rerank_server.ce_dir) not in str(h)  # never the server's path
    assert h["reranker"]["architecture"] == "BertForSequenceClassification"


@pytest.mark.parametrize("path, body, status, fragment", [
    ("/rerank", {"query": "", "docs": DOCS}, 422, "query is empty"),
    ("/rerank", {"query": QUERY, "docs": []}, 422, "no docs given"),
    ("/rerank", {"query": QUERY, "docs": ["x"] * 9}, 413, "limit is 8"),
    ("/rerank", {"query": QUERY, "docs": ["长" * 2001]}, 413, "limit is 2,000"),
    ("/rerank", {"query": QUERY, "docs": "x"}, 422, "docs: Input should be a valid list"),
    ("/rerank", {"query": 3, "docs": ["x"]}, 422, "query: Input should be a valid string"),
    ("/rerank", {"query": QUERY}, 422, "exactly one of docs / texts"),
    ("/rerank", {"query": QUERY, "docs": ["x"], "texts": ["y"]}, 422, "exactly one of docs / texts"),
    ("/rerank", {"query": QUERY, "docs": ["x"], "top_n": 1}, 422, "Extra inputs are not permitted"),
    ("/rerank", ["not", "an object"], 422, "exactly one of docs / texts"),
    ("/rerank", {"query": QUERY, "texts": [None]}, 422, "texts.0: Input should be a valid string"),
    ("/rerank", {"query": QUERY, "texts": [], "raw_scores": True}, 422, "no texts given"),
    ("/rerank", {"query": QUERY, "texts": DOCS, "truncate": False}, 413, "texts[5]"),
    ("/v1/rerank", {"query": QUERY, "documents": []}, 422, "no documents given"),
    ("/v1/rerank", {"query": QUERY, "documents": [{"title": "x"}]}, 422, "documents.0"),
    ("/v1/rerank", {"query": QUERY, "documents": DOCS, "top_n": 0}, 422, "top_n"),
    ("/v1/rerank", {"query": "   ", "documents": DOCS}, 422, "query is empty"),
    ("/v1/rerank", {"documents": DOCS}, 422, "query: Field required"),
    ("/v2/rerank", {"query": QUERY, "documents": ["x"] * 9}, 413, "limit is 8"),
])
def test_routes_reject_bad_input_and_keep_serving(rerank_server, path, body, status, fragment):
    r = post(rerank_server, path, json=body)
    assert r.status_code == status, r.text
    text = r.text
    assert fragment in text, text
    assert "Traceback" not in text and "/tmp" not in text
    ok = post(rerank_server, path, json={"query": QUERY, "documents" if "v" in path[:3] else "docs": DOCS[:2]})
    assert ok.status_code == 200


def test_malformed_json_is_400(rerank_server):
    for path in ("/rerank", "/v1/rerank"):
        r = post(rerank_server, path, data=b"{nope", headers={"content-type": "application/json"})
        assert r.status_code == 400 and "malformed JSON" in r.text


def test_routes_without_reranker_answer_from_embedding(live_server):
    ref = live_server.service.rank(QUERY, DOCS[:4]).scores
    r = post(live_server, "/rerank", json={"query": QUERY, "docs": DOCS[:4]})
    assert r.status_code == 200 and r.json()["method"] == "embedding"
    np.testing.assert_allclose(r.json()["scores"], ref, atol=1e-5)
    tei = post(live_server, "/rerank", json={"query": QUERY, "texts": DOCS[:4]})
    assert tei.headers["x-rerank-method"] == "embedding"
    v1 = post(live_server, "/v1/rerank", json={"query": QUERY, "documents": DOCS[:4]}).json()
    assert v1["method"] == "embedding" and v1["meta"]["method"] == "embedding"
    assert requests.get(live_server.url + "/health", timeout=10).json()["reranker"]["loaded"] is False


def test_serverless_rerank_route(bert_ce_dir, tiny_model_dir, monkeypatch):
    from gte_ui.frontends import serverless

    monkeypatch.setenv("GTE_MODEL", str(tiny_model_dir))
    monkeypatch.setenv("GTE_RERANKER", str(bert_ce_dir))
    monkeypatch.setenv("GTE_DEVICE", "cpu")
    monkeypatch.setenv("GTE_PRECISION", "fp32")
    monkeypatch.setattr(serverless, "_SERVICE", None)
    event = {"httpMethod": "POST", "path": "/prod/rerank", "body": json.dumps({"query": QUERY, "docs": DOCS})}
    out = serverless.handler(event)
    assert out["statusCode"] == 200, out
    body = json.loads(out["body"])
    assert body["method"] == "cross-encoder"
    np.testing.assert_allclose(body["scores"], crossencoder_scores(bert_ce_dir, QUERY, DOCS), atol=1e-5)
    bad = serverless.handler({**event, "body": json.dumps({"query": QUERY, "docs": [], "raw_scores": "yes"})})
    assert bad["statusCode"] == 422 and "raw_scores" in bad["body"]
    empty = serverless.handler({**event, "body": json.dumps({"query": QUERY, "docs": []})})
    assert empty["statusCode"] == 422 and "no docs given" in empty["body"]
    monkeypatch.setattr(serverless, "_SERVICE", None)


def test_cli_rerank(bert_ce_dir, tiny_model_dir, capsys):
    from gte_ui.frontends import cli

    rc = cli.main(["rerank", QUERY, *DOCS, "--json", "--model", str(tiny_model_dir), "--reranker", str(bert_ce_dir),
                   "--device", "cpu", "--precision", "fp32"])
    assert rc == 0
    out = json.loads(capsys.readouterr().out)
    assert out["method"] == "cross-encoder"
    np.testing.assert_allclose(out["scores"], crossencoder_scores(bert_ce_dir, QUERY, DOCS), atol=1e-5)
    rc = cli.main(["rerank", "", "x", "--model", str(tiny_model_dir), "--device", "cpu", "--precision", "fp32"])
    assert rc == 2 and "query is empty" in capsys.readouterr().err


# ------------------------------------------------------------------ text options (繁→简, NFKC, whitespace)
T2S = {"t2s": True}


@pytest.fixture()
def fresh_rerank_service(rerank_service):
    """The same encoder and reranker with empty caches (the module's service has served others)."""
    from gte_ui.service.service import EmbeddingService

    return EmbeddingService(rerank_service.encoder, rerank_service.settings, reranker=rerank_service.reranker)


@pytest.mark.parametrize("first", ["raw", "t2s"])
def test_service_t2s_scores_as_simplified_and_the_cache_keeps_them_apart(fresh_rerank_service, bert_ce_dir, first):
    from gte_ui.service.options import TextOptions

    svc, t2s = fresh_rerank_service, TextOptions(t2s=True)
    ref = crossencoder_scores(bert_ce_dir, QUERY, ZH_DOCS)
    calls = {"raw": lambda: svc.rerank(TW_QUERY, TW_DOCS), "t2s": lambda: svc.rerank(TW_QUERY, TW_DOCS, options=t2s)}
    second = "t2s" if first == "raw" else "raw"
    a = calls[first]()
    b = calls[second]()
    assert a.cached == 0 and b.cached == 0  # neither request is served the other's scores
    got = {first: a, second: b}
    np.testing.assert_allclose(got["t2s"].scores, ref, atol=1e-5)  # what CrossEncoder gives the simplified text
    np.testing.assert_allclose(got["raw"].scores, crossencoder_scores(bert_ce_dir, TW_QUERY, TW_DOCS), atol=1e-5)
    assert np.abs(np.array(got["raw"].scores) - ref).max() > 1e-3  # without t2s the scores differ
    simplified = svc.rerank(QUERY, ZH_DOCS)
    assert simplified.cached == len(ZH_DOCS)  # equal normalised pairs share one cached score
    assert simplified.scores == got["t2s"].scores
    again = svc.rerank(TW_QUERY, TW_DOCS)
    assert again.cached == len(TW_DOCS) and again.scores == got["raw"].scores
    # the caller's own texts come back, not the normalised ones
    assert got["t2s"].query == TW_QUERY
    assert [row.text for row in got["t2s"].rows] == [TW_DOCS[row.index] for row in got["t2s"].rows]


def test_service_nfkc_and_whitespace_on_the_reranker(fresh_rerank_service):
    from gte_ui.service.options import TextOptions

    svc = fresh_rerank_service
    wide = svc.rerank("ＡＢＣ手机  电池", ["电池\t 续航１２小时", "abc"],
                      options=TextOptions(nfkc=True, collapse_whitespace=True))
    plain = svc.rerank("ABC手机 电池", ["电池 续航12小时", "abc"])
    assert plain.cached == 2 and plain.scores == wide.scores
    assert sorted(row.text for row in wide.rows) == sorted(["电池\t 续航１２小时", "abc"])  # as sent


def test_service_embedding_path_takes_the_options_as_rank_does(fresh_rerank_service):
    from gte_ui.core.errors import GteError
    from gte_ui.service.options import TextOptions

    svc = fresh_rerank_service
    t2s = svc.rerank(TW_QUERY, TW_DOCS, method="embedding", options=TextOptions(t2s=True))
    simplified = svc.rerank(QUERY, ZH_DOCS, method="embedding")
    assert t2s.method == "embedding"
    np.testing.assert_allclose(t2s.scores, simplified.scores, atol=1e-6)
    np.testing.assert_allclose(t2s.scores, svc.rank(QUERY, ZH_DOCS).scores, atol=1e-6)
    raw = svc.rerank(TW_QUERY, TW_DOCS, method="embedding")
    assert np.abs(np.array(raw.scores) - simplified.scores).max() > 1e-3
    chunk = TextOptions(long_text="chunk")  # DOCS[5] is over the tiny model's 128 tokens
    np.testing.assert_allclose(svc.rerank(QUERY, DOCS, method="embedding", options=chunk).scores,
                               svc.rank(QUERY, DOCS, options=chunk).scores, atol=1e-6)
    assert svc.rerank(QUERY, DOCS, method="embedding", options=chunk).scores[5] != pytest.approx(
        svc.rerank(QUERY, DOCS, method="embedding").scores[5], abs=1e-6)
    with pytest.raises(GteError, match="no instruction prompts"):  # the tiny BERT has none: as rank says
        svc.rerank(QUERY, DOCS, method="embedding", options=TextOptions(instruction="find answers"))


def test_service_reranker_path_truncates_and_refuses_the_embedders_prompt(fresh_rerank_service, bert_ce_dir):
    from gte_ui.core.errors import GteError
    from gte_ui.service.options import TextOptions

    svc = fresh_rerank_service
    chunked = svc.rerank(QUERY, DOCS, options=TextOptions(long_text="chunk"))  # the reranker truncates anyway
    np.testing.assert_allclose(chunked.scores, crossencoder_scores(bert_ce_dir, QUERY, DOCS), atol=1e-5)
    assert [row.truncated for row in sorted(chunked.rows, key=lambda r: r.index)] == [False] * 5 + [True]
    with pytest.raises(GteError) as info:
        svc.rerank(QUERY, DOCS, options=TextOptions(instruction="find answers"))
    assert "--reranker-instruction" in info.value.en and info.value.zh and info.value.status_code == 422


def test_every_route_t2s_scores_as_simplified(rerank_server):
    ref = np.array(rerank_server.service.rerank(QUERY, ZH_DOCS).scores)
    np.testing.assert_allclose(ref, crossencoder_scores(rerank_server.ce_dir, QUERY, ZH_DOCS), atol=1e-5)
    assert np.abs(np.array(rerank_server.service.rerank(TW_QUERY, TW_DOCS).scores) - ref).max() > 1e-3
    articles = post(rerank_server, "/rerank", json={"query": TW_QUERY, "docs": TW_DOCS, **T2S})
    assert articles.status_code == 200, articles.text
    np.testing.assert_allclose(articles.json()["scores"], ref, atol=1e-6)
    tei = post(rerank_server, "/rerank", json={"query": TW_QUERY, "texts": TW_DOCS, "return_text": True, **T2S})
    assert tei.status_code == 200, tei.text
    ranks = tei.json()
    np.testing.assert_allclose([x["score"] for x in ranks], ref[[x["index"] for x in ranks]], atol=1e-6)
    assert [x["text"] for x in ranks] == [TW_DOCS[x["index"]] for x in ranks]  # the client's own texts
    for path in ("/v1/rerank", "/v2/rerank"):
        r = post(rerank_server, path, json={"query": TW_QUERY, "documents": TW_DOCS, "return_documents": True,
                                            "top_n": 3, **T2S})
        assert r.status_code == 200, r.text
        results = r.json()["results"]
        assert [x["index"] for x in results] == list(np.argsort(-ref, kind="stable")[:3])
        np.testing.assert_allclose([x["relevance_score"] for x in results], ref[[x["index"] for x in results]],
                                   atol=1e-6)
        assert [x["document"]["text"] for x in results] == [TW_DOCS[x["index"]] for x in results]
    wide = post(rerank_server, "/v1/rerank", json={"query": "ＡＢＣ  手机", "documents": ["电池\t续航１２小时"],
                                                    "nfkc": True, "collapse_whitespace": True}).json()
    plain = rerank_server.service.rerank("ABC 手机", ["电池 续航12小时"]).scores
    assert wide["results"][0]["relevance_score"] == pytest.approx(plain[0], abs=1e-6)


@pytest.mark.parametrize("path, shape", [("/rerank", "docs"), ("/rerank", "texts"), ("/v1/rerank", "documents"),
                                         ("/v2/rerank", "documents")])
@pytest.mark.parametrize("option, fragment", [
    ({"t2s": "yes"}, "t2s"), ({"nfkc": 1}, "nfkc"), ({"collapse_whitespace": "true"}, "collapse_whitespace"),
    ({"long_text": "split"}, "long_text"), ({"instruction": "find answers"}, "--reranker-instruction"),
])
def test_routes_reject_bad_options_and_keep_serving(rerank_server, path, shape, option, fragment):
    r = post(rerank_server, path, json={"query": TW_QUERY, shape: TW_DOCS, **option})
    assert r.status_code == 422, r.text
    assert fragment in r.text and "Traceback" not in r.text and "/tmp" not in r.text
    ok = post(rerank_server, path, json={"query": TW_QUERY, shape: TW_DOCS, **T2S})
    assert ok.status_code == 200


def test_gradio_endpoint_text_options(rerank_server):
    from gradio_client import Client

    client = Client(rerank_server.url + "/", verbose=False)
    ref = rerank_server.service.rerank(QUERY, ZH_DOCS).scores
    out = client.predict(TW_QUERY, "\n".join(TW_DOCS), 0, False, True, api_name="/rerank")
    np.testing.assert_allclose(out["scores"], ref, atol=1e-6)
    assert [row["text"] for row in out["results"]] == [TW_DOCS[row["index"]] for row in out["results"]]
    raw = client.predict(TW_QUERY, "\n".join(TW_DOCS), 0, False, False, api_name="/rerank")
    assert np.abs(np.array(raw["scores"]) - ref).max() > 1e-3
    with pytest.raises(Exception, match="t2s must be true or false"):
        client.predict(TW_QUERY, "\n".join(TW_DOCS), 0, False, "yes", api_name="/rerank")
    with pytest.raises(Exception, match="top_n must be a whole number"):
        client.predict(TW_QUERY, "\n".join(TW_DOCS), 1.5, False, True, api_name="/rerank")
    again = client.predict(TW_QUERY, "\n".join(TW_DOCS), 0, False, True, api_name="/rerank")  # still serving
    assert again["scores"] == out["scores"]


def test_serverless_and_cli_text_options(bert_ce_dir, tiny_model_dir, monkeypatch, capsys):
    from gte_ui.frontends import cli, serverless

    ref = crossencoder_scores(bert_ce_dir, QUERY, ZH_DOCS)
    monkeypatch.setenv("GTE_MODEL", str(tiny_model_dir))
    monkeypatch.setenv("GTE_RERANKER", str(bert_ce_dir))
    monkeypatch.setenv("GTE_DEVICE", "cpu")
    monkeypatch.setenv("GTE_PRECISION", "fp32")
    monkeypatch.setattr(serverless, "_SERVICE", None)
    event = {"httpMethod": "POST", "path": "/prod/rerank"}
    out = serverless.handler({**event, "body": json.dumps({"query": TW_QUERY, "docs": TW_DOCS, **T2S})})
    assert out["statusCode"] == 200, out
    body = json.loads(out["body"])
    simplified = json.loads(serverless.handler({**event, "body": json.dumps({"query": QUERY, "docs": ZH_DOCS})})["body"])
    np.testing.assert_allclose(body["scores"], simplified["scores"], atol=1e-6)
    np.testing.assert_allclose(body["scores"], ref, atol=1e-5)
    assert [row["text"] for row in body["results"]] == [TW_DOCS[row["index"]] for row in body["results"]]
    bad = serverless.handler({**event, "body": json.dumps({"query": TW_QUERY, "docs": TW_DOCS, "t2s": "yes"})})
    assert bad["statusCode"] == 422 and "t2s must be true or false" in bad["body"]
    monkeypatch.setattr(serverless, "_SERVICE", None)

    flags = ["--json", "--model", str(tiny_model_dir), "--reranker", str(bert_ce_dir), "--device", "cpu",
             "--precision", "fp32"]
    assert cli.main(["rerank", TW_QUERY, *TW_DOCS, "--t2s", *flags]) == 0
    t2s = json.loads(capsys.readouterr().out)
    assert cli.main(["rerank", QUERY, *ZH_DOCS, *flags]) == 0
    np.testing.assert_allclose(t2s["scores"], json.loads(capsys.readouterr().out)["scores"], atol=1e-6)
    np.testing.assert_allclose(t2s["scores"], ref, atol=1e-5)
    assert cli.main(["rerank", TW_QUERY, *TW_DOCS, "--instruction", "find answers", *flags]) == 2
    assert "--reranker-instruction" in capsys.readouterr().err


# ------------------------------------------------------------------ evaluation
SAMPLE = Path(__file__).resolve().parents[3] / "gte_ui" / "assets" / "samples" / "rerank_stsb_zh_groups.tsv"


def test_compare_embedding_and_reranker(rerank_service):
    from gte_ui.evaluation.rerank import compare, read_groups, summary_markdown

    groups = read_groups(SAMPLE)
    groups.queries, groups.docs, groups.labels = groups.queries[:6], groups.docs[:6], groups.labels[:6]
    results = compare(rerank_service, groups)
    assert [r.method for r in results] == ["embedding", "cross-encoder"]
    for r in results:
        assert 0 < r.mrr_at_10 <= 1 and 0 < r.ndcg_at_10 <= 1 and -1 <= r.spearman <= 1 and r.queries == 6
    assert results[0].per_query != results[1].per_query  # two different scorers
    md = summary_markdown(results, groups)
    assert "MRR@10" in md and "Cross-encoder" in md


def test_cli_evaluate_rerank(tiny_model_dir, bert_ce_dir, tmp_path, capsys):
    from gte_ui.frontends import cli

    rc = cli.main(["evaluate", str(SAMPLE), "--task", "rerank", "--limit", "5", "--out", str(tmp_path),
                   "--model", str(tiny_model_dir), "--reranker", str(bert_ce_dir), "--device", "cpu",
                   "--precision", "fp32"])
    assert rc == 0
    out = capsys.readouterr().out
    metrics = json.loads(out[:out.rindex("]") + 1])
    assert [m["method"] for m in metrics] == ["embedding", "cross-encoder"] and metrics[0]["queries"] == 5
    assert (tmp_path / "rerank_metrics.json").is_file()


def test_trust_remote_code_runs_the_repos_code(bert_ce_dir, tmp_path):
    """A folder whose config's auto_map points at modelling code shipped beside it (as
    gte-multilingual-reranker-base's does): refused without the flag, run whole with it."""
    import shutil

    from gte_ui.core.settings import Settings
    from gte_ui.engine.reranker import Reranker

    folder = tmp_path / "remote-ce"
    shutil.copytree(bert_ce_dir, folder)
    (folder / "toy_modeling.py").write_text(
        "from transformers import BertConfig, BertForSequenceClassification\n"
        "class ToyConfig(BertConfig):\n    model_type = 'toy-remote-bert'\n"
        "class ToyForSequenceClassification(BertForSequenceClassification):\n    config_class = ToyConfig\n")
    cfg = json.loads((folder / "config.json").read_text())
    cfg.update(model_type="toy-remote-bert", architectures=["ToyForSequenceClassification"],
               auto_map={"AutoConfig": "toy_modeling.ToyConfig",
                         "AutoModelForSequenceClassification": "toy_modeling.ToyForSequenceClassification"})
    (folder / "config.json").write_text(json.dumps(cfg))
    reranker = Reranker.load(Settings(reranker=str(folder), device="cpu", precision="fp32", trust_remote_code=True))
    assert reranker.info.architecture == "ToyForSequenceClassification" and reranker.info.backend == "torch"
    from gte_ui.engine.reranker import sigmoid

    got = sigmoid(reranker.score([(QUERY, d) for d in DOCS]).vectors[:, 0])
    np.testing.assert_allclose(got, crossencoder_scores(bert_ce_dir, QUERY, DOCS), atol=1e-5)  # same weights
