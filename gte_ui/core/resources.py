"""Where the package's own files live (theme, logo, samples, shipped calibrations).

They ship inside the package (``gte_ui/assets``), so an installed wheel finds them without a
checkout; the repository's top-level ``assets`` is a link to the same folder.
"""

from __future__ import annotations

from pathlib import Path

ASSETS = Path(__file__).resolve().parent.parent / "assets"
SAMPLES = ASSETS / "samples"
SHIPPED_CALIBRATION = ASSETS / "calibration"
