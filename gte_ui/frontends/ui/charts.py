"""Figures as pure functions of numbers (plotly): gauge, ranking bars, similarity heatmap.

Every public function is failsafe: a figure that cannot be drawn becomes an empty figure with a
note, never an exception inside a Gradio callback.
"""

from __future__ import annotations

import functools
import html
import logging
from collections.abc import Callable, Sequence
from typing import ParamSpec

import numpy as np
import plotly.graph_objects as go

from gte_ui.core.scoring import VerdictBands
from gte_ui.evaluation.metrics import EvalResult, label_groups

log = logging.getLogger(__name__)
P = ParamSpec("P")

#: verdict level -> colour (different, moderate, high), shared by gauge bands and bars
LEVEL_COLOURS = ("#e4572e", "#f3a712", "#29bf12")
BAND_COLOURS = ("#fbd5cc", "#fde7bf", "#cdefc8")
FONT = "Noto Sans CJK SC, PingFang SC, Microsoft YaHei, sans-serif"


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
    pct = max(0.0, min(1.0, float(score))) * 100.0
    mid, high = (max(0.0, min(100.0, b * 100.0)) for b in (bands.mid, bands.high))
    level = 2 if score > bands.high else 1 if score > bands.mid else 0
    fig = go.Figure(go.Indicator(
        mode="gauge+number", value=round(pct, 1),
        number=dict(suffix=" %", font=dict(size=40, family=FONT, color=LEVEL_COLOURS[level])),
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
        text=[f"{s:.3f}" for s in scores], textposition="auto",
        hovertext=list(texts), hoverinfo="text+x"))
    fig.update_layout(height=max(220, 34 * len(texts) + 60), margin=dict(l=10, r=10, t=30, b=30),
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
    fig.update_layout(height=side, margin=dict(l=10, r=10, t=30, b=10), yaxis=dict(autorange="reversed"),
                      font=dict(family=FONT))
    return fig


def _wrap(text: str, width: int = 40, limit: int = 400) -> str:
    """Hover text: whitespace flattened, HTML escaped, a line break every ``width`` characters."""
    flat = " ".join(text.split())
    flat = flat if len(flat) <= limit else flat[: limit - 1] + "…"
    return "<br>".join(html.escape(flat[i:i + width]) for i in range(0, len(flat), width))


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
        fig.update_layout(height=380, yaxis_title="余弦 Cosine", showlegend=False, font=dict(family=FONT),
                          margin=dict(l=10, r=10, t=30, b=10))
        return fig
    except Exception:  # noqa: BLE001
        return empty_figure("图表无法绘制 Chart unavailable")


@failsafe
def model_bars(names: Sequence[str], scores: Sequence[float], levels: Sequence[int]) -> go.Figure:
    """One bar per model for the same pair: the cosine each model gives, coloured by its verdict."""
    fig = go.Figure(go.Bar(x=list(names), y=list(scores), marker_color=[LEVEL_COLOURS[v] for v in levels],
                           text=[f"{s:.3f}" for s in scores], textposition="auto"))
    fig.update_layout(height=320, yaxis=dict(title="余弦 Cosine", range=[min(0.0, min(scores, default=0)), 1]),
                      font=dict(family=FONT), margin=dict(l=10, r=10, t=20, b=10))
    return fig


@failsafe
def compare_bars(texts: Sequence[str], scores_by_model: dict[str, Sequence[float]]) -> go.Figure:
    """Grouped bars: each candidate's score under every model (candidates in input order)."""
    fig = go.Figure()
    labels = [shorten(t) for t in texts]
    for name, scores in scores_by_model.items():
        fig.add_trace(go.Bar(name=name, x=labels, y=list(scores), hovertext=[_wrap(t) for t in texts]))
    fig.update_layout(barmode="group", height=360, yaxis_title="余弦 Cosine", font=dict(family=FONT),
                      margin=dict(l=10, r=10, t=20, b=10), legend=dict(orientation="h"))
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
    fig.update_layout(height=max(280, 22 * len(tokens_a) + 120), font=dict(family=FONT),
                      yaxis=dict(autorange="reversed", title="句子 A"), xaxis=dict(title="句子 B"),
                      margin=dict(l=10, r=10, t=20, b=10), showlegend=False)
    return fig


@failsafe
def score_distributions(scores_by_model: dict[str, Sequence[float]]) -> go.Figure:
    """Overlaid histograms of each model's cosines on the same pairs (where each model's scores sit)."""
    fig = go.Figure()
    for name, scores in scores_by_model.items():
        fig.add_trace(go.Histogram(x=list(scores), name=name, opacity=0.55, nbinsx=40))
    fig.update_layout(barmode="overlay", height=360, xaxis_title="余弦 Cosine", yaxis_title="对数 Pairs",
                      font=dict(family=FONT), margin=dict(l=10, r=10, t=20, b=10), legend=dict(orientation="h"))
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
                             text=[f"{v:.1f}" for v in values], textposition="outside"))
    fig.update_layout(barmode="group", height=320, margin=dict(l=40, r=10, t=20, b=30),
                      yaxis_title="× 100", font=dict(family=FONT), legend=dict(orientation="h"))
    return fig
