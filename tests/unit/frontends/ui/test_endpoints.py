"""The page's named Gradio endpoints (gr.api): what they answer is the service's canonical result,
and a refusal is a gr.Error carrying the service's bilingual message (never a stack trace)."""

from __future__ import annotations

import gradio as gr
import numpy as np
import pytest

from gte_ui.frontends.ui.app import build_demo

NAMES = ("similarity", "align", "rank", "embed", "rerank", "search")


@pytest.fixture(scope="module")
def endpoints(tiny_encoder, tiny_settings, tmp_path_factory):
    """The page's public endpoints by name, as plain functions (the page built over the tiny BERT)."""
    from gte_ui.service.service import EmbeddingService

    settings = tiny_settings.replace(index_dir=str(tmp_path_factory.mktemp("indexes")))
    service = EmbeddingService(tiny_encoder, settings)
    demo = build_demo(service)
    found = {f.api_name: f.fn for f in demo.fns.values() if f.api_visibility == "public"}
    found["service"] = service
    return found


def refusal(call) -> str:
    with pytest.raises(gr.Error) as err:
        call()
    message = err.value.message
    assert "Traceback" not in message
    return message


def test_exactly_the_six_endpoints_are_public_with_their_text_options_documented(endpoints):
    assert set(endpoints) - {"service"} == set(NAMES)
    for name in ("similarity", "rank", "embed"):
        doc = endpoints[name].__doc__
        assert "{text_options}" not in doc and "prompt_name: instruction models only" in doc


def test_answers_are_the_services_results(endpoints):
    service = endpoints["service"]
    got = endpoints["similarity"]("今天天气很好", "今天天气不错")
    want = service.pair("今天天气很好", "今天天气不错").to_dict()
    assert got["score"] == pytest.approx(want["score"]) and got["verdict"] == want["verdict"]
    rows = endpoints["rank"]("手机电池", "手机电量很耐用\n\n今天天气很好\n充电速度特别快", 2)
    ranked = service.rank("手机电池", ["手机电量很耐用", "今天天气很好", "充电速度特别快"], top_k=2)
    assert [r["index"] for r in rows] == [r.index for r in ranked.rows]  # blank lines do not count
    assert [r["score"] for r in rows] == pytest.approx([r.score for r in ranked.rows])
    assert all("prompt" in r for r in rows)  # the Gradio rows carry the prompt (docs/api.md)
    embedded = endpoints["embed"]("今天天气很好\n我想借钱", dimensions=8)
    assert embedded["dim"] == 8 and np.linalg.norm(embedded["vectors"], axis=1) == pytest.approx([1.0, 1.0])
    reranked = endpoints["rerank"]("手机电池", "手机电量很耐用\n今天天气很好")
    assert reranked["method"] == "embedding" and len(reranked["scores"]) == 2  # no --reranker: the cosine
    aligned = endpoints["align"]("今天天气很好", "今天天气不错")
    assert aligned["f1"] == pytest.approx(service.align("今天天气很好", "今天天气不错").f1)


@pytest.mark.parametrize("name, args, kwargs, fragment", [
    ("similarity", ("   ", "好"), {}, "sentence A is empty"),
    ("similarity", ("好", "坏"), {"long_text": "summarise"}, "long_text must be one of"),
    ("rank", ("源", "a\nb", 1.5), {}, "top_k must be a whole number"),
    ("rank", ("源", "a\nb", True), {}, "top_k must be a whole number"),
    ("embed", ("",), {}, "no texts given"),
    ("embed", ("好",), {"dimensions": 2.5}, "dimensions must be a whole number"),
    ("rerank", ("查询", "a\nb"), {"raw_scores": "yes"}, "raw_scores must be true or false"),
    ("rerank", ("查询", "a\nb", -1.5), {}, "top_n must be a whole number"),
    ("search", ("no-such-index", "查询"), {}, "no-such-index"),
    ("similarity", ("好", "坏"), {"model": "no-such-model"}, "no-such-model"),
])
def test_refusals_are_bilingual_gradio_errors(endpoints, name, args, kwargs, fragment):
    message = refusal(lambda: endpoints[name](*args, **kwargs))
    assert fragment in message
    assert any("\u4e00" <= ch <= "\u9fff" for ch in message)  # the Chinese half is there too
