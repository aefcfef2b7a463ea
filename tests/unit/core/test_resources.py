"""core/resources.py: the package's own files, found inside the package (an installed wheel too)."""

from __future__ import annotations

import pytest

from gte_ui.core import resources
from gte_ui.core.resources import ASSETS, SAMPLES, sample_names, sample_path


def test_assets_live_inside_the_package():
    assert ASSETS.parent.name == "gte_ui" and SAMPLES.is_dir()


def test_sample_names_are_the_shipped_tsv_files_sorted(tmp_path, monkeypatch):
    for name in ("b.tsv", "a.tsv", "notes.txt"):
        (tmp_path / name).write_text("x\ty\t1\n", encoding="utf-8")
    monkeypatch.setattr(resources, "SAMPLES", tmp_path)
    assert sample_names() == ["a.tsv", "b.tsv"]
    assert sample_path("b.tsv") == tmp_path / "b.tsv"


@pytest.mark.parametrize("name", ["../settings.py", "/etc/passwd", "notes.txt", ""])
def test_anything_but_a_shipped_sample_is_refused(name):
    with pytest.raises(ValueError, match="unknown sample"):
        sample_path(name)


def test_the_real_samples_resolve():
    names = sample_names()
    assert names and all(sample_path(n).is_file() for n in names)
