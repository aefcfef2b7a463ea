"""Compare-all: one question put to every loaded model, under one policy for the instruction.

The policy: the caller's prompt (``prompt_name`` / ``instruction``) goes to the models that have
prompts (instruction models) and is left out for the others, which would refuse it (422); every
other text option applies to all. The Pairwise and Ranking tabs show what these return.
"""

from __future__ import annotations

from collections.abc import Sequence

from gte_ui.service.options import DEFAULT_OPTIONS, TextOptions
from gte_ui.service.pair import pair
from gte_ui.service.rank import rank
from gte_ui.service.results import PairResult, RankResult
from gte_ui.service.served import Served


def options_for(model: Served, options: TextOptions | None) -> TextOptions:
    """``options`` as ``model`` takes them in a comparison: without the prompt unless it has prompts."""
    options = options or DEFAULT_OPTIONS
    return options if model.encoder.prompts.available else options.without_prompt()


def compare_pairs(models: Sequence[Served], a: str, b: str, *,
                  options: TextOptions | None = None) -> list[tuple[str, PairResult]]:
    """Every model's :func:`~gte_ui.service.pair.pair` of ``a`` and ``b``, by model name, in load order."""
    return [(m.name, pair(m, a, b, options=options_for(m, options))) for m in models]


def compare_ranks(models: Sequence[Served], source: str, candidates: Sequence[str], *,
                  options: TextOptions | None = None) -> dict[str, RankResult]:
    """Every model's :func:`~gte_ui.service.rank.rank` of ``candidates`` against ``source``, by
    model name, in load order."""
    return {m.name: rank(m, source, candidates, options=options_for(m, options)) for m in models}
