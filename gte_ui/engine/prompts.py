"""Instruction prompts of instruction-tuned embedders (Qwen3-Embedding, gte-Qwen2-instruct).

Such models embed a *query* as ``Instruct: {task}\\nQuery:{text}`` and a *document* bare; the
prompts come from the folder's ``config_sentence_transformers.json`` (``"prompts"``,
``"default_prompt_name"``), as sentence-transformers reads them. A request picks one by
``prompt_name`` or gives its own task with ``instruction`` (put into the model's own template).
A model without prompts refuses both with a 422: silently ignoring them would give vectors that
look right and are not what the caller asked for.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path

from gte_ui.core.errors import ConfigError, ErrorType, GteError

#: Qwen3-Embedding's / gte-Qwen2's template; the text follows "Query:" (with whatever spacing the
#: model's own prompt has)
_INSTRUCT = re.compile(r"^Instruct: (?P<task>.*)\nQuery:(?P<gap>\s?)$", re.S)
INSTRUCTION_TEMPLATE = "Instruct: {task}\nQuery:{gap}"
MAX_INSTRUCTION_CHARS = 1000


@dataclass(frozen=True)
class Prompts:
    """The prompts a model folder declares.

    Attributes:
        prompts: name -> text put before the input (e.g. ``{"query": "Instruct: …\\nQuery:", "document": ""}``).
        default_name: the prompt sentence-transformers applies when none is named (usually None).
        query_name: the prompt for the query side of pairwise / ranking (``"query"`` when present).
        default_task: the task text inside the query prompt, shown as the UI's default instruction.
        gap: what follows "Query:" in the model's template ("" for Qwen3-Embedding, " " for others).
    """

    prompts: dict[str, str] = field(default_factory=dict)
    default_name: str | None = None
    query_name: str | None = None
    default_task: str | None = None
    gap: str = ""

    @property
    def available(self) -> bool:
        return bool(self.prompts)

    def as_dict(self) -> dict[str, object]:
        return {"prompts": dict(self.prompts), "default_prompt_name": self.default_name,
                "query_prompt_name": self.query_name, "default_instruction": self.default_task}

    def instruction_prompt(self, task: str) -> str:
        """The query prompt for a caller's own task description."""
        return INSTRUCTION_TEMPLATE.format(task=task, gap=self.gap)

    def resolve(self, prompt_name: str | None = None, instruction: str | None = None,
                side: str = "query") -> str | None:
        """The prompt text to put before each input, or None for bare input.

        ``side="query"`` with neither argument gives the model's default prompt (sentence-
        transformers' ``default_prompt_name``, usually none); ``side="document"`` is always bare
        unless ``prompt_name`` is given.

        Raises:
            GteError: (422) both given, an unknown name, an empty or over-long instruction, or
                either one for a model that has no prompts.
        """
        if prompt_name is not None and instruction is not None:
            raise GteError(ErrorType.VALIDATION, "give either prompt_name or instruction, not both",
                           "prompt_name 与 instruction 只能给一个")
        if (prompt_name is not None or instruction is not None) and not self.available:
            raise GteError(ErrorType.VALIDATION,
                           "this model has no instruction prompts (its folder declares none in "
                           "config_sentence_transformers.json), so prompt_name / instruction cannot apply; "
                           "send the text alone", "该模型没有指令提示词，不能使用 prompt_name / instruction")
        if prompt_name is not None:
            if not isinstance(prompt_name, str) or prompt_name not in self.prompts:
                raise GteError(ErrorType.VALIDATION,
                               f"unknown prompt_name {prompt_name!r}; this model has: {', '.join(sorted(self.prompts))}",
                               f"未知的 prompt_name {prompt_name!r}，可选：{', '.join(sorted(self.prompts))}")
            return self.prompts[prompt_name] or None
        if instruction is not None:
            if not isinstance(instruction, str) or not instruction.strip():
                raise GteError(ErrorType.VALIDATION, "instruction is empty", "instruction 为空")
            if len(instruction) > MAX_INSTRUCTION_CHARS:
                raise GteError(ErrorType.TOO_LONG,
                               f"instruction has {len(instruction):,} characters; the limit is {MAX_INSTRUCTION_CHARS:,}",
                               f"instruction 超过 {MAX_INSTRUCTION_CHARS:,} 个字符")
            if self.default_task is None:
                raise GteError(ErrorType.VALIDATION,
                               "this model's query prompt is not an 'Instruct: …\\nQuery:' template, so a "
                               f"free instruction cannot be placed in it; use prompt_name ({', '.join(sorted(self.prompts))})",
                               "该模型的提示词不是指令模板，请使用 prompt_name")
            return self.instruction_prompt(instruction.strip())
        if side == "query" and self.default_name:
            return self.prompts.get(self.default_name) or None
        return None


def read_prompts(folder: Path) -> Prompts:
    """The prompts in ``folder/config_sentence_transformers.json`` (none when it is absent)."""
    cfg_file = folder / "config_sentence_transformers.json"
    if not cfg_file.is_file():
        return Prompts()
    try:
        cfg = json.loads(cfg_file.read_text(encoding="utf-8"))
    except ValueError as exc:
        raise ConfigError(f"{cfg_file.name} is not valid JSON: {exc}", f"{cfg_file.name} 不是有效的 JSON") from exc
    prompts = cfg.get("prompts") or {}
    if not isinstance(prompts, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in prompts.items()):
        raise ConfigError(f'"prompts" in {cfg_file.name} must map names to strings', f"{cfg_file.name} 的 prompts 格式错误")
    default = cfg.get("default_prompt_name")
    if default is not None and default not in prompts:
        raise ConfigError(f'default_prompt_name {default!r} in {cfg_file.name} is not one of its prompts',
                          f"{cfg_file.name} 的 default_prompt_name 无效")
    query = "query" if "query" in prompts else None
    task, gap = None, ""
    match = _INSTRUCT.match(prompts.get("query", ""))
    if match:
        task, gap = match.group("task"), match.group("gap")
    return Prompts(prompts=dict(prompts), default_name=default, query_name=query, default_task=task, gap=gap)
