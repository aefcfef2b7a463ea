"""What kind of model a folder holds, read from its config files before anything is loaded.

* **Decoders** (Qwen2 / Qwen3: gte-Qwen2-instruct, Qwen3-Embedding) read the last token, pad on
  the side their tokenizer says, and have no CLS-only shortcut.
* **Hub-hosted code** (``auto_map`` in config.json, e.g. gte-multilingual-base's ``NewModel``)
  runs Python shipped with the weights: only with ``--trust-remote-code``.
* **Output dimensions**: models trained for truncated outputs (Matryoshka) accept ``dimensions``
  down to a floor; others keep the warning that quality drops.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path

from gte_ui.core.errors import ConfigError

#: transformers model types that are causal decoders (last-token pooling, no CLS token)
DECODER_TYPES = ("qwen2", "qwen3", "qwen2_moe", "qwen3_moe", "mistral", "llama", "gemma", "gemma2", "gemma3_text")

#: Models trained for truncated outputs, by name (id or folder): (pattern, smallest dimension).
#: Qwen3-Embedding: "supports user-defined output dimensions ranging from 32 to" its width.
MATRYOSHKA_NAMES: tuple[tuple[str, int], ...] = (
    (r"qwen3-embedding", 32),
)


@dataclass(frozen=True)
class ModelTraits:
    model_type: str | None
    decoder: bool
    remote_code: str | None  # the hub-hosted classes auto_map names, when there are any
    hidden_size: int | None
    #: smallest output dimension the model was trained for, None: not trained for truncation
    min_dimensions: int | None


def read_config(folder: Path) -> dict:
    cfg = folder / "config.json"
    if not cfg.is_file():
        return {}
    try:
        return json.loads(cfg.read_text(encoding="utf-8"))
    except ValueError as exc:
        raise ConfigError(f"config.json of the model is not valid JSON: {exc}", "模型的 config.json 不是有效的 JSON") from exc


def read_traits(folder: Path, name: str = "", pooling: str | None = None) -> ModelTraits:
    """Traits of the transformers folder ``folder``; ``name`` is what the user called the model
    (id or path) and ``pooling`` the folder's declared pooling."""
    cfg = read_config(folder)
    model_type = cfg.get("model_type")
    archs = cfg.get("architectures") or []
    decoder = (model_type in DECODER_TYPES or pooling == "lasttoken"
               or any(str(a).endswith("ForCausalLM") for a in archs))
    auto_map = cfg.get("auto_map") or {}
    remote = None
    # gte-Qwen2-instruct ships its own modeling_qwen.py although transformers has Qwen2: a type
    # transformers knows runs its own code, so only an unknown type needs the hub's
    if isinstance(auto_map, dict) and auto_map and not native_type(model_type):
        # every class the repo's own code defines (configuration, modeling…), named in the refusal
        remote = ", ".join(sorted({str(v) for v in auto_map.values() if isinstance(v, str)})) or "auto_map"
    hidden = cfg.get("hidden_size")
    return ModelTraits(model_type=model_type, decoder=decoder, remote_code=remote,
                       hidden_size=int(hidden) if hidden else None,
                       min_dimensions=_min_dimensions(cfg, f"{name} {folder}"))


def native_type(model_type: str | None) -> bool:
    """True when transformers itself implements ``model_type`` (no hub code needed)."""
    from transformers import CONFIG_MAPPING  # the model stack: loaded only with a model folder

    return bool(model_type) and model_type in CONFIG_MAPPING


def _min_dimensions(cfg: dict, names: str) -> int | None:
    listed = cfg.get("matryoshka_dimensions")  # jina-embeddings-v3's key, also read for any model
    if isinstance(listed, list) and listed and all(isinstance(d, int) and d > 0 for d in listed):
        return min(listed)
    for pattern, floor in MATRYOSHKA_NAMES:
        if re.search(pattern, names, re.I):
            return floor
    return None


def check_remote_code(traits: ModelTraits, trusted: bool) -> None:
    """Refuse hub-hosted code unless ``--trust-remote-code`` was given, saying why it is off."""
    if traits.remote_code and not trusted:
        raise ConfigError(
            f"this model's architecture is defined by Python code shipped with it (config.json auto_map -> "
            f"{traits.remote_code}), not by transformers. Start with --trust-remote-code "
            "(GTE_TRUST_REMOTE_CODE=1) to run it. It is off by default because that code runs with the "
            "server's permissions: enable it only for a model whose code you have read or trust "
            "(e.g. Alibaba-NLP/gte-multilingual-base).",
            "该模型的结构由随模型下载的 Python 代码定义（config.json 的 auto_map）。如信任该代码，请加 "
            "--trust-remote-code 启动；默认关闭，因为这些代码以服务器权限运行")
