"""Figures as pure functions of numbers (plotly): gauge, ranking bars, similarity heatmap.

Every public function is failsafe: a figure that cannot be drawn becomes an empty figure with a
note, never an exception inside a Gradio callback.
"""

from __future__ import annotations

import functools
import html
import logging
import math
from collections.abc import Callable, Sequence
from typing import ParamSpec

import numpy as np
import plotly.graph_objects as go

from gte_ui.core.scoring import VerdictBands, to_percent
from gte_ui.evaluation.metrics import EvalResult, label_groups

log = logging.getLogger(__name__)
P = ParamSpec("P")

#: verdict level -> colour (different, moderate, high), shared by gauge bands and bars
LEVEL_COLOURS = ("#e4572e", "#f3a712", "#29bf12")
BAND_COLOURS = ("#fbd5cc", "#fde7bf", "#cdefc8")
FONT = "Noto Sans CJK SC, PingFang SC, Microsoft YaHei, sans-serif"
#: one colour per model in overlaid / grouped charts (distinct, and never mixed: see score_distributions)
MODEL_COLOURS = ("#3b5bdb", "#e8590c", "#2b8a3e", "#ae3ec9", "#1098ad", "#f08c00")


def title(text: str) -> dict:
    """A figure's title inside its own top margin. The plots carry no Gradio label badge (it sat
    over the axis labels): the title says what each figure shows."""
    return {"text": text, "x": 0.01, "xanchor": "left", "y": 0.98, "yanchor": "top",
            "font": {"size": 14, "family": FONT}}


def failsafe(fn: Callable[P, go.Figure]) -> Callable[P, go.Figure]:
    """Return an empty figure with a note instead of raising (a raising callback breaks the UI)."""

    @functools.wraps(fn)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> go.Figure:
        try:
            return fn(*args, **kwargs)
        except Exception:  # noqa: BLE001 - a broken chart must not break the page
            log.exception("chart %s failed", fn.__name__)
            return empty_figure("图表无法绘制 Chart unavailable")

    return wrapper


def empty_figure(note: str = "") -> go.Figure:
    fig = go.Figure()
    fig.update_layout(xaxis_visible=False, yaxis_visible=False, height=240, margin=dict(l=10, r=10, t=10, b=10),
                      annotations=[dict(text=note, showarrow=False, font=dict(size=14, family=FONT))] if note else [])
    return fig


def shorten(text: str, limit: int = 24) -> str:
    """One line, at most ``limit`` characters, with an ellipsis when cut."""
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


@failsafe
def gauge(score: float, bands: VerdictBands = VerdictBands(), title: str = "相似度 Similarity") -> go.Figure:
    """A 0–100 % gauge: coloured bands at the verdict thresholds, the needle at ``score``."""
    pct = to_percent(score)  # the service's own percent: the headline shows the same number
    mid, high = (max(0.0, min(100.0, b * 100.0)) for b in (bands.mid, bands.high))
    level = 2 if score > bands.high else 1 if score > bands.mid else 0
    fig = go.Figure(go.Indicator(
        mode="gauge+number", value=pct,
        number=dict(suffix=" %", valueformat=".1f", font=dict(size=40, family=FONT, color=LEVEL_COLOURS[level])),
        title=dict(text=title, font=dict(size=16, family=FONT)),
        gauge=dict(
            axis=dict(range=[0, 100], tickvals=[0, mid, high, 100], ticktext=["0", f"{mid:.0f}", f"{high:.0f}", "100"]),
            bar=dict(color=LEVEL_COLOURS[level], thickness=0.3),
            steps=[dict(range=[0, mid], color=BAND_COLOURS[0]), dict(range=[mid, high], color=BAND_COLOURS[1]),
                   dict(range=[high, 100], color=BAND_COLOURS[2])],
            threshold=dict(line=dict(color="#222", width=4), thickness=0.9, value=pct),
        )))
    fig.update_layout(height=260, margin=dict(l=30, r=30, t=50, b=10), font=dict(family=FONT))
    return fig


@failsafe
def ranking_bars(texts: Sequence[str], scores: Sequence[float], levels: Sequence[int]) -> go.Figure:
    """Horizontal bars, best on top; bar colour = verdict level."""
    if not texts:
        return empty_figure("没有结果 No results")
    labels = [f"{i + 1}. {shorten(t, 22)}" for i, t in enumerate(texts)]
    fig = go.Figure(go.Bar(
        x=[float(s) for s in scores], y=labels, orientation="h",
        marker_color=[LEVEL_COLOURS[lv] for lv in levels],
        text=[f"{s:.3f}" for s in scores], textposition="inside", insidetextanchor="end", cliponaxis=False,
        hovertext=list(texts), hoverinfo="text+x"))
    fig.update_layout(title=title("得分（按名次）Scores by rank"), height=max(220, 34 * len(texts) + 80),
                      margin=dict(l=10, r=10, t=40, b=30),
                      yaxis=dict(autorange="reversed"), xaxis=dict(title="余弦相似度 Cosine", range=[min(0.0, min(scores)), 1.0]),
                      font=dict(family=FONT))
    return fig


@failsafe
def heatmap(texts: Sequence[str], matrix: Sequence[Sequence[float]]) -> go.Figure:
    """N x N cosine heatmap; axis labels numbered and shortened so they stay distinct and short."""
    labels = [f"{i + 1}. {shorten(t, 14)}" for i, t in enumerate(texts)]
    # The axes can only show short labels; hovering a cell shows both full texts (wrapped).
    full = [f"{i + 1}. {_wrap(t)}" for i, t in enumerate(texts)]
    fig = go.Figure(go.Heatmap(
        z=[[float(v) for v in row] for row in matrix], x=labels, y=labels, zmin=-1 if _has_negative(matrix) else 0,
        zmax=1, colorscale="Viridis", text=[[f"{v:.2f}" for v in row] for row in matrix],
        texttemplate="%{text}" if len(texts) <= 12 else None,
        customdata=[[[full[r], full[c]] for c in range(len(texts))] for r in range(len(texts))],
        hovertemplate="%{customdata[0]}<br>↔ %{customdata[1]}<br>cos = %{z:.4f}<extra></extra>"))
    side = min(900, max(360, 38 * len(texts) + 160))
    fig.update_layout(title=title("余弦相似度矩阵 Cosine similarity matrix"), height=side,
                      margin=dict(l=10, r=10, t=40, b=10), yaxis=dict(autorange="reversed"),
                      font=dict(family=FONT))
    return fig


def _wrap(text: str, width: int = 40, limit: int = 400) -> str:
    """Hover text: whitespace flattened, HTML escaped, a line break every ``width`` characters."""
    flat = " ".join(text.split())
    flat = flat if len(flat) <= limit else flat[: limit - 1] + "…"
    return "<br>".join(html.escape(flat[i:i + width]) for i in range(0, len(flat), width))


def _cycle(colours: Sequence[str]):
    while True:
        yield from colours


def _has_negative(matrix: Sequence[Sequence[float]]) -> bool:
    return any(v < 0 for row in matrix for v in row)


def evaluation_figure(result: EvalResult) -> go.Figure:
    """Box plots of the cosine per label group (0/1 labels, or graded labels binned as in
    ``by_label``, so 0–5 scores give at most a few boxes); failsafe."""
    try:
        fig = go.Figure()
        lab = np.asarray(result.labels)
        cos = np.asarray(result.cosines)
        for name, members in label_groups(lab):
            fig.add_trace(go.Box(y=cos[members], name=f"label {name}", boxmean=True))
        if result.f1_threshold is not None:
            fig.add_hline(y=result.f1_threshold, line_dash="dash",
                          annotation_text=f"F1-best threshold {result.f1_threshold:.3f}")
        fig.update_layout(title=title("各标签的余弦分布 Cosine per label"), height=380, yaxis_title="余弦 Cosine",
                          showlegend=False, font=dict(family=FONT), margin=dict(l=10, r=10, t=40, b=10))
        return fig
    except Exception:  # noqa: BLE001
        return empty_figure("图表无法绘制 Chart unavailable")


@failsafe
def model_bars(names: Sequence[str], scores: Sequence[float], levels: Sequence[int]) -> go.Figure:
    """One bar per model for the same pair: the cosine each model gives, coloured by its verdict."""
    fig = go.Figure(go.Bar(x=list(names), y=list(scores), marker_color=[LEVEL_COLOURS[v] for v in levels],
                           text=[f"{s:.3f}" for s in scores], textposition="auto", cliponaxis=False))
    fig.update_layout(title=title("各模型的余弦 Cosine per model"), height=320,
                      yaxis={"title": "余弦 Cosine", "range": [min(0.0, min(scores, default=0)), 1.05]},
                      font=dict(family=FONT), margin=dict(l=10, r=10, t=40, b=10))
    return fig


@failsafe
def compare_bars(texts: Sequence[str], scores_by_model: dict[str, Sequence[float]]) -> go.Figure:
    """Grouped bars: each candidate's score under every model (candidates in input order)."""
    fig = go.Figure()
    labels = [shorten(t) for t in texts]
    for (name, scores), colour in zip(scores_by_model.items(), _cycle(MODEL_COLOURS)):
        fig.add_trace(go.Bar(name=name, x=labels, y=list(scores), marker_color=colour,
                             hovertext=[_wrap(t) for t in texts]))
    fig.update_layout(title=title("各候选在各模型下的余弦 Cosine of each candidate per model"), barmode="group",
                      height=380, yaxis_title="余弦 Cosine", font=dict(family=FONT),
                      margin=dict(l=10, r=10, t=40, b=10), legend=dict(orientation="h", y=-0.2))
    return fig


@failsafe
def alignment_heatmap(tokens_a: Sequence[str], tokens_b: Sequence[str], matrix: Sequence[Sequence[float]],
                      best_b: Sequence[int]) -> go.Figure:
    """Token × token cosines (A down, B across), each A token's best match in B marked."""
    fig = go.Figure(go.Heatmap(z=np.asarray(matrix, dtype=float), x=[f"{j}:{t}" for j, t in enumerate(tokens_b)],
                               y=[f"{i}:{t}" for i, t in enumerate(tokens_a)], colorscale="Blues",
                               colorbar=dict(title="cos"),
                               hovertemplate="A %{y} · B %{x}<br>cos %{z:.3f}<extra></extra>"))
    fig.add_trace(go.Scatter(x=[f"{j}:{tokens_b[j]}" for j in best_b], y=[f"{i}:{t}" for i, t in enumerate(tokens_a)],
                             mode="markers", marker=dict(symbol="circle-open", size=12, color="#e4572e", line=dict(width=2)),
                             name="最佳匹配 best match", hoverinfo="skip"))
    fig.update_layout(title=title("词元 × 词元余弦 Token × token cosine"), height=max(280, 22 * len(tokens_a) + 140),
                      font=dict(family=FONT), yaxis=dict(autorange="reversed", title="句子 A"),
                      xaxis=dict(title="句子 B"), margin=dict(l=10, r=10, t=40, b=10), showlegend=False)
    return fig


@failsafe
def score_distributions(scores_by_model: dict[str, Sequence[float]]) -> go.Figure:
    """Each model's cosines on the same pairs as histograms on shared bins, bars side by side:
    overlaid translucent bars mixed into a colour that matched neither legend entry."""
    fig = go.Figure()
    everything = [float(s) for scores in scores_by_model.values() for s in scores]
    low, high = (min(everything), max(everything)) if everything else (0.0, 1.0)
    size = max((high - low) / 30, 1e-3)
    for (name, scores), colour in zip(scores_by_model.items(), _cycle(MODEL_COLOURS)):
        fig.add_trace(go.Histogram(x=list(scores), name=name, marker_color=colour,
                                   xbins={"start": low, "end": high + size, "size": size}))
    fig.update_layout(title=title("各模型的余弦分布 Cosine distribution per model"), barmode="group", bargap=0.1,
                      height=380, xaxis_title="余弦 Cosine", yaxis_title="对数 Pairs", font=dict(family=FONT),
                      margin=dict(l=10, r=10, t=40, b=10), legend=dict(orientation="h", y=-0.25))
    return fig


@failsafe
def rerank_metrics_figure(results: Sequence) -> go.Figure:
    """Grouped bars: MRR@10, nDCG@10 and mean Spearman (× 100) for each method (embedding, reranker)."""
    names = ["MRR@10", "nDCG@10", "Spearman"]
    fig = go.Figure()
    for r, colour in zip(results, ("#8a8f98", "#3b5bdb")):
        values = [r.mrr_at_10 * 100, r.ndcg_at_10 * 100, r.spearman * 100]
        label = "嵌入 Embedding" if r.method == "embedding" else "重排 Reranker"
        fig.add_trace(go.Bar(name=label, x=names, y=values, marker_color=colour,
                             text=[f"{v:.1f}" for v in values], textposition="outside", cliponaxis=False))
    top = max([v for r in results for v in (r.mrr_at_10, r.ndcg_at_10, r.spearman) if not math.isnan(v)] or [1.0]) * 100
    fig.update_layout(title=title("重排指标 Rerank metrics (× 100)"), barmode="group", height=340,
                      margin=dict(l=40, r=10, t=50, b=30), yaxis={"title": "× 100", "range": [0, max(100.0, top) * 1.12]},
                      font=dict(family=FONT), legend=dict(orientation="h", y=-0.15))
    return fig
