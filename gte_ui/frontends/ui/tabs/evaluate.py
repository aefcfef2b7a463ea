"""评估 Evaluate: Spearman / Pearson (ROC-AUC, F1 for 0/1 labels) on labelled pairs, and saving
calibrated verdict bands — a server-wide change, allowed only with ``--auth`` or
``--allow-calibration`` (see ``Settings.calibration_allowed``)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import gradio as gr
import plotly.graph_objects as go

from gte_ui.core.errors import ErrorType, GteError
from gte_ui.core.pairs import LabelledPairs
from gte_ui.core.resources import SAMPLES, sample_names
from gte_ui.evaluation import calibration
from gte_ui.evaluation import metrics as evaluation
from gte_ui.evaluation import jobs, retrieval
from gte_ui.evaluation import rerank as rerank_eval
from gte_ui.frontends.ui import charts, charts_retrieval, views
from gte_ui.evaluation.compare import compare_models, write_comparison_csv
from gte_ui.frontends.ui.common import bind, comparing, pick_model, safe, upload_path
from gte_ui.service.service import EmbeddingService

CALIBRATION_OFF = ("保存判定阈值会改变所有用户的判定并写入磁盘：需以 --auth 或 --allow-calibration 启动 / "
                   "saving verdict bands changes every user's verdicts and writes to disk: start the "
                   "server with --auth or --allow-calibration")


def samples() -> list[str]:
    return sample_names()  # the same names `evaluate NAME` accepts


TASKS = [("自动 auto", "auto"), ("句子对 pairs", "pairs"), ("重排 rerank: query, doc, label", "rerank"),
         ("检索 retrieval: BEIR .zip / FlagEmbedding .jsonl", "retrieval")]


@safe(4)
def on_evaluate(service: EmbeddingService, upload: str | None, sample: str | None, columns: str | None,
                limit: float | None, model: str = "", task: str | None = "auto", split: str | None = "test",
                progress: gr.Progress | None = gr.Progress()) -> tuple[str, go.Figure, list[str], dict[str, Any] | None]:
    """Evaluate the uploaded file (or a shipped sample): (summary, figure, result files, state for
    :func:`on_calibrate`). Comparing: every loaded model on the same pairs, one table, overlaid
    score distributions, one CSV (nothing to calibrate from). ``task`` "rerank" (or "auto" with a
    query/doc header): MRR@10, nDCG@10 and mean per-query Spearman, the embedding model alone and
    with the reranker, side by side. ``task`` "retrieval" (or "auto" with a .zip): a BEIR folder
    zipped, or FlagEmbedding lines — nDCG@10, MRR@10, Recall@1/10/100, MAP@100 by exact search,
    each model (every loaded one when comparing) alone and + the reranker on its top 100."""
    max_bytes = service.settings.max_upload_bytes
    if sample and sample not in samples():  # only the shipped files, never a path from the client
        raise GteError(ErrorType.VALIDATION, f"unknown sample {sample!r}; choose one of: {', '.join(samples())}",
                       "未知的示例文件")
    path = upload_path(upload) if upload else (str(SAMPLES / sample) if sample else None)
    if not path:
        raise GteError(ErrorType.EMPTY, "upload a TSV/CSV of labelled pairs or pick a sample",
                       "请上传带标签的句子对文件，或选择示例")
    if Path(path).stat().st_size > max_bytes:
        raise GteError(ErrorType.TOO_LARGE, f"the file is over {max_bytes:,} bytes", "文件过大")
    report = (lambda f, d: progress(f, desc=d)) if progress is not None else None
    if task == "retrieval" or (task in (None, "auto") and path.lower().endswith(".zip")):
        services = service.models() if comparing(model) else [pick_model(service, model, "evaluation")]
        job = jobs.retrieval_job(service, path, services=services, split=(split or "test").strip(),
                                 limit=int(limit) if limit else None, out=views.export_dir(), name=Path(path).name,
                                 max_bytes=max_bytes, progress=report)
        return (retrieval.summary_markdown(job.report), charts_retrieval.retrieval_figure(job.report),
                [str(f) for f in job.files], None)
    if task == "rerank" or (task in (None, "auto") and rerank_eval.looks_like_groups(path)):
        rr = jobs.rerank_job(service, path, limit=int(limit) if limit else None, out=views.export_dir(),
                             name=Path(path).name, progress=report)
        return (rerank_eval.summary_markdown(rr.results, rr.groups), charts.rerank_metrics_figure(rr.results),
                [str(f) for f in rr.files], None)
    pairs = evaluation.read_pairs(path, [c.strip() for c in (columns or "").split(",") if c.strip()] or None,
                                  name=Path(path).name)
    if limit:
        n = int(limit)
        pairs = LabelledPairs(pairs.a[:n], pairs.b[:n], pairs.labels[:n], pairs.name)
    if comparing(model):
        comparison = compare_models(service.models(), pairs, report)
        csv_path = write_comparison_csv(comparison, views.export_dir() / "comparison.csv")
        figure = charts.score_distributions({r.model: r.result.cosines for r in comparison.rows})
        return views.comparison_markdown(comparison), figure, [str(csv_path)], {}
    service = pick_model(service, model, "evaluation")
    result = evaluation.evaluate(service, pairs, report)
    files = evaluation.write_results(result, pairs, views.export_dir())
    return (evaluation.summary_markdown(result, pairs.name), charts.evaluation_figure(result),
            [str(f) for f in files], {"result": result, "name": pairs.name})


@safe(1)
def on_calibrate(service: EmbeddingService, state: dict[str, Any] | None) -> str:
    """Derive verdict bands from the last evaluation, save them and apply them for every user."""
    if not service.settings.calibration_allowed:
        raise GteError(ErrorType.UNAUTHORIZED, CALIBRATION_OFF.split(" / ")[1], CALIBRATION_OFF.split(" / ")[0])
    if not state or "result" not in state:  # (a comparison leaves no single result to calibrate from)
        raise GteError(ErrorType.EMPTY, "run an evaluation first", "请先运行评估")
    try:
        bands = calibration.bands_from_result(state["result"], state.get("name", ""))
    except ValueError as exc:
        raise GteError(ErrorType.VALIDATION, str(exc), "数据不足以校准") from exc
    path = service.set_bands(bands)
    return (f"✔ 已保存并启用 Saved and applied: > {bands.high:.3f} 高度相似, > {bands.mid:.3f} 中等相似 "
            f"— `{path.name}`")


def build(service: EmbeddingService, model: gr.Component) -> None:
    allowed = service.settings.calibration_allowed
    with gr.Tab("评估 Evaluate", id="evaluate"):
        gr.Markdown("上传带标签的句子对（TSV/CSV：句子1、句子2、分数 0–5 或标签 0/1），计算 Spearman / Pearson；"
                    "0/1 标签另给 ROC-AUC、最佳阈值、准确率和 F1。Upload labelled pairs to judge the model "
                    "the way C-MTEB does. 重排任务 Rerank task: query, doc, label 行（T2Reranking 格式）→ "
                    "MRR@10 / nDCG@10 / 平均 Spearman，嵌入与重排模型并列 embedding vs reranker side by side. "
                    "检索任务 Retrieval task: BEIR / C-MTEB 目录的 zip（corpus.jsonl, queries.jsonl, qrels/test.tsv）或 "
                    "FlagEmbedding 的 {query, pos, neg} JSON 行 → nDCG@10 / MRR@10 / Recall@1/10/100 / MAP@100，"
                    "逐查询 CSV 可下载 per-query CSV.")
        with gr.Row():
            ev_file = gr.File(label="上传 Upload .tsv/.csv (检索 retrieval: BEIR .zip / .jsonl)", type="filepath",
                              file_types=[".tsv", ".csv", ".txt", ".data", ".zip", ".jsonl"], elem_id="eval-file")
            with gr.Column():
                ev_sample = gr.Dropdown(choices=samples(), value=None, label="或选示例 Or a sample (assets/samples)")
                ev_cols = gr.Textbox(label="列 Columns (可选 optional): 句子 A, 句子 B, 标签 label",
                                     placeholder="列号或表头名 indices or header names, e.g. 0,1,2")
                ev_limit = gr.Slider(0, 5000, value=0, step=50, label="最多评估 Max pairs / queries (0 = 全部 all)")
                ev_task = gr.Radio(TASKS, value="auto", label="任务 Task", elem_id="eval-task")
                ev_split = gr.Textbox(value="test", label="检索划分 Retrieval split (qrels/SPLIT.tsv)", elem_id="eval-split")
        go_eval = gr.Button("评估 Evaluate", variant="primary", elem_id="btn-eval")
        ev_md = gr.Markdown(elem_id="eval-summary")
        ev_plot = gr.Plot(show_label=False, elem_id="eval-plot")  # each figure carries its own title
        ev_files = gr.File(label="下载 Download", file_count="multiple")
        ev_state = gr.State()
        go_cal = gr.Button("保存为本模型的判定阈值 Save as this model's verdict bands" if allowed
                           else "保存判定阈值（未启用）Save verdict bands (off)",
                           size="sm", interactive=allowed, elem_id="btn-calibrate")
        cal_md = gr.Markdown("" if allowed else f"**已关闭 Off** — {CALIBRATION_OFF}", elem_id="calibrate-note")
    go_eval.click(bind(on_evaluate, service), [ev_file, ev_sample, ev_cols, ev_limit, model, ev_task, ev_split],
                  [ev_md, ev_plot, ev_files, ev_state], api_visibility="private")
    go_cal.click(bind(on_calibrate, service), [ev_state], [cal_md], api_visibility="private")
