"""Pooling token states into one sentence vector, and reading a folder's pooling config."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Literal

import torch

from gte_ui.core.errors import ConfigError

PoolingMode = Literal["cls", "mean", "max"]


def read_pooling_mode(folder: Path, default: PoolingMode = "cls") -> PoolingMode:
    """The pooling a sentence-transformers folder declares in ``modules.json`` / ``*_Pooling``.

    GTE's own folders carry no such file and use CLS pooling, hence the default.
    """
    modules = folder / "modules.json"
    if not modules.is_file():
        return default
    try:
        entries = json.loads(modules.read_text(encoding="utf-8"))
    except ValueError as exc:
        raise ConfigError(f"{modules} is not valid JSON: {exc}", f"{modules} 不是有效的 JSON") from exc
    for module in entries:
        if not str(module.get("type", "")).endswith("Pooling"):
            continue
        cfg_file = folder / module.get("path", "1_Pooling") / "config.json"
        if not cfg_file.is_file():
            return default
        cfg = json.loads(cfg_file.read_text(encoding="utf-8"))
        if cfg.get("pooling_mode_cls_token"):
            return "cls"
        if cfg.get("pooling_mode_mean_tokens"):
            return "mean"
        if cfg.get("pooling_mode_max_tokens"):
            return "max"
        mode = cfg.get("pooling_mode")
        if mode in ("cls", "mean", "max"):
            return mode
        raise ConfigError(f"unsupported pooling in {cfg_file}: {cfg}; supported: cls, mean, max",
                          f"不支持的池化方式：{cfg_file}")
    return default


def pool(hidden: torch.Tensor, attention_mask: torch.Tensor, mode: PoolingMode) -> torch.Tensor:
    """Pool ``hidden`` [batch, seq, dim] under ``attention_mask`` [batch, seq] to [batch, dim] (fp32)."""
    hidden = hidden.float()
    if mode == "cls":
        return hidden[:, 0]
    mask = attention_mask.unsqueeze(-1).to(hidden.dtype)
    if mode == "mean":
        return (hidden * mask).sum(1) / mask.sum(1).clamp(min=1e-9)
    if mode == "max":
        return hidden.masked_fill(mask == 0, float("-inf")).max(1).values
    raise ValueError(f"unknown pooling mode {mode!r}")
