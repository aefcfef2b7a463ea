"""Per-request text handling, built the same way by every front end.

:func:`read_options` is the one place a :class:`TextOptions` is made from a request: every front end
(REST, TEI, gRPC, Gradio, serverless, CLI) hands it the mapping of option names it read, so an
option means the same everywhere and an unknown one is a 422, never dropped."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, fields, replace

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


OPTION_NAMES: tuple[str, ...] = tuple(f.name for f in fields(TextOptions))


def read_options(values: Mapping[str, object] | None = None) -> TextOptions:
    """The request's text options from a mapping of option names (absent names keep their
    defaults; ``None`` and ``""`` mean the default too). A name that is not an option is a 422
    naming it: a misspelt option is never silently ignored."""
    given = {k: v for k, v in (values or {}).items() if v is not None}
    unknown = sorted(k for k in given if k not in OPTION_NAMES)
    if unknown:
        raise GteError(ErrorType.VALIDATION,
                       f"unknown text option(s): {', '.join(unknown)} (known: {', '.join(OPTION_NAMES)})",
                       f"未知的文本选项：{', '.join(unknown)}（可用：{', '.join(OPTION_NAMES)}）")
    return TextOptions(**given)


DEFAULT_OPTIONS = read_options()
