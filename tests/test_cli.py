"""The command line: corpus embedding (formats, resume, atomic output) and quick shell commands."""

from __future__ import annotations

import csv
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from gte_ui.cli import embed_file, file_digest, iter_texts
from gte_ui.errors import GteError

ROOT = Path(__file__).resolve().parent.parent


def write_lines(path: Path, n: int) -> list[str]:
    texts = [f"第{i}条文本：今天天气很好{i % 97}" for i in range(n)]
    path.write_text("\n".join(texts) + "\n", encoding="utf-8")
    return texts


@pytest.mark.slow
def test_100k_lines_interrupted_and_resumed_equal_one_run(tiny_encoder, tmp_path):
    src = tmp_path / "corpus.txt"
    write_lines(src, 100_000)
    whole = tmp_path / "whole.npy"
    res = embed_file(tiny_encoder, src, whole, chunk_size=8192, progress=False)
    assert res["texts"] == 100_000 and res["resumed_chunks"] == 0

    out = tmp_path / "resumed.npy"
    stopped = embed_file(tiny_encoder, src, out, chunk_size=8192, max_chunks=5, progress=False)
    assert stopped["out"] is None and not out.exists()  # never a half-written output
    assert len(list((tmp_path / "resumed.npy.parts").glob("part-*.npz"))) == 5
    calls = tiny_encoder.texts_encoded
    done = embed_file(tiny_encoder, src, out, chunk_size=8192, progress=False)
    assert done["resumed_chunks"] == 5 and done["chunks"] == 13
    assert tiny_encoder.texts_encoded - calls == 100_000 - 5 * 8192  # finished chunks not redone
    assert not (tmp_path / "resumed.npy.parts").exists()
    assert file_digest(out) == file_digest(whole)
    arr = np.load(out)
    assert arr.shape == (100_000, tiny_encoder.dim) and arr.dtype == np.float32


def test_formats_agree(tiny_encoder, tmp_path):
    texts = ["今天天气很好", "我想借钱", "这款手机电池续航很强"]
    expected = tiny_encoder.encode(texts).vectors
    txt = tmp_path / "in.txt"
    txt.write_text("今天天气很好\n\n我想借钱\n这款手机电池续航很强\n", encoding="utf-8")
    tsv = tmp_path / "in.tsv"
    tsv.write_text("id\tsentence\n1\t今天天气很好\n2\t我想借钱\n3\t这款手机电池续航很强\n", encoding="utf-8")
    jsonl = tmp_path / "in.jsonl"
    jsonl.write_text("\n".join(json.dumps({"t": t}, ensure_ascii=False) for t in texts), encoding="utf-8")
    assert list(iter_texts(txt)) == list(iter_texts(tsv, column="sentence")) == list(iter_texts(jsonl, field="t"))

    embed_file(tiny_encoder, txt, tmp_path / "o.npy", chunk_size=2, progress=False)
    np.testing.assert_allclose(np.load(tmp_path / "o.npy"), expected, atol=1e-6)
    embed_file(tiny_encoder, tsv, tmp_path / "o.csv", column="sentence", progress=False)
    with open(tmp_path / "o.csv", encoding="utf-8", newline="") as f:
        rows = list(csv.reader(f))
    assert [r[0] for r in rows[1:]] == texts and len(rows[0]) == tiny_encoder.dim + 1
    np.testing.assert_allclose([[float(x) for x in r[1:]] for r in rows[1:]], expected, atol=1e-6)
    embed_file(tiny_encoder, jsonl, tmp_path / "o.parquet", field="t", chunk_size=2, progress=False)
    import pyarrow.parquet as pq

    table = pq.read_table(tmp_path / "o.parquet")
    assert table.column("text").to_pylist() == texts
    np.testing.assert_allclose(np.array(table.column("vector").to_pylist()), expected, atol=1e-6)


@pytest.mark.parametrize("name, content, kwargs, fragment", [
    ("a.csv", "id,body\n1,x\n", {}, "has no column 'text'"),
    ("a.jsonl", '{"body": "x"}\n', {}, "has no field 'text'"),
    ("a.jsonl", "{broken\n", {}, "line 1 is not JSON"),
    ("a.xlsx", "x", {}, "unsupported input a.xlsx"),
])
def test_bad_inputs_are_explained(tiny_encoder, tmp_path, name, content, kwargs, fragment):
    src = tmp_path / name
    src.write_text(content, encoding="utf-8")
    with pytest.raises(GteError, match=fragment):
        embed_file(tiny_encoder, src, tmp_path / "o.npy", progress=False, **kwargs)


def test_unsupported_output_and_changed_input(tiny_encoder, tmp_path):
    src = tmp_path / "in.txt"
    write_lines(src, 50)
    with pytest.raises(GteError, match="unsupported output"):
        embed_file(tiny_encoder, src, tmp_path / "o.xlsx", progress=False)
    embed_file(tiny_encoder, src, tmp_path / "o.npy", chunk_size=10, max_chunks=2, progress=False)
    write_lines(src, 60)  # the input changed under an unfinished run
    with pytest.raises(GteError, match="pass --restart"):
        embed_file(tiny_encoder, src, tmp_path / "o.npy", chunk_size=10, progress=False)
    res = embed_file(tiny_encoder, src, tmp_path / "o.npy", chunk_size=10, restart=True, progress=False)
    assert res["texts"] == 60 and np.load(tmp_path / "o.npy").shape[0] == 60


def run_cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "gte_ui", *args], capture_output=True, text=True, cwd=ROOT,
                          timeout=180, env={**__import__("os").environ, "HF_HUB_OFFLINE": "1"})


def test_shell_commands(tiny_model_dir, tiny_service, tmp_path):
    r = run_cli("similarity", "这款手机电池续航很强", "手机电量很耐用", "--model", str(tiny_model_dir))
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    assert out["score"] == pytest.approx(tiny_service.pair("这款手机电池续航很强", "手机电量很耐用").score, abs=1e-5)
    r = run_cli("rank", "这款手机电池续航很强", "手机电量很耐用", "充电速度特别快", "--model", str(tiny_model_dir))
    expected = [row.text for row in tiny_service.rank("这款手机电池续航很强", ["手机电量很耐用", "充电速度特别快"]).rows]
    assert [line.split("\t")[3] for line in r.stdout.strip().splitlines()] == expected
    src = tmp_path / "c.txt"
    write_lines(src, 20)
    r = run_cli("embed", str(src), "--out", str(tmp_path / "v.npy"), "--model", str(tiny_model_dir))
    assert r.returncode == 0 and np.load(tmp_path / "v.npy").shape == (20, 32)
    r = run_cli("similarity", "", "b", "--model", str(tiny_model_dir))
    assert r.returncode == 2 and "sentence A is empty" in r.stderr and "Traceback" not in r.stderr
    r = run_cli("download", "--model", "iic/nlp_gte_sentence-embedding_chinese-small", "--to", str(tmp_path / "m"))
    assert r.returncode == 2 and "download of 'iic/nlp_gte_sentence-embedding_chinese-small'" in r.stderr
