"""The 检索 Search tab: pick one index or several (one per model: results side by side), or
upload a corpus and build an index with a progress bar; a query gives the top-k with scores,
verdicts and the best-matching tokens highlighted; the optional rerank stage shows how each hit
moved (↑3 / ↓1).

:func:`on_search`, :func:`results_html` and :func:`on_build` are plain functions of the service
(tested without a browser); :func:`build` lays the tab out and wires them.
"""

from __future__ import annotations

import html
from collections.abc import Sequence
from pathlib import Path

import gradio as gr

from gte_ui.core.errors import ErrorType, GteError
from gte_ui.frontends.ui.common import bind, safe
from gte_ui.service.corpus import CorpusColumns, build_index, iter_rows
from gte_ui.service.search import MAX_TOP_K, SearchResult, catalog_from_settings, search
from gte_ui.service.service import EmbeddingService

EXAMPLE_QUERY = "手机电池续航怎么样"
CORPUS_TYPES = [".txt", ".csv", ".tsv", ".jsonl", ".parquet"]


def index_choices(service: EmbeddingService) -> list[str]:
    return catalog_from_settings(service.settings).names()


def _marked(text: str, tokens: Sequence[str]) -> str:
    """``text`` HTML-escaped, with every occurrence of the highlighted tokens in ``<mark>``."""
    lower = text.lower()
    mask = [False] * len(text)
    for token in tokens:
        t = token.removeprefix("##").lower()
        if not t or t.startswith("[") or not t.strip():
            continue
        start = lower.find(t)
        while start >= 0:
            for i in range(start, start + len(t)):
                mask[i] = True
            start = lower.find(t, start + len(t))
    out, i = [], 0
    while i < len(text):
        j = i
        while j < len(text) and mask[j] == mask[i]:
            j += 1
        piece = html.escape(text[i:j])
        out.append(f"<mark>{piece}</mark>" if mask[i] else piece)
        i = j
    return "".join(out)


def _column(result: SearchResult) -> str:
    rows = []
    for h in result.hits:
        moved = ""
        if h.rerank_score is not None:
            cls = "up" if h.rank < h.retrieval_rank else ("down" if h.rank > h.retrieval_rank else "same")
            moved = (f'<span class="moved {cls}" title="嵌入名次 embedding rank {h.retrieval_rank}">{h.moved}</span>'
                     f'<span class="rr">重排分 rerank {h.rerank_score:.4f}</span>')
        title = f"<b>{html.escape(h.title)}</b> " if h.title else ""
        level = f"v{h.verdict.level}"
        rows.append(
            f'<li class="hit"><div class="hit-head"><span class="rank">#{h.rank}</span>'
            f'<span class="score">{h.score:.4f}</span><span class="verdict {level}">{h.verdict.zh} {h.verdict.en}</span>'
            f'{moved}<span class="hid">id {html.escape(h.id)}</span></div>'
            f'<div class="hit-text">{title}{_marked(h.text, [x.token for x in h.highlights])}</div></li>')
    head = (f'<div class="search-col-head"><b>{html.escape(result.index)}</b> · {html.escape(result.model)} · '
            f'{result.rows:,} 条 docs · {result.store}'
            + (f" · 重排 reranked by {html.escape(result.reranker)}" if result.reranker else "") + "</div>")
    return f'<div class="search-col">{head}<ol class="hits">{"".join(rows)}</ol></div>'


def results_html(results: Sequence[SearchResult]) -> str:
    """One column per index, side by side."""
    style = ("<style>#search-results .search-cols{display:flex;gap:14px;align-items:flex-start}"
             "#search-results .search-col{flex:1;min-width:0}"
             "#search-results ol.hits{list-style:none;padding:0;margin:6px 0}"
             "#search-results li.hit{border:1px solid #d5d9e0;border-radius:8px;padding:6px 10px;margin:6px 0}"
             "#search-results .hit-head span{margin-right:10px;font-size:.9em}"
             "#search-results .rank{font-weight:700}#search-results .v2{color:#1a7f37}"
             "#search-results .v1{color:#9a6700}#search-results .v0{color:#b42318}"
             "#search-results .moved.up{color:#1a7f37;font-weight:700}"
             "#search-results .moved.down{color:#b42318;font-weight:700}"
             "#search-results .hid,#search-results .rr{color:#6b7280}"
             "#search-results mark{background:#fde68a;padding:0 1px;border-radius:2px}</style>")
    return f'{style}<div class="search-cols">{"".join(_column(r) for r in results)}</div>'


def summary(results: Sequence[SearchResult]) -> str:
    lines = []
    for r in results:
        stage = f" · 重排 rerank {r.rerank_ms:.0f} ms" if r.reranker else ""
        lines.append(f"**{r.index}** (`{r.model}`): 查询嵌入 query embedding {r.embed_ms:.1f} ms · "
                     f"检索 search {r.search_ms:.1f} ms{stage}")
        lines += [f"⚠️ {w}" for w in r.warnings]
    return "\n\n".join(lines)


@safe(2)
def on_search(service: EmbeddingService, indexes: Sequence[str] | str | None, query: str, top_k: float,
              rerank: bool, highlight: bool):
    """The tab's callback: (summary, results HTML); a GteError becomes ``⚠️ message``."""
    names = [indexes] if isinstance(indexes, str) else list(indexes or [])
    if not names:
        raise GteError(ErrorType.VALIDATION, "pick an index (or build one from a corpus file first)",
                       "请选择索引（或先上传语料建立索引）")
    catalog = catalog_from_settings(service.settings)
    results = [search(service, catalog, name, query, int(top_k), rerank=bool(rerank), highlight=bool(highlight))
               for name in names]
    return summary(results), results_html(results)


@safe(2, fill=lambda: (gr.update(),))
def on_build(service: EmbeddingService, upload: str | None, name: str, column: str, model: str | None,
             progress: gr.Progress = gr.Progress()):  # noqa: B008 - Gradio's own progress idiom
    """Build an index from an uploaded corpus with a progress bar; returns (status, picker update)."""
    if not service.settings.index_build_allowed:  # an index stays on disk: not for anonymous pages
        raise GteError(ErrorType.UNAUTHORIZED,
                       "building indexes from this page is off: start the server with --auth or "
                       "--allow-index-build, or use `gte-ui index build FILE --name N`",
                       "本页建立索引未启用：请以 --auth 或 --allow-index-build 启动服务，或使用 gte-ui index build")
    if not upload:
        raise GteError(ErrorType.VALIDATION, "upload a corpus file first (.txt, .csv, .tsv, .jsonl, .parquet)",
                       "请先上传语料文件（.txt/.csv/.tsv/.jsonl/.parquet）")
    target = service.for_model(model or None)
    col = (column or "text").strip()
    catalog = catalog_from_settings(service.settings)

    columns = CorpusColumns(text=col, field=col)
    progress(0, desc="读取中 Reading")
    total = sum(1 for row in iter_rows(Path(upload), columns) if row.text)  # checks the column first, too

    def tick(done: int, _chunks: int) -> None:
        progress((done, max(total, 1)), desc="嵌入中 Embedding", unit="texts")

    report = build_index(target, catalog, Path(upload), (name or "").strip(), columns=columns,
                         store=service.settings.index_store, chunk_size=256, progress=tick)
    status = (f"索引 **{report.name}** 已建立 built: {report.rows:,} 条 documents ({report.skipped_blank} 空行 blank "
              f"skipped), `{target.name}`, {report.store}, {report.seconds:.1f} s")
    return status, gr.update(choices=catalog.names(), value=[report.name])


def refresh(service: EmbeddingService, current: Sequence[str] | None):
    names = index_choices(service)
    return gr.update(choices=names, value=[n for n in (current or []) if n in names])


def build(service: EmbeddingService) -> None:
    """Lay the tab out (call inside the page's ``gr.Blocks``)."""
    names = index_choices(service)
    models = [s.name for s in service.models()]
    with gr.Tab("检索 Search", id="search"):
        gr.Markdown("在语料索引中检索：选择一个或多个索引（每个模型一个，结果并排）。Search a corpus index: pick one, "
                    "or several (one per model) to see their results side by side. Build one with "
                    "`gte-ui index build FILE --name N` or below.")
        with gr.Row():
            picker = gr.Dropdown(choices=names, value=names[:1], multiselect=True, scale=4,
                                 label="索引 Indexes", elem_id="search-index")
            refresh_btn = gr.Button("刷新 Refresh", scale=1, elem_id="search-refresh")
        with gr.Accordion("上传语料建立索引 Upload a corpus and build an index", open=not names):
            with gr.Row():
                upload = gr.File(label="语料 Corpus (.txt/.csv/.tsv/.jsonl/.parquet)", file_types=CORPUS_TYPES,
                                 type="filepath", elem_id="search-upload", scale=2)
                with gr.Column(scale=2):
                    name = gr.Textbox(label="索引名 Index name", elem_id="search-name")
                    column = gr.Textbox(label="文本列/字段 Text column / field", value="text")
                    model = gr.Dropdown(choices=models, value=models[0], label="模型 Model", visible=len(models) > 1)
            build_btn = gr.Button("建立索引 Build index", elem_id="btn-build-index")
            build_md = gr.Markdown(elem_id="search-build-status")
        query = gr.Textbox(label="查询 Query", value=EXAMPLE_QUERY, elem_id="search-query")
        with gr.Row():
            top_k = gr.Slider(1, MAX_TOP_K, value=10, step=1, label="Top-k")
            rerank = gr.Checkbox(label="重排 Rerank (--reranker)" + ("" if service.reranker else
                                 "：未加载 not loaded"), value=False, interactive=service.reranker is not None,
                                 elem_id="search-rerank")
            highlight = gr.Checkbox(label="高亮匹配词元 Highlight matching tokens", value=True)
        go_btn = gr.Button("检索 Search", variant="primary", elem_id="btn-search")
        md = gr.Markdown(elem_id="search-summary")
        out = gr.HTML(elem_id="search-results")

    go_btn.click(bind(on_search, service), [picker, query, top_k, rerank, highlight], [md, out],
                 api_visibility="private")
    query.submit(bind(on_search, service), [picker, query, top_k, rerank, highlight], [md, out],
                 api_visibility="private")
    build_btn.click(bind(on_build, service), [upload, name, column, model], [build_md, picker],
                    api_visibility="private")
    refresh_btn.click(bind(refresh, service), [picker], [picker], api_visibility="private")
