"""Readers for labelled sentence-pair files (STS-B, C-MTEB style TSVs)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from gte_ui.core.tables import column_index, delimited_rows, number, open_stream


@dataclass
class LabelledPairs:
    """Sentence pairs with a gold score each (0–5 similarity or 0/1 labels)."""

    a: list[str]
    b: list[str]
    labels: list[float]
    name: str = ""

    def __len__(self) -> int:
        return len(self.labels)


def read_stsb_en(path: str | Path) -> LabelledPairs:
    """The sbert ``stsbenchmark.tsv`` layout: header + 8 TAB fields, score in column 5 (read
    without quoting, see :func:`~gte_ui.core.tables.delimited_rows`)."""
    return _read_tsv(path, ("sentence1", "sentence2", "score"), header=True)


def read_pair_tsv(path: str | Path) -> LabelledPairs:
    """The C-MTEB / text2vec layout: no header, ``sentence1 TAB sentence2 TAB label``; shorter rows
    are skipped."""
    return _read_tsv(path, (0, 1, 2), header=False)


def _read_tsv(path: str | Path, columns: tuple[str | int, ...], header: bool) -> LabelledPairs:
    name = Path(path).name
    a, b, labels = [], [], []
    with open_stream(path) as f:
        rows = delimited_rows(f, name, "\t", quote=False)
        head = next(rows, (0, []))[1] if header else [str(i) for i in range(3)]
        where = [column_index(head, c, name) for c in columns]
        for line, row in rows:
            if len(row) <= max(where):
                continue
            a.append(row[where[0]])
            b.append(row[where[1]])
            labels.append(number(row[where[2]], name, line))
    return LabelledPairs(a, b, labels, name=name)
