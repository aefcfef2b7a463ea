"""矩阵 Matrix tab: on_matrix as a plain function over the real tiny-BERT service (no browser)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from ui_kit import OPTIONS, refused

from gte_ui.frontends.ui.tabs import matrix


def test_matrix_hover_shows_full_texts(tiny_service):
    long_text = "这是一个非常非常长的句子，" * 6
    texts = [long_text, "今天天气很好", "我想借钱"]
    note, fig, csv_path = matrix.on_matrix(tiny_service, "\n".join(texts), *OPTIONS)
    heat = fig.data[0]
    assert note.startswith("3 × 3") and Path(csv_path).is_file()
    assert "…" in heat.x[0]  # the axis label is cut …
    hover_row = heat.customdata[0][1]
    assert hover_row[0].replace("<br>", "") == f"1. {long_text}"  # … the hover is not
    assert hover_row[1] == "2. 今天天气很好" and "%{customdata[0]}" in heat.hovertemplate
    np.testing.assert_allclose(heat.z, tiny_service.matrix(texts).scores, atol=1e-6)


def test_matrix_bad_inputs(tiny_service):
    refused(lambda: matrix.on_matrix(tiny_service, "只有一条", *OPTIONS), "at least 2 texts")
    many = "\n".join(f"t{i}" for i in range(tiny_service.settings.max_matrix + 1))
    refused(lambda: matrix.on_matrix(tiny_service, many, *OPTIONS), "the limit is")

