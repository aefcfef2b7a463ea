"""Figures as pure functions of numbers (gte_ui.frontends.ui.charts)."""

from __future__ import annotations

import plotly.graph_objects as go
import pytest

from gte_ui.core.scoring import VerdictBands
from gte_ui.evaluation.rerank import RerankEval
from gte_ui.frontends.ui import charts


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



def test_alignment_heatmap_marks_each_a_tokens_best_match():
    matrix = [[0.9, 0.1, 0.2], [0.3, 0.2, 0.8]]
    fig = charts.alignment_heatmap(["今", "天"], ["今", "日", "天"], matrix, [0, 2])
    heat, marks = fig.data
    assert list(heat.y) == ["0:今", "1:天"] and list(heat.x) == ["0:今", "1:日", "2:天"]
    assert heat.z.tolist() == matrix
    assert list(marks.x) == ["0:今", "2:天"] and list(marks.y) == ["0:今", "1:天"]  # (A token, its best B)
    assert "Chart unavailable" in charts.alignment_heatmap(["a"], ["b"], [[0.5]], [3]).layout.annotations[0].text


def test_compare_bars_one_group_per_model_in_input_order():
    fig = charts.compare_bars(["甲" * 30, "乙"], {"m1": [0.8, 0.2], "m2": [0.6, 0.4]})
    assert [t.name for t in fig.data] == ["m1", "m2"] and fig.layout.barmode == "group"
    assert list(fig.data[1].y) == [0.6, 0.4] and list(fig.data[0].x) == [charts.shorten("甲" * 30), "乙"]
    assert fig.data[0].x[0].endswith("…") and fig.data[0].marker.color != fig.data[1].marker.color


def test_model_bars_colour_each_model_by_its_verdict():
    fig = charts.model_bars(["a", "b", "c"], [0.95, 0.5, -0.2], [2, 1, 0])
    bar = fig.data[0]
    assert list(bar.y) == [0.95, 0.5, -0.2] and list(bar.marker.color) == list(charts.LEVEL_COLOURS[::-1])
    assert fig.layout.yaxis.range[0] == -0.2  # a negative cosine stays on the chart


def test_rerank_metrics_figure_is_both_methods_times_100():
    results = [RerankEval("embedding", "gte", 10, 0.5, 0.6, 0.3, 10, 1.0),
               RerankEval("cross-encoder", "ce", 10, 0.75, float("nan"), 0.45, 10, 2.0)]
    fig = charts.rerank_metrics_figure(results)
    assert [t.name for t in fig.data] == ["嵌入 Embedding", "重排 Reranker"]
    assert list(fig.data[0].y) == pytest.approx([50.0, 60.0, 30.0]) and list(fig.data[1].x) == ["MRR@10", "nDCG@10", "Spearman"]
    assert fig.data[1].y[0] == pytest.approx(75.0) and fig.layout.yaxis.range[1] == pytest.approx(112.0)
