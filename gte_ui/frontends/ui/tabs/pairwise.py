"""相似度 Pairwise: two sentences → score, verdict and a gauge whose bands are the verdict thresholds."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import gradio as gr
import plotly.graph_objects as go

from gte_ui.core.errors import GteError
from gte_ui.frontends.ui import charts, views
from gte_ui.frontends.ui.common import bind, comparing, pick_model, safe, text_options
from gte_ui.service.service import EmbeddingService

EXAMPLES = [
    ["这款手机电池续航很强", "手机电量很耐用"],
    ["这款手机电池续航很强", "充电速度特别快"],
    ["花呗怎么提前还款", "蚂蚁花呗可以提前还吗"],
    ["今天北京天气怎么样", "上海明天会下雨吗"],
    ["A man is playing a guitar.", "Someone is playing an instrument."],
    ["The cat sits on the mat.", "Stock markets fell sharply today."],
]


def _no_gauge() -> tuple[go.Figure]:
    # An (empty) figure even on errors: the page shows the score text only once a figure is
    # drawn (style.css), so text and gauge appear together on the first load.
    return (charts.empty_figure(),)


@safe(2, fill=_no_gauge)
def on_pair(service: EmbeddingService, a: str, b: str, t2s: bool, nfkc: bool, ws: bool,
            long_text: str, model: str = "", instruction: str = "") -> tuple[str, go.Figure]:
    """Score two sentences: (markdown with score, verdict and facts; the gauge) — or, comparing
    every loaded model, (a table with one row per model; one bar per model). ``instruction``
    (instruction models) goes before A, the query side."""
    options = text_options(t2s, nfkc, ws, long_text, instruction)
    if comparing(model):
        results = service.compare_pairs(a, b, **options)
        return (views.compare_pairs_markdown(results),
                charts.model_bars([n for n, _ in results], [r.score for _, r in results],
                                  [r.verdict.level for _, r in results]))
    r = pick_model(service, model, "pairwise").pair(a, b, **options)
    return views.pair_markdown(r), charts.gauge(r.score, r.bands)


@safe(2)
def on_align(service: EmbeddingService, a: str, b: str, model: str = "") -> tuple[str, go.Figure]:
    """Which tokens carried the score: (BERTScore-style summary; token × token heatmap)."""
    al = pick_model(service, model, "the alignment view").align(a, b)
    summary = (f"贪心匹配 Greedy matching (BERTScore): P {al.precision:.3f} · R {al.recall:.3f} · "
               f"**F1 {al.f1:.3f}** — 圆圈标出 A 中每个词元在 B 中的最佳匹配 / circles mark each A token's "
               "best match in B (last layer's token vectors)")
    return summary, charts.alignment_heatmap(al.tokens_a, al.tokens_b, al.matrix, al.best_b)


def on_swap(a: str, b: str) -> tuple[str, str]:
    return b, a


def on_follow_alignment(service: EmbeddingService, a: str, b: str, model: str = "",
                        shown: bool = False) -> tuple[str, go.Figure | None]:
    """After every new score: the alignment of the pair now shown, when the panel has been used,
    else nothing — never the previous pair's heatmap and F1. A pair the score refused is said
    once (the score's toast), here only as text."""
    if not shown:
        return "", None
    try:
        return on_align.__wrapped__(service, a, b, model)
    except GteError as exc:
        return f"⚠️ {exc.message}", None


def build(service: EmbeddingService, options: Sequence[gr.Component],
          instruction: gr.Component | None = None) -> dict[str, Any]:
    """The tab; returns the keyword arguments of the page-load event that fills it."""
    with gr.Tab("相似度 Pairwise", id="pair"):
        with gr.Row(equal_height=True):
            a = gr.Textbox(label="句子 A Sentence A", lines=3, value=EXAMPLES[0][0], elem_id="sent-a", min_width=300)
            b = gr.Textbox(label="句子 B Sentence B", lines=3, value=EXAMPLES[0][1], elem_id="sent-b", min_width=300)
        with gr.Row():
            swap = gr.Button("⇄ 交换 Swap A/B", size="sm")
            go_pair = gr.Button("计算相似度 Compute", variant="primary", elem_id="btn-pair")
        with gr.Row(elem_id="pair-result"):
            with gr.Column(min_width=300):
                pair_md = gr.Markdown(elem_id="gte-score")
            with gr.Column(min_width=300):
                # no label badge: the gauge's own title (or, comparing models, the bar chart's) says it
                pair_plot = gr.Plot(show_label=False, elem_id="gauge")
        with gr.Accordion("为什么相似？Why do they match? (token alignment)", open=False):
            go_align = gr.Button("显示词元对齐 Show token alignment", size="sm", elem_id="btn-align")
            align_md = gr.Markdown(elem_id="align-summary")
            align_plot = gr.Plot(show_label=False, elem_id="align-plot")  # the figure carries its title
        examples = gr.Examples(EXAMPLES, [a, b], label="示例 Examples")
        align_used = gr.State(False)  # the alignment panel has been asked once: keep it current

    callback = bind(on_pair, service)
    inputs = [a, b, *options, *([instruction] if instruction is not None else [])]

    follow = bind(on_follow_alignment, service)

    def then_align(event) -> None:
        event.then(follow, [a, b, options[-1], align_used], [align_md, align_plot], api_visibility="private")

    # Every new pair is scored anew and the alignment comes along (issue 30.3): no stale results.
    then_align(gr.on([go_pair.click, a.submit, b.submit], callback, inputs, [pair_md, pair_plot],
                     api_visibility="private"))
    for changed in (swap.click(on_swap, [a, b], [a, b], queue=False, api_visibility="private"),
                    examples.load_input_event):
        then_align(changed.then(callback, inputs, [pair_md, pair_plot], api_visibility="private"))
    go_align.click(bind(on_align, service), [a, b, options[-1]], [align_md, align_plot], api_visibility="private")
    go_align.click(lambda: True, None, align_used, queue=False, api_visibility="private")
    return {"fn": callback, "inputs": inputs, "outputs": [pair_md, pair_plot]}
