"""Optional text normalisation before embedding (all off by default).

* ``t2s``: Traditional → Simplified Chinese with OpenCC (GTE-zh was trained mostly on simplified
  text, so 蘋果手機 and 苹果手机 otherwise get different vectors);
* ``nfkc``: Unicode NFKC — full-width letters, digits and punctuation become half-width;
* ``collapse_whitespace``: runs of spaces, tabs and newlines become one space.

The cache key uses the normalised text, so both spellings share one cached vector.
"""

from __future__ import annotations

import functools
import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass

_WS = re.compile(r"\s+")


@dataclass(frozen=True)
class TextNorm:
    t2s: bool = False
    nfkc: bool = False
    collapse_whitespace: bool = False

    @property
    def active(self) -> bool:
        return self.t2s or self.nfkc or self.collapse_whitespace

    def key(self) -> str:
        """Short tag for cache keys, e.g. ``"t2s+nfkc"`` (``""`` when nothing is on)."""
        return "+".join(name for name in ("t2s", "nfkc", "collapse_whitespace") if getattr(self, name))

    def apply(self, text: str) -> str:
        if self.nfkc:
            text = unicodedata.normalize("NFKC", text)
        if self.t2s:
            text = _opencc().convert(text)
        if self.collapse_whitespace:
            text = _WS.sub(" ", text).strip()
        return text

    def apply_all(self, texts: Sequence[str]) -> list[str]:
        """:meth:`apply` to each text; a text the normalisation would empty keeps its own form
        (the service has refused empty texts already, so none turns empty on the model)."""
        if not self.active:
            return list(texts)
        return [self.apply(t) or t for t in texts]


NO_NORM = TextNorm()


@functools.lru_cache(maxsize=1)
def _opencc():
    # optional: OpenCC loads only when 繁→简 is asked for
    import opencc

    return opencc.OpenCC("t2s")


_SURROGATES = re.compile("[\ud800-\udfff]")


def lone_surrogate(text: str) -> int | None:
    """Position of the first lone surrogate in ``text`` (e.g. from JSON ``"\\ud800"`` or undecodable
    command-line bytes), else None. Such text is not Unicode: it cannot be encoded as UTF-8, so
    the service refuses it (422) rather than guess what was meant."""
    if text.isascii():
        return None
    found = _SURROGATES.search(text)
    return None if found is None else found.start()


#: control characters a text may not hold: C0 but tab, newline, vertical tab, form feed and carriage
#: return; DEL; C1 (U+0080-U+009F, mostly text decoded with the wrong encoding). NUL used to
#: become a space and BEL / ESC went to the model: the docs promise a 4xx (issue 26)
_CONTROL = re.compile("[\x00-\x08\x0e-\x1f\x7f-\x9f]")
#: what a model cannot see: format characters (zero-width space / joiner, bidi controls, BOM, soft
#: hyphen), combining marks with nothing to combine with, separators and the other controls
_INVISIBLE_CATEGORIES = frozenset({"Cf", "Mn", "Me", "Zs", "Zl", "Zp", "Cc"})


def control_character(text: str) -> int | None:
    """Position of the first control character ``text`` may not hold (see ``_CONTROL``), else None."""
    found = _CONTROL.search(text)
    return None if found is None else found.start()


def invisible_only(text: str) -> bool:
    """True when nothing in ``text`` is visible: only zero-width, bidi, combining or space
    characters ("\u200b", "\u200d", "\u0301"). Tokenizers drop them all, so every such text
    would get the empty string's vector: "\u200b" vs "\u200d" scored 1.0, 高度相似."""
    return all(unicodedata.category(c) in _INVISIBLE_CATEGORIES for c in text)


def clean_text(text: str) -> str:
    """Make any Python string safe for the tokenizer: no NUL, no lone surrogates; strip ends.

    The service refuses lone surrogates before this runs (:func:`lone_surrogate`); replacing them
    with U+FFFD here only guards callers that skip validation, so the Rust tokenizer never crashes.
    """
    if not text.isascii():
        text = _SURROGATES.sub("\ufffd", text)
    return text.replace("\x00", " ").strip()


def split_lines(block: str) -> list[str]:
    """Candidates typed one per line: blank lines ignored, ends stripped."""
    return [line.strip() for line in block.splitlines() if line.strip()]
