"""向量地图 Map accordion: on_map over pasted lines or an uploaded file, queries drawn as stars, the
service's map (gte_ui.service.embedding_map) unchanged on the way."""

from __future__ import annotations

import pytest
from ui_kit import refused

from gte_ui.core.textnorm import split_lines
from gte_ui.frontends.ui.common import COMPARE
from gte_ui.frontends.ui.tabs import embedding_map as tab
from gte_ui.service import embedding_map


def corpus_points(fig):
    return [(x, y) for trace in fig.data if trace.name != "查询 Queries" for x, y in zip(trace.x, trace.y)]


def test_map_of_pasted_lines_is_the_services_map_with_queries_as_stars(tiny_service):
    note, fig = tab.on_map(tiny_service, tab.EXAMPLE, None, "", tab.EXAMPLE_QUERIES, "pca", 3)
    texts = split_lines(tab.EXAMPLE)
    want = embedding_map.build_map(tiny_service, texts, queries=split_lines(tab.EXAMPLE_QUERIES), method="pca",
                                   clusters=3)
    assert note == f"**{want.note}**" and f"{len(texts)} 条 texts" in note and "sampled" not in note
    assert sorted(t.name for t in fig.data if "Cluster" in t.name) == [f"簇 Cluster {i}" for i in (1, 2, 3)]
    points = corpus_points(fig)
    assert len(points) == len(texts)
    assert sorted(points) == pytest.approx(sorted(zip(want.x[:len(texts)], want.y[:len(texts)])))
    stars = next(t for t in fig.data if t.name == "查询 Queries")
    assert stars.marker.symbol == "star" and len(stars.x) == 2
    assert tiny_service.name in fig.layout.title.text


def test_map_of_an_upload_is_coloured_by_its_label_column(tiny_service, tmp_path):
    upload = tmp_path / "labelled.csv"
    rows = [("手机电池续航很强", "手机"), ("屏幕显示效果清晰", "手机"), ("今天天气很好", "天气"),
            ("明天会下雨吗", "天气"), ("火锅味道正宗", "美食")]
    upload.write_text("text,topic\n" + "\n".join(f"{t},{lab}" for t, lab in rows), encoding="utf-8")
    note, fig = tab.on_map(tiny_service, "ignored\nlines\nhere\nfour", str(upload), " topic ", "", "pca", 4)
    assert "5 条 texts" in note
    assert {t.name: len(t.x) for t in fig.data} == {"手机": 2, "天气": 2, "美食": 1}


def test_map_refusals_are_messages(tiny_service, two_models, tmp_path):
    refused(lambda: tab.on_map(tiny_service, "一\n二", None, "", "", "pca", 2), "at least 3 texts")
    refused(lambda: tab.on_map(tiny_service, tab.EXAMPLE, None, "", "", "tsne", 2), "method must be one of")
    plain = tmp_path / "plain.txt"
    plain.write_text("一\n二\n三\n", encoding="utf-8")
    out = refused(lambda: tab.on_map(tiny_service, "", str(plain), "topic", "", "pca", 2), "no label column")
    assert len(out[1].data) == 0  # an empty figure, never None: the plot keeps its place
    refused(lambda: tab.on_map(two_models, tab.EXAMPLE, None, "", "", "pca", 2, COMPARE), "pick one model for the map")
