"""排序 One-to-many: a source sentence against candidates typed or uploaded; table, chart, CSV."""

from __future__ import annotations

from collections.abc import Sequence

import gradio as gr
import pandas as pd
import plotly.graph_objects as go

from gte_ui.core.errors import ErrorType, GteError
from gte_ui.core.textfiles import read_candidates_file
from gte_ui.core.textnorm import split_lines
from gte_ui.frontends.ui import charts, views
from gte_ui.evaluation.compare import rank_agreement
from gte_ui.frontends.ui.common import (bind, comparing, pick_model, progress_bar, safe, text_options,
                                        texts_with_upload, upload_path)
from gte_ui.service.service import EmbeddingService

EXAMPLE = ("这款手机电池续航很强",
           "手机电量很耐用\n这台设备待机时间久\n电池容量大，用一天没问题\n充电速度特别快")


@safe(4)
def on_rank(service: EmbeddingService, source: str, cands: str, upload: str | None, top_k: float,
            t2s: bool, nfkc: bool, ws: bool, long_text: str, model: str = "", instruction: str = "",
            progress: gr.Progress | None = gr.Progress()) -> tuple[str, pd.DataFrame, go.Figure, str | None]:
    """Rank the candidates (the upload wins over the text box): (summary, table, bars, CSV path).
    Comparing every loaded model: one score and rank column per model and Kendall's τ between
    their rankings (the CSV has the same columns). ``instruction`` (instruction models) goes before the source;
    candidates stay bare; comparing, only the models with prompts take it."""
    options = text_options(t2s, nfkc, ws, long_text, instruction)
    if upload:
        lines = read_candidates_file(upload_path(upload), service.settings.max_upload_bytes)
    else:
        lines = split_lines(cands or "")
    if comparing(model):
        results = service.compare_ranks(source, lines, **options)
        scores = {name: res.scores for name, res in results.items()}
        texts = [row.text for row in sorted(next(iter(results.values())).rows, key=lambda row: row.index)]
        table = pd.DataFrame(views.compare_rank_table(texts, scores), columns=views.compare_rank_headers(list(scores)))
        summary = f"{len(lines)} 个候选 candidates · {len(scores)} 个模型 models\n\n" + \
            views.agreement_markdown(rank_agreement(scores)) + \
            "".join(f"\n\n⚠️ {name}: {w}" for name, res in results.items() for w in res.warnings)
        return summary, table, charts.compare_bars(texts, scores), str(views.compare_rank_csv(texts, scores))
    chosen = pick_model(service, model, "ranking")
    chosen.warm_cache(lines, what="candidates", progress=progress_bar(progress), **options)
    r = chosen.rank(source, lines, top_k=_top_k(top_k), **options)
    bars = charts.ranking_bars([x.text for x in r.rows], [x.score for x in r.rows], [x.verdict.level for x in r.rows])
    table = pd.DataFrame(views.rank_rows(r, chosen.settings.unknown_warn), columns=views.RANK_COLUMNS)
    return views.rank_summary(r), table, bars, str(views.ranking_csv(r))


def _top_k(value: float | str | None) -> int | None:
    """The slider's value: 0 or empty means every candidate."""
    try:
        k = int(float(value or 0))
    except (TypeError, ValueError) as exc:
        raise GteError(ErrorType.VALIDATION, f"top-k must be a number, got {value!r}", "Top-k 必须是数字") from exc
    if k < 0:
        raise GteError(ErrorType.VALIDATION, f"top-k cannot be negative, got {k}", "Top-k 不能为负数")
    return k or None


def build(service: EmbeddingService, options: Sequence[gr.Component],
          instruction: gr.Component | None = None) -> None:
    limit = service.settings.max_candidates
    with gr.Tab("排序 One-to-many", id="rank"):
        src = gr.Textbox(label="源句子 Source", value=EXAMPLE[0], elem_id="rank-src")
        cands, upload, top_k = texts_with_upload(f"候选句子，每行一条 Candidates, one per line (≤ {limit})",
                                                 EXAMPLE[1], "rank-cands", 6, (0, 0, "Top-k（0 = 全部 all）"))
        go_rank = gr.Button("排序 Rank", variant="primary", elem_id="btn-rank")
        rank_md = gr.Markdown(elem_id="rank-summary")
        rank_table = gr.Dataframe(headers=views.RANK_COLUMNS, interactive=False, wrap=True, elem_id="rank-table")
        rank_plot = gr.Plot(show_label=False, elem_id="rank-plot")  # the figure carries its title
        rank_file = gr.File(label="下载 CSV Download")
    go_rank.click(bind(on_rank, service), [src, cands, upload, top_k, *options,
                                           *([instruction] if instruction is not None else [])],
                  [rank_md, rank_table, rank_plot, rank_file], api_visibility="private")
