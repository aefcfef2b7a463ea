"""向量 Vector: texts → vectors, shown as readable JSON and downloadable as .json / .npy / .csv."""

from __future__ import annotations

from collections.abc import Sequence

import gradio as gr

from gte_ui.core.textnorm import split_lines
from gte_ui.frontends.ui import views
from gte_ui.frontends.ui.common import bind, pick_model, progress_bar, safe, text_options
from gte_ui.service.service import EmbeddingService

EXAMPLE = "这款手机电池续航很强\n今天天气很好"


@safe(3)
def on_vectors(service: EmbeddingService, text: str, t2s: bool, nfkc: bool, ws: bool, long_text: str,
               model: str = "", progress: gr.Progress | None = gr.Progress()) -> tuple[str, str, list[str]]:
    """Embed one text per line: (summary markdown, pretty JSON, [.json, .npy, .csv] paths)."""
    options = text_options(t2s, nfkc, ws, long_text)
    service = pick_model(service, model, "vectors")
    lines = split_lines(text or "")
    service.warm_cache(lines, progress=progress_bar(progress), **options)
    r = service.embed(lines, **options)
    summary = views.vector_summary(r.texts, r.vectors, r.token_counts, r.truncated)
    summary += "".join(f"\n\n⚠️ {w}" for w in r.warnings)
    files = [str(p) for p in views.export_vectors(r.texts, r.vectors)]
    return summary, views.vectors_json_pretty(r.texts, r.vectors), files


def build(service: EmbeddingService, options: Sequence[gr.Component]) -> None:
    with gr.Tab("向量 Vector", id="vector"):
        vec_in = gr.Textbox(label="文本，每行一条 Texts, one per line", lines=4, value=EXAMPLE, elem_id="vec-in")
        go_vec = gr.Button(f"生成 {service.dim} 维向量 Embed", variant="primary", elem_id="btn-vec")
        vec_md = gr.Markdown(elem_id="vec-summary")
        vec_json = gr.Code(label="JSON（可复制 copy）", language="json", max_lines=16, elem_id="vec-json")
        vec_files = gr.File(label="下载 Download (.json / .npy / .csv)", file_count="multiple", elem_id="vec-files")
    go_vec.click(bind(on_vectors, service), [vec_in, *options], [vec_md, vec_json, vec_files],
                 api_visibility="private")
