"""Verdict bands stored per model: load and save the small JSON files.

Shipped bands live in ``gte_ui/assets/calibration/``; the user's own (saved from the Evaluate tab
or ``evaluate --save-calibration``) in ``Settings.calibration_dir`` (``--calibration-dir``,
default ``~/.cache/gte_ui/calibration/``).
How bands are derived from labelled data is :mod:`gte_ui.evaluation.calibration`'s business.
"""

from __future__ import annotations

import json
import os
import re
import time
from pathlib import Path

from gte_ui.core.resources import SHIPPED_CALIBRATION as SHIPPED
from gte_ui.core.scoring import VerdictBands


def model_key(model: str) -> str:
    """File-name-safe key: the id for hub models, the folder's name for local folders."""
    name = Path(model.rstrip("/\\")).name if os.path.isdir(model) else model
    return re.sub(r"[^A-Za-z0-9._-]+", "_", name).strip("_") or "model"


def save_bands(model: str, bands: VerdictBands, folder: str | Path) -> Path:
    """Write the user's bands for ``model`` into ``folder`` (``Settings.calibration_dir``)."""
    folder = Path(folder).expanduser()
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{model_key(model)}.json"
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps({"model": model, "high": bands.high, "mid": bands.mid, "source": bands.source,
                               "created": time.strftime("%Y-%m-%dT%H:%M:%S")}, ensure_ascii=False, indent=2),
                   encoding="utf-8")
    os.replace(tmp, path)
    return path


def load_bands(model: str, user_folder: str | Path) -> VerdictBands | None:
    """The user's calibration for ``model`` (in ``user_folder``), else a shipped one, else None."""
    for folder in (Path(user_folder).expanduser(), SHIPPED):
        path = folder / f"{model_key(model)}.json"
        if path.is_file():
            try:
                data = json.loads(path.read_text(encoding="utf-8"))
                return VerdictBands(high=float(data["high"]), mid=float(data["mid"]),
                                    source=f"{data.get('source', 'calibration')} [{path.name}]")
            except (ValueError, KeyError, TypeError):
                continue  # a broken file must not stop the server; the next candidate applies
    return None
