"""向量地图 Map: an accordion that draws the embedding map of pasted or uploaded texts (and queries
over them), through :mod:`gte_ui.service.embedding_map`. Built inside a tab (today the Vector
tab; the Search tab's index view can call :func:`build` the same way)."""

from __future__ import annotations

import gradio as gr
import plotly.graph_objects as go

from gte_ui.core.textnorm import split_lines
from gte_ui.frontends.ui import charts
from gte_ui.frontends.ui.common import bind, pick_model, safe, upload_path
from gte_ui.service import embedding_map
from gte_ui.service.service import EmbeddingService

EXAMPLE = ("这款手机电池续航很强\n手机充一次电能用两天\n屏幕显示效果清晰\n拍照效果非常好，夜景也清楚\n"
           "今天天气很好\n明天会下雨吗\n周末阳光明媚适合出游\n气温骤降注意保暖\n"
           "这家餐厅的菜很好吃\n火锅味道正宗价格实惠\n甜点太甜了\n服务员态度热情")
EXAMPLE_QUERIES = "手机续航怎么样\n天气预报"


@safe(2, fill=lambda: (charts.empty_figure(),))
def on_map(service: EmbeddingService, text: str, upload: str | None, label_column: str | None, queries: str,
           method: str, clusters: float, model: str = "") -> tuple[str, go.Figure]:
    """(note markdown, figure) of the pasted lines or the uploaded file, queries drawn over them."""
    service = pick_model(service, model, "the map")
    if upload:
        texts, labels = embedding_map.read_map_file(upload_path(upload), label_column=(label_column or "").strip() or None,
                                                    max_bytes=service.settings.max_upload_bytes)
    else:
        texts, labels = split_lines(text or ""), None
    result = embedding_map.build_map(service, texts, labels=labels, queries=split_lines(queries or ""),
                                     method=method or "pca", clusters=int(clusters or embedding_map.DEFAULT_CLUSTERS))
    note = f"**{result.note}**" + (" — ⚠️ 大语料已抽样 large corpus sampled" if result.sampled else "")
    return note, embedding_map.map_figure(result, title=f"向量地图 Embedding map · {service.name}")


def build(service: EmbeddingService, model: gr.Component) -> None:
    """The accordion (call inside a tab)."""
    methods = ["pca"] + (["umap"] if embedding_map.umap_available() else [])
    with gr.Accordion("向量地图 Map", open=False, elem_id="map-accordion"):
        gr.Markdown("把文本投影到二维（PCA；装了 umap-learn 时可选 UMAP），按 k-means 簇或标签列着色，查询以星号画在语料上；"
                    f"超过 {service.settings.map_max_points:,} 条时随机抽样并注明。 Texts projected to 2-D, coloured "
                    "by k-means cluster or a label column, queries as stars over the corpus.")
        with gr.Row():
            map_in = gr.Textbox(label="语料，每行一条 Corpus, one text a line", lines=6, value=EXAMPLE,
                                elem_id="map-in", scale=3)
            with gr.Column(scale=2):
                map_file = gr.File(label="或上传 Or upload .txt/.csv/.tsv/.jsonl", type="filepath",
                                   file_types=[".txt", ".csv", ".tsv", ".jsonl"])
                map_label = gr.Textbox(label="标签列 Label column (可选 optional; csv/jsonl)", elem_id="map-label")
                map_queries = gr.Textbox(label="查询 Queries (每行一条 one a line)", lines=2, value=EXAMPLE_QUERIES,
                                         elem_id="map-queries")
        with gr.Row():
            map_method = gr.Radio(methods, value="pca", label="投影 Projection", elem_id="map-method")
            map_k = gr.Slider(1, 20, value=4, step=1, label="簇数 Clusters (k-means)", elem_id="map-k")
        go_map = gr.Button("画地图 Draw map", variant="primary", elem_id="btn-map")
        map_md = gr.Markdown(elem_id="map-note")
        map_plot = gr.Plot(show_label=False, elem_id="map-plot")  # the figure carries its title
    go_map.click(bind(on_map, service), [map_in, map_file, map_label, map_queries, map_method, map_k, model],
                 [map_md, map_plot], api_visibility="private")
