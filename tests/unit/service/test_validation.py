"""The checks every request passes before model work: texts, counts, widths, the work budget."""

from __future__ import annotations

import pytest

from gte_ui.core.errors import ErrorType, GteError
from gte_ui.service import validation


def test_texts_are_cleaned_and_each_error_names_the_text():
    assert validation.check_texts(["  甲 ", "乙"], "texts", limit=2, max_chars=10) == ["甲", "乙"]
    with pytest.raises(GteError) as err:
        validation.check_texts(["ok", "a\x07b"], "candidates", limit=5, max_chars=10)
    assert err.value.error_type is ErrorType.VALIDATION and "candidates[1]" in err.value.message
    assert "候选句子[1]" in err.value.zh and "U+0007" in err.value.message
    with pytest.raises(GteError) as err:
        validation.check_texts(["a", "b", "c"], "texts", limit=2, max_chars=10)
    assert err.value.error_type is ErrorType.TOO_MANY
    with pytest.raises(GteError) as err:
        validation.check_text("x" * 11, "text", max_chars=10)
    assert err.value.error_type is ErrorType.TOO_LONG


@pytest.mark.parametrize("value", [0, -1, True, 1.5, "3"])
def test_top_k_must_be_a_positive_integer(value):
    with pytest.raises(GteError, match="top_k must be a positive integer"):
        validation.check_positive(value, "top_k")
    assert validation.check_positive(None, "top_k") is None and validation.check_positive(3, "top_k") == 3


def test_dimensions_range_and_warning():
    assert validation.check_dimensions(8, 32, None) == 8
    with pytest.raises(GteError, match="below 16"):
        validation.check_dimensions(8, 32, 16)
    with pytest.raises(GteError, match="more than the model's 32"):
        validation.check_dimensions(33, 32, None)
    assert "not trained for truncated" in validation.dimension_warning(8, 32, None)
    assert validation.dimension_warning(8, 32, 4) is None


def test_work_budget_weighs_only_when_the_bound_is_over_it(tiny_encoder):
    texts = ["今天天气很好"] * 4  # 8 tokens each
    weighed = []

    def weigh(t, chunked):
        weighed.append(chunked)
        return tiny_encoder.tokens_to_run(t, chunked=chunked)

    validation.check_work(texts, chunked=False, limit=4 * tiny_encoder.max_length, max_length=tiny_encoder.max_length,
                          weigh=weigh)
    assert weighed == []  # 4 texts x max_length fit: nothing to count
    validation.check_work(texts, chunked=False, limit=32, max_length=tiny_encoder.max_length, weigh=weigh)
    with pytest.raises(GteError) as err:
        validation.check_work(texts, chunked=False, limit=31, max_length=tiny_encoder.max_length, weigh=weigh)
    assert err.value.error_type is ErrorType.TOO_LARGE and "needs 32 tokens" in err.value.message
    assert "--max-tokens-per-request" in err.value.zh
