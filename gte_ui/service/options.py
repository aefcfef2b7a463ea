"""Per-request text handling, built the same way by every front end."""

from __future__ import annotations

from dataclasses import dataclass

from gte_ui.core.errors import ErrorType, GteError
from gte_ui.core.settings import LONG_TEXT_MODES
from gte_ui.core.textnorm import TextNorm


@dataclass(frozen=True)
class TextOptions:
    """繁→简, NFKC, whitespace collapsing (all off by default) and the long-text mode.

    ``long_text`` None (or ``""`` from a form) means the server's ``--long-text``.
    """

    t2s: bool = False
    nfkc: bool = False
    collapse_whitespace: bool = False
    long_text: str | None = None

    def __post_init__(self) -> None:
        for name in ("t2s", "nfkc", "collapse_whitespace"):
            if not isinstance(getattr(self, name), bool):
                raise GteError(ErrorType.VALIDATION, f"{name} must be true or false, got {getattr(self, name)!r}",
                               f"{name} 必须是 true 或 false")
        if self.long_text == "":
            object.__setattr__(self, "long_text", None)
        if self.long_text is not None and self.long_text not in LONG_TEXT_MODES:
            raise GteError(ErrorType.VALIDATION,
                           f"long_text must be one of {', '.join(LONG_TEXT_MODES)}, got {self.long_text!r}",
                           f"long_text 取值无效：{self.long_text!r}（可选 {', '.join(LONG_TEXT_MODES)}）")

    @property
    def norm(self) -> TextNorm:
        return TextNorm(t2s=self.t2s, nfkc=self.nfkc, collapse_whitespace=self.collapse_whitespace)


DEFAULT_OPTIONS = TextOptions()
