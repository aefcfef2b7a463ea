"""矩阵 Matrix: an N × N cosine heatmap of up to ``--max-matrix`` texts, and its CSV."""

from __future__ import annotations

from collections.abc import Sequence

import gradio as gr
import plotly.graph_objects as go

from gte_ui.core.textnorm import split_lines
from gte_ui.frontends.ui import charts, views
from gte_ui.frontends.ui.common import bind, pick_model, safe, text_options
from gte_ui.service.service import EmbeddingService

EXAMPLE = "这款手机电池续航很强\n手机电量很耐用\n充电速度特别快\n今天天气很好\n我想借钱"


@safe(3)
def on_matrix(service: EmbeddingService, text: str, t2s: bool, nfkc: bool, ws: bool,
              long_text: str, model: str = "") -> tuple[str, go.Figure, str]:
    """One text per line: (size and time, heatmap, CSV path)."""
    m = pick_model(service, model, "the matrix").matrix(split_lines(text or ""), **text_options(t2s, nfkc, ws, long_text))
    note = f"{len(m.texts)} × {len(m.texts)} · 耗时 {m.elapsed_ms:.0f} ms · 悬停看全文 hover a cell for the full texts"
    note += "".join(f"\n\n⚠️ {w}" for w in m.warnings)
    return note, charts.heatmap(m.texts, m.scores), str(views.matrix_csv(m))


def build(service: EmbeddingService, options: Sequence[gr.Component]) -> None:
    with gr.Tab("矩阵 Matrix", id="matrix"):
        mat_in = gr.Textbox(label=f"文本，每行一条（2–{service.settings.max_matrix}）Texts, one per line", lines=6,
                            value=EXAMPLE, elem_id="mat-in")
        go_mat = gr.Button("计算矩阵 Compute matrix", variant="primary", elem_id="btn-mat")
        mat_md = gr.Markdown(elem_id="mat-summary")
        mat_plot = gr.Plot(show_label=False, elem_id="mat-plot")  # the figure carries its title
        mat_file = gr.File(label="下载 CSV Download")
    go_mat.click(bind(on_matrix, service), [mat_in, *options], [mat_md, mat_plot, mat_file],
                 api_visibility="private")
