"""相似度 Pairwise tab: its callbacks as plain functions over the real tiny-BERT service (no browser)."""

from __future__ import annotations

import plotly.graph_objects as go
import pytest
from ui_kit import OPTIONS, refused

from gte_ui.frontends.ui.common import COMPARE
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



def test_compare_all_is_one_row_and_one_bar_per_model(two_models):
    text, bars = pairwise.on_pair(two_models, "今天天气很好", "我想借钱", *OPTIONS, COMPARE)
    want = {s.name: s.pair("今天天气很好", "我想借钱") for s in two_models.models()}
    assert len(want) == 2 and abs(want["twin"].score - want[two_models.name].score) > 1e-4  # distinct models
    assert list(bars.data[0].x) == list(want) and list(bars.data[0].y) == pytest.approx([r.score for r in want.values()])
    for name, r in want.items():
        assert f"| {name} | **{r.score:.4f}** |" in text


def test_align_explains_the_pair_shown(tiny_service):
    summary, fig = pairwise.on_align(tiny_service, "今天天气很好", "今天天气不错")
    al = tiny_service.align("今天天气很好", "今天天气不错")
    assert f"**F1 {al.f1:.3f}**" in summary and f"P {al.precision:.3f}" in summary
    assert fig.data[0].z.shape == (len(al.tokens_a), len(al.tokens_b))
    refused(lambda: pairwise.on_align(tiny_service, "", "好"), "sentence A is empty")
