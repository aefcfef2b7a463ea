"""Hostile and random input at the service level: only GteError ever escapes, never a crash.

The API and UI layers turn GteError into a 4xx / a warning, so this is what keeps the server up.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gte_ui.core.errors import ErrorType, GteError
from gte_ui.core.textnorm import clean_text, control_character, invisible_only, split_lines

HOSTILE = ["\x00", "\x00\x00abc\x00", "\ud800", "\udfff\ud800", "😀" * 50, "\u202e\u202dRTL", "\ufeffBOM",
           "\u200b\u200b", "e\u0301" * 30, "𠀀𪚥𰻞", "ｆｕｌｌ　ｗｉｄｔｈ", "\t\n\r\x0b\x0c", "<script>alert(1)</script>",
           "' OR 1=1 --", "%s%n%x", "a" * 19_999, "\\u0000", "null", "\x7f\x80\x9f"]


@pytest.mark.parametrize("text", HOSTILE)
def test_hostile_strings_embed_or_fail_cleanly(tiny_service, text):
    try:
        res = tiny_service.embed([text])
    except GteError as err:
        if err.error_type is ErrorType.VALIDATION:  # lone surrogates and control characters: refused, by position
            assert ("lone surrogate" in err.message or "control character" in err.message) and "at character" in err.message
            return
        # only input with nothing visible may be refused as empty (whitespace, zero-width, combining)
        assert err.error_type is ErrorType.EMPTY and invisible_only(clean_text(text))
        return
    assert res.vectors.shape == (1, tiny_service.dim)
    assert np.isfinite(res.vectors).all()
    assert abs(float(np.linalg.norm(res.vectors[0])) - 1.0) < 1e-5


def test_million_character_string_is_refused_before_tokenising(tiny_service):
    calls = tiny_service.encoder.forward_calls
    with pytest.raises(GteError) as err:
        tiny_service.pair("字" * 1_000_000, "b")
    assert err.value.error_type is ErrorType.TOO_LONG and err.value.status_code == 413
    assert tiny_service.encoder.forward_calls == calls


def test_hundred_thousand_candidates_are_refused(tiny_service):
    with pytest.raises(GteError) as err:
        tiny_service.rank("源", split_lines("候选\n" * 100_000))
    assert err.value.error_type is ErrorType.TOO_MANY and "100,000 candidates" in err.value.message


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.text(max_size=200))
def test_any_unicode_text_never_crashes(tiny_service, text):
    try:
        res = tiny_service.pair(text, "基准句子")
    except GteError as err:
        if err.error_type is ErrorType.VALIDATION:
            assert control_character(text) is not None and "control character" in err.message
        else:
            assert err.error_type is ErrorType.EMPTY and invisible_only(clean_text(text))
        return
    assert -1.0 <= res.score <= 1.0 and 0.0 <= res.percent <= 100.0


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.one_of(st.text(max_size=30), st.integers(), st.none(), st.floats(), st.binary(max_size=5)),
                max_size=6))
def test_wrongly_typed_lists_give_validation_errors(tiny_service, items):
    try:
        res = tiny_service.embed(items)
    except GteError as err:
        assert err.error_type in (ErrorType.VALIDATION, ErrorType.EMPTY)
        return
    assert all(isinstance(t, str) for t in items) and res.vectors.shape[0] == len(items)


@given(st.text(max_size=300))
def test_clean_text_is_idempotent_and_utf8_safe(text):
    once = clean_text(text)
    assert clean_text(once) == once
    once.encode("utf-8")  # never raises: no lone surrogates survive
    assert "\x00" not in once


@given(st.text(max_size=300))
def test_split_lines_drops_blanks_only(text):
    lines = split_lines(text)
    assert all(line and line == line.strip() for line in lines)
    assert len(lines) <= len(text.splitlines())
