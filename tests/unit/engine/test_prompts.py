"""engine/prompts.py: a folder's instruction prompts and how a request's prompt_name / instruction resolve."""

from __future__ import annotations

import json

import pytest

from gte_ui.core.errors import ConfigError, ErrorType, GteError
from gte_ui.engine.prompts import MAX_INSTRUCTION_CHARS, Prompts, read_prompts

QWEN3 = {"prompts": {"query": "Instruct: Given a web search query, retrieve relevant passages\nQuery:",
                     "document": ""}, "default_prompt_name": None}


def folder_with(tmp_path, cfg):
    (tmp_path / "config_sentence_transformers.json").write_text(json.dumps(cfg), encoding="utf-8")
    return tmp_path


def test_qwen3_prompts_are_read_with_their_task_and_gap(tmp_path):
    p = read_prompts(folder_with(tmp_path, QWEN3))
    assert p.available and p.query_name == "query" and p.default_name is None
    assert p.default_task == "Given a web search query, retrieve relevant passages" and p.gap == ""
    assert p.as_dict()["default_instruction"] == p.default_task
    assert p.resolve() is None  # no default prompt: bare query
    assert p.resolve(prompt_name="query") == QWEN3["prompts"]["query"]
    assert p.resolve(prompt_name="document") is None  # an empty prompt is bare input
    assert p.resolve(instruction="  Find the answer  ") == "Instruct: Find the answer\nQuery:"


def test_a_template_with_a_space_keeps_it_and_the_default_prompt_applies_to_queries_only(tmp_path):
    cfg = {"prompts": {"query": "Instruct: t\nQuery: ", "passage": "P: "}, "default_prompt_name": "passage"}
    p = read_prompts(folder_with(tmp_path, cfg))
    assert p.gap == " " and p.instruction_prompt("x") == "Instruct: x\nQuery: "
    assert p.resolve(side="query") == "P: " and p.resolve(side="document") is None


def test_no_file_means_no_prompts_and_any_request_for_one_is_422(tmp_path):
    p = read_prompts(tmp_path)
    assert p == Prompts() and not p.available and p.resolve() is None
    for kwargs in ({"prompt_name": "query"}, {"instruction": "x"}):
        with pytest.raises(GteError, match="no instruction prompts") as info:
            p.resolve(**kwargs)
        assert info.value.status_code == 422


@pytest.mark.parametrize(("kwargs", "error_type", "fragment"), [
    ({"prompt_name": "query", "instruction": "x"}, ErrorType.VALIDATION, "not both"),
    ({"prompt_name": "nope"}, ErrorType.VALIDATION, "unknown prompt_name 'nope'; this model has: document, query"),
    ({"instruction": "   "}, ErrorType.VALIDATION, "instruction is empty"),
    ({"instruction": "x" * (MAX_INSTRUCTION_CHARS + 1)}, ErrorType.TOO_LONG, "the limit is 1,000"),
])
def test_bad_requests_name_what_is_wrong(tmp_path, kwargs, error_type, fragment):
    with pytest.raises(GteError, match=fragment) as info:
        read_prompts(folder_with(tmp_path, QWEN3)).resolve(**kwargs)
    assert info.value.error_type is error_type and info.value.zh


def test_a_free_instruction_needs_an_instruct_template(tmp_path):
    p = read_prompts(folder_with(tmp_path, {"prompts": {"query": "query: ", "passage": "passage: "}}))
    assert p.default_task is None and p.resolve(prompt_name="passage") == "passage: "
    with pytest.raises(GteError, match="use prompt_name \\(passage, query\\)"):
        p.resolve(instruction="find it")


@pytest.mark.parametrize(("content", "fragment"), [
    ("{broken", "not valid JSON"),
    (json.dumps({"prompts": {"query": 3}}), "must map names to strings"),
    (json.dumps({"prompts": ["query"]}), "must map names to strings"),
    (json.dumps({"prompts": {"query": "q: "}, "default_prompt_name": "doc"}), "'doc' .* is not one of its prompts"),
])
def test_broken_prompt_files_stop_start_up_with_a_config_error(tmp_path, content, fragment):
    (tmp_path / "config_sentence_transformers.json").write_text(content, encoding="utf-8")
    with pytest.raises(ConfigError, match=fragment):
        read_prompts(tmp_path)
