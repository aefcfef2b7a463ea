"""The one CSV writer for every file the app hands out: formula-leading text cells are escaped.

A spreadsheet opening a CSV runs a cell that starts with ``=``, ``+``, ``-`` or ``@`` (and, in
some, a tab or carriage return) as a formula: ``=HYPERLINK(…)`` or ``=cmd|…`` typed into the
UI as a candidate would come back in ranking.csv and run on whoever opens the download (OWASP
"CSV injection"). OWASP's defence: prefix such a cell with a single quote, which spreadsheets
show as text. Plain numbers (``-0.120000``, ``+3``, ``1e-05``) are left alone: they are not
formulas, and a score column must stay numeric.

Every CSV writer in the app (UI downloads, ``embed --out x.csv``, ``evaluate --out``) goes
through :func:`writer`; the escaping exists here only.
"""

from __future__ import annotations

import csv
import re
from collections.abc import Iterable
from typing import Any

#: what a spreadsheet takes as the start of a formula (OWASP's list)
FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")
_NUMBER = re.compile(r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?")


def escape_cell(value: Any) -> Any:
    """``value`` with a ``'`` in front when it is text a spreadsheet would run as a formula.

    Only strings change: numbers (and strings that are plain decimal numbers) come back as given.
    """
    if isinstance(value, str) and value.startswith(FORMULA_PREFIXES) and not _NUMBER.fullmatch(value):
        return "'" + value
    return value


class _SafeWriter:
    """A ``csv.writer`` whose rows pass through :func:`escape_cell` (the same methods)."""

    def __init__(self, inner: Any) -> None:
        self._w = inner

    def writerow(self, row: Iterable[Any]) -> Any:
        return self._w.writerow([escape_cell(v) for v in row])

    def writerows(self, rows: Iterable[Iterable[Any]]) -> None:
        for row in rows:
            self.writerow(row)


class _SafeDictWriter(csv.DictWriter):
    """``csv.DictWriter`` whose values (and header) pass through :func:`escape_cell`."""

    def __init__(self, f: Any, fieldnames: Iterable[str], **kwargs: Any) -> None:
        super().__init__(f, fieldnames, **kwargs)
        self.writer = _SafeWriter(self.writer)  # writeheader and writerow both write through it


def writer(f: Any, **kwargs: Any) -> _SafeWriter:
    """A ``csv.writer`` on ``f`` that escapes formula-leading text cells."""
    return _SafeWriter(csv.writer(f, **kwargs))


def dict_writer(f: Any, fieldnames: Iterable[str], **kwargs: Any) -> csv.DictWriter:
    """A ``csv.DictWriter`` on ``f`` that escapes formula-leading text cells."""
    return _SafeDictWriter(f, fieldnames, **kwargs)
