"""Pooling token states into one sentence vector, and reading a folder's pooling config."""

from __future__ import annotations

from collections.abc import Sequence

import json
from pathlib import Path
from typing import Literal

import torch

from gte_ui.core.errors import ConfigError

PoolingMode = Literal["cls", "mean", "max", "lasttoken"]
POOLING_MODES = ("cls", "mean", "max", "lasttoken")


def read_pooling_mode(folder: Path, default: PoolingMode = "cls") -> PoolingMode:
    """The pooling a sentence-transformers folder declares in ``modules.json`` / ``*_Pooling``.

    GTE's own folders carry no such file and use CLS pooling, hence the default. Decoder
    embedders (Qwen3-Embedding, gte-Qwen2-instruct) declare ``pooling_mode_lasttoken``.
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
        if cfg.get("pooling_mode_lasttoken"):
            return "lasttoken"
        mode = cfg.get("pooling_mode")
        if mode in POOLING_MODES:
            return mode
        raise ConfigError(f"unsupported pooling in {cfg_file}: {cfg}; supported: {', '.join(POOLING_MODES)}",
                          f"不支持的池化方式：{cfg_file}")
    return default


def pool(hidden: torch.Tensor, attention_mask: torch.Tensor, mode: PoolingMode) -> torch.Tensor:
    """Pool ``hidden`` [batch, seq, dim] under ``attention_mask`` [batch, seq] to [batch, dim] (fp32).

    ``lasttoken`` reads each row's last real token (the appended end-of-text token of a decoder
    embedder), wherever the padding is: on the right, on the left, or none.
    """
    hidden = hidden.float()
    if mode == "cls":
        return hidden[:, 0]
    if mode == "lasttoken":
        return hidden[torch.arange(hidden.shape[0], device=hidden.device), last_token_index(attention_mask)]
    mask = attention_mask.unsqueeze(-1).to(hidden.dtype)
    if mode == "mean":
        return (hidden * mask).sum(1) / mask.sum(1).clamp(min=1e-9)
    if mode == "max":
        return hidden.masked_fill(mask == 0, float("-inf")).max(1).values
    raise ValueError(f"unknown pooling mode {mode!r}")


def last_token_index(attention_mask: torch.Tensor) -> torch.Tensor:
    """Position of each row's last 1 in ``attention_mask`` [batch, seq] (left or right padded)."""
    seq = attention_mask.shape[1]
    positions = torch.arange(seq, device=attention_mask.device).expand_as(attention_mask)
    return torch.where(attention_mask.bool(), positions, torch.zeros_like(positions)).amax(dim=1)


def pad_batch(batch: Sequence[Sequence[int]], pad_id: int, pad_left: bool = False) -> tuple[torch.Tensor, torch.Tensor]:
    """Token-id lists as padded ``input_ids`` and ``attention_mask`` [batch, longest] (int64), padded
    on the right (encoders) or on the left (decoders whose tokenizer pads there)."""
    width = max(len(x) for x in batch)
    input_ids = torch.full((len(batch), width), pad_id, dtype=torch.long)
    mask = torch.zeros((len(batch), width), dtype=torch.long)
    for row, seq in enumerate(batch):
        cols = slice(width - len(seq), width) if pad_left else slice(0, len(seq))
        input_ids[row, cols] = torch.as_tensor(seq, dtype=torch.long)
        mask[row, cols] = 1
    return input_ids, mask
