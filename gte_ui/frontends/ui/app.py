"""The Gradio Blocks UI: five tabs over one :class:`EmbeddingService`.

Callbacks are thin adapters (parse → service → views/charts) and never raise: a bad input shows
a warning toast and a message in the output, and the page keeps working.
"""

from __future__ import annotations

import functools
import logging
import platform
from collections.abc import Callable
from pathlib import Path

import gradio as gr

from gte_ui.evaluation import calibration

from gte_ui.frontends.ui import charts

from gte_ui.evaluation import metrics as evaluation

from gte_ui.frontends.ui import views
from gte_ui.core.errors import ErrorType, GteError
from gte_ui.core.resources import ASSETS, SAMPLES
from gte_ui.core.textfiles import read_candidates_file
from gte_ui.frontends.ui.endpoints import register_endpoints
from gte_ui.core.pairs import LabelledPairs
from gte_ui.core.textnorm import split_lines
from gte_ui.core.bands import save_bands
from gte_ui.service.options import TextOptions
from gte_ui.service.service import EmbeddingService

log = logging.getLogger(__name__)

PAIR_EXAMPLES = [
    ["这款手机电池续航很强", "手机电量很耐用"],
    ["这款手机电池续航很强", "充电速度特别快"],
    ["花呗怎么提前还款", "蚂蚁花呗可以提前还吗"],
    ["今天北京天气怎么样", "上海明天会下雨吗"],
    ["A man is playing a guitar.", "Someone is playing an instrument."],
    ["The cat sits on the mat.", "Stock markets fell sharply today."],
]
RANK_EXAMPLE = ("这款手机电池续航很强",
                "手机电量很耐用\n这台设备待机时间久\n电池容量大，用一天没问题\n充电速度特别快")
MATRIX_EXAMPLE = "这款手机电池续航很强\n手机电量很耐用\n充电速度特别快\n今天天气很好\n我想借钱"


def theme() -> gr.themes.Base:
    """Soft theme with local CJK-capable fonts only: no web-font download, so it works offline."""
    sans = ["Noto Sans CJK SC", "PingFang SC", "Microsoft YaHei", "system-ui", "sans-serif"]
    return gr.themes.Soft(primary_hue="indigo", secondary_hue="blue", neutral_hue="slate",
                          font=sans, font_mono=["Noto Sans Mono CJK SC", "ui-monospace", "monospace"])


def ui_assets() -> dict:
    """Theme, CSS and favicon, which Gradio 6 takes at mount/launch time, not in ``gr.Blocks``."""
    return {"theme": theme(), "css_paths": [ASSETS / "style.css"], "favicon_path": str(ASSETS / "logo.svg")}


def safe(n_outputs: int) -> Callable:
    """Turn GteError (and anything unexpected) into a warning toast plus a message in the first output."""

    def decorate(fn: Callable) -> Callable:
        @functools.wraps(fn)
        def wrapper(*args, **kwargs):
            try:
                return fn(*args, **kwargs)
            except GteError as exc:
                message = exc.message
            except Exception:  # noqa: BLE001 - the page must keep working
                log.exception("UI callback %s failed", fn.__name__)
                message = "内部错误，请重试 / Internal error, please retry"
            gr.Warning(message)
            first = f"⚠️ {message}"
            return (first, *([None] * (n_outputs - 1))) if n_outputs > 1 else first

        return wrapper

    return decorate


def build_demo(service: EmbeddingService) -> gr.Blocks:
    """Build the workbench page around a loaded service (nothing heavy happens here)."""
    info = service.info
    s = service.settings
    dim = service.dim

    # ------------------------------------------------------------ callbacks
    def opts(t2s: bool, nfkc: bool, ws: bool, long_text: str) -> dict:
        return {"options": TextOptions(t2s=bool(t2s), nfkc=bool(nfkc), collapse_whitespace=bool(ws),
                                       long_text=long_text or None)}

    @safe(2)
    def on_pair(a: str, b: str, t2s: bool, nfkc: bool, ws: bool, long_text: str):
        r = service.pair(a, b, **opts(t2s, nfkc, ws, long_text))
        return views.pair_markdown(r), charts.gauge(r.score, r.bands)

    @safe(4)
    def on_rank(source: str, cands: str, upload: str | None, top_k: float, t2s: bool, nfkc: bool, ws: bool,
                long_text: str, progress=gr.Progress()):
        o = (t2s, nfkc, ws, long_text)
        lines = read_candidates_file(upload, s.max_upload_bytes) if upload else split_lines(cands or "")
        service.warm_cache(lines, what="candidates", progress=_progress(progress), **opts(*o))
        r = service.rank(source, lines, top_k=int(top_k) or None, **opts(*o))
        bars = charts.ranking_bars([x.text for x in r.rows], [x.score for x in r.rows], [x.verdict.level for x in r.rows])
        return views.rank_summary(r), views.rank_rows(r), bars, str(views.ranking_csv(r))

    @safe(3)
    def on_vectors(text: str, t2s: bool, nfkc: bool, ws: bool, long_text: str, progress=gr.Progress()):
        o = (t2s, nfkc, ws, long_text)
        lines = split_lines(text or "")
        service.warm_cache(lines, progress=_progress(progress), **opts(*o))
        r = service.embed(lines, **opts(*o))
        summary = views.vector_summary(r.texts, r.vectors, r.token_counts, r.truncated)
        return summary, views.vectors_json(r.texts, r.vectors), [str(p) for p in views.export_vectors(r.texts, r.vectors)]

    @safe(3)
    def on_matrix(text: str, t2s: bool, nfkc: bool, ws: bool, long_text: str):
        m = service.matrix(split_lines(text or ""), **opts(t2s, nfkc, ws, long_text))
        note = f"{len(m.texts)} × {len(m.texts)} · 耗时 {m.elapsed_ms:.0f} ms"
        return note, charts.heatmap(m.texts, m.scores), str(views.matrix_csv(m))

    def on_about() -> str:
        return about_markdown(service)

    @safe(4)
    def on_evaluate(upload: str | None, sample: str | None, columns: str, limit: float, progress=gr.Progress()):
        path = upload or (str(SAMPLES / sample) if sample else None)
        if not path:
            raise GteError(ErrorType.EMPTY, "upload a TSV/CSV of labelled pairs or pick a sample",
                           "请上传带标签的句子对文件，或选择示例")
        if Path(path).stat().st_size > s.max_upload_bytes:
            raise GteError(ErrorType.TOO_LARGE, f"the file is over {s.max_upload_bytes:,} bytes", "文件过大")
        pairs = evaluation.read_pairs(path, [c for c in columns.split(",") if c.strip()] or None,
                                      name=Path(path).name)
        if limit:
            pairs = LabelledPairs(pairs.a[:int(limit)], pairs.b[:int(limit)], pairs.labels[:int(limit)], pairs.name)
        result = evaluation.evaluate(service, pairs, lambda f, d: progress(f, desc=d))
        files = evaluation.write_results(result, pairs, views.export_dir())
        return (evaluation.summary_markdown(result, pairs.name), charts.evaluation_figure(result),
                [str(f) for f in files], {"result": result, "name": pairs.name})

    @safe(1)
    def on_calibrate(state: dict | None) -> str:
        if not state:
            raise GteError(ErrorType.EMPTY, "run an evaluation first", "请先运行评估")
        try:
            bands = calibration.bands_from_result(state["result"], state["name"])
        except ValueError as exc:
            raise GteError(ErrorType.VALIDATION, str(exc), "数据不足以校准") from exc
        path = save_bands(info.model, bands, s.calibration_dir)
        service.bands = bands
        return (f"✅ 已保存并启用 Saved and applied: > {bands.high:.3f} 高度相似, > {bands.mid:.3f} 中等相似 "
                f"— `{path}`")

    # ------------------------------------------------------------ layout
    with gr.Blocks(title="GTE 相似度工作台 Similarity Workbench", delete_cache=(3600, 3600), fill_width=True) as demo:
        gr.HTML(f'<div id="gte-header">{_logo()}<div><h1>GTE 相似度工作台 · Similarity Workbench</h1>'
                f'<span class="sub">{_html(info.model)} · {dim} 维 dim · {info.device}/{info.precision} · '
                f'max {info.max_length} tokens</span></div></div>')
        with gr.Accordion("⚙️ 选项 Options: 繁→简 · 全角→半角 · 长文本 long texts", open=False):
            with gr.Row():
                o_t2s = gr.Checkbox(label="繁体→简体 Traditional→Simplified (OpenCC)", value=False)
                o_nfkc = gr.Checkbox(label="全角→半角 Full→half width (NFKC)", value=False)
                o_ws = gr.Checkbox(label="合并空白 Collapse whitespace", value=False)
                o_long = gr.Radio(["truncate", "chunk"], value=s.long_text,
                                  label=f"超过 {info.max_length} 词元 Over {info.max_length} tokens: 截断 truncate / 分块 chunk")
        options = [o_t2s, o_nfkc, o_ws, o_long]
        with gr.Tab("相似度 Pairwise", id="pair"):
            with gr.Row(equal_height=True):
                a = gr.Textbox(label="句子 A Sentence A", lines=3, value=PAIR_EXAMPLES[0][0], elem_id="sent-a",
                               min_width=300)
                b = gr.Textbox(label="句子 B Sentence B", lines=3, value=PAIR_EXAMPLES[0][1], elem_id="sent-b",
                               min_width=300)
            with gr.Row():
                swap = gr.Button("⇄ 交换 Swap A/B", size="sm")
                go_pair = gr.Button("计算相似度 Compute", variant="primary", elem_id="btn-pair")
            with gr.Row():
                with gr.Column(min_width=300):
                    pair_md = gr.Markdown(elem_id="gte-score")
                with gr.Column(min_width=300):
                    pair_plot = gr.Plot(label="仪表盘 Gauge", elem_id="gauge")
            gr.Examples(PAIR_EXAMPLES, [a, b], label="示例 Examples")
        with gr.Tab("排序 One-to-many", id="rank"):
            src = gr.Textbox(label="源句子 Source", value=RANK_EXAMPLE[0], elem_id="rank-src")
            with gr.Row():
                cands = gr.Textbox(label=f"候选句子，每行一条 Candidates, one per line (≤ {s.max_candidates})",
                                   lines=6, value=RANK_EXAMPLE[1], elem_id="rank-cands", scale=3)
                with gr.Column(scale=1):
                    upload = gr.File(label="或上传 .txt/.csv Or upload", file_types=[".txt", ".csv", ".tsv"], type="filepath")
                    top_k = gr.Slider(0, 100, value=0, step=1, label="Top-k（0 = 全部 all）")
            go_rank = gr.Button("排序 Rank", variant="primary", elem_id="btn-rank")
            rank_md = gr.Markdown(elem_id="rank-summary")
            rank_table = gr.Dataframe(headers=views.RANK_COLUMNS, interactive=False, wrap=True, elem_id="rank-table")
            rank_plot = gr.Plot(label="得分 Scores")
            rank_file = gr.File(label="下载 CSV Download")
        with gr.Tab("向量 Vector", id="vector"):
            vec_in = gr.Textbox(label="文本，每行一条 Texts, one per line", lines=4,
                                value="这款手机电池续航很强\n今天天气很好", elem_id="vec-in")
            go_vec = gr.Button(f"生成 {dim} 维向量 Embed", variant="primary", elem_id="btn-vec")
            vec_md = gr.Markdown(elem_id="vec-summary")
            vec_json = gr.Code(label="JSON（可复制 copy）", language="json", max_lines=12)
            vec_files = gr.File(label="下载 Download (.json / .npy / .csv)", file_count="multiple", elem_id="vec-files")
        with gr.Tab("矩阵 Matrix", id="matrix"):
            mat_in = gr.Textbox(label=f"文本，每行一条（2–{s.max_matrix}）Texts, one per line", lines=6,
                                value=MATRIX_EXAMPLE, elem_id="mat-in")
            go_mat = gr.Button("计算矩阵 Compute matrix", variant="primary", elem_id="btn-mat")
            mat_md = gr.Markdown()
            mat_plot = gr.Plot(label="热力图 Heatmap")
            mat_file = gr.File(label="下载 CSV Download")
        with gr.Tab("评估 Evaluate", id="evaluate"):
            gr.Markdown("上传带标签的句子对（TSV/CSV：句子1、句子2、分数 0–5 或标签 0/1），计算 Spearman / Pearson；"
                        "0/1 标签另给 ROC-AUC、最佳阈值、准确率和 F1。Upload labelled pairs to judge the model "
                        "the way C-MTEB does.")
            with gr.Row():
                ev_file = gr.File(label="上传 Upload .tsv/.csv", file_types=[".tsv", ".csv", ".txt", ".data"],
                                  type="filepath")
                with gr.Column():
                    ev_sample = gr.Dropdown(choices=sorted(p.name for p in SAMPLES.glob("*.tsv")), value=None,
                                            label="或选示例 Or a sample (assets/samples)")
                    ev_cols = gr.Textbox(label="列 Columns (可选 optional): 句子1,句子2,标签", placeholder="sentence1,sentence2,score")
                    ev_limit = gr.Slider(0, 5000, value=0, step=50, label="最多评估 Max pairs (0 = 全部 all)")
            go_eval = gr.Button("评估 Evaluate", variant="primary", elem_id="btn-eval")
            ev_md = gr.Markdown(elem_id="eval-summary")
            ev_plot = gr.Plot(label="各标签的得分分布 Scores per label")
            ev_files = gr.File(label="下载 Download", file_count="multiple")
            ev_state = gr.State()
            go_cal = gr.Button("保存为本模型的判定阈值 Save as this model's verdict bands", size="sm")
            cal_md = gr.Markdown()
        with gr.Tab("关于 About", id="about") as about_tab:
            about_md = gr.Markdown(about_markdown(service))

        private = dict(api_visibility="private")
        gr.on([go_pair.click, a.submit, b.submit], on_pair, [a, b, *options], [pair_md, pair_plot], **private)
        swap.click(lambda x, y: (y, x), [a, b], [a, b], queue=False, **private)
        go_rank.click(on_rank, [src, cands, upload, top_k, *options], [rank_md, rank_table, rank_plot, rank_file], **private)
        go_vec.click(on_vectors, [vec_in, *options], [vec_md, vec_json, vec_files], **private)
        go_mat.click(on_matrix, [mat_in, *options], [mat_md, mat_plot, mat_file], **private)
        about_tab.select(on_about, None, about_md, queue=False, **private)
        go_eval.click(on_evaluate, [ev_file, ev_sample, ev_cols, ev_limit], [ev_md, ev_plot, ev_files, ev_state], **private)
        go_cal.click(on_calibrate, [ev_state], [cal_md], **private)
        demo.load(on_pair, [a, b, *options], [pair_md, pair_plot], **private)
        register_endpoints(service)
    return demo


def _progress(progress: gr.Progress):
    """The service's ``progress(done, total)`` as Gradio's progress bar."""
    return lambda done, total: progress(done / total, desc="嵌入中 Embedding")


def about_markdown(service: EmbeddingService) -> str:
    import gradio
    import torch
    import transformers

    info, st = service.info, service.stats()
    cache = st["cache"]
    bands = service.bands
    return f"""
### 模型 Model
| 项目 Item | 值 Value |
|---|---|
| 模型 Model | `{info.model}` |
| 路径 Path | `{info.path}` |
| 维度 Dimension | {info.dim} |
| 最大长度 Max length | {info.max_length} tokens |
| 池化 Pooling | {info.pooling} |
| 设备 / 精度 Device / precision | {info.device} / {info.precision} ({info.backend}) |
| 加载耗时 Load time | {info.load_seconds:.2f} s |
| 判定阈值 Verdict bands | > {bands.high:.2f} 高度相似 · > {bands.mid:.2f} 中等相似 · else 差异较大 ({bands.source}) |
| 缓存 Cache | {cache['entries']} entries · {cache['hits']} hits / {cache['misses']} misses (hit rate {cache['hit_rate']:.1%}) |
| 批处理 Batches | {st['batcher'].get('batches', '—')} model calls for {st['batcher'].get('requests', '—')} requests |
| 版本 Versions | Python {platform.python_version()} · torch {torch.__version__} · transformers {transformers.__version__} · gradio {gradio.__version__} |

### API 用法 How to call the API
```python
import requests
requests.post("http://HOST:7860/api/predict", json={{"data": ["源句子", "候选1\\n候选2"]}}).json()   # scores
requests.post("http://HOST:7860/api/predict", json={{"data": ["文本", "", False, False, False, False]}}).json()  # {info.dim} floats
requests.post("http://HOST:7860/v1/embeddings", json={{"input": ["文本"], "model": "gte"}}).json()  # OpenAI shape
```
`/similarity`, `/embed`, `/health` and the OpenAPI page `/docs` are described in the README;
`gradio_client` users: see "Use via API" at the bottom of this page.
"""


def _logo() -> str:
    try:
        return (ASSETS / "logo.svg").read_text(encoding="utf-8")
    except OSError:
        return ""


def _html(text: str) -> str:
    import html

    return html.escape(text)
