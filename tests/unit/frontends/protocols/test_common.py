"""The request fields every protocol shares: unknown keys are a 422 naming them, the switches are
strict booleans, and the headers that carry what a bare-list answer cannot."""

from __future__ import annotations

import json

import pytest

from gte_ui.core.errors import GteError
from gte_ui.frontends.protocols.common import TextOptionsFields, prompt_header, warnings_header
from gte_ui.frontends.protocols.parse import validate


def test_a_misspelt_option_is_a_422_naming_it_never_dropped():
    with pytest.raises(GteError) as err:
        validate(TextOptionsFields, {"t2S": True})
    assert err.value.status_code == 422 and "t2S" in err.value.message


def test_switches_are_strict_booleans_and_options_reach_read_options():
    with pytest.raises(GteError) as err:
        validate(TextOptionsFields, {"nfkc": "yes"})
    assert "nfkc" in err.value.message
    fields = validate(TextOptionsFields, {"t2s": True, "long_text": "chunk", "model": "m"})
    options = fields.text_options()
    assert options.t2s and options.long_text == "chunk" and not options.nfkc


def test_headers_quote_what_a_header_cannot_hold():
    assert prompt_header(None) == {} and warnings_header([]) == {}
    prompt = "Instruct: 找答案\nQuery:"
    header = prompt_header(prompt)["X-Prompt"]
    assert "\n" not in header and header.isascii() and json.loads(header) == prompt
    assert json.loads(warnings_header(["未知 / unknown"])["X-Warnings"]) == ["未知 / unknown"]
