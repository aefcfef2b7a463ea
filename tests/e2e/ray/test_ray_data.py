"""embed --ray: Ray Data (local Ray, num_cpus=2) writes the same Parquet as the local path."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest

ray = pytest.importorskip("ray")
pytestmark = pytest.mark.timeout(300)  # a Ray pipeline that cannot schedule would wait forever

from gte_ui.cluster.ray_data import embed_file_ray  # noqa: E402
from gte_ui.service.corpus import embed_file  # noqa: E402
from gte_ui.service.options import TextOptions  # noqa: E402

ROOT = Path(__file__).resolve().parents[3]
TEXTS = [f"第{i}条语料：向量化整个知识库" for i in range(300)] + ["12345", "  前后有空格  ", "這是繁體中文"]
#: text the tiny model's Chinese vocabulary cannot read: counted in the unknown-token share
UNREADABLE = "xyzzy qwop ☃☃☃ ⌘⌘"
TEXTS[7] = UNREADABLE


@pytest.fixture(scope="module")
def local_ray():
    started = not ray.is_initialized()
    if started:
        ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    yield
    if started:
        ray.shutdown()


def read(path: Path) -> tuple[list[str], np.ndarray]:
    table = pq.read_table(path)
    assert str(table.schema.field("vector").type).startswith("fixed_size_list<element: float>")
    return table.column("text").to_pylist(), np.array(table.column("vector").to_pylist(), np.float32)


@pytest.mark.parametrize("kind", [".txt", ".csv", ".jsonl"])
def test_embed_ray_equals_local(kind, tmp_path, tiny_service, tiny_settings, local_ray):
    src = tmp_path / f"corpus{kind}"
    if kind == ".txt":
        src.write_text("\n".join(TEXTS[:150] + [""] + TEXTS[150:]) + "\n", encoding="utf-8")
        opts = {}
    elif kind == ".csv":  # GB18030 (Excel on a Chinese Windows): Ray reads it as the local path reads it
        src.write_text("id,sentence\n" + "".join(f'{i},"{t}"\n' for i, t in enumerate(TEXTS)), encoding="gb18030")
        opts = {"column": "sentence"}
    else:
        src.write_text("".join(json.dumps({"body": t}, ensure_ascii=False) + "\n" for t in TEXTS), encoding="utf-8")
        opts = {"field": "body"}
    if kind == ".jsonl":  # the text options travel to the actors: 繁→简 on both paths
        opts["options"] = TextOptions(t2s=True)
    local = embed_file(tiny_service, src, tmp_path / "local.parquet", progress=False, **opts)
    report = embed_file_ray(tiny_settings, src, tmp_path / "ray.parquet", progress=False, actors=2, **opts)
    assert report.texts == local.texts == len(TEXTS)
    assert report.skipped_blank == local.skipped_blank
    # the corpus-wide unknown-token share, summed over the actors as the local run sums its chunks
    assert report.unknown_token_share == local.unknown_token_share > 0
    assert report.warnings == local.warnings
    lt, lv = read(tmp_path / "local.parquet")
    rt, rv = read(tmp_path / "ray.parquet")
    assert rt == lt and "12345" in rt and "前后有空格" in rt
    np.testing.assert_allclose(rv, lv, atol=1e-6)


def test_index_build_ray_equals_the_local_build(tmp_path, tiny_service, tiny_settings, local_ray):
    """``index build --ray`` had no test: the same records (ids and titles from their columns),
    vectors and manifest model as the resumable local build."""
    from gte_ui.cluster.ray_data import build_index_ray
    from gte_ui.engine.vector_index import IndexCatalog
    from gte_ui.service.corpus import CorpusColumns, build_index

    src = tmp_path / "docs.jsonl"
    src.write_text("".join(json.dumps({"_id": f"d{i}", "title": f"标题{i % 5}", "body": t}, ensure_ascii=False) + "\n"
                           for i, t in enumerate(TEXTS[:120])), encoding="utf-8")
    columns = CorpusColumns(field="body", id="_id", title="title")
    catalog = IndexCatalog(tmp_path / "indexes")
    local = build_index(tiny_service, catalog, src, "local", columns=columns, progress=False)
    report = build_index_ray(tiny_settings, tiny_service, catalog, src, "ray", columns=columns, actors=2,
                             progress=False)
    assert report.rows == local.rows == 120 and report.skipped_blank == local.skipped_blank == 0
    a, b = catalog.open("local"), catalog.open("ray")
    assert b.records(list(range(120))) == a.records(list(range(120)))
    np.testing.assert_allclose(b.vectors, a.vectors, atol=1e-6)
    assert (b.manifest.model, b.manifest.dim, b.manifest.columns) == (a.manifest.model, a.manifest.dim,
                                                                      a.manifest.columns)


def test_embed_ray_into_a_folder_of_parquet_files(tmp_path, tiny_settings, local_ray):
    src = tmp_path / "c.txt"
    src.write_text("\n".join(TEXTS), encoding="utf-8")
    report = embed_file_ray(tiny_settings, src, tmp_path / "out", progress=False, actors=1)
    files = sorted((tmp_path / "out").glob("*.parquet"))
    assert files and report.texts == sum(pq.ParquetFile(f).metadata.num_rows for f in files) == len(TEXTS)


def test_embed_ray_names_a_missing_column(tmp_path, tiny_settings, local_ray):
    from gte_ui.core.errors import GteError

    src = tmp_path / "c.csv"
    src.write_text("id,sentence\n1,你好\n", encoding="utf-8")
    with pytest.raises(GteError) as err:
        embed_file_ray(tiny_settings, src, tmp_path / "x.parquet", progress=False)
    assert "sentence" in err.value.message and "--column" in err.value.message


def test_cli_embed_ray(tmp_path, tiny_model_dir, tiny_service):
    """Through `python -m gte_ui`, with the local `embed`'s unknown-token warning: a corpus the
    model mostly cannot read says so (it reported a share of 0 before)."""
    src = tmp_path / "c.txt"
    src.write_text("\n".join(TEXTS[:20] + [f"{UNREADABLE} {i}" for i in range(30)]), encoding="utf-8")
    local = embed_file(tiny_service, src, tmp_path / "local.parquet", progress=False)
    assert local.warnings
    out = tmp_path / "cli.parquet"
    r = subprocess.run([sys.executable, "-m", "gte_ui", "embed", str(src), "--out", str(out), "--ray",
                        "--quiet", "--model", str(tiny_model_dir), "--device", "cpu", "--precision", "fp32"],
                       capture_output=True, text=True, timeout=300, cwd=ROOT,
                       env=os.environ)
    assert r.returncode == 0, r.stderr[-2000:]
    report = json.loads(r.stdout.strip().splitlines()[-1])
    assert report["texts"] == 50
    assert report["unknown_token_share"] == local.unknown_token_share and report["warnings"] == local.warnings
    assert f"warning: {local.warnings[0]}" in r.stderr
    texts, vectors = read(out)
    np.testing.assert_allclose(vectors, tiny_service.embed(texts).vectors, atol=1e-6)
