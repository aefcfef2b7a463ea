"""Issue 30.4: the unknown-token warning (text the vocabulary reads as [UNK]) on every operation
and every front end, in one wording, with the real all-MiniLM-L6-v2 (an English vocabulary:
Chinese text is mostly [UNK])."""

from __future__ import annotations

import json
import re

import pytest
import requests

ZH_QUERY = "今天天气怎么样"
ZH_DOCS = ["今天天气很好", "明天会下雨吗", "A sunny day today."]
#: the phrase every form of the warning ends with (service.unknown_warning / unknown_share_warning)
SAYS = "the model cannot read them"


@pytest.fixture(scope="module")
def minilm_service(minilm_dir):
    from gte_ui.core.settings import Settings
    from gte_ui.service.service import EmbeddingService

    service = EmbeddingService.from_settings(Settings(model=str(minilm_dir), device="cpu", precision="fp32"),
                                             batching=False)
    yield service
    service.close()


@pytest.fixture(scope="module")
def minilm_server(minilm_service):
    from conftest import LiveServer

    from gte_ui.server import create_app

    with LiveServer(create_app(minilm_service, minilm_service.settings)) as server:
        server.service = minilm_service
        yield server


def _one_warning(warnings: list[str]) -> str:
    assert len(warnings) == 1, warnings
    (w,) = warnings
    assert SAYS in w and " / " in w  # 中文 / English, one line
    assert "词表" in w and "vocabulary" in w
    return w


def test_every_operation_carries_it_in_one_wording(minilm_service):
    s = minilm_service
    m = s.matrix([ZH_QUERY, *ZH_DOCS])
    assert m.unknown_token_ratio[0] > 0.5 and m.unknown_token_ratio[3] == 0.0
    assert "3 texts" in _one_warning(m.warnings) and m.to_dict()["warnings"] == m.warnings
    rr = s.rerank(ZH_QUERY, ZH_DOCS)  # no reranker: the embedding cosine, still from unreadable text
    w = _one_warning(rr.warnings)
    assert "the query" in w and rr.query_unknown_token_ratio > 0.5
    english = next(r for r in rr.rows if r.text == ZH_DOCS[2])
    assert english.unknown_token_ratio == 0.0 and f"rank {english.rank}" not in w
    assert rr.to_dict()["warnings"] == rr.warnings and "unknown_token_ratio" in rr.to_dict()["results"][0]
    ranked = s.rank(ZH_QUERY, ZH_DOCS)
    w = _one_warning(ranked.warnings)
    # candidates are named by their rank, as the tables show them
    for row in ranked.rows:
        assert (f"rank {row.rank} " in w) == (row.unknown_token_ratio > s.settings.unknown_warn)
    share, warnings = s.unknown_share([ZH_QUERY, *ZH_DOCS])
    assert 0.3 < share < 1.0 and f"{share:.1%} of the data's tokens" in _one_warning(warnings)
    # text it reads: no warning anywhere
    assert s.matrix(["a cat", "a dog"]).warnings == [] and s.rerank("a cat", ["a dog"]).warnings == []


def test_http_rerank_routes_say_it(minilm_server):
    url = minilm_server.url
    art = requests.post(url + "/rerank", json={"query": ZH_QUERY, "docs": ZH_DOCS}, timeout=60)
    assert art.status_code == 200
    _one_warning(art.json()["warnings"])
    tei = requests.post(url + "/rerank", json={"query": ZH_QUERY, "texts": ZH_DOCS}, timeout=60)
    assert tei.status_code == 200 and isinstance(tei.json(), list)
    assert json.loads(tei.headers["X-Warnings"]) == art.json()["warnings"]
    for path in ("/v1/rerank", "/v2/rerank"):
        co = requests.post(url + path, json={"query": ZH_QUERY, "documents": ZH_DOCS}, timeout=60)
        assert co.status_code == 200 and co.json()["meta"]["warnings"] == art.json()["warnings"]
    quiet = requests.post(url + "/rerank", json={"query": "a cat", "docs": ["a dog"]}, timeout=60)
    assert quiet.json()["warnings"] == [] and "X-Warnings" not in quiet.headers


@pytest.mark.slow
def test_gradio_rerank_endpoint_says_it(minilm_server):
    from gradio_client import Client

    out = Client(minilm_server.url, verbose=False).predict(ZH_QUERY, "\n".join(ZH_DOCS), api_name="/rerank")
    _one_warning(out["warnings"])


def test_ui_tabs_say_it(minilm_service):
    from gte_ui.frontends.ui import views
    from gte_ui.frontends.ui.tabs import evaluate, matrix, ranking
    from gte_ui.frontends.ui.tabs import rerank as rerank_tab

    note, _fig, _csv = matrix.on_matrix(minilm_service, "\n".join([ZH_QUERY, *ZH_DOCS]), False, False, False, "")
    assert SAYS in note
    md, rows, _fig = rerank_tab.on_rerank(minilm_service, ZH_QUERY, "\n".join(ZH_DOCS), None, 3)
    assert SAYS in md and sum("未知词元" in r[-1] for r in rows) == 2
    md, _fig, _files, _state = evaluate.on_evaluate(minilm_service, None, "stsb_zh_300.tsv", "", 20, progress=None)
    assert "of the data's tokens are unknown" in md and "300" not in md.split("⚠️")[-1]
    md, _fig, _files, _state = evaluate.on_evaluate(minilm_service, None, "rerank_stsb_zh_groups.tsv", "", 3,
                                                    task="rerank", progress=None)
    assert "of the data's tokens are unknown" in md
    # Ranking: one summary line, and the mark in the row the line names (by its rank)
    summary, table, _bars, _csv = ranking.on_rank(minilm_service, ZH_QUERY, "\n".join(ZH_DOCS), None, 0,
                                                  False, False, False, "", progress=None)
    assert summary.count("⚠️") == 1 and SAYS in summary
    for rank, notes in zip(table[views.RANK_COLUMNS[0]], table[views.RANK_COLUMNS[-1]]):
        assert ("未知词元" in notes) == (f"rank {rank} " in summary), (rank, notes)


@pytest.mark.slow
def test_cli_embed_and_evaluate_say_it(minilm_dir, tmp_path, capsys):
    from gte_ui.core.resources import SAMPLES
    from gte_ui.frontends import cli

    model = ["--model", str(minilm_dir), "--device", "cpu", "--precision", "fp32"]
    src = tmp_path / "zh.txt"
    src.write_text("\n".join([ZH_QUERY, *ZH_DOCS]), encoding="utf-8")
    assert cli.main(["embed", str(src), "--out", str(tmp_path / "v.npy"), "--quiet", *model]) == 0
    out, err = capsys.readouterr()
    report = json.loads(out.strip().splitlines()[-1])
    assert 0.3 < report["unknown_token_share"] < 1.0
    assert SAYS in report["warnings"][0] and "warning:" in err
    assert cli.main(["evaluate", str(SAMPLES / "stsb_zh_300.tsv"), "--limit", "20", *model]) == 0
    out, err = capsys.readouterr()
    share = re.search(r"([\d.]+)% of the data's tokens are unknown", out)
    assert share and float(share.group(1)) > 30
    assert cli.main(["evaluate", str(SAMPLES / "stsb_zh_300.tsv"), "--limit", "20", "--json", *model]) == 0
    out, err = capsys.readouterr()
    assert json.loads(out)["unknown_token_share"] > 0.3 and SAYS in err
