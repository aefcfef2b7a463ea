"""关于 About tab: this server's address in the API snippet, no server paths, counters only behind
credentials, and never an exception."""

from __future__ import annotations

import gradio as gr
from ui_kit import refused

from gte_ui.engine.reranker import Reranker
from gte_ui.frontends.ui.common import INTERNAL_ERROR
from gte_ui.frontends.ui.tabs import about
from gte_ui.frontends.ui.tabs.about import counter_rows, reranker_line
from gte_ui.service.service import EmbeddingService


def test_about_uses_this_servers_address_and_no_path(tiny_service, tiny_model_dir):
    text = about.on_about(tiny_service, gr.Request(headers={"host": "gte.example.org:8123"}))
    assert 'requests.post("http://gte.example.org:8123/api/predict"' in text and ":7860" not in text
    assert str(tiny_model_dir) not in text and f"`{tiny_model_dir.name}`" in text
    behind_proxy = gr.Request(headers={"host": "10.0.0.5:7860", "x-forwarded-host": "me-gte.hf.space",
                                       "x-forwarded-proto": "https"})
    assert "https://me-gte.hf.space/v1/embeddings" in about.on_about(tiny_service, behind_proxy)
    # a Host header that could break out of the code block falls back to the configured address
    hostile = gr.Request(headers={"host": "x```\n<script>"})
    assert "http://127.0.0.1:7860/api/predict" in about.on_about(tiny_service, hostile)


def test_about_never_raises(tiny_encoder, tiny_settings, monkeypatch):
    # counters show behind credentials only (an open page shows no one's traffic)
    keyed = EmbeddingService(tiny_encoder, tiny_settings.replace(api_key="k"))
    assert "hit rate" in about.on_about(keyed, gr.Request(headers={}))
    monkeypatch.setattr(keyed, "stats", dict)  # counters missing: a message, not a stuck tab
    refused(lambda: about.on_about(keyed, gr.Request(headers={})), INTERNAL_ERROR)


def test_base_url_from_settings(tiny_settings):
    assert about.base_url(tiny_settings.replace(host="0.0.0.0", port=9001)) == "http://127.0.0.1:9001"
    assert about.base_url(tiny_settings.replace(host="::1", port=80)) == "http://[::1]:80"
    assert about.base_url(tiny_settings.replace(host="gte.lan", port=8000), None) == "http://gte.lan:8000"



def test_counters_show_only_behind_credentials_and_move_with_traffic(tiny_encoder, tiny_settings):
    open_page = EmbeddingService(tiny_encoder, tiny_settings)
    open_page.pair("今天天气很好", "我想借钱")
    assert "hidden on an open server" in counter_rows(open_page) and "hits" not in counter_rows(open_page)
    keyed = EmbeddingService(tiny_encoder, tiny_settings.replace(auth="admin:secret"))
    keyed.pair("今天天气很好", "我想借钱")
    keyed.pair("今天天气很好", "我想借钱")  # the second is served from the cache
    rows = counter_rows(keyed)
    assert "2 entries · 2 hits / 2 misses (hit rate 50.0%)" in rows and "off (--cache-url)" in rows


def test_about_markdown_states_the_models_facts_and_the_reranker(tiny_service, tiny_encoder, tiny_settings,
                                                                 tiny_reranker_dir):
    text = about.about_markdown(tiny_service, "http://gte.example:1")
    info = tiny_service.info
    assert f"| 维度 Dimension | {info.dim} |" in text and f"{info.max_length} tokens" in text
    assert f"> {tiny_service.bands.high:.2f} 高度相似" in text and "http://gte.example:1/v1/embeddings" in text
    assert "未加载 none" in reranker_line(tiny_service)
    settings = tiny_settings.replace(reranker=str(tiny_reranker_dir))
    with_ce = EmbeddingService(tiny_encoder, settings, reranker=Reranker.load(settings))
    with_ce.rerank("手机电池", ["手机电量很耐用", "今天天气很好"])
    line = reranker_line(with_ce)
    assert f"`{tiny_reranker_dir.name}`" in line and "2 pairs scored" in line
    assert str(tiny_reranker_dir) not in line  # the folder's name, never the server's path
