"""排序 One-to-many tab: on_rank as a plain function over the real tiny-BERT service (no browser)."""

from __future__ import annotations

from pathlib import Path

import gradio as gr
import pytest
from ui_kit import CANDS, OPTIONS, SOURCE, refused

from gte_ui.frontends.ui import views
from gte_ui.frontends.ui.common import COMPARE
from gte_ui.frontends.ui.tabs import ranking


def test_rank_matches_the_service_and_writes_csv(tiny_service):
    summary, rows, bars, csv_path = ranking.on_rank(tiny_service, SOURCE, "\n".join(CANDS), None, 0, *OPTIONS)
    expected = tiny_service.rank(SOURCE, CANDS)
    assert "3 个候选" in summary
    assert list(rows.columns) == views.RANK_COLUMNS
    assert list(rows[views.RANK_COLUMNS[4]]) == [r.text for r in expected.rows]
    assert list(bars.data[0].x) == pytest.approx([r.score for r in expected.rows])
    assert Path(csv_path).read_text(encoding="utf-8-sig").splitlines()[1].split(",")[5] == expected.rows[0].text
    _, top, _, _ = ranking.on_rank(tiny_service, SOURCE, "\n".join(CANDS), None, 2, *OPTIONS)
    assert len(top) == 2


def test_rank_upload_wins_and_big_inputs_warm_the_cache(tiny_service, tmp_path):
    upload = tmp_path / "cands.txt"
    lines = [f"候选句子{i}" for i in range(150)]  # over the 64-text warm-up chunk
    upload.write_text("\n".join(lines), encoding="gb18030")
    summary, rows, _, _ = ranking.on_rank(tiny_service, SOURCE, "ignored", str(upload), 0, *OPTIONS,
                                          progress=gr.Progress())
    assert "150 个候选" in summary and set(rows[views.RANK_COLUMNS[4]]) == set(lines)
    assert tiny_service.cache.stats()["hits"] >= 150  # the ranking itself read the warmed cache


def test_rank_bad_inputs(tiny_service, tmp_path):
    refused(lambda: ranking.on_rank(tiny_service, SOURCE, "\n \n", None, 0, *OPTIONS), "no candidates given")
    refused(lambda: ranking.on_rank(tiny_service, "", "a", None, 0, *OPTIONS), "source is empty")
    refused(lambda: ranking.on_rank(tiny_service, SOURCE, "a", None, "lots", *OPTIONS), "top-k must be a number")
    binary = tmp_path / "x.txt"
    binary.write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00")
    out = refused(lambda: ranking.on_rank(tiny_service, SOURCE, "", str(binary), 0, *OPTIONS), "binary file")
    assert out[1:] == (None, None, None)
    many = "\n".join(f"c{i}" for i in range(tiny_service.settings.max_candidates + 1))
    refused(lambda: ranking.on_rank(tiny_service, SOURCE, many, None, 0, *OPTIONS), "the limit is")



def test_compare_all_ranks_with_every_model_in_input_order(two_models):
    summary, table, bars, csv_path = ranking.on_rank(two_models, SOURCE, "\n".join(CANDS), None, 0, *OPTIONS,
                                                     COMPARE, progress=None)
    names = [s.name for s in two_models.models()]
    assert list(table.columns) == views.compare_rank_headers(names)
    assert list(table["候选 Candidate"]) == CANDS  # input order, not one model's ranking
    for s in two_models.models():
        want = s.rank(SOURCE, CANDS).scores
        assert list(table[f"{s.name} 得分 score"]) == pytest.approx(want, abs=1e-4)
        assert list(next(t for t in bars.data if t.name == s.name).y) == pytest.approx(want)
    assert "3 个候选 candidates · 2 个模型 models" in summary and "Kendall" in summary
    header = Path(csv_path).read_text(encoding="utf-8-sig").splitlines()[0]
    assert header == "index,text," + ",".join(f"{n} score,{n} rank" for n in names)


def test_negative_top_k_is_refused(tiny_service):
    refused(lambda: ranking.on_rank(tiny_service, SOURCE, "\n".join(CANDS), None, -2, *OPTIONS), "cannot be negative")


def test_compare_all_gives_the_instruction_to_the_models_with_prompts(tiny_service, tiny_model_dir, tiny_settings,
                                                                      tmp_path):
    """The tab calls the service's compare-all, whose policy both tabs share: the instruction goes
    to instruction models, the others rank bare (the tab used to drop it for every model)."""
    import json
    import shutil

    from gte_ui.engine.encoder import Encoder
    from gte_ui.frontends.ui.common import COMPARE
    from gte_ui.service.options import read_options
    from gte_ui.service.service import EmbeddingService

    folder = shutil.copytree(tiny_model_dir, tmp_path / "instructed")
    (folder / "config_sentence_transformers.json").write_text(
        json.dumps({"prompts": {"query": "Instruct: Given a question\nQuery: "}}), encoding="utf-8")
    settings = tiny_settings.replace(model=str(folder))
    instructed = EmbeddingService(Encoder.load(settings), settings, name="instructed")
    tiny_service.add_model(instructed)
    _, table, _, _ = ranking.on_rank(tiny_service, SOURCE, "\n".join(CANDS), None, 0, *OPTIONS, COMPARE, "找相同的问题")
    asked = instructed.rank(SOURCE, CANDS, options=read_options({"instruction": "找相同的问题"}))
    bare = tiny_service.rank(SOURCE, CANDS)
    assert list(table["instructed 得分 score"]) == [round(s, 4) for s in asked.scores]
    assert list(table[f"{tiny_service.name} 得分 score"]) == [round(s, 4) for s in bare.scores]
    assert asked.scores != instructed.rank(SOURCE, CANDS).scores  # the instruction changed them
