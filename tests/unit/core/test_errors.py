"""core/errors.py: one error type, its bilingual message and the one status table."""

from __future__ import annotations

import errno

import pytest

from gte_ui.core.errors import (
    HTTP_STATUS,
    ConfigError,
    ErrorType,
    GteError,
    ModelNotFoundError,
    disk_full,
)


def test_every_error_type_has_a_status_and_callers_mistakes_are_4xx():
    assert set(HTTP_STATUS) == set(ErrorType)
    caller = [ErrorType.MALFORMED, ErrorType.VALIDATION, ErrorType.EMPTY, ErrorType.TOO_LONG, ErrorType.TOO_MANY,
              ErrorType.TOO_LARGE, ErrorType.MEDIA_TYPE, ErrorType.UNAUTHORIZED, ErrorType.UNKNOWN_MODEL]
    assert all(400 <= HTTP_STATUS[t] < 500 for t in caller)
    assert (HTTP_STATUS[ErrorType.MALFORMED], HTTP_STATUS[ErrorType.VALIDATION], HTTP_STATUS[ErrorType.TOO_LARGE],
            HTTP_STATUS[ErrorType.MEDIA_TYPE], HTTP_STATUS[ErrorType.OVERLOADED],
            HTTP_STATUS[ErrorType.DISK_FULL]) == (400, 422, 413, 415, 429, 507)


def test_message_is_chinese_then_english_and_the_dict_names_the_type():
    err = GteError(ErrorType.TOO_MANY, "too many texts", "文本过多")
    assert err.message == str(err) == "文本过多 / too many texts"
    assert err.status_code == 413 and err.to_dict() == {"error": "文本过多 / too many texts", "error_type": "too_many"}
    assert GteError(ErrorType.VALIDATION, "only english").message == "only english"


def test_config_and_model_not_found_carry_their_types():
    assert ConfigError("bad mix", "冲突").error_type is ErrorType.CONFIG
    missing = ModelNotFoundError("no such model")
    assert missing.error_type is ErrorType.MODEL_NOT_FOUND and missing.status_code == 503


@pytest.mark.parametrize("code", [errno.ENOSPC, errno.EDQUOT])
def test_a_full_disk_or_quota_becomes_the_one_507(code):
    err = disk_full(OSError(code, "No space left on device", "/srv/secret/path"))
    assert err.error_type is ErrorType.DISK_FULL and err.status_code == 507
    assert "disk is full" in err.en and "磁盘已满" in err.zh and "/srv/secret" not in err.message


@pytest.mark.parametrize("exc", [OSError(errno.EACCES, "denied"), ValueError("x"), OSError("no errno")])
def test_other_failures_are_not_called_a_full_disk(exc):
    assert disk_full(exc) is None
