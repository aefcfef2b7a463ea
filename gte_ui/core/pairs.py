"""Readers for labelled sentence-pair files (STS-B, C-MTEB style TSVs)."""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path


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
    """The sbert ``stsbenchmark.tsv`` layout: header + 8 TAB fields, score in column 5.

    Read with ``csv.QUOTE_NONE``: some sentences contain ``"`` and default quoting would
    silently merge rows (260 of 1,379 lost on the test split).
    """
    a, b, labels = [], [], []
    with open(path, encoding="utf-8", newline="") as f:
        reader = csv.reader(f, delimiter="\t", quoting=csv.QUOTE_NONE)
        header = next(reader)
        col = {name: i for i, name in enumerate(header)}
        for row in reader:
            a.append(row[col["sentence1"]])
            b.append(row[col["sentence2"]])
            labels.append(float(row[col["score"]]))
    return LabelledPairs(a, b, labels, name=Path(path).name)


def read_pair_tsv(path: str | Path) -> LabelledPairs:
    """The C-MTEB / text2vec layout: no header, ``sentence1 TAB sentence2 TAB label``."""
    a, b, labels = [], [], []
    with open(path, encoding="utf-8", newline="") as f:
        for row in csv.reader(f, delimiter="\t", quoting=csv.QUOTE_NONE):
            if len(row) < 3:
                continue
            a.append(row[0])
            b.append(row[1])
            labels.append(float(row[2]))
    return LabelledPairs(a, b, labels, name=Path(path).name)
