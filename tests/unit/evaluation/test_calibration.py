"""evaluation/calibration.py: verdict bands derived from labelled pairs, and their precedence at start-up."""

from __future__ import annotations

import numpy as np
import pytest

from gte_ui.core import bands as bands_store
from gte_ui.core.scoring import VerdictBands
from gte_ui.core.settings import parse_settings
from gte_ui.evaluation import calibration
from gte_ui.evaluation import metrics as evaluation
from gte_ui.service.service import default_bands


def test_calibration_round_trip_and_precedence(tmp_path, tiny_model_dir):
    labels = [0.0] * 50 + [1.0] * 50
    cos = list(np.linspace(0.80, 0.90, 50)) + list(np.linspace(0.91, 0.99, 50))
    result = evaluation.evaluate_scores(cos, labels)
    bands = calibration.bands_from_result(result, "toy")
    assert bands.high == pytest.approx(0.91, abs=1e-3)  # separates the classes (F1 = 1 there)
    assert bands.mid == pytest.approx(float(np.median(cos[:50])), abs=1e-3) and bands.mid < bands.high
    model = str(tiny_model_dir)
    settings = parse_settings(["--model", model], env={"GTE_CALIBRATION_DIR": str(tmp_path)})
    assert settings.calibration_dir == str(tmp_path)  # the setting, from its environment variable
    assert default_bands(settings) == VerdictBands()  # honest default without calibration
    path = bands_store.save_bands(model, bands, settings.calibration_dir)
    assert path.parent == tmp_path
    loaded = default_bands(settings)
    assert (loaded.high, loaded.mid) == (bands.high, bands.mid) and "toy" in loaded.source
    override = default_bands(settings.replace(verdict_high=0.95))
    assert override.high == 0.95 and override.source == "settings"
    path.write_text("{broken")
    assert default_bands(settings) == VerdictBands()  # a broken file never stops start-up


def test_graded_labels_calibrate_on_label_4():
    cos = [0.2, 0.3, 0.5, 0.6, 0.85, 0.9]
    labels = [0, 1, 2, 3, 4, 5]
    bands = calibration.bands_from_result(evaluation.evaluate_scores(cos, labels))
    assert 0.6 < bands.high <= 0.85 and bands.mid < bands.high


def test_negatives_scoring_above_the_threshold_keep_mid_below_high():
    cos = [0.9, 0.95, 0.97, 0.99, 0.3, 0.96, 0.98, 0.985]  # most dissimilar pairs score above the F1 cut
    bands = calibration.bands_from_result(evaluation.evaluate_scores(cos, [1, 1, 1, 1, 0, 0, 0, 0]))
    assert bands.mid < bands.high and bands.mid == pytest.approx(bands.high - 0.02, abs=1e-4)


@pytest.mark.parametrize("labels", [[4, 5, 4.5, 5], [0, 1, 2, 3.5]])
def test_graded_labels_all_on_one_side_cannot_calibrate(labels):
    with pytest.raises(ValueError, match="label >= 4"):
        calibration.bands_from_result(evaluation.evaluate_scores([0.1, 0.5, 0.7, 0.9], labels))
