"""Retrieval evaluation figures, pure functions of a :class:`RetrievalReport` (plotly): metric bars
per model and stage, the recall@k curve, and both side by side for the Evaluate tab's one plot."""

from __future__ import annotations

import plotly.graph_objects as go
from plotly.subplots import make_subplots

from gte_ui.evaluation.retrieval import METRICS, RetrievalReport
from gte_ui.frontends.ui.charts import FONT, failsafe

#: one colour per model; the reranked stage of a model is drawn in its colour, hatched
MODEL_COLOURS = ("#3b5bdb", "#e8590c", "#2b8a3e", "#862e9c", "#c92a2a", "#1098ad")


def _colours(report: RetrievalReport) -> dict[str, str]:
    models = list(dict.fromkeys(s.model for s in report.stages))
    return {m: MODEL_COLOURS[i % len(MODEL_COLOURS)] for i, m in enumerate(models)}


def _bar_traces(report: RetrievalReport) -> list[go.Bar]:
    colours, names = _colours(report), list(METRICS.values())
    traces = []
    digits = 1 if len(report.stages) <= 2 else 0  # narrow bars: whole numbers stay readable
    for s in report.stages:
        values = [s.metrics[k] * 100 for k in METRICS]
        traces.append(go.Bar(name=s.label, x=names, y=values, marker_color=colours[s.model],
                             marker_pattern_shape="/" if s.stage == "rerank" else "", legendgroup=s.label,
                             text=[f"{v:.{digits}f}" for v in values], textposition="outside", cliponaxis=False))
    return traces


def _curve_traces(report: RetrievalReport, legend: bool) -> list[go.Scatter]:
    colours = _colours(report)
    return [go.Scatter(x=list(s.recall_curve), y=[v * 100 for v in s.recall_curve.values()], mode="lines+markers",
                       name=s.label, legendgroup=s.label, showlegend=legend,
                       line={"color": colours[s.model], "dash": "dash" if s.stage == "rerank" else "solid"})
            for s in report.stages]


@failsafe
def retrieval_bars(report: RetrievalReport) -> go.Figure:
    """Grouped bars: nDCG@10, MRR@10, Recall@1/10/100, MAP@100 (× 100) for each model and stage."""
    fig = go.Figure(_bar_traces(report))
    fig.update_layout(barmode="group", height=380, yaxis_title="× 100", font={"family": FONT},
                      margin={"l": 40, "r": 10, "t": 30, "b": 30}, legend={"orientation": "h"})
    return fig


@failsafe
def recall_curve(report: RetrievalReport) -> go.Figure:
    """Recall@k against k (log axis): where the relevant documents sit in each model's ranking."""
    fig = go.Figure(_curve_traces(report, legend=True))
    fig.update_layout(height=380, xaxis={"type": "log", "title": "k"}, yaxis={"title": "Recall@k × 100", "range": [0, 105]},
                      font={"family": FONT}, margin={"l": 40, "r": 10, "t": 30, "b": 30}, legend={"orientation": "h"})
    return fig


@failsafe
def retrieval_figure(report: RetrievalReport) -> go.Figure:
    """Both in one figure (the Evaluate tab has one plot): bars left, the recall curve right."""
    fig = make_subplots(rows=1, cols=2, column_widths=[0.62, 0.38], horizontal_spacing=0.08,
                        subplot_titles=("指标 Metrics (× 100)", "召回曲线 Recall@k"))
    for trace in _bar_traces(report):
        fig.add_trace(trace, row=1, col=1)
    for trace in _curve_traces(report, legend=False):
        fig.add_trace(trace, row=1, col=2)
    fig.update_xaxes(type="log", title_text="k", row=1, col=2)
    fig.update_yaxes(range=[0, 110], row=1, col=1)
    fig.update_yaxes(range=[0, 105], row=1, col=2)
    fig.update_layout(barmode="group", height=420, font={"family": FONT}, margin={"l": 40, "r": 10, "t": 40, "b": 30},
                      legend={"orientation": "h", "y": -0.15})
    return fig
