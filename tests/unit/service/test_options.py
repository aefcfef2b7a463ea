"""The one request normaliser (gte_ui/service/options.py): every front end builds its TextOptions
through ``read_options``, so an option means the same everywhere and an unknown one is a 422."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from gte_ui.core.errors import ErrorType, GteError
from gte_ui.frontends import serverless
from gte_ui.service.options import DEFAULT_OPTIONS, OPTION_NAMES, read_options

ROOT = Path(__file__).resolve().parents[3]


def test_defaults_and_blank_values_mean_the_default():
    assert read_options() == DEFAULT_OPTIONS
    assert read_options({"long_text": "", "prompt_name": None, "instruction": ""}) == DEFAULT_OPTIONS
    opts = read_options({"t2s": True, "long_text": "chunk", "instruction": "找相似的问题"})
    assert (opts.t2s, opts.long_text, opts.instruction, opts.nfkc) == (True, "chunk", "找相似的问题", False)


def test_an_unknown_option_is_named_in_a_422_never_dropped():
    with pytest.raises(GteError) as err:
        read_options({"t2s": True, "colapse_whitespace": True})
    assert err.value.error_type is ErrorType.VALIDATION
    assert "colapse_whitespace" in err.value.message and "collapse_whitespace" in err.value.message


def test_a_wrong_type_is_a_422_naming_the_option():
    with pytest.raises(GteError, match="nfkc must be true or false"):
        read_options({"nfkc": "yes"})


def test_text_options_are_built_in_exactly_one_module():
    """No front end assembles its own subset of the options (the serverless one used to drop
    prompt_name and instruction)."""
    builders = [p.relative_to(ROOT) for p in (ROOT / "gte_ui").rglob("*.py")
                if re.search(r"\bTextOptions\(", p.read_text(encoding="utf-8"))
                and not p.name.endswith("_pb2.py")]
    assert [str(p) for p in builders] == ["gte_ui/service/options.py"]


def test_serverless_reads_every_option_the_body_names(serverless_instance):
    """prompt_name reaches the service through the serverless door too: the tiny model has no
    prompts, so it is refused with the same 422 REST gives, not silently ignored."""
    event = {"rawPath": "/embed", "requestContext": {"http": {"method": "POST", "path": "/embed"}},
             "body": json.dumps({"texts": ["今天天气很好"], "prompt_name": "query"})}
    res = serverless.handler(event, None)
    assert res["statusCode"] == 422, res
    assert "prompt" in json.dumps(json.loads(res["body"]), ensure_ascii=False)
    assert set(OPTION_NAMES) >= {"prompt_name", "instruction"}
