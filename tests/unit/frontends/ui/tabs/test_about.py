"""关于 About tab: this server's address in the API snippet, no server paths, counters only behind
credentials, and never an exception."""

from __future__ import annotations

import gradio as gr
from ui_kit import refused

from gte_ui.frontends.ui.common import INTERNAL_ERROR
from gte_ui.frontends.ui.tabs import about
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

