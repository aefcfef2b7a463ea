"""The named Gradio endpoints' /rank shape: the canonical rows, each with the prompt used."""

from __future__ import annotations

from gte_ui.frontends.protocols.gradio import rank_rows


def test_rank_rows_are_the_canonical_rows_with_the_prompt(tiny_service):
    r = tiny_service.rank("电池续航", ["很耐用", "下雨了", "充电快"], top_k=2)
    rows = rank_rows(r)
    assert len(rows) == 2
    for got, row in zip(rows, r.rows):
        assert got == {**row.to_dict(), "prompt": None}
