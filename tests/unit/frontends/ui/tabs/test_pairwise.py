"""相似度 Pairwise tab: its callbacks as plain functions over the real tiny-BERT service (no browser)."""

from __future__ import annotations

import plotly.graph_objects as go
import pytest
from ui_kit import OPTIONS, refused

from gte_ui.frontends.ui.tabs import pairwise


def test_pair_scores_like_the_service_and_never_says_cached(tiny_service):
    text, gauge = pairwise.on_pair(tiny_service, "今天天气很好", "我想借钱", *OPTIONS)
    expected = tiny_service.pair("今天天气很好", "我想借钱")
    assert text.startswith(f"### {expected.score:.4f}") and expected.verdict.zh in text
    assert "ms" in text and "From cache" not in text  # the first call ran the model
    assert gauge.data[0].value == pytest.approx(expected.percent, abs=0.05)
    again, _ = pairwise.on_pair(tiny_service, "今天天气很好", "我想借钱", *OPTIONS)
    # a repeat is served from the cache, but the answer must not say so (issue 26): it would tell
    # a visitor that someone sent these texts; and a sub-millisecond time reads "< 1 ms", not "0 ms"
    assert "From cache" not in again and "缓存" not in again and "0 ms" not in again


def test_pair_bad_input_keeps_a_figure(tiny_service):
    _text, gauge = refused(lambda: pairwise.on_pair(tiny_service, "   ", "我想借钱", *OPTIONS), "sentence A is empty")
    assert isinstance(gauge, go.Figure)  # the score text is shown once a figure is drawn (style.css)
    refused(lambda: pairwise.on_pair(tiny_service, "好", None, *OPTIONS), "sentence B must be a string")
    too_long = "长" * (tiny_service.settings.max_chars + 1)
    refused(lambda: pairwise.on_pair(tiny_service, too_long, "好", *OPTIONS), "the limit is")
    refused(lambda: pairwise.on_pair(tiny_service, "好", "坏", False, False, False, "summarise"),
            "long_text must be one of")


def test_swap():
    assert pairwise.on_swap("甲", "乙") == ("乙", "甲")


def test_alignment_follows_the_pair_shown(tiny_service):
    """Issue 30.3: after a new score the open alignment panel shows the new pair's F1 (or says
    why there is none), never the previous pair's; unused, it stays empty."""
    assert pairwise.on_follow_alignment(tiny_service, "你好", "你们好", "", False) == ("", None)
    md, fig = pairwise.on_follow_alignment(tiny_service, "今天天气很好", "我们去公园散步", "", True)
    f1 = tiny_service.align("今天天气很好", "我们去公园散步").f1
    assert f"F1 {f1:.3f}" in md and isinstance(fig, go.Figure)
    md, fig = pairwise.on_follow_alignment(tiny_service, "   ", "我们去公园散步", "", True)
    assert md.startswith("⚠️") and "sentence A is empty" in md and fig is None

