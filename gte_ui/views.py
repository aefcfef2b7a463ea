"""What the UI callbacks compute, as plain functions: tables, files, parsed uploads, summaries.

No Gradio here, so each piece is testable without a browser.
"""

from __future__ import annotations

import csv
import io
import json
import os
import tempfile
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from .errors import ErrorType, GteError
from .service import MatrixResult, PairResult, RankResult, split_lines

RANK_COLUMNS = ["排名 Rank", "得分 Score", "百分比 %", "判定 Verdict", "候选 Candidate", "词元 Tokens", "备注 Notes"]
CSV_COLUMNS = ("text", "text_column", "sentence", "candidate", "句子", "文本", "候选")


def export_dir() -> Path:
    """A fresh folder for one download (Gradio serves files from the system temp dir)."""
    return Path(tempfile.mkdtemp(prefix="gte-export-"))


# ------------------------------------------------------------------ pairwise
def pair_markdown(r: PairResult) -> str:
    notes = []
    for side, n, cut in (("A", r.tokens_a, r.truncated_a), ("B", r.tokens_b, r.truncated_b)):
        if cut:
            notes.append(f"⚠️ 句子 {side} 有 {n} 个词元，已截断 / sentence {side} has {n} tokens and was truncated")
    return "\n\n".join([
        f"### {r.score:.4f} · {r.percent:.1f} % · {r.verdict.zh} {r.verdict.en}",
        f"词元 Tokens: A {r.tokens_a} · B {r.tokens_b} · 耗时 Time {r.elapsed_ms:.0f} ms · "
        f"判定阈值 Bands: > {r.bands.high:.2f} 高度相似, > {r.bands.mid:.2f} 中等相似 ({r.bands.source})",
        *notes])


# ------------------------------------------------------------------ ranking
def rank_rows(result: RankResult) -> list[list[object]]:
    """Rows of the ranking table, best first."""
    rows = []
    for row in result.rows:
        notes = []
        if row.duplicate:
            notes.append("重复 duplicate")
        if row.truncated:
            notes.append(f"已截断 truncated ({row.tokens} tokens)")
        rows.append([row.rank, round(row.score, 4), row.percent, f"{row.verdict.zh} {row.verdict.en}", row.text,
                     row.tokens, "; ".join(notes)])
    return rows


def ranking_csv(result: RankResult) -> Path:
    """The ranking as a UTF-8 CSV (with BOM so Excel opens Chinese correctly)."""
    path = export_dir() / "ranking.csv"
    with open(path, "w", encoding="utf-8-sig", newline="") as f:
        w = csv.writer(f)
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
    return " · ".join(parts)


def read_candidates_file(path: str | os.PathLike, max_bytes: int) -> list[str]:
    """Candidates from an uploaded .txt (one per line) or .csv/.tsv (a text column, else the first).

    Raises:
        GteError: too big, binary, not UTF-8/GB18030 text, or a CSV that does not parse.
    """
    p = Path(path)
    size = p.stat().st_size
    if size > max_bytes:
        raise GteError(ErrorType.TOO_LARGE, f"the file is {size:,} bytes; the limit is {max_bytes:,}",
                       f"文件大小 {size:,} 字节，超过上限 {max_bytes:,}")
    raw = p.read_bytes()
    if b"\x00" in raw[:8192] and not raw.startswith((b"\xff\xfe", b"\xfe\xff")):  # UTF-16 has NULs
        raise GteError(ErrorType.VALIDATION, f"{p.name} looks like a binary file, not text",
                       f"{p.name} 看起来是二进制文件，不是文本")
    text = decode_text(raw, p.name)
    if p.suffix.lower() in (".csv", ".tsv"):
        return _csv_column(text, "\t" if p.suffix.lower() == ".tsv" else ",", p.name)
    return split_lines(text)


def decode_text(raw: bytes, name: str = "file") -> str:
    """UTF-8 (with or without BOM), UTF-16 with BOM (Windows Notepad), else GB18030."""
    import codecs

    if raw.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        try:
            return raw.decode("utf-16")
        except UnicodeDecodeError:
            pass
    for encoding in ("utf-8-sig", "gb18030"):
        try:
            return raw.decode(encoding)
        except UnicodeDecodeError:
            continue
    raise GteError(ErrorType.VALIDATION, f"{name} is neither UTF-8 nor GB18030 text", f"{name} 不是 UTF-8 或 GB18030 编码的文本")


def _csv_column(text: str, delimiter: str, name: str) -> list[str]:
    try:
        rows = list(csv.reader(io.StringIO(text), delimiter=delimiter, strict=True))
    except csv.Error as exc:
        raise GteError(ErrorType.VALIDATION, f"{name} is not valid CSV: {exc}", f"{name} 不是有效的 CSV：{exc}") from exc
    rows = [r for r in rows if any(c.strip() for c in r)]
    if not rows:
        return []
    header = [c.strip().lower() for c in rows[0]]
    col = next((header.index(c) for c in CSV_COLUMNS if c in header), None)
    body = rows[1:] if col is not None else rows
    col = col or 0
    return [r[col].strip() for r in body if len(r) > col and r[col].strip()]


# ------------------------------------------------------------------ vectors
def vector_summary(texts: Sequence[str], vectors: np.ndarray, tokens: Sequence[int],
                   truncated: Sequence[bool], preview: int = 8) -> str:
    """A readable preview: dimension, norm and the first numbers of each vector."""
    lines = [f"**{len(texts)}** 条文本 texts · 维度 dimension **{vectors.shape[1]}**", ""]
    for text, vec, n, cut in zip(texts, vectors, tokens, truncated):
        head = ", ".join(f"{x:+.4f}" for x in vec[:preview])
        flag = " ⚠️ 已截断 truncated" if cut else ""
        lines.append(f"- `{_md_escape(text[:40])}` — norm {np.linalg.norm(vec):.4f}, {n} tokens{flag}  \n"
                     f"  `[{head}, …]`")
    return "\n".join(lines)


def vectors_json(texts: Sequence[str], vectors: np.ndarray) -> str:
    return json.dumps([{"text": t, "vector": [round(float(x), 7) for x in v]} for t, v in zip(texts, vectors)],
                      ensure_ascii=False)


def export_vectors(texts: Sequence[str], vectors: np.ndarray) -> list[Path]:
    """Write .json (text + vector), .npy (float32 [n, dim]) and .csv (text, v0..v{dim-1})."""
    folder = export_dir()
    json_path, npy_path, csv_path = folder / "vectors.json", folder / "vectors.npy", folder / "vectors.csv"
    json_path.write_text(vectors_json(texts, vectors), encoding="utf-8")
    np.save(npy_path, np.asarray(vectors, dtype=np.float32))
    with open(csv_path, "w", encoding="utf-8-sig", newline="") as f:
        w = csv.writer(f)
        w.writerow(["text"] + [f"v{i}" for i in range(vectors.shape[1])])
        for t, v in zip(texts, vectors):
            w.writerow([t] + [f"{x:.7g}" for x in v])
    return [json_path, npy_path, csv_path]


# ------------------------------------------------------------------ matrix
def matrix_csv(result: MatrixResult) -> Path:
    path = export_dir() / "similarity_matrix.csv"
    with open(path, "w", encoding="utf-8-sig", newline="") as f:
        w = csv.writer(f)
        w.writerow([""] + list(result.texts))
        for t, row in zip(result.texts, result.scores):
            w.writerow([t] + [f"{x:.6f}" for x in row])
    return path


def _md_escape(text: str) -> str:
    return text.replace("`", "'").replace("\n", " ")
