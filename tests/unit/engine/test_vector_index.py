"""engine/vector_index.py: indexes on disk (write in a temporary folder, publish by one rename),
exact top-k with its tie order, the int8 / hnsw stores against exact, names and manifests."""

from __future__ import annotations

import numpy as np
import pytest

from gte_ui.core.errors import ErrorType, GteError
from gte_ui.engine.vector_index import (
    IndexCatalog,
    IndexManifest,
    check_name,
    exact_top_k,
)

DIM = 16


def unit_rows(n: int, seed: int = 0) -> np.ndarray:
    x = np.random.default_rng(seed).normal(size=(n, DIM)).astype(np.float32)
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def manifest(name: str, store: str = "exact", **kw) -> IndexManifest:
    return IndexManifest(name=name, model="tiny", fingerprint=kw.pop("fingerprint", "ab" * 32), revision=None,
                         precision="fp32", backend="torch", pooling="cls", normalized=True, max_length=128, dim=DIM,
                         long_text="truncate", text_norm="nfkc", store=store, **kw)


def build(catalog: IndexCatalog, name: str, vectors: np.ndarray, store: str = "exact", **kw):
    writer = catalog.writer(manifest(name, store), **kw)
    half = len(vectors) // 2
    for lo, hi in ((0, half), (half, len(vectors))):
        writer.add([(f"id{i}", f"t{i}", f"文档 {i}") for i in range(lo, hi)], vectors[lo:hi])
    return writer.publish(source="docs.txt")


def test_exact_top_k_is_the_sorted_brute_force_with_lower_rows_first_on_ties():
    vectors = unit_rows(300)
    vectors[7] = vectors[3]  # a tie: row 3 must come before row 7
    queries = np.stack([vectors[3], unit_rows(1, seed=9)[0]])
    scores, rows = exact_top_k(vectors, queries, 10, chunk=1)  # one query per GEMM: chunks join up
    sims = queries @ vectors.T
    for i in range(2):
        want = np.argsort(-sims[i], kind="stable")[:10]
        assert rows[i].tolist() == want.tolist()
        np.testing.assert_allclose(scores[i], sims[i][want], rtol=1e-6)
    assert rows[0][:2].tolist() == [3, 7]
    s, r = exact_top_k(vectors[:4], queries, 10)  # k above the rows: every row, ordered
    assert s.shape == r.shape == (2, 4) and sorted(r[1].tolist()) == [0, 1, 2, 3]


def test_write_publish_open_search_and_read_records(tmp_path):
    catalog = IndexCatalog(tmp_path / "idx")
    vectors = unit_rows(40)
    folder = build(catalog, "新闻.v1", vectors)
    assert folder == tmp_path / "idx" / "新闻.v1" and catalog.names() == ["新闻.v1"]
    assert not [p for p in (tmp_path / "idx").iterdir() if p.name.startswith(".tmp")]
    index = catalog.open("新闻.v1")
    assert index.manifest.rows == 40 and index.manifest.source == "docs.txt" and index.manifest.created
    np.testing.assert_array_equal(index.vectors, vectors)
    scores, rows = index.search(vectors[25], 3)
    assert rows[0][0] == 25 and scores[0][0] == pytest.approx(1.0)
    recs = index.records([25, 0])
    assert [(r.row, r.id, r.title, r.text) for r in recs] == [(25, "id25", "t25", "文档 25"), (0, "id0", "t0", "文档 0")]
    assert catalog.open("新闻.v1") is index  # cached while unchanged
    with pytest.raises(GteError, match="row 40 is outside"):
        index.records([40])


def test_wrong_dimensions_and_unknown_names_are_named_errors(tmp_path):
    catalog = IndexCatalog(tmp_path)
    build(catalog, "a", unit_rows(4))
    with pytest.raises(GteError) as info:
        catalog.open("a").search(np.ones((1, DIM + 1), np.float32), 2)
    assert info.value.error_type is ErrorType.MODEL_MISMATCH and info.value.status_code == 409
    with pytest.raises(GteError, match="no index named 'b'; indexes: a") as info:
        catalog.open("b")
    assert info.value.status_code == 404
    with pytest.raises(GteError, match="4 records but vectors of shape"):
        catalog.writer(manifest("c")).add([("i", "", "x")] * 4, unit_rows(3))


@pytest.mark.parametrize("name", ["../etc", ".hidden", "-x", "a/b", "", "x" * 65, 3, None])
def test_index_names_never_hold_path_parts(name):
    with pytest.raises(GteError, match="is not valid") as info:
        check_name(name)
    assert info.value.status_code == 422


def test_an_existing_index_needs_overwrite_and_a_rebuild_is_seen_without_restart(tmp_path):
    catalog = IndexCatalog(tmp_path)
    build(catalog, "a", unit_rows(4))
    first = catalog.open("a")
    with pytest.raises(GteError, match="already exists"):
        catalog.writer(manifest("a"))
    build(catalog, "a", unit_rows(6, seed=1), overwrite=True)
    again = catalog.open("a")
    assert again is not first and again.manifest.rows == 6
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a"]  # no .old- or .tmp- folder left


def test_an_aborted_build_leaves_nothing_and_delete_unlists(tmp_path):
    catalog = IndexCatalog(tmp_path)
    writer = catalog.writer(manifest("half"))
    writer.add([("i", "", "x")], unit_rows(1))
    assert catalog.names() == []  # a build in progress is never served
    writer.abort()
    assert list(tmp_path.iterdir()) == []
    build(catalog, "gone", unit_rows(2))
    assert catalog.disk_bytes("gone") > 2 * DIM * 4
    catalog.delete("gone")
    assert catalog.names() == [] and list(tmp_path.iterdir()) == []
    with pytest.raises(GteError, match="no index named 'gone'"):
        catalog.delete("gone")


def test_an_empty_index_answers_empty(tmp_path):
    catalog = IndexCatalog(tmp_path)
    catalog.writer(manifest("empty")).publish()
    scores, rows = catalog.open("empty").search(unit_rows(2), 5)
    assert scores.shape == rows.shape == (2, 0)


def test_public_manifest_hides_server_paths():
    local = manifest("a", fingerprint="/srv/models/gte", model_source="/srv/models/gte").public_dict()
    assert local["fingerprint"] == "" and "model_source" not in local
    assert manifest("a").public_dict()["fingerprint"] == "ab" * 6
    assert IndexManifest.from_dict({**manifest("a").to_dict(), "a_future_field": 1}) == manifest("a")


@pytest.mark.parametrize(("store", "module"), [("int8", "usearch"), ("hnsw", "faiss")])
def test_stores_find_what_exact_finds_with_float32_scores(tmp_path, store, module):
    pytest.importorskip(module)
    catalog = IndexCatalog(tmp_path)
    vectors = unit_rows(500, seed=3)
    build(catalog, "exact", vectors)
    build(catalog, store, vectors, store=store)
    index = catalog.open(store)
    queries = unit_rows(5, seed=4)
    _, er = catalog.open("exact").search(queries, 10)
    ss, sr = index.search(queries, 10)
    assert index.manifest.store == store
    if store == "int8":
        assert index.manifest.int8_scale > 0
        np.testing.assert_array_equal(sr, er)  # an exact int8 scan, rescored in float32
    # the scores are each found row's float32 cosine, whatever the store searched with
    np.testing.assert_allclose(ss, np.take_along_axis(queries @ vectors.T, sr, axis=1), atol=1e-5)
    assert len(set(sr[0].tolist()) & set(er[0].tolist())) >= 8  # hnsw: approximate, but close
    np.testing.assert_array_equal(index.exact_search(queries, 10)[1], er)
