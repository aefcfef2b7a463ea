"""The similarity matrix: every text against every other."""

from __future__ import annotations

import time
from collections.abc import Sequence

from gte_ui.core.errors import ErrorType, GteError
from gte_ui.core.scoring import cosine_matrix
from gte_ui.service.embed import embed_clean, ms_since, prompt_for, unknown_of
from gte_ui.service.inspection import report_unknown
from gte_ui.service.options import TextOptions
from gte_ui.service.results import MatrixResult
from gte_ui.service.served import Served


def matrix(model: Served, texts: Sequence[str], *, options: TextOptions | None = None) -> MatrixResult:
    """N x N cosine matrix of ``texts`` (2 <= N <= max_matrix). A prompt in ``options`` goes
    before every text: they are compared alike."""
    t0 = time.perf_counter()
    texts = model.checks.texts(texts, "texts", model.settings.max_matrix)
    if len(texts) < 2:
        raise GteError(ErrorType.VALIDATION, "the matrix needs at least 2 texts", "矩阵至少需要 2 条文本")
    prompt = prompt_for(model, options)
    res, known = embed_clean(model, texts, t0, options, prompt=prompt)
    ratios, warnings = report_unknown(model, unknown_of(model, res, known))
    return MatrixResult(texts=texts, scores=cosine_matrix(res.vectors), token_counts=res.token_counts,
                        truncated=res.truncated, elapsed_ms=ms_since(t0), prompt=prompt,
                        unknown_token_ratio=ratios, warnings=warnings)
