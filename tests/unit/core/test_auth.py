"""core/auth.py: the bearer-key check every programmatic front end shares."""

from __future__ import annotations

import pytest

from gte_ui.core.auth import check_api_key
from gte_ui.core.errors import ErrorType, GteError
from gte_ui.core.settings import Settings


def test_no_key_configured_lets_every_call_through():
    check_api_key(Settings(api_key=None), None)
    check_api_key(Settings(api_key=None), "Bearer anything")


@pytest.mark.parametrize("header", ["Bearer s3cret", "bearer s3cret", "BEARER  s3cret "])
def test_the_right_key_passes_whatever_the_scheme_case(header):
    check_api_key(Settings(api_key="s3cret"), header)


@pytest.mark.parametrize("header", [None, "", "s3cret", "Basic s3cret", "Bearer s3cre", "Bearer s3cret2",
                                    "Bearer"])
def test_a_missing_or_wrong_key_is_401_in_both_languages(header):
    with pytest.raises(GteError) as info:
        check_api_key(Settings(api_key="s3cret"), header)
    assert info.value.error_type is ErrorType.UNAUTHORIZED and info.value.status_code == 401
    assert "Authorization: Bearer <key>" in info.value.en and "API 密钥" in info.value.zh
    assert "s3cret" not in info.value.message  # the answer never echoes the real key
