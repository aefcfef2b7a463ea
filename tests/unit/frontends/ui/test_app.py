"""The page as composed: header facts, the Options title, and layout details every tab shares."""

from __future__ import annotations

from pathlib import Path

import gradio as gr
from ui_kit import OPTIONS

from gte_ui.frontends.ui.app import build_demo, header_html, options_title, ui_assets
from gte_ui.frontends.ui.common import COMPARE
from gte_ui.frontends.ui.tabs import rerank, vector


def test_header_shows_the_folder_name_not_its_path(tiny_service, tiny_model_dir):
    header = header_html(tiny_service)
    assert tiny_model_dir.name in header and str(tiny_model_dir) not in header


def test_layout_slips_of_issue_30_8(tiny_service):
    """The Options title says what is on; the Vector button names the chosen width; the
    truncation warning is bilingual and promises no score; plots carry no label badge over their
    axes; without a reranker the Rerank tab has no empty columns or chart."""
    assert "all off" in options_title(False, False, False, "truncate", "truncate")
    on = options_title(True, False, False, "chunk", "truncate")
    assert "繁→简" in on and "chunk" in on and "全角" not in on
    assert "64 维" in vector.button_label(64) and "32" not in vector.button_label(64)
    summary, _json, _files = vector.on_vectors(tiny_service, "今天天气很好", *OPTIONS, dimensions=8, progress=None)
    assert "未为截断训练" in summary and "score" not in summary
    demo = build_demo(tiny_service)
    plots = [b for b in demo.blocks.values() if isinstance(b, gr.Plot)]
    assert plots and all(p.show_label is False for p in plots)
    assert next(p for p in plots if p.elem_id == "rr-plot").visible is False
    table = next(b for b in demo.blocks.values() if getattr(b, "elem_id", None) == "rr-table")
    assert table.headers == rerank.EMBEDDING_COLUMNS



def test_the_page_has_every_tab_and_offline_assets(tiny_service, two_models):
    demo = build_demo(tiny_service)
    tabs = [b.id for b in demo.blocks.values() if isinstance(b, gr.Tab)]
    assert tabs == ["pair", "rank", "vector", "matrix", "rerank", "search", "evaluate", "about"]
    selector = next(b for b in demo.blocks.values() if getattr(b, "elem_id", None) == "model-select")
    assert selector.visible is False  # one model: nothing to choose
    compare = next(b for b in build_demo(two_models).blocks.values() if getattr(b, "elem_id", None) == "model-select")
    assert compare.visible is True and compare.choices[-1][0] == COMPARE
    assets = ui_assets()
    assert all(Path(p).is_file() for p in [*assets["css_paths"], assets["favicon_path"]])
    assert "fonts.googleapis" not in str(assets["theme"].to_dict())  # local fonts only: works offline


def test_options_title_names_what_is_on():
    assert options_title(False, False, False, "chunk", "chunk").endswith("长文本分块 chunk long texts 已开启 on")
    assert "all off" in options_title(False, False, False, None, "truncate")  # None: the server's default
    title = options_title(False, True, True, "truncate", "truncate")
    assert "全角→半角 NFKC" in title and "合并空白 whitespace" in title and "繁→简" not in title
