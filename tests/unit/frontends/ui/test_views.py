"""Pure pieces behind the UI (gte_ui.frontends.ui.views): tables, summaries, exported files."""

from __future__ import annotations

import csv
import json

import numpy as np
import pytest

from gte_ui.core.scoring import to_percent
from gte_ui.frontends.ui import charts, views

SOURCE = "这款手机电池续航很强"
CANDS = ["手机电量很耐用", "这台设备待机时间久", "电池容量大，用一天没问题", "充电速度特别快", "手机电量很耐用"]


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


def test_headline_and_gauge_show_one_percent(tiny_service):
    """46.5 % in the headline beside 46.6 % on the gauge: both now come from the service's percent."""
    score = 0.465549  # round(46.5549, 1) = 46.6, but the service's percent 46.55 reads 46.5
    value = charts.gauge(score).data[0]
    assert value.value == to_percent(score) and value.number.valueformat == ".1f"
    r = tiny_service.pair("今天天气很好", "我们去公园散步")
    gauge = charts.gauge(r.score, r.bands).data[0]
    assert f"{gauge.value:.1f} %" in views.pair_markdown(r).splitlines()[0]

