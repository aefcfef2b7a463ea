"""向量 Vector: texts → vectors, shown as readable JSON and downloadable as .json / .npy / .csv."""

from __future__ import annotations

from collections.abc import Sequence

import gradio as gr

from gte_ui.core.textnorm import split_lines
from gte_ui.frontends.ui import views
from gte_ui.frontends.ui.tabs import embedding_map
from gte_ui.frontends.ui.common import bind, pick_model, progress_bar, safe, text_options
from gte_ui.service.service import EmbeddingService

EXAMPLE = "这款手机电池续航很强\n今天天气很好"


@safe(3)
def on_vectors(service: EmbeddingService, text: str, t2s: bool, nfkc: bool, ws: bool, long_text: str,
               model: str = "", instruction: str = "", as_queries: bool = False, dimensions: float = 0,
               progress: gr.Progress | None = gr.Progress()) -> tuple[str, str, list[str]]:
    """Embed one text per line: (summary markdown, pretty JSON, [.json, .npy, .csv] paths).

    ``as_queries`` puts the instruction before every text (instruction models); ``dimensions``
    below the model's width cuts and re-normalises (first-class for Matryoshka-trained models,
    with a warning for the others)."""
    options = text_options(t2s, nfkc, ws, long_text, instruction if as_queries else None)
    service = pick_model(service, model, "vectors")
    lines = split_lines(text or "")
    if not options["options"].prompted:  # warming embeds documents: bare
        service.warm_cache(lines, progress=progress_bar(progress), **options)
    width = int(dimensions or 0)
    r = service.embed(lines, dimensions=width if 0 < width < service.dim else None, **options)
    summary = views.vector_summary(r.texts, r.vectors, r.token_counts, r.truncated, prompt=r.prompt)
    summary += "".join(f"\n\n⚠️ {w}" for w in r.warnings)
    files = [str(p) for p in views.export_vectors(r.texts, r.vectors)]
    return summary, views.vectors_json_pretty(r.texts, r.vectors), files


def build(service: EmbeddingService, options: Sequence[gr.Component],
          instruction: gr.Component | None = None) -> None:
    info, dim = service.info, service.dim
    floor = info.min_dimensions or 1
    with gr.Tab("向量 Vector", id="vector"):
        vec_in = gr.Textbox(label="文本，每行一条 Texts, one per line", lines=4, value=EXAMPLE, elem_id="vec-in")
        with gr.Row():
            vec_dims = gr.Slider(floor, dim, value=dim, step=1, elem_id="vec-dims",
                                 label=f"输出维度 Output dimensions ({floor}–{dim})",
                                 info="本模型为截断训练过 trained for truncated outputs (Matryoshka)"
                                 if info.min_dimensions else "本模型未为截断训练，维度越少质量越差 / not trained "
                                 "for truncation: fewer dimensions lose quality")
            vec_query = gr.Checkbox(label="作为查询（加指令）Texts are queries (apply the instruction)", value=False,
                                    visible=service.prompts.default_task is not None, elem_id="vec-query")
        go_vec = gr.Button(button_label(dim), variant="primary", elem_id="btn-vec")
        vec_md = gr.Markdown(elem_id="vec-summary")
        vec_json = gr.Code(label="JSON（可复制 copy）", language="json", max_lines=16, elem_id="vec-json")
        vec_files = gr.File(label="下载 Download (.json / .npy / .csv)", file_count="multiple", elem_id="vec-files")
        embedding_map.build(service, options[-1])  # options end with the model selector
    extra = [instruction if instruction is not None else gr.State(""), vec_query, vec_dims]
    go_vec.click(bind(on_vectors, service), [vec_in, *options, *extra], [vec_md, vec_json, vec_files],
                 api_visibility="private")
    vec_dims.change(lambda d: gr.Button(value=button_label(d)), vec_dims, go_vec, queue=False,
                    api_visibility="private")


def button_label(dimensions: float) -> str:
    """The Embed button names the width the vectors will have (the slider's, not the model's)."""
    return f"生成 {int(dimensions)} 维向量 Embed ({int(dimensions)} dims)"
