"""向量地图 Embedding map (issue 29, item 4): PCA of the model's own vectors, k-means or label
colours, queries over the corpus, sampling past --map-max-points said on the chart; the service
capability, the UI callback and ``gte-ui map``."""

from __future__ import annotations

import json

import numpy as np
import pytest

from gte_ui.core.errors import GteError
from gte_ui.frontends import cli
from gte_ui.service import embedding_map

TEXTS = ["这款手机电池续航很强", "手机充一次电能用两天", "今天天气很好", "明天会下雨吗", "这家餐厅的菜很好吃", "火锅味道正宗"]


def test_map_is_the_pca_of_the_service_vectors(tiny_service):
    from sklearn.decomposition import PCA

    m = embedding_map.build_map(tiny_service, TEXTS, queries=["手机"], clusters=3)
    vectors = tiny_service.embed_corpus(TEXTS, [f"t{i}" for i in range(len(TEXTS))]).vectors
    pca = PCA(n_components=2, random_state=0).fit(vectors)
    np.testing.assert_allclose(np.c_[m.x[:6], m.y[:6]], pca.transform(vectors), atol=1e-4)
    q = tiny_service.embed_corpus(["手机"], ["q"]).vectors
    np.testing.assert_allclose([m.x[6], m.y[6]], pca.transform(q)[0], atol=1e-4)
    assert m.kinds == ["corpus"] * 6 + ["query"] and m.texts[-1] == "手机"
    assert len(set(m.groups[:6])) == 3 and m.groups[-1] == "" and m.coloured_by == "cluster"
    assert not m.sampled and 0 < sum(m.explained) <= 1


def test_big_corpus_is_sampled_before_embedding_and_says_so(tiny_service):
    texts = [f"第{i}条 今天天气很好" for i in range(60)]
    labels = ["a" if i % 2 else "b" for i in range(60)]
    before = tiny_service.encoder.texts_encoded
    m = embedding_map.build_map(tiny_service, texts, labels=labels, max_points=20, seed=3)
    assert tiny_service.encoder.texts_encoded - before == 20  # only the sample was embedded
    assert (m.total, m.shown, m.sampled) == (60, 20, True)
    assert m.coloured_by == "label" and set(m.groups) == {"a", "b"}
    # each point keeps its own label
    assert all(labels[texts.index(t)] == g for t, g in zip(m.texts, m.groups))
    assert "20 / 60" in m.note and "sampled: 20 of 60" in m.note
    fig = embedding_map.map_figure(m)
    assert "sampled: 20 of 60" in fig.layout.annotations[0].text
    assert {t.name for t in fig.data} == {"a", "b"}
    assert m.texts == embedding_map.build_map(tiny_service, texts, labels=labels, max_points=20, seed=3).texts


def test_figure_draws_queries_over_the_corpus_with_hover_text(tiny_service):
    m = embedding_map.build_map(tiny_service, TEXTS, queries=["手机续航", "天气"], clusters=2)
    fig = embedding_map.map_figure(m)
    stars = [t for t in fig.data if t.name == "查询 Queries"]
    assert len(stars) == 1 and stars[0].marker.symbol == "star" and len(stars[0].x) == 2
    assert fig.data[-1] is stars[0] or fig.data[-1].name == "查询 Queries"  # drawn last: on top
    assert any("这款手机电池续航很强" in h for t in fig.data[:-1] for h in t.hovertext)


@pytest.mark.parametrize("kwargs, fragment", [
    ({"texts": ["a", "b"]}, "at least 3 texts"),
    ({"texts": TEXTS, "method": "tsne"}, "method must be one of"),
    ({"texts": TEXTS, "clusters": 0}, "clusters must be an integer"),
    ({"texts": TEXTS, "labels": ["x"]}, "1 labels for 6 texts"),
])
def test_bad_requests_are_refused(tiny_service, kwargs, fragment):
    with pytest.raises(GteError, match=fragment):
        embedding_map.build_map(tiny_service, **kwargs)


def test_umap_without_umap_learn_says_how_to_get_it(tiny_service, monkeypatch):
    import builtins

    real = builtins.__import__

    def no_umap(name, *a, **kw):
        if name == "umap":
            raise ImportError("no umap")
        return real(name, *a, **kw)

    monkeypatch.setattr(builtins, "__import__", no_umap)
    assert embedding_map.umap_available() is False
    with pytest.raises(GteError, match="pip install umap-learn"):
        embedding_map.build_map(tiny_service, TEXTS, method="umap")


def test_read_map_file_columns_and_labels(tmp_path):
    csv_path = tmp_path / "c.csv"
    csv_path.write_text("text,topic\n今天天气很好,天气\n手机很好,手机\n,空\n火锅好吃,美食\n", encoding="utf-8")
    texts, labels = embedding_map.read_map_file(csv_path, label_column="topic")
    assert texts == ["今天天气很好", "手机很好", "火锅好吃"] and labels == ["天气", "手机", "美食"]
    with pytest.raises(GteError, match="no column 'kind'; its columns are text, topic"):
        embedding_map.read_map_file(csv_path, label_column="kind")
    jl = tmp_path / "j.jsonl"
    jl.write_text("\n".join(json.dumps({"sentence": t}) for t in TEXTS), encoding="utf-8")
    assert embedding_map.read_map_file(jl)[0] == TEXTS


def test_ui_callback_draws_the_map(tiny_service):
    from gte_ui.frontends.ui.tabs import embedding_map as map_tab

    note, fig = map_tab.on_map(tiny_service, "\n".join(TEXTS), None, "", "手机", "pca", 2)
    assert "6 条 texts" in note and "PCA" in note
    assert sum(len(t.x) for t in fig.data) == 7
    note, _ = map_tab.on_map(tiny_service, "一\n二", None, "", "", "pca", 2)
    assert note.startswith("⚠️") and "at least 3 texts" in note  # shown, never raised


def test_cli_map_writes_a_self_contained_page(tiny_model_dir, tmp_path, capsys):
    src = tmp_path / "corpus.txt"
    src.write_text("\n".join(TEXTS * 5), encoding="utf-8")
    (tmp_path / "q.txt").write_text("手机续航\n", encoding="utf-8")
    out = tmp_path / "map.html"
    code = cli.main(["map", str(src), "--out", str(out), "--queries", str(tmp_path / "q.txt"), "--clusters", "3",
                     "--model", str(tiny_model_dir), "--device", "cpu", "--map-max-points", "10"])
    assert code == 0, capsys.readouterr().err
    assert "sampled: 10 of 30" in capsys.readouterr().out
    page = out.read_text(encoding="utf-8")
    assert "plotly" in page.lower() and "手机续航" in page and "sampled: 10 of 30" in page
    assert cli.main(["map", str(tmp_path / "nope.csv"), "--out", str(out), "--model", str(tiny_model_dir)]) == 2


class StoredIndex:
    """The read side of a built index as the search branch's VectorIndex offers it: stored
    vectors (a memory map there) and records by row. Vectors here are the tiny model's own."""

    def __init__(self, service, texts):
        self.vectors = service.embed_corpus(texts, [f"t{i}" for i in range(len(texts))]).vectors
        self.texts = texts
        self.rows_read: list[int] = []

    def records(self, rows):
        self.rows_read += list(rows)
        return [type("Record", (), {"text": self.texts[r]})() for r in rows]


def test_map_of_an_index_reads_its_stored_vectors_sampled(tiny_service):
    texts = [f"第{i}条 今天天气很好" for i in range(40)]
    index = StoredIndex(tiny_service, texts)
    before = tiny_service.encoder.texts_encoded
    m = embedding_map.map_index(index, service=tiny_service, queries=["天气"], max_points=15, clusters=3)
    assert tiny_service.encoder.texts_encoded - before == 1  # the query only: the corpus is not re-embedded
    assert sorted(index.rows_read) == index.rows_read and len(index.rows_read) == 15  # the sample's texts only
    assert (m.total, m.shown) == (40, 15) and m.texts[-1] == "天气"
    assert m.texts[:15] == [texts[r] for r in index.rows_read]


def test_http_route(live_server):
    import requests

    r = requests.post(live_server.url + "/v1/map", json={"texts": TEXTS, "queries": ["手机"], "clusters": 2}, timeout=60)
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["method"] == "pca" and body["shown"] == 6 and not body["sampled"]
    assert [p["kind"] for p in body["points"]] == ["corpus"] * 6 + ["query"]
    assert {p["text"] for p in body["points"]} == set(TEXTS) | {"手机"}
    for bad, status in (({"texts": ["a", "b"]}, 422), ({"texts": TEXTS, "clusters": 0}, 422),
                        ({"texts": TEXTS, "method": "tsne"}, 422), ({"texts": TEXTS, "model": "nope"}, 404)):
        r = requests.post(live_server.url + "/v1/map", json=bad, timeout=60)
        assert r.status_code == status, (bad, r.text)
        assert "error" in r.json() and "Traceback" not in r.text


def test_a_requests_map_is_bounded_by_the_token_budget(tiny_service, capsys, tmp_path):
    """Issue 26.4 for the map: a request (HTTP, the page) embeds at most --max-tokens-per-request of
    model work (413 before any runs); the command line maps a whole file."""
    from gte_ui.core.errors import HTTP_STATUS, GteError
    from gte_ui.service import embedding_map
    from gte_ui.service.service import EmbeddingService

    service = EmbeddingService(tiny_service.encoder, tiny_service.settings.replace(max_tokens_per_request=1000))
    texts = [f"第{i}段" + "今天天气很好" * 60 for i in range(20)]  # 20 truncated texts: 20 x 128 tokens
    with pytest.raises(GteError, match="max-tokens-per-request") as info:
        embedding_map.build_map(service, texts, clusters=2)
    assert HTTP_STATUS[info.value.error_type] == 413
    assert embedding_map.build_map(service, texts, clusters=2, bounded=False).total == 20
