"""The Gradio Blocks UI. Callbacks are thin adapters: parse -> service -> format; they never raise."""

from __future__ import annotations

import gradio as gr

from .errors import GteError
from .gradio_api import register_endpoints
from .service import EmbeddingService


def ui_assets() -> dict:
    """Theme and CSS, which Gradio 6 takes at mount/launch time."""
    return {}


def build_demo(service: EmbeddingService) -> gr.Blocks:
    """Build the workbench page around a loaded service (nothing heavy happens here)."""
    info = service.info

    def pairwise(a: str, b: str) -> str:
        try:
            r = service.pair(a, b)
        except GteError as exc:
            gr.Warning(exc.message)
            return f"⚠️ {exc.message}"
        return (f"**{r.score:.4f}** ({r.percent:.1f} %) — {r.verdict.label}  \n"
                f"tokens A/B: {r.tokens_a}/{r.tokens_b} · {r.elapsed_ms:.0f} ms")

    with gr.Blocks(title="GTE 相似度工作台 Similarity Workbench") as demo:
        gr.Markdown(f"# GTE 相似度工作台 Similarity Workbench\n`{info.model}` · {info.dim}-dim · "
                    f"{info.device}/{info.precision}")
        with gr.Tab("相似度 Pairwise"):
            a = gr.Textbox(label="句子 A Sentence A", value="这款手机电池续航很强")
            b = gr.Textbox(label="句子 B Sentence B", value="手机电量很耐用")
            go = gr.Button("计算 Compute", variant="primary")
            out = gr.Markdown()
            go.click(pairwise, [a, b], out, api_visibility="private")
        register_endpoints(service)
    return demo
