"""Figures as pure functions of numbers (gte_ui.frontends.ui.charts)."""

from __future__ import annotations

import plotly.graph_objects as go
import pytest

from gte_ui.core.scoring import VerdictBands
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

