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


# ------------------------------------------------------------------ issue 30.8: wording and layout
def test_headline_and_gauge_show_one_percent(tiny_service):
    """46.5 % in the headline beside 46.6 % on the gauge: both now come from the service's percent."""
    from gte_ui.core.scoring import to_percent

    score = 0.465549  # round(46.5549, 1) = 46.6, but the service's percent 46.55 reads 46.5
    value = charts.gauge(score).data[0]
    assert value.value == to_percent(score) and value.number.valueformat == ".1f"
    r = tiny_service.pair("今天天气很好", "我们去公园散步")
    gauge = charts.gauge(r.score, r.bands).data[0]
    assert f"{gauge.value:.1f} %" in views.pair_markdown(r).splitlines()[0]


def test_charts_say_what_they_show_and_models_keep_their_colours():
    dist = charts.score_distributions({"a": [0.1, 0.5, 0.52], "b": [0.2, 0.9, 0.91]})
    assert dist.layout.barmode != "overlay"  # translucent overlays mixed into a third colour
    colours = [t.marker.color for t in dist.data]
    assert len(set(colours)) == 2 and all(c in charts.MODEL_COLOURS for c in colours)
    assert dist.data[0].xbins.size == dist.data[1].xbins.size  # shared bins, bars side by side
    bars = charts.model_bars(["a", "b"], [0.5, 0.7], [1, 1])
    titles = {"distribution": dist.layout.title.text, "models": bars.layout.title.text,
              "heatmap": charts.heatmap(["x", "y"], [[1, 0.5], [0.5, 1]]).layout.title.text,
              "ranking": charts.ranking_bars(["x"], [0.9], [2]).layout.title.text}
    assert all(titles.values()) and len(set(titles.values())) == len(titles)
    assert "Gauge" not in titles["models"] and "per label" not in titles["distribution"]
    # the top bar's score label is not cut off by the plot edge
    assert charts.ranking_bars(["x"], [0.99], [2]).data[0].cliponaxis is False


def test_columns_message_fits_every_front_end_and_names_the_files_columns():
    from gte_ui.evaluation.metrics import read_pairs

    with pytest.raises(GteError) as err:
        read_pairs(b"foo,bar,baz\nx,y,z\n", name="f.csv")
    message = err.value.message
    assert "foo,bar,baz" in message and "sentence1" not in message
    assert "Columns" in message and "列" in message  # the UI's field, not only the CLI's flag
