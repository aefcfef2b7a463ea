"""Pure pieces behind the UI: figures, tables, exported files, parsed uploads."""

from __future__ import annotations

import csv
import json

import numpy as np
import plotly.graph_objects as go
import pytest

from gte_ui.core.textfiles import read_candidates_file
from gte_ui.frontends.ui import charts

from gte_ui.frontends.ui import views
from gte_ui.core.errors import ErrorType, GteError
from gte_ui.core.scoring import VerdictBands

SOURCE = "这款手机电池续航很强"
CANDS = ["手机电量很耐用", "这台设备待机时间久", "电池容量大，用一天没问题", "充电速度特别快", "手机电量很耐用"]


def test_gauge_bands_and_needle_follow_the_verdict_thresholds():
    fig = charts.gauge(0.83, VerdictBands(high=0.9, mid=0.8, source="calibration"))
    ind = fig.data[0]
    assert ind.value == pytest.approx(83.0)
    assert [tuple(s.range) for s in ind.gauge.steps] == [(0, 80), (80, 90), (90, 100)]
    assert ind.gauge.threshold.value == pytest.approx(83.0)
    assert ind.gauge.bar.color == charts.LEVEL_COLOURS[1]  # moderate
    assert charts.gauge(-0.4).data[0].value == 0.0


def test_ranking_bars_best_on_top_coloured_by_level():
    fig = charts.ranking_bars(["a", "b"], [0.9, 0.3], [2, 0])
    bar = fig.data[0]
    assert list(bar.x) == [0.9, 0.3] and bar.y[0].startswith("1. a")
    assert list(bar.marker.color) == [charts.LEVEL_COLOURS[2], charts.LEVEL_COLOURS[0]]
    assert "No results" in charts.ranking_bars([], [], []).layout.annotations[0].text


def test_heatmap_labels_are_short_numbered_and_distinct():
    texts = ["很长很长的一句话" * 5, "很长很长的一句话" * 5 + "！"]
    fig = charts.heatmap(texts, [[1.0, 0.5], [0.5, 1.0]])
    labels = list(fig.data[0].x)
    assert len(set(labels)) == 2 and all(len(x) <= 18 for x in labels)


def test_charts_are_failsafe():
    fig = charts.heatmap(["a"], [["not a number"]])
    assert isinstance(fig, go.Figure) and "Chart unavailable" in fig.layout.annotations[0].text


def test_rank_rows_and_csv(tiny_service):
    r = tiny_service.rank(SOURCE, CANDS)
    rows = views.rank_rows(r)
    assert [row[0] for row in rows] == [1, 2, 3, 4, 5]
    assert sum("duplicate" in row[6] for row in rows) == 1
    with open(views.ranking_csv(r), encoding="utf-8-sig", newline="") as f:
        table = list(csv.DictReader(f))
    assert [t["text"] for t in table] == [row.text for row in r.rows]
    assert float(table[0]["score"]) == pytest.approx(r.rows[0].score, abs=1e-6)
    assert "5 个候选" in views.rank_summary(r) and "1 个重复" in views.rank_summary(r)


def test_vector_exports_round_trip(tiny_service):
    texts = ["今天天气很好", "我想借钱"]
    r = tiny_service.embed(texts)
    json_path, npy_path, csv_path = views.export_vectors(texts, r.vectors)
    np.testing.assert_array_equal(np.load(npy_path), r.vectors)
    data = json.loads(json_path.read_text(encoding="utf-8"))
    assert [d["text"] for d in data] == texts and len(data[0]["vector"]) == tiny_service.dim
    np.testing.assert_allclose(data[1]["vector"], r.vectors[1], atol=1e-6)
    with open(csv_path, encoding="utf-8-sig", newline="") as f:
        rows = list(csv.reader(f))
    assert rows[0][:2] == ["text", "v0"] and len(rows[0]) == tiny_service.dim + 1
    np.testing.assert_allclose([float(x) for x in rows[2][1:]], r.vectors[1], atol=1e-6)
    summary = views.vector_summary(texts, r.vectors, r.token_counts, r.truncated)
    assert f"dimension **{tiny_service.dim}**" in summary and "norm 1.0000" in summary


def test_matrix_csv(tiny_service):
    m = tiny_service.matrix(CANDS[:3])
    with open(views.matrix_csv(m), encoding="utf-8-sig", newline="") as f:
        rows = list(csv.reader(f))
    assert rows[0][1:] == CANDS[:3] and float(rows[1][1]) == pytest.approx(1.0, abs=1e-5)


def test_candidate_files(tmp_path):
    txt = tmp_path / "c.txt"
    txt.write_text("一\n\n二\r\n 三 \n", encoding="utf-8")
    assert read_candidates_file(txt, 10_000) == ["一", "二", "三"]
    gbk = tmp_path / "gbk.txt"
    gbk.write_bytes("苹果手机\n华为手机\n".encode("gb18030"))
    assert read_candidates_file(gbk, 10_000) == ["苹果手机", "华为手机"]
    utf16 = tmp_path / "u16.txt"
    utf16.write_text("繁體\n简体\n", encoding="utf-16")
    assert read_candidates_file(utf16, 10_000) == ["繁體", "简体"]
    with_header = tmp_path / "c.csv"
    with_header.write_text('id,text\n1,"你好, 世界"\n2,再见\n', encoding="utf-8-sig")
    assert read_candidates_file(with_header, 10_000) == ["你好, 世界", "再见"]
    no_header = tmp_path / "n.csv"
    no_header.write_text("甲,1\n乙,2\n", encoding="utf-8")
    assert read_candidates_file(no_header, 10_000) == ["甲", "乙"]


@pytest.mark.parametrize("name, content, fragment", [
    ("big.txt", b"x" * 2001, "the limit is 2,000"),
    ("bin.txt", b"\x89PNG\r\n\x1a\n\x00\x00\x00", "binary file"),
    ("latin.txt", bytes(range(0x80, 0x100)) * 3, "neither UTF-8 nor GB18030"),
    ("broken.csv", b'text\n"unclosed quote, here\nnext\n', "not valid CSV"),
])
def test_bad_uploads_are_refused_clearly(tmp_path, name, content, fragment):
    path = tmp_path / name
    path.write_bytes(content)
    with pytest.raises(GteError) as err:
        read_candidates_file(path, 2000)
    assert fragment in err.value.message and err.value.error_type in (ErrorType.TOO_LARGE, ErrorType.VALIDATION)
