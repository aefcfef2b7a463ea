"""What every protocol's request shares: the text options, the model field, one rule for keys
a route does not know, and the answer a route sends (a body and the headers that carry what a
bare-list body has no room for)."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from gte_ui.service.options import OPTION_NAMES, TextOptions, read_options

#: the project's own request shapes: a key the shape does not define is a 422 naming it (a
#: misspelt option would otherwise change the answer without a word)
STRICT = ConfigDict(extra="forbid")


class TextHandlingFields(BaseModel):
    """Optional per-request text handling (all off by default), shared by every request shape.

    The switches are strict JSON booleans (``"yes"`` or ``1`` is a 422 naming the field), as the
    serverless body and the service's :class:`TextOptions` take them.
    """

    model_config = STRICT

    t2s: bool = Field(False, strict=True, description="Traditional → Simplified Chinese (OpenCC) first")
    nfkc: bool = Field(False, strict=True, description="full-width → half-width (Unicode NFKC)")
    collapse_whitespace: bool = Field(False, strict=True, description="runs of whitespace → one space")
    long_text: Literal["truncate", "chunk"] | None = Field(
        None, description="texts over the model's token limit: truncate, or chunk (sliding windows, "
        "averaged); default: the server's --long-text")
    prompt_name: str | None = Field(
        None, description="instruction models (Qwen3-Embedding, gte-Qwen2-instruct): one of the model's "
        "prompts (GET /health → prompts), put before the query side; 422 for a model without prompts")
    instruction: str | None = Field(
        None, description="instruction models: a task description, sent as 'Instruct: {task}\\nQuery:{text}' "
        "on the query side (documents stay bare); 422 for a model without prompts")

    def text_options(self) -> TextOptions:
        return read_options({name: getattr(self, name) for name in OPTION_NAMES})


class TextOptionsFields(TextHandlingFields):
    """The text options and the model that answers: every embedding operation's request."""

    model: str | None = Field(None, description="which loaded model answers (GET /v1/models lists them); "
                              "default: the first loaded")


@dataclass(frozen=True)
class Answer:
    """A route's answer: the JSON body, and headers for what a foreign bare-list body cannot hold
    (the prompt used, the rerank method, warnings)."""

    body: Any
    headers: dict[str, str] = field(default_factory=dict)


def prompt_header(prompt: str | None) -> dict[str, str]:
    """``X-Prompt``: the prompt used (if any), JSON-quoted (a header cannot hold its newline)."""
    return {"X-Prompt": json.dumps(prompt)} if prompt else {}


def warnings_header(warnings: list[str]) -> dict[str, str]:
    """``X-Warnings``: warnings (中文 / English) as ASCII-escaped JSON, for bare-list answers."""
    return {"X-Warnings": json.dumps(warnings)} if warnings else {}
