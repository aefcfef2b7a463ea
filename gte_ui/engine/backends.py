"""Inference backends: turn token ids into token states. The encoder never knows which one runs.

A backend takes padded ``input_ids`` and ``attention_mask`` (int64 tensors, [batch, seq]) and
returns the last hidden states [batch, seq, dim] -- or [batch, 1, dim] when built with
``first_token_only`` (CLS pooling reads nothing else; see :class:`FirstTokenLastLayer`).
Pooling, normalising, batching and caching live in :mod:`gte_ui.engine.encoder`, identical for every
backend.
"""

from __future__ import annotations

import abc
import logging
from pathlib import Path

import torch

from gte_ui.core.errors import ConfigError
from gte_ui.core.settings import INT8_MODES
from gte_ui.engine.int8 import quantize_w8a8
from gte_ui.engine.tokenizer import load_tokenizer

log = logging.getLogger(__name__)


def resolve_runtime(device: str, precision: str, cuda_available: bool | None = None,
                    spaces: bool = False) -> tuple[str, str]:
    """Turn ``--device``/``--precision`` (possibly ``auto``) into a combination that can run.

    ``auto`` means CUDA + fp16 when a GPU is present, else CPU + fp32 (CPU + int8 on a Space,
    whose free hardware is a small CPU).

    Raises:
        ConfigError: a combination that cannot run, naming the valid choices.
    """
    if cuda_available is None:
        cuda_available = torch.cuda.is_available()
    if device == "auto":
        device = "cuda" if cuda_available else "cpu"
    if device == "cuda" and not cuda_available:
        raise ConfigError(
            "--device cuda was asked for but no CUDA GPU is available "
            f"(torch {torch.__version__}, built {'with' if torch.version.cuda else 'without'} CUDA). "
            "Valid choices here: --device cpu or --device auto.",
            "请求了 --device cuda，但没有可用的 CUDA GPU；此处可选 --device cpu 或 auto")
    if precision == "auto":
        precision = "fp16" if device == "cuda" else ("int8" if spaces else "fp32")
    if device == "cpu" and precision == "fp16":
        raise ConfigError(
            "--precision fp16 on CPU is not supported (CPUs here have no fast fp16 and it would be "
            "slower than fp32). On CPU choose: fp32, int8 or bf16.",
            "CPU 不支持 fp16（比 fp32 更慢）；CPU 可选 fp32、int8 或 bf16")
    if device == "cuda" and precision == "int8":
        raise ConfigError(
            "--precision int8 is the CPU path; on CUDA choose fp16, bf16 or fp32.",
            "int8 仅用于 CPU；CUDA 可选 fp16、bf16 或 fp32")
    return device, precision


class FirstTokenLastLayer(torch.nn.Module):
    """The last encoder layer of a BERT-family model, computed for the first token only.

    With CLS pooling the sentence vector is the first token's last hidden state, and in the last
    layer that state depends on the other tokens only through attention's keys and values. So
    this layer runs self-attention over every token as before, then the attention output
    projection, its residual + LayerNorm and the whole FFN on the first token alone: the same
    vector, exactly, for 9/12 less of the last layer's GEMM work (~3 % of GTE-large, ~6 % of a
    12-layer model). Its output is [batch, 1, dim].
    """

    def __init__(self, layer: torch.nn.Module) -> None:
        super().__init__()
        self.layer = layer

    def forward(self, hidden_states: torch.Tensor, attention_mask=None, *args, **kwargs) -> torch.Tensor:
        kwargs.pop("encoder_attention_mask", None)
        kwargs.pop("cache", None)
        attention = self.layer.attention
        context = attention.self(hidden_states, attention_mask=attention_mask, **kwargs)[0]
        first = attention.output(context[:, :1], hidden_states[:, :1])
        return self.layer.feed_forward_chunk(first)


def keep_first_token_only(model: torch.nn.Module) -> bool:
    """Swap the last layer of a BERT-family encoder (BERT, RoBERTa, XLM-R: ``encoder.layer``) for
    :class:`FirstTokenLastLayer`. Returns False, changing nothing, for any other architecture,
    so the caller keeps reading full hidden states."""
    layers = getattr(getattr(model, "encoder", None), "layer", None)
    if not isinstance(layers, torch.nn.ModuleList) or not len(layers):
        return False
    last = layers[-1]
    if isinstance(last, FirstTokenLastLayer):
        return True
    attention = getattr(last, "attention", None)
    if (getattr(last, "is_decoder", False) or not hasattr(last, "feed_forward_chunk")
            or not hasattr(attention, "self") or not hasattr(attention, "output")):
        return False
    layers[-1] = FirstTokenLastLayer(last)
    return True


class Backend(abc.ABC):
    """Token ids in, last hidden states out."""

    name: str = "backend"
    device: str = "cpu"
    precision: str = "fp32"
    #: forward returns only the first token's state ([batch, 1, dim]); enough for CLS pooling
    first_token_only: bool = False

    @abc.abstractmethod
    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        """[batch, seq] int64 ids and mask -> [batch, seq, dim] hidden states (any float dtype);
        [batch, 1, dim] when ``first_token_only``."""

    @property
    @abc.abstractmethod
    def dim(self) -> int:
        """Width of the hidden states."""


class TorchBackend(Backend):
    """transformers ``AutoModel`` in eager PyTorch: fp32/fp16/bf16 on CPU or CUDA, int8 on CPU."""

    name = "torch"

    def __init__(self, folder: Path, device: str = "cpu", precision: str = "fp32",
                 int8_mode: str = "accurate", first_token_only: bool = False, tokenizer=None) -> None:
        from transformers import AutoModel

        dtype = {"fp32": torch.float32, "fp16": torch.float16, "bf16": torch.bfloat16,
                 "int8": torch.float32}[precision]
        self.device = device
        self.precision = precision
        model = AutoModel.from_pretrained(str(folder), dtype=dtype)
        model.eval()
        if precision == "int8":
            self.name = f"torch-int8-{int8_mode}"
            if int8_mode == "dynamic":
                model = quantize_dynamic_int8(model)
            else:
                keep = INT8_MODES[int8_mode].torch_fp32_layers
                model = quantize_w8a8(model, tokenizer=tokenizer or load_tokenizer(folder),
                                      alpha=0.5, keep_fp32=keep)
        if first_token_only:
            self.first_token_only = keep_first_token_only(model)
        self.model = model.to(device)
        self._dim = int(model.config.hidden_size)

    @property
    def dim(self) -> int:
        return self._dim

    @torch.inference_mode()
    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        out = self.model(input_ids=input_ids.to(self.device),
                         attention_mask=attention_mask.to(self.device))
        return out.last_hidden_state


def quantize_dynamic_int8(model: torch.nn.Module) -> torch.nn.Module:
    """Dynamic int8 quantisation of every ``nn.Linear``, per-channel weights (first version)."""
    import warnings

    from torch.ao.quantization import per_channel_dynamic_qconfig, quantize_dynamic

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        return quantize_dynamic(model, {torch.nn.Linear: per_channel_dynamic_qconfig}, dtype=torch.qint8)
