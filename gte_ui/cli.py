"""Command line: ``python -m gte_ui {serve,download,embed,similarity,rank,evaluate}``.

``embed`` exports vectors at corpus scale: it streams the input in chunks (constant memory),
shows texts/s, writes each finished chunk to ``OUT.parts/`` so an interrupted run resumes where it
stopped, and assembles the output through a temporary file and ``os.replace`` — never a
half-written file under the output's name.
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import json
import os
import shutil
import sys
from collections.abc import Iterator, Sequence
from pathlib import Path

import numpy as np

from .errors import ErrorType, GteError

INPUT_KINDS = (".txt", ".csv", ".tsv", ".jsonl")
OUTPUT_KINDS = (".npy", ".csv", ".parquet")


# --------------------------------------------------------------------------- input
def iter_texts(path: Path, column: str = "text", field: str = "text") -> Iterator[str]:
    """Texts from a .txt (one a line), .csv/.tsv (named column) or .jsonl (named field), streamed.

    Blank texts are skipped (they cannot be embedded); so are blank lines.
    """
    kind = path.suffix.lower()
    if kind not in INPUT_KINDS:
        raise GteError(ErrorType.VALIDATION, f"unsupported input {path.name}: use one of {', '.join(INPUT_KINDS)}",
                       f"不支持的输入文件类型：{path.name}")
    with open(path, encoding="utf-8-sig", newline="" if kind in (".csv", ".tsv") else None) as f:
        if kind == ".txt":
            for line in f:
                if line.strip():
                    yield line.strip()
        elif kind in (".csv", ".tsv"):
            reader = csv.DictReader(f, delimiter="\t" if kind == ".tsv" else ",")
            if reader.fieldnames is None or column not in reader.fieldnames:
                raise GteError(ErrorType.VALIDATION,
                               f"{path.name} has no column {column!r}; columns: {reader.fieldnames}. Use --column",
                               f"{path.name} 中没有列 {column!r}")
            for row in reader:
                value = (row.get(column) or "").strip()
                if value:
                    yield value
        else:
            for n, line in enumerate(f, start=1):
                if not line.strip():
                    continue
                try:
                    record = json.loads(line)
                except json.JSONDecodeError as exc:
                    raise GteError(ErrorType.VALIDATION, f"{path.name} line {n} is not JSON: {exc.msg}",
                                   f"{path.name} 第 {n} 行不是 JSON") from exc
                if not isinstance(record, dict) or field not in record:
                    raise GteError(ErrorType.VALIDATION, f"{path.name} line {n} has no field {field!r}; use --field",
                                   f"{path.name} 第 {n} 行没有字段 {field!r}")
                value = str(record[field]).strip()
                if value:
                    yield value


def _chunks(texts: Iterator[str], size: int) -> Iterator[list[str]]:
    chunk: list[str] = []
    for t in texts:
        chunk.append(t)
        if len(chunk) == size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


# --------------------------------------------------------------------------- embed
def embed_file(encoder, src: str | Path, out: str | Path, *, column: str = "text", field: str = "text",
               chunk_size: int = 1024, restart: bool = False, max_chunks: int | None = None,
               progress: bool = True) -> dict[str, object]:
    """Embed every text of ``src`` into ``out`` (.npy, .csv or .parquet), resumably.

    Args:
        encoder: a loaded :class:`~gte_ui.encoder.Encoder` (the cache is bypassed on purpose: a
            corpus would only evict what interactive users need).
        max_chunks: stop after this many *new* chunks (what an interruption looks like; tests use it).
    Returns:
        {"texts", "chunks", "resumed_chunks", "out"}; ``out`` is None when stopped early.
    """
    from tqdm import tqdm

    from .service import clean_text

    src, out = Path(src), Path(out)
    if out.suffix.lower() not in OUTPUT_KINDS:
        raise GteError(ErrorType.VALIDATION, f"unsupported output {out.name}: use one of {', '.join(OUTPUT_KINDS)}",
                       f"不支持的输出文件类型：{out.name}")
    if not src.is_file():
        raise GteError(ErrorType.VALIDATION, f"input file {src} does not exist", f"输入文件 {src} 不存在")
    parts = out.with_name(out.name + ".parts")
    meta = {"input": str(src.resolve()), "size": src.stat().st_size, "mtime": src.stat().st_mtime,
            "model": encoder.info.path, "precision": encoder.info.precision, "backend": encoder.info.backend,
            "max_length": encoder.max_length, "chunk_size": chunk_size, "column": column, "field": field}
    meta_file = parts / "meta.json"
    if parts.exists() and (restart or not meta_file.is_file()
                           or json.loads(meta_file.read_text(encoding="utf-8")) != meta):
        if not restart and meta_file.is_file():
            raise GteError(ErrorType.VALIDATION,
                           f"{parts} holds an unfinished run with other settings or another input; "
                           "pass --restart to discard it", f"{parts} 中有设置不同的未完成任务，请加 --restart")
        shutil.rmtree(parts)
    parts.mkdir(parents=True, exist_ok=True)
    _atomic_write_text(meta_file, json.dumps(meta, sort_keys=True))

    done = sorted(parts.glob("part-*.npz"))
    resumed = len(done)
    new = 0
    total = 0
    bar = tqdm(unit=" texts", desc=f"embedding {src.name}", disable=not progress, dynamic_ncols=True)
    try:
        for i, chunk in enumerate(_chunks(iter_texts(src, column, field), chunk_size)):
            total += len(chunk)
            part = parts / f"part-{i:07d}.npz"
            if i < resumed:  # finished in an earlier run: skip without embedding
                bar.update(len(chunk))
                continue
            if max_chunks is not None and new >= max_chunks:
                return {"texts": total, "chunks": i, "resumed_chunks": resumed, "out": None}
            vectors = encoder.encode([clean_text(t) or "\ufffd" for t in chunk]).vectors
            _atomic_save_part(part, chunk, vectors)
            new += 1
            bar.update(len(chunk))
    finally:
        bar.close()
    _assemble(sorted(parts.glob("part-*.npz")), out, encoder.dim)
    shutil.rmtree(parts)
    return {"texts": total, "chunks": resumed + new, "resumed_chunks": resumed, "out": str(out)}


def _atomic_write_text(path: Path, text: str) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


def _atomic_save_part(path: Path, texts: Sequence[str], vectors: np.ndarray) -> None:
    tmp = path.with_name(path.stem + ".tmp.npz")
    np.savez(tmp, vectors=vectors.astype(np.float32), texts=np.array(texts, dtype=object))
    os.replace(tmp, path)


def _load_part(path: Path) -> tuple[list[str], np.ndarray]:
    with np.load(path, allow_pickle=True) as z:
        return list(z["texts"]), z["vectors"]


def _assemble(parts: list[Path], out: Path, dim: int) -> None:
    """Join the parts into ``out`` through a temporary file (constant memory: one part at a time)."""
    tmp = out.with_name(f".{out.name}.{os.getpid()}.tmp")
    kind = out.suffix.lower()
    try:
        if kind == ".npy":
            rows = sum(len(_load_part(p)[0]) for p in parts)
            arr = np.lib.format.open_memmap(tmp, mode="w+", dtype=np.float32, shape=(rows, dim))
            at = 0
            for p in parts:
                _, v = _load_part(p)
                arr[at:at + len(v)] = v
                at += len(v)
            arr.flush()
            del arr
        elif kind == ".csv":
            with open(tmp, "w", encoding="utf-8", newline="") as f:
                w = csv.writer(f)
                w.writerow(["text"] + [f"v{i}" for i in range(dim)])
                for p in parts:
                    texts, v = _load_part(p)
                    for t, row in zip(texts, v):
                        w.writerow([t] + [f"{x:.7g}" for x in row])
        else:
            import pyarrow as pa
            import pyarrow.parquet as pq

            schema = pa.schema([("text", pa.string()), ("vector", pa.list_(pa.float32(), dim))])
            with pq.ParquetWriter(tmp, schema) as writer:
                for p in parts:
                    texts, v = _load_part(p)
                    vec = pa.FixedSizeListArray.from_arrays(pa.array(v.reshape(-1), pa.float32()), dim)
                    writer.write_table(pa.Table.from_arrays([pa.array(texts, pa.string()), vec], schema=schema))
        os.replace(tmp, out)
    finally:
        if tmp.exists():
            tmp.unlink()


# --------------------------------------------------------------------------- commands
MODEL_FLAGS = ("--model", "--hub", "--revision", "--offline", "--model-cache-dir", "--device", "--precision",
               "--int8-mode", "--max-length", "--batch-size", "--threads", "--long-text")


def _settings(rest: Sequence[str]):
    from .config import parse_settings

    return parse_settings(list(rest))


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = argparse.ArgumentParser(
        prog="python -m gte_ui", description="GTE workbench command line. Model options (--model, --device, "
        "--precision, …) are those of app.py and go after the command.")
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("serve", help="start the web UI + API (same as python app.py)", add_help=False)
    d = sub.add_parser("download", help="fetch a model for offline use")
    d.add_argument("--model", required=True, help="ModelScope or Hugging Face id")
    d.add_argument("--to", required=True, help="target folder")
    d.add_argument("--hub", default="auto", choices=("auto", "modelscope", "huggingface"))
    d.add_argument("--revision")
    e = sub.add_parser("embed", help="embed a corpus file into .npy / .csv / .parquet (resumable)")
    e.add_argument("input", help=".txt (one text a line), .csv/.tsv (--column) or .jsonl (--field)")
    e.add_argument("--out", required=True, help="output .npy, .csv or .parquet")
    e.add_argument("--column", default="text")
    e.add_argument("--field", default="text")
    e.add_argument("--chunk-size", type=int, default=1024)
    e.add_argument("--restart", action="store_true", help="discard an unfinished earlier run")
    s = sub.add_parser("similarity", help="cosine similarity of two texts")
    s.add_argument("a")
    s.add_argument("b")
    r = sub.add_parser("rank", help="rank candidates against a source")
    r.add_argument("source")
    r.add_argument("candidates", nargs="*")
    r.add_argument("--file", help="candidates file, one per line")
    r.add_argument("--top-k", type=int)
    sub.add_parser("evaluate", help="Spearman/AUC of the model on labelled pairs", add_help=False)

    if argv and argv[0] in ("serve", "evaluate"):
        return _passthrough(argv[0], argv[1:])
    args, rest = parser.parse_known_args(argv)
    try:
        if args.command == "download":
            from .hub import download

            folder = download(args.model, args.to, hub=args.hub, revision=args.revision)
            print(f"saved to {folder}; run offline with: python app.py --model {folder} --offline")
            return 0
        from .service import EmbeddingService

        settings = _settings(rest)
        if args.command == "embed":
            from .encoder import Encoder

            if args.chunk_size < 1:
                parser.error("--chunk-size must be at least 1")
            res = embed_file(Encoder.load(settings), args.input, args.out, column=args.column, field=args.field,
                             chunk_size=args.chunk_size, restart=args.restart)
            print(json.dumps(res, ensure_ascii=False))
            return 0
        service = EmbeddingService.from_settings(settings, batching=False)
        if args.command == "similarity":
            p = service.pair(args.a, args.b)
            print(json.dumps({"score": round(p.score, 6), "percent": p.percent, "verdict": p.verdict.zh,
                              "tokens": [p.tokens_a, p.tokens_b], "truncated": [p.truncated_a, p.truncated_b]},
                             ensure_ascii=False))
            return 0
        cands = list(args.candidates)
        if args.file:
            from .views import read_candidates_file

            cands += read_candidates_file(args.file, settings.max_upload_bytes)
        result = service.rank(args.source, cands, top_k=args.top_k)
        for row in result.rows:
            print(f"{row.rank}\t{row.score:.4f}\t{row.verdict.zh}\t{row.text}")
        return 0
    except GteError as exc:
        print(f"error: {exc.message}", file=sys.stderr)
        return 2


def _passthrough(command: str, rest: list[str]) -> int:
    if command == "serve":
        sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
        import app

        return app.main(rest)
    try:
        from .evaluation import main as evaluate_main
    except ImportError:
        print("error: the evaluate command needs gte_ui.evaluation, which is not installed", file=sys.stderr)
        return 2
    return evaluate_main(rest)


def file_digest(path: Path) -> str:
    """sha256 of a file (tests compare outputs of interrupted and uninterrupted runs)."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()
