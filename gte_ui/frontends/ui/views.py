"""What the UI callbacks compute, as plain functions: tables, files, parsed uploads, summaries.

No Gradio here, so each piece is testable without a browser.
"""

from __future__ import annotations

import json
import shutil
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from gte_ui.core import csvsafe
from gte_ui.evaluation.compare import Comparison
from gte_ui.service.results import MatrixResult, PairResult, RankResult

RANK_COLUMNS = ["排名 Rank", "得分 Score", "百分比 %", "判定 Verdict", "候选 Candidate", "词元 Tokens", "备注 Notes"]


EXPORT_PREFIX = "gte-export-"
#: Gradio copies a download into its own cache (swept hourly) as the event answers, so our folder
#: is needed for seconds; older ones go, and the newest are kept within a total size
EXPORT_MAX_AGE_S = 15 * 60
EXPORT_MAX_BYTES = 512 * 2**20
EXPORT_MIN_AGE_S = 60  # never swept younger: an event may still be answering with it


def export_dir() -> Path:
    """A fresh folder for one download, in the system temp dir (where Gradio takes files from);
    old ones are swept first, so exports never pile up."""
    sweep_exports()
    return Path(tempfile.mkdtemp(prefix=EXPORT_PREFIX))


def sweep_exports(root: str | Path | None = None, max_age_s: float = EXPORT_MAX_AGE_S,
                  max_bytes: int = EXPORT_MAX_BYTES, now: float | None = None) -> int:
    """Delete export folders older than ``max_age_s``, then the oldest (past a minute) until the
    rest take at most ``max_bytes``. Returns how many went."""
    now = time.time() if now is None else now
    folders = []
    for folder in Path(root or tempfile.gettempdir()).glob(EXPORT_PREFIX + "*"):
        try:
            size = sum(f.stat().st_size for f in folder.iterdir() if f.is_file())
            folders.append((folder.stat().st_mtime, size, folder))
        except OSError:  # swept by another worker meanwhile
            continue
    folders.sort(reverse=True)  # newest first
    removed, kept = 0, 0
    for mtime, size, folder in folders:
        age = now - mtime
        kept += size
        if age > max_age_s or (kept > max_bytes and age > EXPORT_MIN_AGE_S):
            shutil.rmtree(folder, ignore_errors=True)
            kept -= size
            removed += 1
    return removed


# ------------------------------------------------------------------ pairwise
def pair_markdown(r: PairResult) -> str:
    notes = []
    for side, n, cut in (("A", r.tokens_a, r.truncated_a), ("B", r.tokens_b, r.truncated_b)):
        if cut:
            notes.append(f"⚠️ 句子 {side} 有 {n} 个词元，已截断 / sentence {side} has {n} tokens and was truncated")
    if r.default_verdict is not None:
        notes.append(f"固定阈值 0.75 / 0.50 下判为 Under SPEC's fixed 0.75 / 0.50 bands: "
                     f"**{r.default_verdict.zh} {r.default_verdict.en}** — 上面的判定用本模型校准的阈值 "
                     f"(the verdict above uses this model's calibrated bands)")
    notes.extend(f"⚠️ {w}" for w in r.warnings)
    return "\n\n".join([
        f"### {r.score:.4f} · {r.percent:.1f} % · {r.verdict.zh} {r.verdict.en}",
        f"词元 Tokens: A {r.tokens_a} · B {r.tokens_b} · {_timing(r)} · "
        f"判定阈值 Bands: > {r.bands.high:.2f} 高度相似, > {r.bands.mid:.2f} 中等相似 ({r.bands.source})",
        *notes, *prompt_note(r.prompt, "句子 A sentence A")])


def prompt_note(prompt: str | None, where: str) -> list[str]:
    """Say which instruction prompt was used, so a score can be reproduced through the API."""
    if not prompt:
        return []
    shown = _md_escape(prompt.replace("\n", "\\n"))  # the newline stays visible
    return [f"指令提示词 Prompt before {where}: `{shown}`"]


def _timing(r: PairResult) -> str:
    # Never "from cache": that would tell a visitor whether anyone sent these texts (issue 26).
    # A cache hit takes well under a millisecond: "0 ms" would read as a broken timer.
    return "耗时 Time < 1 ms" if r.elapsed_ms < 1 else f"耗时 Time {r.elapsed_ms:.0f} ms"


# ------------------------------------------------------------------ ranking
def unknown_mark(ratio: float, threshold: float) -> str:
    """The mark in a table row whose text the vocabulary mostly does not know (the warning above
    the table names it by the same rank)."""
    return f"⚠️ 未知词元 unknown tokens {ratio:.0%}" if ratio > threshold else ""


def rank_rows(result: RankResult, unknown_warn: float = 1.0) -> list[list[object]]:
    """Rows of the ranking table, best first; a row above ``unknown_warn`` (``--unknown-warn``)
    is marked."""
    rows = []
    for row in result.rows:
        notes = []
        if row.duplicate:
            notes.append("重复 duplicate")
        if row.truncated:
            notes.append(f"已截断 truncated ({row.tokens} tokens)")
        if unknown_mark(row.unknown_token_ratio, unknown_warn):
            notes.append(unknown_mark(row.unknown_token_ratio, unknown_warn))
        rows.append([row.rank, round(row.score, 4), row.percent, f"{row.verdict.zh} {row.verdict.en}", row.text,
                     row.tokens, "; ".join(notes)])
    return rows


def ranking_csv(result: RankResult) -> Path:
    """The ranking as a UTF-8 CSV (with BOM so Excel opens Chinese correctly)."""
    path = export_dir() / "ranking.csv"
    with open(path, "w", encoding="utf-8-sig", newline="") as f:
        w = csvsafe.writer(f)
        w.writerow(["rank", "index", "score", "percent", "verdict", "text", "tokens", "truncated", "duplicate"])
        for row in result.rows:
            w.writerow([row.rank, row.index, f"{row.score:.6f}", row.percent, row.verdict.zh, row.text,
                        row.tokens, row.truncated, row.duplicate])
    return path


def rank_summary(result: RankResult) -> str:
    shown = len(result.rows)
    dups = sum(r.duplicate for r in result.rows)
    parts = [f"{result.total} 个候选 candidates · 显示 showing {shown} · 耗时 {result.elapsed_ms:.0f} ms"]
    if dups:
        parts.append(f"{dups} 个重复 duplicates (kept, marked)")
    if result.source_truncated:
        parts.append(f"⚠️ 源句子已截断 source truncated ({result.source_tokens} tokens)")
    return "\n\n".join([" · ".join(parts) + "".join(f"\n\n⚠️ {w}" for w in result.warnings),
                        *prompt_note(result.prompt, "源句子 the source")])


# ------------------------------------------------------------------ vectors
def vector_summary(texts: Sequence[str], vectors: np.ndarray, tokens: Sequence[int],
                   truncated: Sequence[bool], preview: int = 8, prompt: str | None = None,
                   warnings: Sequence[str] = ()) -> str:
    """A readable preview: dimension, norm and the first numbers of each vector."""
    lines = [f"**{len(texts)}** 条文本 texts · 维度 dimension **{vectors.shape[1]}**", ""]
    lines += [f"⚠️ {w}" for w in warnings] + [n + "\n" for n in prompt_note(prompt, "每条文本 every text")]
    for text, vec, n, cut in zip(texts, vectors, tokens, truncated):
        head = ", ".join(f"{x:+.4f}" for x in vec[:preview])
        flag = " ⚠️ 已截断 truncated" if cut else ""
        lines.append(f"- `{_md_escape(text[:40])}` — norm {np.linalg.norm(vec):.4f}, {n} tokens{flag}  \n"
                     f"  `[{head}, …]`")
    return "\n".join(lines)


def vectors_json(texts: Sequence[str], vectors: np.ndarray) -> str:
    return json.dumps([{"text": t, "vector": [round(float(x), 7) for x in v]} for t, v in zip(texts, vectors)],
                      ensure_ascii=False)


def vectors_json_pretty(texts: Sequence[str], vectors: np.ndarray, per_line: int = 8) -> str:
    """The same JSON as :func:`vectors_json`, laid out to read: one object per text and
    ``per_line`` numbers per line, so nothing scrolls sideways."""
    items = []
    for t, v in zip(texts, vectors):
        numbers = [json.dumps(round(float(x), 7)) for x in v]
        rows = [", ".join(numbers[i:i + per_line]) for i in range(0, len(numbers), per_line)]
        body = ",\n      ".join(rows)
        items.append(f'  {{\n    "text": {json.dumps(t, ensure_ascii=False)},\n    "vector": [\n      {body}\n    ]\n  }}')
    return "[\n" + ",\n".join(items) + "\n]" if items else "[]"


def export_vectors(texts: Sequence[str], vectors: np.ndarray) -> list[Path]:
    """Write .json (text + vector), .npy (float32 [n, dim]) and .csv (text, v0..v{dim-1})."""
    folder = export_dir()
    json_path, npy_path, csv_path = folder / "vectors.json", folder / "vectors.npy", folder / "vectors.csv"
    json_path.write_text(vectors_json(texts, vectors), encoding="utf-8")
    np.save(npy_path, np.asarray(vectors, dtype=np.float32))
    with open(csv_path, "w", encoding="utf-8-sig", newline="") as f:
        w = csvsafe.writer(f)
        w.writerow(["text"] + [f"v{i}" for i in range(vectors.shape[1])])
        for t, v in zip(texts, vectors):
            w.writerow([t] + [f"{x:.7g}" for x in v])
    return [json_path, npy_path, csv_path]


# ------------------------------------------------------------------ matrix
def matrix_csv(result: MatrixResult) -> Path:
    path = export_dir() / "similarity_matrix.csv"
    with open(path, "w", encoding="utf-8-sig", newline="") as f:
        w = csvsafe.writer(f)
        w.writerow([""] + list(result.texts))
        for t, row in zip(result.texts, result.scores):
            w.writerow([t] + [f"{x:.6f}" for x in row])
    return path


def _md_escape(text: str) -> str:
    return text.replace("`", "'").replace("\n", " ")


# ------------------------------------------------------------------ several models
def compare_pairs_markdown(results: Sequence[tuple[str, PairResult]]) -> str:
    """One row per model for the same pair: score, verdict (with the model's own bands), tokens."""
    lines = ["| 模型 Model | 余弦 Cosine | % | 判定 Verdict | 阈值 Bands | 词元 Tokens A/B |", "|---|---|---|---|---|---|"]
    warnings = []
    for name, r in results:
        lines.append(f"| {_md_escape(name)} | **{r.score:.4f}** | {r.percent:.1f} | {r.verdict.zh} {r.verdict.en} | "
                     f"> {r.bands.high:.2f} / > {r.bands.mid:.2f} ({_md_escape(r.bands.source)}) | "
                     f"{r.tokens_a} / {r.tokens_b} |")
        warnings.extend(f"⚠️ {_md_escape(name)}: {w}" for w in r.warnings)
    note = ("\n\n同一对句子在不同模型下的余弦不可直接比较：看各自阈值下的判定。 Cosines of different models live on "
            "different scales: compare the verdicts under each model's bands.")
    return "\n".join(lines) + note + ("\n\n" + "\n\n".join(warnings) if warnings else "")


def compare_rank_table(texts: Sequence[str], scores_by_model: dict[str, Sequence[float]]) -> list[list[object]]:
    """Candidates in input order, one score and one rank column per model."""
    ranks = {name: _ranks(scores) for name, scores in scores_by_model.items()}
    return [[i + 1, text, *[x for name, scores in scores_by_model.items()
                             for x in (round(float(scores[i]), 4), ranks[name][i])]]
            for i, text in enumerate(texts)]


def compare_rank_headers(names: Sequence[str]) -> list[str]:
    return ["# ", "候选 Candidate", *[h for n in names for h in (f"{n} 得分 score", f"{n} 名次 rank")]]


def compare_rank_csv(texts: Sequence[str], scores_by_model: dict[str, Sequence[float]]) -> Path:
    """The compare-all ranking as a UTF-8 CSV (BOM for Excel): input order, a score (6 decimals)
    and a rank column per model."""
    path = export_dir() / "ranking-compare.csv"
    ranks = {name: _ranks(scores) for name, scores in scores_by_model.items()}
    with open(path, "w", encoding="utf-8-sig", newline="") as f:
        w = csvsafe.writer(f)
        w.writerow(["index", "text", *[h for n in scores_by_model for h in (f"{n} score", f"{n} rank")]])
        for i, text in enumerate(texts):
            w.writerow([i, text, *[x for name, scores in scores_by_model.items()
                                   for x in (f"{float(scores[i]):.6f}", ranks[name][i])]])
    return path


def _ranks(scores: Sequence[float]) -> list[int]:
    order = sorted(range(len(scores)), key=lambda i: -float(scores[i]))
    rank = [0] * len(scores)
    for r, i in enumerate(order):
        rank[i] = r + 1
    return rank


def agreement_markdown(tau: dict[tuple[str, str], float]) -> str:
    """Kendall's τ between every two models' rankings."""
    if not tau:
        return ""
    parts = [f"{_md_escape(a)} ↔ {_md_escape(b)}: **τ = {t:.3f}**" for (a, b), t in tau.items()]
    return "排序一致性 Rank agreement (Kendall τ; 1 = same order): " + " · ".join(parts)


def comparison_markdown(comparison: Comparison) -> str:
    """The Evaluate tab's table: one row per model, every metric, speed and memory."""
    binary = any(r.result.binary for r in comparison.rows)
    head = "| 模型 Model | 精度 Precision | Spearman | Pearson |" + (" ROC-AUC |" if binary else "") + \
        " 句/秒 Sent/s | 内存 Memory (est.) |"
    lines = [f"### {_md_escape(comparison.name)} · {comparison.rows[0].result.n if comparison.rows else 0} pairs", "",
             head, "|" + "---|" * (head.count("|") - 1)]
    for r in comparison.rows:
        auc = f" {r.result.auc:.4f} |" if binary and r.result.auc is not None else (" — |" if binary else "")
        mem = f"{r.memory_bytes / 2**20:,.0f} MB" if r.memory_bytes else "—"
        lines.append(f"| {_md_escape(r.model)} | {r.precision} | **{r.result.spearman * 100:.2f}** | "
                     f"{r.result.pearson * 100:.2f} |{auc} {r.sentences_per_s:.1f} | {mem} |")
    lines.append("\n(Spearman / Pearson × 100, as C-MTEB reports them; speed: uncached sample of the file's texts.)")
    lines += [f"\n⚠️ {w}" for r in comparison.rows for w in r.result.warnings]
    return "\n".join(lines)
