"""Per-request text handling, built the same way by every front end."""

from __future__ import annotations

from dataclasses import dataclass, replace

from gte_ui.core.errors import ErrorType, GteError
from gte_ui.core.settings import LONG_TEXT_MODES
from gte_ui.core.textnorm import TextNorm


@dataclass(frozen=True)
class TextOptions:
    """繁→简, NFKC, whitespace collapsing (all off by default), the long-text mode, and the
    instruction prompt of instruction models (Qwen3-Embedding, gte-Qwen2-instruct).

    ``long_text`` None (or ``""`` from a form) means the server's ``--long-text``. ``prompt_name``
    (one of the model's prompts) or ``instruction`` (a task put into the model's own template)
    goes before the query side: every text of ``embed``, sentence A of ``pair``, the source of
    ``rank``; ``""`` from a form means none. The service checks them against the model.
    """

    t2s: bool = False
    nfkc: bool = False
    collapse_whitespace: bool = False
    long_text: str | None = None
    prompt_name: str | None = None
    instruction: str | None = None

    def __post_init__(self) -> None:
        for name in ("t2s", "nfkc", "collapse_whitespace"):
            if not isinstance(getattr(self, name), bool):
                raise GteError(ErrorType.VALIDATION, f"{name} must be true or false, got {getattr(self, name)!r}",
                               f"{name} 必须是 true 或 false")
        for name in ("long_text", "prompt_name", "instruction"):
            if getattr(self, name) == "":
                object.__setattr__(self, name, None)
        for name in ("prompt_name", "instruction"):
            if getattr(self, name) is not None and not isinstance(getattr(self, name), str):
                raise GteError(ErrorType.VALIDATION, f"{name} must be a string, got {getattr(self, name)!r}",
                               f"{name} 必须是字符串")
        if self.long_text is not None and self.long_text not in LONG_TEXT_MODES:
            raise GteError(ErrorType.VALIDATION,
                           f"long_text must be one of {', '.join(LONG_TEXT_MODES)}, got {self.long_text!r}",
                           f"long_text 取值无效：{self.long_text!r}（可选 {', '.join(LONG_TEXT_MODES)}）")

    @property
    def prompted(self) -> bool:
        return self.prompt_name is not None or self.instruction is not None

    def without_prompt(self) -> TextOptions:
        """The same options for documents (candidates, cache warming): no prompt."""
        return replace(self, prompt_name=None, instruction=None)

    @property
    def norm(self) -> TextNorm:
        return TextNorm(t2s=self.t2s, nfkc=self.nfkc, collapse_whitespace=self.collapse_whitespace)


DEFAULT_OPTIONS = TextOptions()
