"""The 重排 Rerank tab: retrieve the top-k of many candidates by embedding, rerank them with the
cross-encoder, and show how each document moved.

:func:`~gte_ui.service.two_stage.two_stage` is the service's (one capability with search's
rerank stage); :func:`table_rows` is a plain function of its result (tested without a browser);
:func:`build` lays the tab out inside the page's ``gr.Blocks`` and wires them.
"""

from __future__ import annotations

from collections.abc import Sequence

import gradio as gr
import plotly.graph_objects as go

from gte_ui.core.textfiles import read_candidates_file
from gte_ui.core.textnorm import split_lines
from gte_ui.frontends.ui import charts, views
from gte_ui.frontends.ui.common import (
    bind,
    safe,
    text_options,
    texts_with_upload,
    upload_path,
)
from gte_ui.service.service import EmbeddingService
from gte_ui.service.two_stage import TwoStage, movement, two_stage

EXAMPLE_QUERY = "手机电池续航怎么样"
EXAMPLE_DOCS = "\n".join([
    "这款手机电池续航很强，用一天没问题", "手机电量很耐用", "充电速度特别快，半小时充满",
    "这台设备待机时间久", "屏幕很大，拍照片也清楚", "今天北京天气很好", "电池容量大但是充电慢",
    "价格便宜，性价比高"])

COLUMNS = ["重排名次 Rerank #", "移动 Move", "嵌入名次 Embedding #", "嵌入分 Embedding score",
           "重排分 Rerank score", "文本 Text", "备注 Notes"]
#: without a reranker there is no stage 2: no empty rerank columns
EMBEDDING_COLUMNS = ["嵌入名次 Embedding #", "嵌入分 Embedding score", "文本 Text", "备注 Notes"]


def columns(service: EmbeddingService) -> list[str]:
    return COLUMNS if service.reranker is not None else EMBEDDING_COLUMNS


def table_rows(result: TwoStage) -> list[list[object]]:
    """One row per retrieved document, in the final order (the reranker's, else the embedding's)."""
    emb = result.retrieved.rows
    if result.reranked is None:
        return [[r.rank, round(r.score, 4), r.text, _unknown(r.unknown_token_ratio, result)] for r in emb]
    # reranked.rows[i].index is the position among the retrieved rows: embedding rank index + 1
    return [[row.rank, movement(row.index + 1, row.rank), row.index + 1, round(emb[row.index].score, 4),
             round(row.score, 4), row.text,
             _unknown(max(row.unknown_token_ratio, emb[row.index].unknown_token_ratio), result)]
            for row in result.reranked.rows]


def _unknown(ratio: float, result: TwoStage) -> str:
    return views.unknown_mark(ratio, result.unknown_warn)


def summary(result: TwoStage) -> str:
    k = len(result.retrieved.rows)
    first = (f"**阶段 1 嵌入检索 Stage 1, embedding retrieval**: {result.retrieved.total} 条候选 candidates → "
             f"top {k} in {result.retrieve_ms:.0f} ms" + "".join(f"\n\n⚠️ {w}" for w in result.retrieved.warnings))
    if result.reranked is None:
        return (first + "\n\n**阶段 2 重排 Stage 2**: ⚠️ 未加载重排模型，显示嵌入排序 / no reranker loaded "
                "(start with `--reranker MODEL`): the order shown is the embedding's")
    moved = sum(1 for row in result.reranked.rows if row.index + 1 != row.rank)
    return (first + f"\n\n**阶段 2 重排 Stage 2, {result.kind}** `{result.reranked.model}`: {k} pairs in "
            f"{result.rerank_ms:.0f} ms · {moved} 条位置变化 documents moved"
            + "".join(f"\n\n⚠️ {w}" for w in result.reranked.warnings))


@charts.failsafe
def slope_chart(result: TwoStage) -> go.Figure:
    """Each document's embedding rank (left) and rerank rank (right), joined by a line."""
    if result.reranked is None:
        return charts.empty_figure("未加载重排模型 No reranker loaded")
    fig = go.Figure()
    for row in result.reranked.rows:
        before = row.index + 1
        colour = charts.LEVEL_COLOURS[2] if row.rank < before else (
            charts.LEVEL_COLOURS[0] if row.rank > before else "#8a8f98")
        fig.add_trace(go.Scatter(x=[0, 1], y=[before, row.rank], mode="lines+markers+text",
                                 text=["", " " + charts.shorten(row.text, 16)], textposition="middle right",
                                 line=dict(color=colour, width=2), hovertext=row.text, showlegend=False))
    n = len(result.reranked.rows)
    fig.update_xaxes(range=[-0.15, 1.9], tickvals=[0, 1], ticktext=["嵌入 Embedding", "重排 Rerank"], showgrid=False)
    fig.update_yaxes(title="名次 Rank", dtick=1, range=[n + 0.6, 0.4])  # reversed: rank 1 on top
    fig.update_layout(title=charts.title("名次变化 Rank movement"), height=max(260, 40 * n + 100),
                      margin=dict(l=50, r=20, t=40, b=30), font=dict(family=charts.FONT))
    return fig


@safe(3)
def on_rerank(service: EmbeddingService, query: str, docs: str, upload: str | None, top_k: float,
              t2s: bool = False, nfkc: bool = False, ws: bool = False, long_text: str | None = None,
              instruction: str = ""):
    """The tab's callback: (summary, table rows, slope chart); a GteError becomes ``⚠️ message``.
    The page's text options and instruction go to :func:`two_stage`."""
    lines = read_candidates_file(upload_path(upload), service.settings.max_upload_bytes) if upload else split_lines(docs or "")
    result = two_stage(service, query, lines, int(top_k), **text_options(t2s, nfkc, ws, long_text, instruction))
    return summary(result), table_rows(result), slope_chart(result)


def build(service: EmbeddingService, options: Sequence[gr.Component],
          instruction: gr.Component | None = None) -> None:
    """Lay the tab out (call inside the page's ``gr.Blocks``). ``options``: the page's four text
    option components (t2s, nfkc, whitespace, long text), bound to both stages; no model
    selector: the reranker sits beside the default model."""
    s = service.settings
    with gr.Tab("重排 Rerank", id="rerank"):
        note = (f"重排模型 Reranker: `{service.reranker.info.name}` ({service.reranker.info.precision})"
                if service.reranker is not None else
                "⚠️ 未加载重排模型：启动时加 `--reranker MODEL`（如 BAAI/bge-reranker-base）/ no reranker loaded: "
                "stage 2 is skipped")
        gr.Markdown("先用嵌入模型从全部候选中取回 top-k，再用重排模型重排。Retrieve the top-k by embedding, "
                    "then rerank them with the reranker. " + note)
        query = gr.Textbox(label="查询 Query", value=EXAMPLE_QUERY, elem_id="rr-query")
        docs, upload, top_k = texts_with_upload(f"文档，每行一条 Documents, one per line (≤ {s.max_candidates})",
                                                EXAMPLE_DOCS, "rr-docs", 8, (1, 5, "阶段 1 取回 Stage 1 top-k"))
        go_btn = gr.Button("检索并重排 Retrieve + rerank", variant="primary", elem_id="btn-rerank")
        md = gr.Markdown(elem_id="rr-summary")
        table = gr.Dataframe(headers=columns(service), interactive=False, wrap=True, elem_id="rr-table")
        # no reranker, no movement to draw: no empty chart
        plot = gr.Plot(show_label=False, elem_id="rr-plot", visible=service.reranker is not None)

    go_btn.click(bind(on_rerank, service),
                 [query, docs, upload, top_k, *options, *([instruction] if instruction is not None else [])],
                 [md, table, plot], api_visibility="private")
