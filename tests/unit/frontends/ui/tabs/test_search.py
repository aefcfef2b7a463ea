"""检索 Search tab: build an index from an upload, search several side by side, highlights and rerank
movement in the HTML; its callbacks as plain functions over the tiny BERT (no browser)."""

from __future__ import annotations

from gte_ui.frontends.ui.tabs import search as tab
from gte_ui.service.corpus import build_index
from gte_ui.service.search import catalog_from_settings
from gte_ui.service.service import EmbeddingService

DOCS = ["今天天气很好", "明天会下雨吗", "我喜欢吃苹果", "手机电池续航很强", "这款手机电量很耐用", "价格便宜，性价比高",
        "屏幕很大，拍照片也清楚", "充电速度特别快", "北京今天下雪了", "电池容量大但是充电慢", "我想借钱", "快递明天到"]
QUERY = "手机电池续航怎么样"


def test_search_tab_callbacks(tiny_service, tmp_path):
    """The tab: build from an upload (CSV, its text column), search two indexes side by side,
    highlights marked, errors as ⚠️ text."""
    service = EmbeddingService(tiny_service.encoder, tiny_service.settings.replace(index_dir=str(tmp_path / "tab")))
    upload = tmp_path / "upload.csv"
    upload.write_text("id,body\n" + "\n".join(f"{i},{t}" for i, t in enumerate(DOCS)), encoding="utf-8")
    refused, _ = tab.on_build(service, str(upload), "upl", "body", None, progress=lambda *a, **k: None)
    assert "--allow-index-build" in refused and catalog_from_settings(service.settings).names() == []
    settings = tiny_service.settings.replace(index_dir=str(tmp_path / "tab"), allow_index_build=True)
    service = EmbeddingService(tiny_service.encoder, settings)
    upload = tmp_path / "upload.csv"
    upload.write_text("id,body\n" + "\n".join(f"{i},{t}" for i, t in enumerate(DOCS)), encoding="utf-8")
    ticks = []

    def progress(value, desc=None, unit=None):
        ticks.append(value)

    status, picker = tab.on_build(service, str(upload), "upl", "body", None, progress=progress)
    assert "已建立 built" in status and "12" in status and picker["value"] == ["upl"]
    assert ticks[-1] == (12, 12)
    bad, _ = tab.on_build(service, str(upload), "x", "text", None, progress=progress)
    assert bad.startswith("⚠️") and "no column 'text'" in bad
    build_index(service, catalog_from_settings(settings), upload, "again", columns=tab.CorpusColumns(text="body"),
                progress=False)
    md, out = tab.on_search(service, ["upl", "again"], QUERY, 3, False, True)
    assert out.count('class="search-col"') == 2 and out.count('class="hit"') == 6 and "<mark>" in out
    assert "upl" in md and "ms" in md
    err, _ = tab.on_search(service, [], QUERY, 3, False, True)
    assert err.startswith("⚠️") and "pick an index" in err


def test_hits_are_escaped_and_marked_and_refresh_keeps_what_exists(tiny_service, tmp_path):
    settings = tiny_service.settings.replace(index_dir=str(tmp_path / "idx"))
    service = EmbeddingService(tiny_service.encoder, settings)
    corpus = tmp_path / "corpus.txt"
    corpus.write_text("\n".join([*DOCS[3:6], "<script>alert(1)</script> 手机电池"]), encoding="utf-8")
    build_index(service, catalog_from_settings(settings), corpus, "mine", progress=False)
    assert tab.index_choices(service) == ["mine"]
    update = tab.refresh(service, ["mine", "deleted-meanwhile"])
    assert update["choices"] == ["mine"] and update["value"] == ["mine"]
    summary, out = tab.on_search(service, "mine", "手机电池", 4, False, True)  # one name, not a list
    shown = out.replace("<mark>", "").replace("</mark>", "")
    assert "<script" not in out and "&lt;script&gt;alert(1)&lt;/script&gt; 手机电池" in shown  # text, not markup
    assert out.count('class="hit"') == 4 and "<mark>" in out and "**mine**" in summary
    assert "<mark></mark>" not in out  # nothing empty is marked
