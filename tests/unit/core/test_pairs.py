"""gte_ui/core/pairs.py: the STS-B and C-MTEB labelled-pair layouts."""

from __future__ import annotations

from pathlib import Path

import pytest

from gte_ui.core.errors import GteError
from gte_ui.core.pairs import read_pair_tsv, read_stsb_en

STSB = Path(__file__).resolve().parents[2] / "data" / "stsb_en" / "sts-test.tsv"


def test_stsb_keeps_every_row_quotes_included():
    """Read without CSV quoting: 50 lines hold a ``"`` and default quoting would merge rows."""
    pairs = read_stsb_en(STSB)
    assert len(pairs) == 1379 and pairs.name == "sts-test.tsv"
    assert (pairs.a[0], pairs.b[0], pairs.labels[0]) == ("A girl is styling her hair.", "A girl is brushing her hair.", 2.5)
    assert sum('"' in t for t in pairs.a + pairs.b) >= 25


def test_stsb_with_a_byte_order_mark(tmp_path):
    path = tmp_path / "bom.tsv"
    path.write_text("genre\tfile\tyear\tsid\tscore\tsentence1\tsentence2\nx\ty\t2012\t1\t4.2\t一\t二\n",
                    encoding="utf-8-sig")
    pairs = read_stsb_en(path)
    assert (pairs.a, pairs.b, pairs.labels) == (["一"], ["二"], [4.2])


def test_cmteb_layout_in_gb18030_skips_short_rows(tmp_path):
    path = tmp_path / "lcqmc.tsv"
    path.write_text("花呗怎么还款\t花呗如何还钱\t1\n只有一列\n\n借呗额度\t天气很好\t0\n", encoding="gb18030")
    pairs = read_pair_tsv(path)
    assert (pairs.a, pairs.b, pairs.labels) == (["花呗怎么还款", "借呗额度"], ["花呗如何还钱", "天气很好"], [1.0, 0.0])


def test_a_bad_label_is_named_with_its_row(tmp_path):
    path = tmp_path / "bad.tsv"
    path.write_text("a\tb\t1\nc\td\tyes\n", encoding="utf-8")
    with pytest.raises(GteError, match="bad.tsv row 2: label 'yes' is not a number"):
        read_pair_tsv(path)
    stsb = tmp_path / "stsb.tsv"
    stsb.write_text("sentence1\tsentence2\n一\t二\n", encoding="utf-8")
    with pytest.raises(GteError, match="stsb.tsv has no column 'score'; its columns are sentence1, sentence2"):
        read_stsb_en(stsb)
