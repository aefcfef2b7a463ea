"""The command line: corpus embedding (formats, crash + resume, atomic output), shell commands."""

from __future__ import annotations

import argparse
import csv
import errno
import hashlib
import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from gte_ui.frontends import cli
from gte_ui.service import corpus
from gte_ui.__main__ import main as gte_main
from gte_ui.service.corpus import embed_file, iter_texts
from gte_ui.core.errors import GteError
from gte_ui.frontends.ui.tabs import evaluate as evaluate_tab

ROOT = Path(__file__).resolve().parents[3]
TEXTS = ["今天天气很好", "我想借钱", "这款手机电池续航很强, 用一天没问题", "苹果手机很好用"]


def write_lines(path: Path, n: int) -> list[str]:
    texts = [f"第{i}条文本：今天天气很好{i % 97}" for i in range(n)]
    path.write_text("\n".join(texts) + "\n", encoding="utf-8")
    return texts


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def run_module(*args: str, **kwargs) -> subprocess.Popen | subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "gte_ui", *args], capture_output=True, text=True, cwd=ROOT,
                          timeout=180, **kwargs)


# ------------------------------------------------------------------ corpus scale, crash, resume
@pytest.fixture(scope="module")
def corpus_service(tiny_model_dir):
    """The tiny model set up for corpus runs: one thread (on this shared 2-core machine two
    threads fighting over tiny matrices run up to 20x slower) and larger batches. The thread
    count is process-wide, so it is put back afterwards."""
    import torch

    from gte_ui.core.settings import Settings
    from gte_ui.service.service import EmbeddingService

    threads = torch.get_num_threads()
    service = EmbeddingService.from_settings(
        Settings(model=str(tiny_model_dir), device="cpu", precision="fp32", threads=1, batch_size=256),
        batching=False)
    yield service
    torch.set_num_threads(threads)


@pytest.mark.slow
def test_100k_lines_killed_mid_run_then_resumed_equal_one_run(corpus_service, tiny_model_dir, tmp_path):
    """A real crash: the CLI process is SIGKILLed after a few chunks; the resumed run redoes
    none of them and writes a file byte-identical to one uninterrupted run."""
    src = tmp_path / "corpus.txt"
    write_lines(src, 100_000)
    chunk = 8192  # 13 chunks
    whole = tmp_path / "whole.npy"
    report = embed_file(corpus_service, src, whole, chunk_size=chunk, progress=False)
    assert (report.texts, report.chunks, report.resumed_chunks) == (100_000, 13, 0)

    out = tmp_path / "resumed.npy"
    parts = tmp_path / "resumed.npy.parts"
    proc = subprocess.Popen([sys.executable, "-m", "gte_ui", "embed", str(src), "--out", str(out),
                             "--chunk-size", str(chunk), "--quiet", "--model", str(tiny_model_dir),
                             "--device", "cpu", "--precision", "fp32", "--threads", "1", "--batch-size", "256"],
                            cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline = time.time() + 240
        while len(list(parts.glob("part-*.npy"))) < 3:
            assert proc.poll() is None, proc.stderr.read().decode()
            assert time.time() < deadline, "the CLI wrote no chunks in time"
            time.sleep(0.05)
        proc.send_signal(signal.SIGKILL)
    finally:
        proc.wait(timeout=30)
    assert not out.exists()  # never a half-written output under OUT's name
    finished = len(list(parts.glob("part-*.npy")))
    assert 3 <= finished < 13

    before = corpus_service.encoder.texts_encoded
    report = embed_file(corpus_service, src, out, chunk_size=chunk, progress=False)
    assert report.resumed_chunks == finished and report.chunks == 13 and report.texts == 100_000
    assert corpus_service.encoder.texts_encoded - before == 100_000 - finished * chunk  # nothing redone
    assert not parts.exists() and not list(tmp_path.glob(".*tmp"))
    assert digest(out) == digest(whole)
    arr = np.load(out)
    assert arr.shape == (100_000, corpus_service.dim) and arr.dtype == np.float32
    assert len(corpus_service.cache) == 0  # the corpus bypassed the LRU cache


def test_crash_after_n_chunks_resumes_without_redoing(corpus_service, tmp_path):
    src = tmp_path / "c.txt"
    write_lines(src, 2_000)
    whole = tmp_path / "whole.parquet"
    embed_file(corpus_service, src, whole, chunk_size=300, progress=False)

    def crash_after_third(i: int) -> None:
        if i == 2:
            raise RuntimeError("simulated crash")

    out = tmp_path / "o.parquet"
    with pytest.raises(RuntimeError, match="simulated crash"):
        embed_file(corpus_service, src, out, chunk_size=300, after_chunk=crash_after_third, progress=False)
    assert not out.exists()
    parts = tmp_path / "o.parquet.parts"
    # What a kill in the middle of writing chunk 3 leaves: its texts, a temporary vectors file.
    (parts / "part-0000003.texts.json").write_text("[]", encoding="utf-8")
    (parts / ".part-0000003.tmp.npy").write_bytes(b"\x93NUMPY half")
    before = corpus_service.encoder.texts_encoded
    report = embed_file(corpus_service, src, out, chunk_size=300, progress=False)
    assert report.resumed_chunks == 3 and report.chunks == 7
    assert corpus_service.encoder.texts_encoded - before == 2_000 - 3 * 300
    assert digest(out) == digest(whole)


def test_changed_input_or_settings_refuse_to_mix_runs(tiny_service, tmp_path):
    src = tmp_path / "in.txt"
    write_lines(src, 50)
    out = tmp_path / "o.npy"

    def stop(i: int) -> None:
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        embed_file(tiny_service, src, out, chunk_size=10, after_chunk=stop, progress=False)
    with pytest.raises(GteError, match=r"changed: chunk_size.*pass --restart"):
        embed_file(tiny_service, src, out, chunk_size=20, progress=False)
    write_lines(src, 60)  # the input changed under the unfinished run
    with pytest.raises(GteError, match=r"changed: .*size.*pass --restart"):
        embed_file(tiny_service, src, out, chunk_size=10, progress=False)
    report = embed_file(tiny_service, src, out, chunk_size=10, restart=True, progress=False)
    assert report.texts == 60 and report.resumed_chunks == 0 and np.load(out).shape[0] == 60
    assert not (tmp_path / "o.npy.lock").exists()


def test_two_runs_on_one_output_are_refused(tiny_service, tmp_path):
    src = tmp_path / "in.txt"
    write_lines(src, 30)
    out = tmp_path / "o.npy"
    second: list[BaseException] = []

    def start_second_run(i: int) -> None:
        try:
            embed_file(tiny_service, src, out, chunk_size=10, progress=False)
        except GteError as exc:
            second.append(exc)

    embed_file(tiny_service, src, out, chunk_size=10, after_chunk=start_second_run, progress=False)
    assert len(second) == 3 and "another `embed` is writing" in str(second[0])
    assert np.load(out).shape[0] == 30


# ------------------------------------------------------------------ formats
def test_every_input_and_output_format_agrees(tiny_service, tmp_path):
    expected = tiny_service.encoder.encode(TEXTS).vectors
    txt = tmp_path / "in.txt"
    txt.write_text("\ufeff" + "\n\n".join(TEXTS) + "\n   \n", encoding="utf-8")  # BOM, blank lines
    tsv = tmp_path / "in.tsv"
    tsv.write_text("id\tsentence\n" + "".join(f"{i}\t{t}\n" for i, t in enumerate(TEXTS)), encoding="utf-8")
    csv_in = tmp_path / "in.csv"
    with open(csv_in, "w", encoding="utf-8", newline="") as f:  # a comma inside a quoted field
        w = csv.writer(f)
        w.writerow(["id", "body"])
        w.writerows([i, t] for i, t in enumerate(TEXTS))
    jsonl = tmp_path / "in.jsonl"
    jsonl.write_text("\n".join(json.dumps({"t": t, "n": i}, ensure_ascii=False) for i, t in enumerate(TEXTS)),
                     encoding="utf-8")
    assert (list(iter_texts(txt)) == list(iter_texts(tsv, column="sentence"))
            == list(iter_texts(csv_in, column="body")) == list(iter_texts(jsonl, field="t")) == TEXTS)

    report = embed_file(tiny_service, txt, tmp_path / "o.npy", chunk_size=3, progress=False)
    assert report.skipped_blank == 4 and report.texts == 4
    np.testing.assert_allclose(np.load(tmp_path / "o.npy"), expected, atol=1e-6)

    embed_file(tiny_service, tsv, tmp_path / "o.csv", column="sentence", chunk_size=3, progress=False)
    with open(tmp_path / "o.csv", encoding="utf-8", newline="") as f:
        rows = list(csv.reader(f))
    assert rows[0] == ["text"] + [f"v{i}" for i in range(tiny_service.dim)]
    assert [r[0] for r in rows[1:]] == TEXTS
    got = np.array([[float(x) for x in r[1:]] for r in rows[1:]], dtype=np.float32)
    np.testing.assert_array_equal(got, np.load(tmp_path / "o.npy"))  # float32 survives the text

    import pyarrow.parquet as pq

    for src, kw in ((jsonl, {"field": "t"}), (csv_in, {"column": "body"})):
        embed_file(tiny_service, src, tmp_path / "o.parquet", chunk_size=3, progress=False, **kw)
        table = pq.read_table(tmp_path / "o.parquet")
        assert table.column("text").to_pylist() == TEXTS
        np.testing.assert_array_equal(np.array(table.column("vector").to_pylist(), dtype=np.float32),
                                      np.load(tmp_path / "o.npy"))


def test_long_text_chunk_mode_is_honoured(tiny_encoder, tiny_settings, tmp_path):
    from gte_ui.service.service import EmbeddingService

    service = EmbeddingService(tiny_encoder, tiny_settings.replace(long_text="chunk"))
    long_text = "今天天气很好" * 60  # over the tiny model's 128 tokens
    src = tmp_path / "long.txt"
    src.write_text(long_text + "\n我想借钱\n", encoding="utf-8")
    embed_file(service, src, tmp_path / "o.npy", progress=False)
    np.testing.assert_allclose(np.load(tmp_path / "o.npy"),
                               tiny_encoder.encode_chunked([long_text, "我想借钱"]).vectors, atol=1e-6)


@pytest.mark.parametrize("name, content, kwargs, fragment", [
    ("a.csv", "id,body\n1,x\n", {}, r"has no column 'text'; its columns are id, body. Choose one with --column"),
    ("a.tsv", "", {}, r"has no column 'text'; its columns are \(none\)"),
    ("a.jsonl", '{"body": "x"}\n', {}, r"line 1 has no field 'text' \(it has: body\)"),
    ("a.jsonl", '{"text": "ok"}\n{broken\n', {}, "line 2 is not JSON"),
    ("a.jsonl", '{"text": 12}\n', {}, "field 'text' is int, not a string"),
    ("a.xlsx", "x", {}, "unsupported input a.xlsx"),
    ("a.txt", "ok\n" + "长" * 30, {}, r"a.txt: line 2 has 30 characters; the limit is 20 \(raise the limit"),
    ("a.csv", "text\n" + "x" * 200_000 + "\n", {}, r"a.csv line \d+ is not valid CSV: field larger than"),
])
def test_bad_inputs_are_explained(tiny_encoder, tiny_settings, tmp_path, name, content, kwargs, fragment):
    from gte_ui.service.service import EmbeddingService

    service = EmbeddingService(tiny_encoder, tiny_settings.replace(max_chars=20))
    src = tmp_path / name
    src.write_text(content, encoding="utf-8")
    with pytest.raises(GteError, match=fragment) as info:
        embed_file(service, src, tmp_path / "o.npy", progress=False, **kwargs)
    assert " / " in info.value.message  # bilingual
    assert not (tmp_path / "o.npy").exists()


def test_bad_output_and_encoding_are_explained(tiny_service, tmp_path):
    src = tmp_path / "in.txt"
    write_lines(src, 3)
    with pytest.raises(GteError, match="unsupported output o.xlsx"):
        embed_file(tiny_service, src, tmp_path / "o.xlsx", progress=False)
    with pytest.raises(GteError, match="does not exist"):
        embed_file(tiny_service, tmp_path / "missing.txt", tmp_path / "o.npy", progress=False)
    mixed = tmp_path / "mixed.txt"  # UTF-8 for its first 64 KB, then a GB18030 line
    mixed.write_bytes(("今天天气很好\n" * 4000).encode("utf-8") + "今天天气很好\n".encode("gb18030"))
    with pytest.raises(GteError, match="mixed.txt is not valid utf-8 text.*iconv"):
        embed_file(tiny_service, mixed, tmp_path / "o.npy", progress=False)


@pytest.mark.parametrize("encoding", ["utf-8", "utf-8-sig", "gb18030", "utf-16"])
def test_embed_reads_the_encodings_uploads_read(tiny_service, tmp_path, encoding):
    """One reader for every way in: UTF-8 (with or without BOM), UTF-16 with BOM, GB18030."""
    src = tmp_path / f"in-{encoding}.txt"
    src.write_bytes("今天天气很好\n繁體中文\n".encode(encoding))
    report = embed_file(tiny_service, src, tmp_path / f"o-{encoding}.csv", progress=False)
    assert report.texts == 2
    rows = (tmp_path / f"o-{encoding}.csv").read_text(encoding="utf-8-sig").splitlines()
    assert rows[1].split(",")[0] == "今天天气很好" and rows[2].split(",")[0] == "繁體中文"


# ------------------------------------------------------------------ commands
@pytest.fixture()
def model_args(tiny_model_dir) -> list[str]:
    return ["--model", str(tiny_model_dir), "--device", "cpu", "--precision", "fp32"]


def test_similarity_rank_embed_commands(tiny_service, model_args, tmp_path, capsys):
    assert cli.main(["similarity", "这款手机电池续航很强", "手机电量很耐用", *model_args]) == 0
    out = json.loads(capsys.readouterr().out)
    expected = tiny_service.pair("这款手机电池续航很强", "手机电量很耐用")
    assert out["score"] == pytest.approx(expected.score, abs=1e-6) and out["verdict"] == expected.verdict.zh

    cand_file = tmp_path / "cands.txt"
    cand_file.write_text("这台设备待机时间久\n\n充电速度特别快\n", encoding="utf-8")
    assert cli.main(["rank", "这款手机电池续航很强", "手机电量很耐用", "--file", str(cand_file), *model_args]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    ranked = tiny_service.rank("这款手机电池续航很强", ["手机电量很耐用", "这台设备待机时间久", "充电速度特别快"])
    assert [line.split("\t")[3] for line in lines] == [r.text for r in ranked.rows]
    assert cli.main(["rank", "这款手机电池续航很强", "手机电量很耐用", "充电速度特别快", "--top-k", "1",
                     "--json", *model_args]) == 0
    assert len(json.loads(capsys.readouterr().out)) == 1

    src = tmp_path / "c.txt"
    src.write_text("今天天气很好\n\n我想借钱\n", encoding="utf-8")
    assert cli.main(["embed", str(src), "--out", str(tmp_path / "v.npy"), "--quiet", *model_args]) == 0
    captured = capsys.readouterr()
    assert json.loads(captured.out)["texts"] == 2 and "1 blank lines have no vector" in captured.err
    assert np.load(tmp_path / "v.npy").shape == (2, tiny_service.dim)


def test_command_errors_are_one_clear_line(model_args, tmp_path, capsys):
    assert cli.main(["similarity", "", "b", *model_args]) == 2
    assert "sentence A is empty" in capsys.readouterr().err
    assert cli.main(["embed", str(tmp_path / "nope.txt"), "--out", str(tmp_path / "o.npy"), *model_args]) == 2
    assert "does not exist" in capsys.readouterr().err
    assert cli.main(["similarity", "a", "b", "--model", str(tmp_path / "no-model")]) == 2
    assert "does not exist" in capsys.readouterr().err
    assert cli.main(["serve"]) == 2  # the server is not the command line's: it says where it is
    assert "python -m gte_ui serve" in capsys.readouterr().err
    assert gte_main(["serve", "--model", str(tmp_path / "no-model")]) == 2  # the server's own checks
    assert "does not exist" in capsys.readouterr().err
    # Hugging Face in offline mode (conftest sets HF_HUB_OFFLINE): fails fast, says what failed.
    assert cli.main(["download", "--model", "thenlper/gte-small-zh", "--to", str(tmp_path / "m")]) == 2
    assert "download of 'thenlper/gte-small-zh' from huggingface failed" in capsys.readouterr().err


def test_evaluate_runs_the_real_module(model_args, tmp_path, capsys):
    """Issue 18.6/18.8: a compact table by default (graded labels binned), JSON with --json, and a
    progress bar counting texts (it read "%/s")."""
    sample = ROOT / "assets" / "samples" / "stsb_zh_300.tsv"
    assert cli.main(["evaluate", str(sample), "--limit", "40", "--out", str(tmp_path), *model_args]) == 0
    assert (tmp_path / "metrics.json").is_file()
    captured = capsys.readouterr()
    table = captured.out.splitlines()
    assert table[0] == "stsb_zh_300.tsv · 40 pairs" and table[1].startswith("  Spearman ")
    assert not captured.out.lstrip().startswith("{") and len(table) < 16
    rows = table[table.index(next(t for t in table if t.split()[:2] == ["label", "n"])) + 1:]
    assert [r.split()[0] for r in rows if not r.startswith("wrote")] == ["0", "1", "2", "3", "4", "5"]  # one row a value
    assert " texts/s" in captured.err and "%/s" not in captured.err

    assert cli.main(["evaluate", str(sample), "--limit", "40", "--json", *model_args]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["n"] == 40 and not out["binary"] and set(out["by_label"]) == {"0", "1", "2", "3", "4", "5"}


def test_evaluate_save_calibration_is_what_the_next_server_reads(model_args, tiny_model_dir, tmp_path, capsys):
    """--save-calibration writes through the service's set_bands: a server started next with the
    same --calibration-dir uses those bands."""
    from gte_ui.core.settings import Settings
    from gte_ui.service.service import EmbeddingService

    sample = ROOT / "assets" / "samples" / "atec_300.tsv"
    folder = tmp_path / "calib"
    assert cli.main(["evaluate", str(sample), "--limit", "60", "--save-calibration",
                     "--calibration-dir", str(folder), *model_args]) == 0
    err = capsys.readouterr().err  # stderr: stdout stays the table (or one JSON document)
    written = sorted(folder.glob("*.json"))
    assert len(written) == 1 and f"calibration saved to {written[0]}" in err
    saved = json.loads(written[0].read_text(encoding="utf-8"))
    service = EmbeddingService.from_settings(Settings(model=str(tiny_model_dir), device="cpu", precision="fp32",
                                                      calibration_dir=str(folder)), batching=False)
    assert (service.bands.high, service.bands.mid) == (saved["high"], saved["mid"])
    assert written[0].name in service.bands.source


def test_evaluate_binary_shows_the_majority_baseline(model_args, capsys):
    sample = ROOT / "assets" / "samples" / "atec_300.tsv"
    assert cli.main(["evaluate", str(sample), "--limit", "60", *model_args]) == 0
    out = capsys.readouterr().out
    assert "majority baseline" in out and "balanced" in out and "ROC-AUC" in out


def test_health_command(live_server, capsys):
    assert cli.main(["health", "--url", live_server.url + "/health"]) == 0
    assert "healthy" in capsys.readouterr().out
    from conftest import free_port

    assert cli.main(["health", "--url", f"http://127.0.0.1:{free_port()}/health", "--timeout", "1"]) == 1
    assert "unhealthy" in capsys.readouterr().err


def test_module_entry_point(model_args):
    """``python -m gte_ui`` in a fresh interpreter: --help and ``health`` (Docker runs it every
    30 s) import no torch/numpy; a model command works end to end."""
    r = run_module("--help")
    assert r.returncode == 0 and "embed" in r.stdout and "download" in r.stdout
    probe = ("import sys; from gte_ui.frontends import cli; cli.build_parser(); cli.health('http://127.0.0.1:9/h', 0.1); "
             "print(sorted({'torch', 'numpy', 'transformers'} & set(sys.modules)))")
    r = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, cwd=ROOT, timeout=60)
    assert r.stdout.strip() == "[]", r.stderr
    r = run_module("similarity", "今天天气很好", "今天天气很好", *model_args,
                   env={**os.environ, "GTE_LOG_LEVEL": "warning"})
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["score"] == pytest.approx(1.0, abs=1e-5)


@pytest.mark.slow
def test_other_model_width_is_configuration_only(minilm_dir, tmp_path, capsys):
    """The real all-MiniLM-L6-v2 (384-d, mean pooling): nothing assumes GTE-large's 1024."""
    import pyarrow.parquet as pq

    from gte_ui.core.settings import Settings
    from gte_ui.service.service import EmbeddingService

    src = tmp_path / "in.jsonl"
    src.write_text("\n".join(json.dumps({"text": t}) for t in ["A man is playing a guitar.", "A dog runs."]),
                   encoding="utf-8")
    out = tmp_path / "o.parquet"
    assert cli.main(["embed", str(src), "--out", str(out), "--quiet", "--model", str(minilm_dir),
                     "--device", "cpu", "--precision", "fp32"]) == 0
    capsys.readouterr()
    vectors = np.stack(pq.read_table(out)["vector"].to_numpy(zero_copy_only=False))
    service = EmbeddingService.from_settings(Settings(model=str(minilm_dir), device="cpu", precision="fp32"),
                                             batching=False)
    assert vectors.shape == (2, 384) == (2, service.dim)
    np.testing.assert_allclose(vectors, service.encoder.encode(["A man is playing a guitar.", "A dog runs."]).vectors,
                               atol=1e-5)


@pytest.mark.parametrize("command, fragments", [
    ("download", ["--hub {auto,modelscope,huggingface}", "(default: auto)", "(default: the hub's main branch)"]),
    ("rank", ["--top-k TOP_K", "(default: all)"]),
    ("health", ["(default: 4)"]),
    ("evaluate", ["--json", "compact table"]),
])
def test_subcommand_help_states_defaults_and_choices(command, fragments, capsys):
    """Issue 18.3 for the CLI's own parsers: choices listed, real defaults, never "(default: None)"."""
    with pytest.raises(SystemExit) as done:
        cli.main([command, "--help"])
    assert done.value.code == 0
    text = " ".join(capsys.readouterr().out.split())
    assert "(default: None)" not in text
    for fragment in fragments:
        assert fragment in text


# ------------------------------------------------------------------ issue 30.5: one error path
def subcommands() -> list[str]:
    """Every subcommand the parser has: a new one must join the tables below (fails closed)."""
    parser = cli.build_parser()
    return sorted(next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction)).choices)


#: subcommands that read no file of the user's (download's --to is written, health asks a URL)
NO_INPUT_FILE = {"download", "health", "search"}  # search: an index by name (a missing one: test_index.py)
#: each other subcommand with its input file missing ({missing}); similarity and serve read only the model folder
MISSING_INPUT = {
    "embed": ["embed", "{missing}", "--out", "{tmp}/o.npy"],
    "rank": ["rank", "源句子", "候选", "--file", "{missing}"],
    "rerank": ["rerank", "查询", "文档", "--file", "{missing}"],
    "evaluate": ["evaluate", "{missing}"],
    "similarity": ["similarity", "a", "b", "--model", "{missing}"],
    "serve": ["serve", "--model", "{missing}"],
    "map": ["map", "{missing}", "--out", "{tmp}/map.html"],
    "index": ["index", "build", "{missing}", "--name", "n", "--index-dir", "{tmp}/idx"],
}


@pytest.mark.parametrize("command", [c for c in subcommands() if c not in NO_INPUT_FILE])
def test_every_subcommand_names_a_missing_file_the_same_way(command, model_args, tmp_path, capsys):
    """Issue 30.5: evaluate printed a traceback, rank --file an English errno line."""
    missing = tmp_path / "不存在" / "missing.tsv"
    argv = [a.format(missing=missing, tmp=tmp_path) for a in MISSING_INPUT[command]]
    extra = model_args if "--model" not in argv else ["--device", "cpu"]
    assert gte_main([*argv, *extra]) == 2
    captured = capsys.readouterr()
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), captured.err
    assert str(missing) in lines[0] and "不存在" in lines[0] and "does not exist" in lines[0]
    assert "Traceback" not in captured.err and "Errno" not in captured.err and captured.out == ""


def test_a_folder_given_as_a_file_is_named(model_args, tmp_path, capsys):
    assert cli.main(["rank", "源句子", "--file", str(tmp_path), *model_args]) == 2
    assert capsys.readouterr().err.strip() == f"error: {tmp_path} 是文件夹，不是文件 / {tmp_path} is a folder, not a file"


@pytest.mark.parametrize("sample", evaluate_tab.samples())
def test_evaluate_takes_the_evaluate_tabs_sample_names(sample, model_args, tmp_path, capsys):
    """Issue 30.5: the names the Evaluate tab offers work on the command line too (pairs or rerank
    groups, told apart as the tab does); --json --out keeps stdout one JSON document."""
    assert not Path(sample).exists()  # a name, not a path from here
    assert cli.main(["evaluate", sample, "--limit", "12", "--json", "--out", str(tmp_path), *model_args]) == 0
    captured = capsys.readouterr()
    result = json.loads(captured.out)
    if sample.startswith("rerank"):
        assert result[0]["queries"] >= 1 and (tmp_path / "rerank_metrics.json").is_file()
    else:
        assert result["n"] == 12 and (tmp_path / "pairs_scored.csv").is_file()
    assert f"wrote {tmp_path}" in captured.err


# ------------------------------------------------------------------ issue 30.6: --help
MODEL_COMMANDS = {"embed", "similarity", "rank", "rerank", "evaluate", "map", "index", "search"}


@pytest.mark.parametrize("command", sorted(MODEL_COMMANDS))
def test_model_subcommand_help_shows_how_to_pick_the_model(command, capsys):
    assert set(subcommands()) - MODEL_COMMANDS == {"serve", "download", "health"}  # fails closed
    with pytest.raises(SystemExit) as done:
        cli.main([command, "--help"])
    assert done.value.code == 0
    text = capsys.readouterr().out
    for flag in ("--model, -m MODEL", "--offline", "--precision {auto,fp32,fp16,bf16,int8}", "[NAME=]SOURCE[@PRECISION]"):
        assert flag in text, flag
    if command in ("evaluate", "rerank", "search"):  # they speak of --reranker: it is listed
        assert "--reranker RERANKER" in text


def test_serve_help_names_the_command_that_was_typed(monkeypatch, capsys):
    r = run_module("serve", "--help")
    assert r.returncode == 0 and r.stdout.startswith("usage: python -m gte_ui serve "), r.stdout[:80]
    monkeypatch.setattr(sys, "argv", ["/venv/bin/gte-ui", "serve", "--help"])
    with pytest.raises(SystemExit):
        gte_main(["serve", "--help"])
    text = capsys.readouterr().out
    assert text.startswith("usage: gte-ui serve ") and "app.py" not in text.split("\n", 1)[0]
    assert "README, Performance" not in text and "docs/performance.md" in text
    assert (ROOT / "docs" / "performance.md").is_file()


# ------------------------------------------------------------------ issue 26.9: a full disk
@pytest.fixture()
def small_disk(tmp_path):
    """A real 192 KiB tmpfs: writes past it fail with ENOSPC as on a full disk (needs root)."""
    mnt = tmp_path / "disk"
    mnt.mkdir()
    r = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=192k", "tmpfs", str(mnt)], capture_output=True,
                       text=True, check=False)
    if r.returncode != 0:
        pytest.skip(f"cannot mount a small tmpfs here (not root?): {r.stderr.strip()}")
    yield mnt
    subprocess.run(["umount", "-l", str(mnt)], check=False)


def leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.rglob("*") if p.name.startswith(".") or p.suffix == ".tmp")


def disk_full_message(err: str, path: Path) -> None:
    line = err.strip().splitlines()[-1]
    assert line.startswith("error: ") and "Traceback" not in err and "requested and" not in err, err
    assert f"{path} 所在磁盘空间不足" in line and f"the disk holding {path} is full" in line, line
    assert re.search(r"needs [\d,]+ bytes and [\d,]+ are free", line), line


def test_embed_on_a_full_disk_names_it_and_the_next_run_finishes(small_disk, model_args, tmp_path, capsys):
    """Issue 26.9: parts that no longer fit, then an output that does not fit beside its parts:
    a clear message (path, bytes), exit 2, no temporary file left; space freed, the same command
    resumes the finished chunks and sweeps what a SIGBUS-killed run left."""
    src = tmp_path / "in.txt"
    texts = write_lines(src, 1400)  # 175 KiB of vectors, ~280 KiB of parts with their texts
    out = small_disk / "o.npy"
    argv = ["embed", str(src), "--out", str(out), "--chunk-size", "200", "--quiet", *model_args]
    assert cli.main(argv) == 2
    disk_full_message(capsys.readouterr().err, out.with_name("o.npy.parts"))
    assert leftovers(small_disk) == [] and not out.exists()
    kept = sorted(p.name for p in (small_disk / "o.npy.parts").glob("part-*.npy"))
    assert kept and len(kept) < 7  # the chunks that fitted are kept for the next run

    # room for the parts but not for the output beside them
    subprocess.run(["mount", "-o", "remount,size=352k", str(small_disk)], check=True)
    assert cli.main(argv) == 2
    disk_full_message(capsys.readouterr().err, out)
    assert leftovers(small_disk) == [] and not out.exists()

    stale = small_disk / ".o.npy.99999.tmp"  # what a run killed by SIGBUS under a memory map left
    stale.write_bytes(b"\0" * 4096)
    subprocess.run(["mount", "-o", "remount,size=1m", str(small_disk)], check=True)
    assert cli.main(argv) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["resumed_chunks"] == 7 and report["texts"] == len(texts)
    assert not stale.exists() and leftovers(small_disk) == []
    assert np.load(out).shape == (len(texts), 32)


def test_a_write_that_meets_a_full_disk_is_named(small_disk, tiny_service, tmp_path, monkeypatch):
    """The free-space check passed (another writer filled the disk after it): the real write's
    ENOSPC — numpy's "N requested and M written" for a part, posix_fallocate's for the output —
    becomes the same message, and the temporary file goes."""
    monkeypatch.setattr(corpus, "ensure_free_space", lambda folder, need: None)  # the pipeline's home
    src = tmp_path / "in.txt"
    write_lines(src, 1400)
    out = small_disk / "o.npy"
    with pytest.raises(GteError) as err:
        embed_file(tiny_service, src, out, chunk_size=700, progress=False)
    disk_full_message(f"error: {err.value.message}", out.with_name("o.npy.parts"))
    assert isinstance(err.value.__cause__, OSError)  # the write itself failed, not a check before it
    assert leftovers(small_disk) == []
    subprocess.run(["mount", "-o", "remount,size=256k", str(small_disk)], check=True)
    with pytest.raises(GteError) as err:  # both parts fit now, the output beside them does not
        embed_file(tiny_service, src, out, chunk_size=700, progress=False)
    disk_full_message(f"error: {err.value.message}", out)
    assert err.value.__cause__.errno == errno.ENOSPC
    assert leftovers(small_disk) == [] and not out.exists()
