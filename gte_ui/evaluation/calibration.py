"""Verdict bands per model, calibrated on labelled data instead of fixed 75 % / 50 %.

Raw GTE cosines crowd near the top (its model card scores relevant and irrelevant answers alike
between 0.89 and 0.98), so SPEC's fixed bands would call almost everything 高度相似. An
evaluation's score distributions give honest bands for the loaded model:

* high (高度相似): the threshold that best separates similar from dissimilar pairs (max F1, which
  stays meaningful on imbalanced sets; for graded 0–5 labels, "similar" means label >= 4);
* mid (中等相似): the median cosine of the dissimilar pairs — above it a pair scores higher than
  half of the truly dissimilar ones.

Bands live in small JSON files, one per model: shipped ones in ``assets/calibration/`` and the
user's own (saved from the Evaluate tab or ``evaluate --save-calibration``) in
``~/.cache/gte_ui/calibration/`` (``GTE_CALIBRATION_DIR``). Order at start-up: ``--verdict-high``
/ ``--verdict-mid`` > the user's file > a shipped file > SPEC's 0.75 / 0.50.
"""

from __future__ import annotations

import numpy as np

from gte_ui.core.scoring import VerdictBands
from gte_ui.evaluation.metrics import evaluate_scores


def bands_from_result(result, source: str = "") -> VerdictBands:
    """Bands from an :class:`~gte_ui.evaluation.metrics.EvalResult` (see the module docstring)."""
    cos = np.asarray(result.cosines)
    lab = np.asarray(result.labels)
    if not result.binary:
        positive = lab >= 4.0
        if positive.all() or not positive.any():
            raise ValueError("need both similar (label >= 4) and dissimilar pairs to calibrate")
        result = evaluate_scores(cos, positive.astype(float))
        lab = positive.astype(float)
    high = float(result.f1_threshold)
    negatives = cos[lab == 0]
    mid = float(np.median(negatives)) if negatives.size else high - 0.1
    if mid >= high:
        mid = high - 0.02
    return VerdictBands(high=round(min(high, 1.0), 4), mid=round(max(mid, -1.0), 4),
                        source=f"calibrated on {source or 'labelled pairs'} ({result.n} pairs)")


