"""Corpus indexes (issue 29.1): ``index build`` over the tiny random BERT — manifest, stores,
resume with bit-identical vectors, atomic publish (a killed build is never served), a restart
(a new process) finds the index, another model is refused (409 / exit 2), list/info/delete."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from gte_ui.core.errors import ErrorType, GteError
from gte_ui.core.settings import Settings
from gte_ui.engine.vector_index import IndexCatalog, exact_top_k
from gte_ui.frontends import cli
from gte_ui.service.corpus import CorpusColumns, build_index
from gte_ui.service.search import catalog_from_settings, search

ROOT = Path(__file__).resolve().parents[3]
TEXTS = ["今天天气很好", "明天会下雨吗", "我喜欢吃苹果", "手机电池续航很强", "这款手机电量很耐用", "价格便宜，性价比高",
         "屏幕很大，拍照片也清楚", "充电速度特别快", "北京今天下雪了", "电池容量大但是充电慢", "我想借钱", "快递明天到"]


@pytest.fixture()
def corpus(tmp_path) -> Path:
    src = tmp_path / "corpus.txt"
    lines = []
    for i, t in enumerate(TEXTS * 3):
        lines.append(f"{t} {i}")
        if i % 7 == 3:
            lines.append("   ")  # blank lines are skipped, and counted
    src.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return src


@pytest.fixture()
def catalog(tmp_path) -> IndexCatalog:
    return IndexCatalog(tmp_path / "indexes")


def non_blank(src: Path) -> list[str]:
    return [x.strip() for x in src.read_text(encoding="utf-8").splitlines() if x.strip()]


def test_build_writes_manifest_vectors_and_documents(tiny_service, corpus, catalog):
    report = build_index(tiny_service, catalog, corpus, "news", chunk_size=5, progress=False)
    texts = non_blank(corpus)
    assert report.rows == len(texts) == 36 and report.skipped_blank == 5 and report.chunks == 8
    index = catalog.open("news")
    m = index.manifest
    info = tiny_service.info
    assert (m.model, m.dim, m.pooling, m.precision, m.max_length, m.rows, m.store) == (
        info.name, 32, info.pooling, "fp32", tiny_service.max_length, 36, "exact")
    assert m.fingerprint == info.fingerprint and m.normalized and m.created.endswith("Z") and m.source == "corpus.txt"
    # the vectors are the service's own for the same texts, in file order (batched otherwise: 1e-7 apart)
    np.testing.assert_allclose(index.vectors, tiny_service.embed_corpus(texts, texts).vectors, atol=1e-5)
    recs = index.records([0, 35])
    assert [r.text for r in recs] == [texts[0], texts[35]] and recs[0].id == "1"  # id: the line number
    assert catalog.names() == ["news"]
    # the public manifest names no server path
    assert "model_source" not in m.public_dict() and str(Path(info.path).parent) not in json.dumps(m.public_dict())


def test_ids_and_titles_from_columns(tiny_service, tmp_path, catalog):
    src = tmp_path / "docs.jsonl"
    src.write_text("\n".join(json.dumps({"_id": f"d{i}", "title": f"标题{i}", "body": t}, ensure_ascii=False)
                             for i, t in enumerate(TEXTS)), encoding="utf-8")
    build_index(tiny_service, catalog, src, "j", columns=CorpusColumns(field="body", id="_id", title="title"),
                progress=False)
    index = catalog.open("j")
    assert index.records([3])[0] == type(index.records([3])[0])(row=3, id="d3", title="标题3", text=TEXTS[3])
    # the model read "title text", as BEIR corpora are embedded
    want = tiny_service.embed_corpus([f"标题3 {TEXTS[3]}"], ["x"]).vectors[0]
    np.testing.assert_allclose(index.vectors[3], want, atol=1e-5)
    pq = pytest.importorskip("pyarrow.parquet")
    import pyarrow as pa

    pq.write_table(pa.table({"id": [f"p{i}" for i in range(len(TEXTS))], "text": TEXTS}), tmp_path / "c.parquet")
    build_index(tiny_service, catalog, tmp_path / "c.parquet", "p", columns=CorpusColumns(id="id"), progress=False)
    assert catalog.open("p").records([11])[0].id == "p11"
    np.testing.assert_allclose(catalog.open("p").vectors, tiny_service.embed_corpus(TEXTS, TEXTS).vectors, atol=1e-5)
    with pytest.raises(GteError, match="no column 'missing'"):
        build_index(tiny_service, catalog, tmp_path / "c.parquet", "x", columns=CorpusColumns(text="missing"),
                    progress=False)


def test_resume_after_interrupt_is_bit_identical_and_never_served(tiny_service, corpus, tmp_path):
    whole = IndexCatalog(tmp_path / "a")
    build_index(tiny_service, whole, corpus, "n", chunk_size=4, progress=False)
    resumed = IndexCatalog(tmp_path / "b")

    def crash(i: int) -> None:
        if i == 2:
            raise KeyboardInterrupt  # as Ctrl-C after the third chunk

    with pytest.raises(KeyboardInterrupt):
        build_index(tiny_service, resumed, corpus, "n", chunk_size=4, after_chunk=crash, progress=False)
    assert resumed.names() == []  # a half index is never listed ...
    with pytest.raises(GteError) as err:
        resumed.open("n")  # ... nor served
    assert err.value.status_code == 404
    calls = tiny_service.encoder.forward_calls
    report = build_index(tiny_service, resumed, corpus, "n", chunk_size=4, progress=False)
    assert report.resumed_chunks == 3 and report.chunks == 9
    assert tiny_service.encoder.forward_calls > calls
    a, b = whole.open("n"), resumed.open("n")
    assert a.vectors.tobytes() == b.vectors.tobytes()  # bit for bit
    assert [r.text for r in a.records(range(36))] == [r.text for r in b.records(range(36))]
    assert not any(p.name.startswith((".parts", ".tmp")) for p in (tmp_path / "b").iterdir())
    # another chunk size cannot resume the state silently
    with pytest.raises(KeyboardInterrupt):
        build_index(tiny_service, resumed, corpus, "m", chunk_size=4, after_chunk=crash, progress=False)
    with pytest.raises(GteError, match="chunk_size"):
        build_index(tiny_service, resumed, corpus, "m", chunk_size=5, progress=False)


@pytest.mark.parametrize("store", ["int8", "hnsw"])
def test_stores_answer_like_exact(tiny_service, corpus, catalog, store):
    pytest.importorskip({"int8": "usearch", "hnsw": "faiss"}[store])
    build_index(tiny_service, catalog, corpus, "e", progress=False)
    build_index(tiny_service, catalog, corpus, store, store=store, progress=False)
    q = tiny_service.embed(["手机电池怎么样"]).vectors
    es, _ = catalog.open("e").search(q, 5)
    ss, sr = catalog.open(store).search(q, 5)
    assert catalog.open(store).manifest.store == store
    np.testing.assert_allclose(ss, es, atol=1e-5)  # scores: float32 cosines either way
    assert set(sr[0].tolist()) <= set(exact_top_k(catalog.open("e").vectors, q, 8)[1][0].tolist())


@pytest.mark.slow
def test_milvus_lite_store(tiny_service, corpus, catalog):
    pytest.importorskip("pymilvus")
    pytest.importorskip("milvus_lite")
    build_index(tiny_service, catalog, corpus, "e", progress=False)
    build_index(tiny_service, catalog, corpus, "mv", store="milvus", progress=False)
    q = tiny_service.embed(["北京天气"]).vectors
    ms, _ = catalog.open("mv").search(q, 5)
    es, _ = catalog.open("e").search(q, 5)
    np.testing.assert_allclose(ms, es, atol=1e-4)
    # exact at any size: the collection's index is FLAT (the quick set-up silently built AUTOINDEX,
    # which measured recall@10 0.15 at 100k x 1024)
    searcher = catalog.open("mv")._searcher
    assert searcher.client.describe_index(searcher.name, "vector")["index_type"] == "FLAT"
    catalog.delete("mv")  # the Lite server lets go of its file
    assert catalog.names() == ["e"]


def test_overwrite_delete_and_names(tiny_service, corpus, catalog):
    build_index(tiny_service, catalog, corpus, "a", progress=False)
    with pytest.raises(GteError, match="already exists"):
        build_index(tiny_service, catalog, corpus, "a", progress=False)
    for bad in ("../x", ".hidden", "a/b", "", "x" * 65):
        with pytest.raises(GteError, match="not valid"):
            build_index(tiny_service, catalog, corpus, bad, progress=False)
    corpus.write_text("只有一行\n", encoding="utf-8")
    build_index(tiny_service, catalog, corpus, "a", overwrite=True, progress=False)
    assert catalog.open("a").manifest.rows == 1  # the open cache sees the rebuilt index
    catalog.delete("a")
    assert catalog.names() == []
    with pytest.raises(GteError) as err:
        catalog.delete("a")
    assert err.value.error_type is ErrorType.INDEX_NOT_FOUND


def run_cli(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "gte_ui", *args], capture_output=True, text=True, cwd=ROOT, check=False,
                          timeout=240, env={**os.environ, "GTE_LOG_LEVEL": "warning", **(env or {})})


@pytest.mark.slow
def test_cli_build_restart_refuse_and_killed_build(tiny_model_dir, tmp_path, corpus, capsys):
    """A new process finds the index and answers as this process does; another model is exit 2
    naming both; a build killed with SIGKILL leaves nothing served, and the same command resumes."""
    from gte_ui.service.service import EmbeddingService
    from gte_ui.testing.toymodel import build_random_bert

    idx = tmp_path / "idx"
    model = ["--model", str(tiny_model_dir), "--device", "cpu", "--precision", "fp32", "--index-dir", str(idx)]
    assert cli.main(["index", "build", str(corpus), "--name", "news", "--chunk-size", "8", "--quiet", *model]) == 0
    assert json.loads(capsys.readouterr().out)["rows"] == 36
    # a restart: a new process (no --model: the index's own model) answers as this process does
    r = run_cli("search", "news", "手机电池续航", "--top-k", "3", "--json", "--index-dir", str(idx), "--device", "cpu",
                "--precision", "fp32")
    assert r.returncode == 0, r.stderr
    settings = Settings(model=str(tiny_model_dir), device="cpu", precision="fp32", index_dir=str(idx))
    service = EmbeddingService.from_settings(settings, batching=False)
    here = search(service, catalog_from_settings(settings), "news", "手机电池续航", 3)
    assert [h["id"] for h in json.loads(r.stdout)["hits"]] == [h.id for h in here.hits]
    # another model: exit 2, naming both by their public names
    other = build_random_bert(tmp_path / "other", "tiny", seed=7)
    assert cli.main(["search", "news", "手机", "--model", str(other), "--index-dir", str(idx), "--device", "cpu",
                     "--precision", "fp32"]) == 2
    err = capsys.readouterr().err
    assert str(tmp_path) not in err and "'other'" in err and f"'{Path(tiny_model_dir).name}'" in err
    # SIGKILL mid-build: nothing half-built is listed or served; the same command resumes
    big = tmp_path / "big.txt"
    big.write_text("\n".join(f"{TEXTS[i % 12]} {i}" for i in range(160)), encoding="utf-8")
    proc = subprocess.Popen([sys.executable, "-m", "gte_ui", "index", "build", str(big), "--name", "big",
                             "--chunk-size", "2", "--quiet", *model], cwd=ROOT, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    parts = idx / ".parts-big"
    deadline = time.time() + 120
    while time.time() < deadline and len(list(parts.glob("part-*.npy"))) < 3:
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)
    assert len(list(parts.glob("part-*.npy"))) >= 3
    assert IndexCatalog(idx).names() == ["news"]
    assert cli.main(["search", "big", "x", *model]) == 2
    assert "no index named 'big'" in capsys.readouterr().err
    assert cli.main(["index", "build", str(big), "--name", "big", "--chunk-size", "2", "--quiet", *model]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["resumed_chunks"] >= 3 and report["rows"] == 160
    texts = big.read_text(encoding="utf-8").splitlines()
    np.testing.assert_allclose(IndexCatalog(idx).open("big").vectors, service.embed_corpus(texts, texts).vectors,
                               atol=1e-5)


def test_cli_info_delete_and_errors(tiny_service, corpus, tmp_path, capsys):
    idx = tmp_path / "idx"
    build_index(tiny_service, IndexCatalog(idx), corpus, "n", progress=False)
    assert cli.main(["index", "info", "n", "--index-dir", str(idx)]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["rows"] == 36 and info["dim"] == 32 and info["disk_bytes"] > 36 * 32 * 4
    assert cli.main(["index", "info", "nope", "--index-dir", str(idx)]) == 2
    assert "no index named 'nope'; indexes: n" in capsys.readouterr().err
    assert cli.main(["index", "delete", "n", "--index-dir", str(idx)]) == 0
    assert IndexCatalog(idx).names() == []
    assert cli.main(["index", "list", "--index-dir", str(idx)]) == 0
    assert "no indexes" in capsys.readouterr().err


def test_settings_and_search_refuses_another_model(tiny_service, corpus, tmp_path, minilm_dir):
    """The served catalog follows --index-dir; a MiniLM service refuses the tiny model's index (409)."""
    from gte_ui.service.service import EmbeddingService

    settings = Settings(model=str(minilm_dir), device="cpu", precision="fp32", index_dir=str(tmp_path / "i"))
    catalog = catalog_from_settings(settings)
    build_index(tiny_service, catalog, corpus, "tiny", progress=False)
    minilm = EmbeddingService.from_settings(settings, batching=False)
    with pytest.raises(GteError) as err:
        search(minilm, catalog, "tiny", "手机", 3)
    assert err.value.status_code == 409 and err.value.error_type is ErrorType.MODEL_MISMATCH
    assert "all-MiniLM-L6-v2" in err.value.en or Path(minilm_dir).name in err.value.en
    assert tiny_service.info.name in err.value.en
