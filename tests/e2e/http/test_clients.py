"""Issue 20: the client packages people already use, each against a live server (tiny BERT,
offline), each bounded in time, each checked against the engine's own vectors.

docs/integrations.md holds the same recipes; these tests are what keeps them true.
"""

from __future__ import annotations

import numpy as np
import pytest
from clients import client_package

pytestmark = pytest.mark.timeout(180)

TEXTS = ["今天天气很好", "我想借钱", "这款手机电池续航很强，用一天没问题"]
QUERY = "手机电量很耐用"


def engine_vectors(server, texts: list[str]) -> np.ndarray:
    return server.service.embed(texts).vectors


def test_langchain_openai_embeddings(live_server):
    """langchain-openai's OpenAIEmbeddings, as docs/integrations.md writes it. Without
    check_embedding_ctx_length=False it tokenises with tiktoken (a download) and sends token ids."""
    langchain_openai = client_package("langchain_openai")
    embeddings = langchain_openai.OpenAIEmbeddings(
        model="gte-large-zh", base_url=live_server.url + "/v1", api_key="unused",
        check_embedding_ctx_length=False, max_retries=0, timeout=60)
    docs = embeddings.embed_documents(TEXTS)
    np.testing.assert_allclose(docs, engine_vectors(live_server, TEXTS), atol=1e-6)
    query = embeddings.embed_query(QUERY)
    np.testing.assert_allclose(query, engine_vectors(live_server, [QUERY])[0], atol=1e-6)
    assert len(query) == live_server.service.dim


def test_langchain_default_settings_get_a_message_naming_the_flag(live_server):
    """With LangChain's default (token ids, once tiktoken has its file) the server's 422 names
    the flag to set; the ids are what the client would send."""
    openai = client_package("openai")
    client = openai.OpenAI(base_url=live_server.url + "/v1", api_key="unused", max_retries=0)
    with pytest.raises(openai.UnprocessableEntityError) as err:
        client.embeddings.create(model="gte", input=[[9906, 1917]])
    assert "check_embedding_ctx_length=False" in str(err.value)


def test_llamaindex_openai_like_embedding(live_server):
    openai_like = client_package("llama_index.embeddings.openai_like")
    embed_model = openai_like.OpenAILikeEmbedding(
        model_name="gte-large-zh", api_base=live_server.url + "/v1", api_key="unused",
        embed_batch_size=32, max_retries=0, timeout=60)  # the recipe's batch size
    docs = embed_model.get_text_embedding_batch(TEXTS)
    np.testing.assert_allclose(docs, engine_vectors(live_server, TEXTS), atol=1e-6)
    query = embed_model.get_query_embedding(QUERY)
    np.testing.assert_allclose(query, engine_vectors(live_server, [QUERY])[0], atol=1e-6)
    single = embed_model.get_text_embedding(TEXTS[0])
    np.testing.assert_allclose(single, engine_vectors(live_server, TEXTS[:1])[0], atol=1e-6)


def test_huggingface_hub_inference_client_tei_routes(live_server, monkeypatch):
    """huggingface_hub's InferenceClient speaks TEI: feature_extraction posts to /embed,
    sentence_similarity to /similarity. HF_HUB_OFFLINE=1 (set for the whole test session)
    blocks even a loopback URL, so it is lifted here, as a client process would not set it."""
    huggingface_hub = client_package("huggingface_hub")
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", False)
    embed = huggingface_hub.InferenceClient(model=live_server.url + "/embed", timeout=60)
    vectors = embed.feature_extraction(TEXTS[0])
    expected = engine_vectors(live_server, TEXTS[:1])
    assert vectors.shape == expected.shape
    np.testing.assert_allclose(vectors, expected, atol=1e-6)

    similarity = huggingface_hub.InferenceClient(model=live_server.url + "/similarity", timeout=60)
    scores = similarity.sentence_similarity(QUERY, other_sentences=TEXTS)
    query = engine_vectors(live_server, [QUERY])[0]
    np.testing.assert_allclose(scores, engine_vectors(live_server, TEXTS) @ query, atol=1e-5)
    assert scores == [pytest.approx(r.score, abs=1e-6) for r in
                      sorted(live_server.service.rank(QUERY, TEXTS).rows, key=lambda r: r.index)]


@pytest.fixture(scope="module")
def keyed_server(tiny_encoder, tiny_model_dir):
    """The app with --api-key set, over the shared tiny encoder."""
    from conftest import LiveServer

    from gte_ui.core.settings import Settings
    from gte_ui.server import create_app
    from gte_ui.service.service import EmbeddingService

    settings = Settings(model=str(tiny_model_dir), device="cpu", precision="fp32", api_key="s3cret")
    service = EmbeddingService(tiny_encoder, settings)
    with LiveServer(create_app(service, settings)) as server:
        server.service = service
        yield server


def test_the_recipes_api_key_fields_reach_the_server(keyed_server, monkeypatch):
    """Each recipe's api_key is sent as the Bearer token --api-key checks; a wrong one is a 401."""
    langchain_openai = client_package("langchain_openai")
    openai_like = client_package("llama_index.embeddings.openai_like")
    huggingface_hub = client_package("huggingface_hub")
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", False)
    expected = engine_vectors(keyed_server, TEXTS[:1])[0]
    base = keyed_server.url + "/v1"

    def langchain(key: str):
        return langchain_openai.OpenAIEmbeddings(model="gte", base_url=base, api_key=key, max_retries=0,
                                                 check_embedding_ctx_length=False).embed_query(TEXTS[0])

    def llamaindex(key: str):
        return openai_like.OpenAILikeEmbedding(model_name="gte", api_base=base, api_key=key,
                                               max_retries=0).get_text_embedding(TEXTS[0])

    def hub(key: str):
        client = huggingface_hub.InferenceClient(model=keyed_server.url + "/embed", api_key=key, timeout=60)
        return client.feature_extraction(TEXTS[0])[0]

    for call in (langchain, llamaindex, hub):
        np.testing.assert_allclose(call("s3cret"), expected, atol=1e-6)
        with pytest.raises(Exception) as err:
            call("wrong")
        assert "401" in str(err.value) or "Unauthorized" in str(err.value) or \
            getattr(getattr(err.value, "response", None), "status_code", None) == 401, repr(err.value)


def test_dify_openai_api_compatible_plugin_request(live_server):
    """Dify's OpenAI-API-compatible plugin (langgenius/openai_api_compatible 0.0.64,
    text_embedding.py) posts {"model", "input": batch} to {API Base URL}/embeddings, in batches of
    "max chunks", with an empty Authorization header when no API key is set, and reads
    data[].embedding and usage.prompt_tokens. Replayed here as it sends it."""
    import requests

    base = live_server.url + "/v1"
    got, tokens = [], 0
    for start in range(0, len(TEXTS), 2):  # "Model max chunks per batch" = 2
        r = requests.post(f"{base}/embeddings", headers={"Content-Type": "application/json", "Authorization": ""},
                          json={"model": "gte-large-zh", "input": TEXTS[start:start + 2]}, timeout=60)
        assert r.status_code == 200, r.text
        body = r.json()
        got += [d["embedding"] for d in body["data"]]
        tokens += body["usage"].get("prompt_tokens") or body["usage"].get("total_tokens") or 0
    np.testing.assert_allclose(got, engine_vectors(live_server, TEXTS), atol=1e-6)
    assert tokens > len(TEXTS)
    # Its optional "Embedding encoding format: float" setting adds encoding_format.
    r = requests.post(f"{base}/embeddings", json={"model": "x", "input": TEXTS[:1], "encoding_format": "float"},
                      timeout=60)
    np.testing.assert_allclose(r.json()["data"][0]["embedding"], engine_vectors(live_server, TEXTS[:1])[0], atol=1e-6)


@pytest.mark.parametrize("client", ["dify", "ragflow"])
def test_dify_and_ragflow_rerank_requests(live_server, client):
    """The rerank requests of Dify's OpenAI-API-compatible plugin (0.0.64, rerank.py: POST
    {API Base URL}/rerank) and RAGFlow's "OpenAI-API-Compatible" rerank (v0.26.4 / v0.27.0,
    rerank_model.py: POST {Base url}/rerank), with the base URL docs/integrations.md gives
    (http://HOST:7860/v1): {"model", "query", "documents", "top_n"}; both read results[].index and
    relevance_score. Without --reranker the scores are the embedding cosine (method says so)."""
    import requests

    docs = ["今天天气很好", "这款手机电池续航很强，用一天没问题", "我想借钱"]
    auth = "" if client == "dify" else "Bearer unused"  # Dify sends an empty header without a key
    r = requests.post(live_server.url + "/v1" + "/rerank", timeout=60,
                      headers={"Content-Type": "application/json", "Authorization": auth},
                      json={"model": "gte-large-zh", "query": QUERY, "documents": docs, "top_n": len(docs)})
    assert r.status_code == 200, r.text
    results = r.json()["results"]
    expected = live_server.service.rerank(QUERY, docs)
    got = {item["index"]: item["relevance_score"] for item in results}
    assert got == pytest.approx({row.index: row.score for row in expected.rows}, abs=1e-6)
    assert [item["index"] for item in results] == [row.index for row in expected.rows]  # best first
