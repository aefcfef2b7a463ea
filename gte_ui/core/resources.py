"""Where the package's own files live (theme, logo, samples, shipped calibrations).

They ship inside the package (``gte_ui/assets``), so an installed wheel finds them without a
checkout; the repository's top-level ``assets`` is a link to the same folder.
"""

from __future__ import annotations

from pathlib import Path

ASSETS = Path(__file__).resolve().parent.parent / "assets"
SAMPLES = ASSETS / "samples"
SHIPPED_CALIBRATION = ASSETS / "calibration"


def sample_names() -> list[str]:
    """The sample files the Evaluate tab offers and ``evaluate NAME`` accepts."""
    return sorted(p.name for p in SAMPLES.glob("*.tsv"))


def sample_path(name: str) -> Path:
    """The shipped sample called ``name`` (one of :func:`sample_names`, never a path from outside)."""
    if name not in sample_names():
        raise ValueError(f"unknown sample {name!r}")
    return SAMPLES / name
