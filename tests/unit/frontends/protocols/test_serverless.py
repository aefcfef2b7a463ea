"""The serverless routes' answers and the keys each route takes."""

from __future__ import annotations

import pytest

from gte_ui.core.errors import GteError
from gte_ui.frontends.protocols.serverless import (
    check_fields,
    embed_texts,
    health_answer,
    lines,
    raw_scores,
    similarity_answer,
    text_options,
)
from gte_ui.service.health import health


def test_a_key_the_route_does_not_take_is_a_422_naming_it():
    check_fields("/rank", {"source": "a", "candidates": ["b"], "top_k": 1, "t2s": True, "model": "m"})
    with pytest.raises(GteError) as err:
        check_fields("/rank", {"source": "a", "candidates": ["b"], "topk": 1})
    assert err.value.status_code == 422 and "topk" in err.value.message and "top_k" in err.value.message


def test_similarity_keeps_the_canonical_fields_and_adds_the_articles_names(tiny_service):
    r = tiny_service.pair("电池", "续航")
    body = similarity_answer(r)
    assert {k: body[k] for k in r.to_dict()} == r.to_dict()
    assert body["similarity"] == r.score and body["interpretation"] == r.verdict.zh and body["status"] == "success"


def test_health_is_the_one_health_result_plus_the_instances_facts(tiny_service):
    body = health_answer(health(tiny_service), 1.5, 3)
    assert body["cold_start_s"] == 1.5 and body["invocations"] == 3
    assert body["dim"] == tiny_service.dim and "cache" in body and body["models"][0]["name"] == tiny_service.name


def test_bodies_are_read_as_the_routes_document():
    assert lines({"candidates": "甲\n\n乙\n"}, "candidates") == ["甲", "乙"]
    assert lines({"documents": ["a"]}, "docs", "documents") == ["a"]
    assert lines({}, "docs", "documents") == []  # the service answers "no candidates given"
    assert embed_texts({"input": "一"}) == (["一"], "input") and embed_texts({"texts": ["a"]}) == (["a"], "texts")
    assert raw_scores({}) is False and raw_scores({"raw_scores": True}) is True
    with pytest.raises(GteError, match="raw_scores must be true or false"):
        raw_scores({"raw_scores": "yes"})
    options = text_options({"t2s": True, "instruction": "找答案", "query": "ignored here"})
    assert options.t2s and options.instruction == "找答案"
