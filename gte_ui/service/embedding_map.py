"""向量地图 Embedding map: a corpus (and queries over it) projected to 2-D, coloured by cluster or label.

PCA (scikit-learn) always; UMAP when ``umap-learn`` is installed (optional: not in
requirements.txt). Clusters are k-means (scikit-learn) on the full vectors, not on the 2-D picture,
so a colour means "close in the model's space" even where the projection squashes it. A corpus
over ``--map-max-points`` is sampled (uniformly, seeded: the same map every time) *before* it is
embedded, and the map says how many of how many it shows.

One capability, three doors: the UI's 向量地图 Map section, ``gte-ui map FILE --out map.html`` and
``map_vectors`` for vectors already at hand (an index: the search helper's index API hands its
vectors and texts here).
"""

from __future__ import annotations

import html
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import plotly.graph_objects as go

from gte_ui.core.errors import ErrorType, GteError
from gte_ui.core.tables import (
    check_size,
    columns_of,
    find_column,
    iter_columns,
    kind_of,
    text_cell,
)
from gte_ui.service.options import DEFAULT_OPTIONS, TextOptions

METHODS = ("pca", "umap")
#: queries drawn over the corpus at most (they are markers, not a second corpus)
MAX_QUERIES = 200
#: header names read as the text column of a mapped file when none is given (else the first column)
TEXT_COLUMNS = ("text", "sentence", "passage", "文本", "句子")
#: k-means clusters when colouring by cluster
DEFAULT_CLUSTERS = 8
FONT = "Noto Sans CJK SC, PingFang SC, Microsoft YaHei, sans-serif"


def _bad(en: str, zh: str) -> GteError:
    return GteError(ErrorType.VALIDATION, en, zh)


def umap_available() -> bool:
    """True when ``umap-learn`` can be imported (the UI offers UMAP only then)."""
    try:
        # umap-learn is optional (heavy: numba); probed, not required
        import umap  # noqa: F401
    except ImportError:
        return False
    return True


@dataclass
class EmbeddingMap:
    """Points of a 2-D map: the corpus (sampled) first, then the queries."""

    x: list[float]
    y: list[float]
    texts: list[str]
    kinds: list[str]  # "corpus" | "query"
    groups: list[str]  # the colour of each point: its cluster or its label ("" for queries)
    method: str  # "pca" | "umap"
    coloured_by: str  # "cluster" | "label"
    total: int  # corpus texts given
    shown: int  # corpus points drawn
    explained: list[float] = field(default_factory=list)  # PCA: variance share of the 2 axes

    @property
    def sampled(self) -> bool:
        return self.shown < self.total

    @property
    def note(self) -> str:
        """What the map shows, said on the chart: the sample, the method."""
        how = self.method.upper() + (f" ({sum(self.explained):.0%} of the variance)" if self.explained else "")
        if self.sampled:
            return (f"随机抽样显示 {self.shown:,} / {self.total:,} 条 · sampled: {self.shown:,} of "
                    f"{self.total:,} texts shown (--map-max-points) · {how}")
        return f"{self.shown:,} 条 texts · {how}"

    def to_dict(self) -> dict[str, object]:
        return {"method": self.method, "coloured_by": self.coloured_by, "total": self.total, "shown": self.shown,
                "sampled": self.sampled, "note": self.note, "explained_variance": self.explained,
                "points": [{"x": x, "y": y, "text": t, "kind": k, "group": g}
                           for x, y, t, k, g in zip(self.x, self.y, self.texts, self.kinds, self.groups)]}


def sample_indices(n: int, cap: int, seed: int = 0) -> np.ndarray:
    """``cap`` of ``range(n)`` uniformly at random (seeded), in order; all of them when n ≤ cap."""
    if n <= cap:
        return np.arange(n)
    return np.sort(np.random.default_rng(seed).choice(n, size=cap, replace=False))


def _project(corpus: np.ndarray, queries: np.ndarray, method: str, seed: int) -> tuple[np.ndarray, np.ndarray,
                                                                                         list[float]]:
    if method == "umap":
        try:
            # umap-learn is optional (heavy: numba): only when asked for
            import umap
        except ImportError as exc:
            raise _bad("UMAP needs umap-learn: pip install umap-learn (or choose PCA)",
                       "UMAP 需要安装 umap-learn（或选择 PCA）") from exc
        reducer = umap.UMAP(n_components=2, random_state=seed, n_neighbors=min(15, len(corpus) - 1), metric="cosine")
        xy = reducer.fit_transform(corpus)
        return xy, (reducer.transform(queries) if len(queries) else np.zeros((0, 2))), []
    # scikit-learn: loaded only when a map is drawn
    from sklearn.decomposition import PCA

    pca = PCA(n_components=2, random_state=seed).fit(corpus)
    qxy = pca.transform(queries) if len(queries) else np.zeros((0, 2))
    return pca.transform(corpus), qxy, [round(float(v), 4) for v in pca.explained_variance_ratio_]


def _clusters(vectors: np.ndarray, k: int, seed: int) -> list[str]:
    # scikit-learn: loaded only when a map is drawn
    from sklearn.cluster import KMeans

    k = max(1, min(k, len(vectors)))
    labels = KMeans(n_clusters=k, n_init="auto", random_state=seed).fit_predict(vectors)
    return [f"簇 Cluster {int(c) + 1}" for c in labels]


def _check(method: str, clusters: int) -> None:
    if method not in METHODS:
        raise _bad(f"method must be one of {', '.join(METHODS)}, got {method!r}", f"投影方法无效：{method!r}")
    if not isinstance(clusters, int) or isinstance(clusters, bool) or not 1 <= clusters <= 50:
        raise _bad(f"clusters must be an integer from 1 to 50, got {clusters!r}", "聚类数必须是 1 到 50 的整数")


def map_vectors(vectors: np.ndarray, texts: Sequence[str], *, labels: Sequence[str] | None = None,
                query_vectors: np.ndarray | None = None, query_texts: Sequence[str] = (),
                method: str = "pca", clusters: int = DEFAULT_CLUSTERS, max_points: int = 5_000,
                seed: int = 0, total: int | None = None) -> EmbeddingMap:
    """Project vectors already at hand (an index's, or :func:`build_map`'s) to 2-D.

    ``total``: how many texts the corpus had before the caller sampled it (defaults to
    ``len(texts)``; this function samples further when ``max_points`` asks for it).
    """
    _check(method, clusters)
    vectors = np.asarray(vectors, dtype=np.float32)
    if vectors.ndim != 2 or len(vectors) != len(texts):
        raise _bad("vectors and texts must match, one vector per text", "向量与文本数量不一致")
    if labels is not None and len(labels) != len(texts):
        raise _bad(f"{len(labels)} labels for {len(texts)} texts", f"标签数 {len(labels)} 与文本数 {len(texts)} 不一致")
    if len(texts) < 3:
        raise _bad("a map needs at least 3 texts", "向量地图至少需要 3 条文本")
    keep = sample_indices(len(texts), max_points, seed)
    corpus = vectors[keep]
    shown_texts = [texts[i] for i in keep]
    q = np.asarray(query_vectors if query_vectors is not None else np.zeros((0, corpus.shape[1])), np.float32)
    query_texts = list(query_texts)[:MAX_QUERIES]
    q = q[:len(query_texts)]
    xy, qxy, explained = _project(corpus, q, method, seed)
    groups = [str(labels[i]) for i in keep] if labels is not None else _clusters(corpus, clusters, seed)
    return EmbeddingMap(x=[float(v) for v in (*xy[:, 0], *qxy[:, 0])], y=[float(v) for v in (*xy[:, 1], *qxy[:, 1])],
                        texts=shown_texts + query_texts, kinds=["corpus"] * len(keep) + ["query"] * len(query_texts),
                        groups=groups + [""] * len(query_texts), method=method,
                        coloured_by="label" if labels is not None else "cluster",
                        total=total if total is not None else len(texts), shown=len(keep), explained=explained)


def build_map(service, texts: Sequence[str], *, labels: Sequence[str] | None = None, queries: Sequence[str] = (),
              method: str = "pca", clusters: int = DEFAULT_CLUSTERS, max_points: int | None = None,
              seed: int = 0, options: TextOptions | None = None, bounded: bool = True) -> EmbeddingMap:
    """Embed (a sample of) ``texts`` and ``queries`` with the service's model and map them.

    Sampling happens before embedding: a 100k corpus costs ``--map-max-points`` embeddings, and
    ``bounded`` (a request's: HTTP, the page) refuses more than ``--max-tokens-per-request`` of model
    work (413); the command line maps whole files.

    Raises:
        GteError: no texts, a text the service refuses (named by its line), labels that do not
            match, an unknown method, UMAP without umap-learn.
    """
    _check(method, clusters)
    if isinstance(texts, str) or not isinstance(texts, Sequence):
        raise _bad("texts must be a list of strings", "文本必须是字符串列表")
    if labels is not None and len(labels) != len(texts):
        raise _bad(f"{len(labels)} labels for {len(texts)} texts", f"标签数 {len(labels)} 与文本数 {len(texts)} 不一致")
    kept = [i for i, t in enumerate(texts) if isinstance(t, str) and t.strip()]  # blank lines: no point
    texts = [texts[i] for i in kept]
    labels = [labels[i] for i in kept] if labels is not None else None
    if len(texts) < 3:
        raise _bad("a map needs at least 3 texts", "向量地图至少需要 3 条文本")
    cap = max_points or service.settings.map_max_points
    keep = sample_indices(len(texts), cap, seed)
    options = options or DEFAULT_OPTIONS
    picked = [texts[i] for i in keep]
    queries = [q for q in queries if isinstance(q, str) and q.strip()][:MAX_QUERIES]
    if bounded:
        service.check_work(picked + queries, options)
    vectors = np.concatenate([
        service.embed_corpus(picked[s:s + 256], [f"text {keep[s + j] + 1}" for j in range(len(picked[s:s + 256]))],
                             options=options.without_prompt()).vectors for s in range(0, len(picked), 256)])
    q_vec = service.embed_corpus(queries, [f"query {i + 1}" for i in range(len(queries))],
                                 options=options).vectors if queries else None
    return map_vectors(vectors, picked, labels=[labels[i] for i in keep] if labels is not None else None,
                       query_vectors=q_vec, query_texts=queries, method=method, clusters=clusters,
                       max_points=cap, seed=seed, total=len(texts))


def map_index(index, *, service=None, queries: Sequence[str] = (), method: str = "pca",
              clusters: int = DEFAULT_CLUSTERS, max_points: int = 5_000, seed: int = 0,
              options: TextOptions | None = None) -> EmbeddingMap:
    """The map of a built corpus index from its stored vectors (no re-embedding): a sample of
    ``max_points`` rows, their texts read from the index; ``queries`` embedded by ``service``
    (the index's model — the caller checks the index's manifest against it).

    ``index``: anything with ``vectors`` ([rows, dim], memory-mapped is fine: only the sampled
    rows are read) and ``records(rows)`` returning objects with ``.text`` — the search helper's
    ``VectorIndex`` (gte_ui/engine/vector_index.py on its branch).
    """
    rows = len(index.vectors)
    if rows < 3:
        raise _bad("a map needs at least 3 texts; the index has fewer", "向量地图至少需要 3 条文本，索引中不足")
    keep = sample_indices(rows, max_points, seed)
    vectors = np.asarray(index.vectors[keep], dtype=np.float32)
    texts = [r.text for r in index.records(keep.tolist())]
    queries = [q for q in queries if isinstance(q, str) and q.strip()][:MAX_QUERIES]
    if queries and service is None:
        raise _bad("queries need the index's model to embed them", "查询需要索引所用的模型")
    q_vec = service.embed_corpus(queries, [f"query {i + 1}" for i in range(len(queries))],
                                 options=options or DEFAULT_OPTIONS).vectors if queries else None
    return map_vectors(vectors, texts, query_vectors=q_vec, query_texts=queries, method=method, clusters=clusters,
                       max_points=max_points, seed=seed, total=rows)


def read_map_file(path: str | Path, column: str | None = None, label_column: str | None = None,
                  max_bytes: int | None = None) -> tuple[list[str], list[str] | None]:
    """Texts (and labels) from a .txt (one a line), or a .csv / .tsv / .parquet column or .jsonl
    (.json) field ``column``: by default the first named as in :data:`TEXT_COLUMNS`, else the first.
    Rows with a blank text are left out; a JSON line without the label field has the label "".

    Raises:
        GteError: too large, an unknown column (naming the ones there are), unreadable lines.
    """
    path = Path(path)
    check_size(path.stat().st_size, max_bytes, path.name)
    # .json: the JSON lines a map reads, as it always has
    kind = "jsonl" if path.suffix.lower() == ".json" else kind_of(path.name, default=None)
    if kind == "txt" and label_column:
        raise _bad("a .txt file has no label column: use .csv / .tsv / .jsonl", ".txt 文件没有标签列")
    if column is None:
        names = columns_of(path, kind)
        column = names[find_column(names, TEXT_COLUMNS) or 0] if names else "text"
    wanted = [column] + ([label_column] if label_column else [])
    texts, labels = [], []
    for n, values in iter_columns(path, wanted, kind=kind, optional=wanted[1:]):
        text = text_cell(values[0], path.name, n, column)
        if text:
            texts.append(text)
            labels.append(text_cell(values[1], path.name, n, label_column) if label_column else "")
    return texts, (labels if label_column else None)


def map_figure(m: EmbeddingMap, title: str = "") -> go.Figure:
    """A plotly scatter of the map: one trace per cluster / label, queries as stars over the
    corpus, the text on hover, and the sampling note on the chart."""
    fig = go.Figure()
    corpus = [i for i, k in enumerate(m.kinds) if k == "corpus"]
    # legend in cluster order (Cluster 2 before Cluster 10), labels alphabetically
    for group in sorted({m.groups[i] for i in corpus}, key=lambda g: (len(g), g) if m.coloured_by == "cluster" else g):
        idx = [i for i in corpus if m.groups[i] == group]
        fig.add_trace(go.Scattergl(x=[m.x[i] for i in idx], y=[m.y[i] for i in idx], mode="markers", name=group,
                                   marker={"size": 7, "opacity": 0.75},
                                   hovertext=[_hover(m.texts[i]) for i in idx], hoverinfo="text"))
    queries = [i for i, k in enumerate(m.kinds) if k == "query"]
    if queries:
        fig.add_trace(go.Scatter(x=[m.x[i] for i in queries], y=[m.y[i] for i in queries], mode="markers",
                                 name="查询 Queries", marker={"symbol": "star", "size": 15, "color": "#111",
                                                                 "line": {"width": 1, "color": "#fff"}},
                                 hovertext=[_hover("查询 Query: " + m.texts[i]) for i in queries], hoverinfo="text"))
    fig.update_layout(title={"text": title or f"向量地图 Embedding map · {m.coloured_by}", "x": 0.01},
                      height=520, font={"family": FONT}, margin={"l": 10, "r": 10, "t": 50, "b": 40},
                      legend={"orientation": "v"}, xaxis={"showticklabels": False, "title": ""},
                      yaxis={"showticklabels": False, "title": ""},
                      annotations=[{"text": html.escape(m.note), "xref": "paper", "yref": "paper", "x": 0, "y": -0.06,
                                        "showarrow": False, "xanchor": "left", "font": {"size": 12, "color": "#555"}}])
    return fig


def _hover(text: str, width: int = 60, limit: int = 300) -> str:
    text = html.escape(text[:limit] + ("…" if len(text) > limit else ""))
    return "<br>".join(text[i:i + width] for i in range(0, len(text), width))
