"""The CLI's output shapes (gte_ui/frontends/protocols/cli_output.py), each built from a real
result of the tiny random BERT's service: stdout keeps its shape, notes go to stderr."""

from __future__ import annotations

import json
from dataclasses import asdict

import pytest

from gte_ui.frontends.protocols import cli_output
from gte_ui.service.options import read_options

SOURCE = "今天天气很好"
CANDIDATES = ["今天天气不错", "我想借钱", "今天天气不错", "手机电池续航很强"]
#: text the tiny model's Chinese vocabulary cannot read: the service warns about it
UNREADABLE = "xyzzy qwop ☃☃☃ ⌘⌘"


def test_rank_json_is_the_canonical_rows_as_a_bare_list(tiny_service):
    result = tiny_service.rank(SOURCE, CANDIDATES)
    text = cli_output.rank_json(result)
    # byte for byte what `rank --json` has always printed: the rows, not the REST object around them
    assert text == json.dumps([row.to_dict() for row in result.rows], ensure_ascii=False)
    rows = json.loads(text)
    assert rows == result.to_dict()["ranking"] and [r["rank"] for r in rows] == [1, 2, 3, 4]
    assert "今天天气不错" in text  # ensure_ascii=False: Chinese stays readable
    assert [r["score"] for r in rows] == sorted((r["score"] for r in rows), reverse=True)


def test_rank_text_and_its_notes(tiny_service):
    result = tiny_service.rank(SOURCE, [*CANDIDATES, UNREADABLE], top_k=3)
    out = cli_output.rank_output(result, as_json=False)
    lines = out.stdout.split("\n")
    assert len(lines) == 3 == len(result.rows)
    for line, row in zip(lines, result.rows):
        assert line.split("\t") == [str(row.rank), f"{row.score:.4f}", row.verdict.zh, row.text]
    assert result.warnings and out.notes == tuple(f"warning: {w}" for w in result.warnings)
    assert cli_output.rank_output(result, as_json=True).stdout == cli_output.rank_json(result)


def test_rank_names_the_prompt_on_stderr(tmp_path):
    """An instruction model (a tiny random Qwen3-Embedding): the prompt put before the source."""
    from gte_ui.core.settings import Settings
    from gte_ui.service.service import EmbeddingService
    from gte_ui.testing.decoder_model import build_random_decoder

    folder = build_random_decoder(tmp_path / "Qwen3-Embedding-tiny", "qwen3", seed=1)
    service = EmbeddingService.from_settings(Settings(model=str(folder), device="cpu", precision="fp32"),
                                             batching=False)
    result = service.rank(SOURCE, CANDIDATES, options=read_options({"instruction": "找出意思相同的句子"}))
    assert result.prompt == "Instruct: 找出意思相同的句子\nQuery:"
    out = cli_output.rank_output(result, as_json=True)
    assert out.notes[-1] == f"prompt before the source: {result.prompt!r}"
    assert result.prompt not in out.stdout  # stdout: the rows only


def test_pair_output_is_the_pair_results_json(tiny_service):
    result = tiny_service.pair(SOURCE, "今天天气不错")
    out = cli_output.pair_output(result)
    assert json.loads(out.stdout) == json.loads(json.dumps(result.to_dict())) and out.notes == ()
    assert json.loads(out.stdout)["verdict"] == result.verdict.zh


def test_rerank_output_text_says_what_scored(tiny_service):
    result = tiny_service.rerank(SOURCE, CANDIDATES, top_n=2)
    out = cli_output.rerank_output(result, as_json=False)
    assert out.stdout.split("\n") == [f"{r.rank}\t{r.score:.4f}\t{r.text}" for r in result.rows]
    assert len(result.rows) == 2
    assert out.notes[-1] == f"# method: {result.method} ({result.model})" and result.method == "embedding"
    as_json = cli_output.rerank_output(result, as_json=True)
    assert json.loads(as_json.stdout) == json.loads(json.dumps(result.to_dict()))
    assert not any(n.startswith("# method") for n in as_json.notes)  # the JSON says it itself


def test_embed_output_names_the_rows_a_npy_lacks(tiny_service, tmp_path):
    from gte_ui.service.corpus import embed_file

    src = tmp_path / "c.txt"
    src.write_text("今天天气很好\n\n我想借钱\n", encoding="utf-8")
    report = embed_file(tiny_service, src, tmp_path / "v.npy", progress=False)
    out = cli_output.embed_output(report)
    assert json.loads(out.stdout) == json.loads(json.dumps(asdict(report))) and report.skipped_blank == 1
    assert len(out.notes) == 1 and out.notes[0].startswith("note: 1 blank lines have no vector")
    kept = cli_output.embed_output(embed_file(tiny_service, src, tmp_path / "v.parquet", progress=False))
    assert kept.notes == ()  # .parquet keeps each text beside its vector: nothing to say
    unreadable = tmp_path / "u.txt"
    unreadable.write_text(UNREADABLE + "\n", encoding="utf-8")
    warned = embed_file(tiny_service, unreadable, tmp_path / "u.parquet", progress=False)
    assert warned.warnings and cli_output.embed_output(warned).notes == tuple(f"warning: {w}" for w in warned.warnings)


def test_index_and_search_outputs(tiny_service, tmp_path):
    from gte_ui.engine.vector_index import IndexCatalog
    from gte_ui.service import search
    from gte_ui.service.corpus import build_index

    catalog = IndexCatalog(tmp_path / "indexes")
    empty = cli_output.index_list_output([], catalog.root, as_json=False)
    assert empty.stdout == "" and empty.notes == (f"no indexes in {catalog.root}",)
    src = tmp_path / "c.txt"
    src.write_text("\n".join(CANDIDATES), encoding="utf-8")
    report = build_index(tiny_service, catalog, src, "news", progress=False)
    assert json.loads(cli_output.index_build_output(report).stdout)["rows"] == 4
    rows = search.list_indexes(catalog)
    listed = cli_output.index_list_output(rows, catalog.root, as_json=False)
    assert listed.stdout.split("\t")[:4] == ["news", "4", "32", "exact"] and listed.notes == ()
    assert json.loads(cli_output.index_list_output(rows, catalog.root, as_json=True).stdout) == rows
    info = json.loads(cli_output.index_info_output(catalog.open("news").manifest.public_dict(), 123).stdout)
    assert info["name"] == "news" and info["disk_bytes"] == 123
    result = search.search(tiny_service, catalog, "news", SOURCE, 2)
    out = cli_output.search_output(result, as_json=False)
    assert out.stdout.split("\n") == [f"{h.rank}\t{h.score:.4f}\t{h.verdict.zh}\t{h.id}\t{h.text}" for h in result.hits]
    assert out.notes[-1].startswith("# news: 4 documents, exact; model ")
    assert json.loads(cli_output.search_output(result, as_json=True).stdout) == json.loads(
        json.dumps(result.to_dict(), ensure_ascii=False))


def test_evaluate_outputs(tiny_service, tmp_path):
    from gte_ui.core.resources import sample_path
    from gte_ui.evaluation import jobs, metrics

    pairs = metrics.read_pairs(sample_path("stsb_zh_300.tsv"))
    pairs = type(pairs)(pairs.a[:12], pairs.b[:12], pairs.labels[:12], pairs.name)
    result = metrics.evaluate(tiny_service, pairs)
    table = cli_output.evaluate_pairs_output(result, pairs, as_json=False)
    assert table.stdout == metrics.summary_text(result, pairs.name) and f"{result.n} pairs" in table.stdout
    as_json = cli_output.evaluate_pairs_output(result, pairs, as_json=True)
    assert json.loads(as_json.stdout)["spearman"] == pytest.approx(result.spearman)
    assert as_json.notes == tuple(f"warning: {w}" for w in result.warnings)
    job = jobs.rerank_job(tiny_service, sample_path("rerank_stsb_zh_groups.tsv"), limit=3)
    rerank = json.loads(cli_output.evaluate_rerank_output(job).stdout)
    assert rerank == json.loads(json.dumps([r.metrics() for r in job.results])) and len(rerank) == len(job.results)
    written = cli_output.files_written([tmp_path / "a.json", "b.csv"])
    assert written.stdout == "" and written.notes == (f"wrote {tmp_path / 'a.json'}", "wrote b.csv")


def test_evaluate_retrieval_output(tiny_service, tmp_path):
    from gte_ui.evaluation import jobs, retrieval

    lines = [{"query": "怎么办理护照", "pos": ["办理护照需要带身份证"], "neg": ["今天天气很好"]},
             {"query": "北京有哪些大学", "pos": ["北京大学和清华大学"], "neg": ["上海的大学很多"]}]
    path = tmp_path / "train.jsonl"
    path.write_text("\n".join(json.dumps(r, ensure_ascii=False) for r in lines), encoding="utf-8")
    report = jobs.retrieval_job(tiny_service, path, top_k=3).report
    table = cli_output.evaluate_retrieval_output(report, as_json=False)
    assert table.stdout == retrieval.summary_text(report) and "2 queries" in table.stdout
    assert json.loads(cli_output.evaluate_retrieval_output(report, as_json=True).stdout)["queries"] == 2


def test_health_output_goes_where_docker_reads_it(live_server):
    from gte_ui.frontends.cli.health import health

    ok = cli_output.health_output(*health(live_server.url + "/health"))
    assert ok == cli_output.CliOutput(f"healthy: {live_server.url}/health: ok")
    down = cli_output.health_output(False, "http://127.0.0.1:9/health: refused")
    assert down.stdout == "" and down.notes == ("unhealthy: http://127.0.0.1:9/health: refused",)
