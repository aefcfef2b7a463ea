"""The Gradio Blocks page: header, shared text options, and the eight tabs, composed.

Each tab lives in :mod:`gte_ui.frontends.ui.tabs` (a builder plus plain callbacks that take the
service); this module only puts them on one page.
"""

from __future__ import annotations

import html

import gradio as gr

from gte_ui.core.resources import ASSETS
from gte_ui.frontends.ui.common import instruction_box, model_choices
from gte_ui.frontends.ui.endpoints import register_endpoints
from gte_ui.frontends.ui.tabs import about, evaluate, matrix, pairwise, ranking, rerank, search, vector
from gte_ui.service.service import EmbeddingService


def theme() -> gr.themes.Base:
    """Soft theme with local CJK-capable fonts only: no web-font download, so it works offline."""
    sans = ["Noto Sans CJK SC", "PingFang SC", "Microsoft YaHei", "system-ui", "sans-serif"]
    return gr.themes.Soft(primary_hue="indigo", secondary_hue="blue", neutral_hue="slate",
                          font=sans, font_mono=["Noto Sans Mono CJK SC", "ui-monospace", "monospace"])


def ui_assets() -> dict:
    """Theme, CSS and favicon, which Gradio 6 takes at mount/launch time, not in ``gr.Blocks``."""
    return {"theme": theme(), "css_paths": [ASSETS / "style.css"], "favicon_path": str(ASSETS / "logo.png")}


def header_html(service: EmbeddingService) -> str:
    """Logo, title and the model's public facts (its id or folder name, never the server's path)."""
    info = service.info
    facts = (f"{html.escape(info.name)} · {service.dim} 维 dim · "
             f"{info.device}/{info.precision} · max {info.max_length} tokens")
    return (f'<div id="gte-header">{_logo()}<div><h1>GTE 相似度工作台 · Similarity Workbench</h1>'
            f'<span class="sub">{facts}</span></div></div>')


def options_title(t2s: bool, nfkc: bool, ws: bool, long_text: str | None, default_long_text: str) -> str:
    """The Options accordion's title: what is switched on, so it shows while folded."""
    on = [name for flag, name in ((t2s, "繁→简 t2s"), (nfkc, "全角→半角 NFKC"), (ws, "合并空白 whitespace")) if flag]
    if (long_text or default_long_text) != default_long_text or long_text == "chunk":
        on.append("长文本分块 chunk long texts")
    return "⚙️ 选项 Options" + (": " + " · ".join(on) + " 已开启 on" if on else "（繁→简、全角、空白、长文本：均未开启 all off）")


def build_demo(service: EmbeddingService) -> gr.Blocks:
    """Build the workbench page around a loaded service (nothing heavy happens here)."""
    s, max_length = service.settings, service.info.max_length
    with gr.Blocks(title="GTE 相似度工作台 Similarity Workbench", delete_cache=(3600, 3600), fill_width=True) as demo:
        gr.HTML(header_html(service))
        choices = model_choices(service)
        # one selector for every tab; hidden when a single model is loaded
        model = gr.Dropdown(choices=choices, value=choices[0], label="模型 Model（比较 compare: 每个模型一行 one row each）",
                            visible=len(choices) > 1, elem_id="model-select", interactive=True)
        with gr.Accordion(options_title(False, False, False, s.long_text, s.long_text), open=False,
                          elem_id="options") as accordion:
            with gr.Row():
                options = [
                    gr.Checkbox(label="繁体→简体 Traditional→Simplified (OpenCC)", value=False),
                    gr.Checkbox(label="全角→半角 Full→half width (NFKC)", value=False),
                    gr.Checkbox(label="合并空白 Collapse whitespace", value=False),
                    gr.Radio(["truncate", "chunk"], value=s.long_text,
                             label=f"超过 {max_length} 词元 Over {max_length} tokens: 截断 truncate / 分块 chunk"),
                ]
        for option in options:  # the folded title says which options are on
            option.change(lambda *v: gr.Accordion(label=options_title(*v, s.long_text)), options, accordion,
                          queue=False, api_visibility="private")
        options = [*options, model]  # every tab's callbacks take the model after the text options
        instruction = instruction_box(service)  # instruction models only (hidden otherwise)
        first_load = pairwise.build(service, options, instruction)
        ranking.build(service, options, instruction)
        vector.build(service, options, instruction)
        matrix.build(service, options)
        rerank.build(service, options[:-1], instruction)  # the text options, not the model: one reranker
        search.build(service)  # an index carries its own model and text options
        evaluate.build(service, model)
        about.build(service)
        demo.load(**first_load, api_visibility="private")
        register_endpoints(service)
    return demo


def _logo() -> str:
    try:
        return (ASSETS / "logo.svg").read_text(encoding="utf-8")
    except OSError:
        return ""
