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
import warnings
from pathlib import Path

import torch

from gte_ui.core.errors import ConfigError
from gte_ui.core.settings import INT8_MODES
from gte_ui.engine.int8 import quantize_w8a8
from gte_ui.engine.tokenizer import load_tokenizer

log = logging.getLogger(__name__)


#: CPU instructions that make the int8 path fast *and* accurate: 8-bit dot products that
#: accumulate in 32 bits (AVX-512 VNNI, AVX-VNNI) or AMX tiles. Without them ONNX Runtime's
#: u8 x s8 kernels add pairs of products in 16 bits, so weights are kept to 7 bits, and the
#: accurate int8 mode then measures mean |dcos| 0.0035, above the 0.003 bound (docs/performance.md).
FAST_INT8_FLAGS = ("amx_int8", "avx512_vnni", "avx_vnni")


def cpu_int8_instructions(cpuinfo: str | None = None) -> list[str]:
    """Which of :data:`FAST_INT8_FLAGS` this CPU has (read from ``/proc/cpuinfo``; [] elsewhere)."""
    if cpuinfo is None:
        try:
            cpuinfo = Path("/proc/cpuinfo").read_text(errors="ignore")
        except OSError:
            return []
    flags = set(next((line.split(":", 1)[1].split() for line in cpuinfo.splitlines()
                      if line.startswith("flags")), []))
    return [f for f in FAST_INT8_FLAGS if f in flags]


def resolve_runtime(device: str, precision: str, cuda_available: bool | None = None,
                    spaces: bool = False, int8_instructions: list[str] | None = None,
                    explain: bool = True) -> tuple[str, str]:
    """Turn ``--device``/``--precision`` (possibly ``auto``) into a combination that can run.

    ``auto`` means CUDA + fp16 when a GPU is present; on CPU, int8 (accurate) where the CPU has
    the instructions that make it fast and within the accuracy bound (:data:`FAST_INT8_FLAGS`;
    measured in docs/performance.md), and on a Space (its free
    hardware is a small CPU); fp32 otherwise. ``int8_instructions``: the CPU's, detected when None.
    ``explain``: log what ``auto`` chose and why (False for a look ahead, e.g. a memory estimate,
    so that the load logs it once).

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
        if device == "cuda":
            precision = "fp16"
        else:
            found = cpu_int8_instructions() if int8_instructions is None else int8_instructions
            precision = "int8" if spaces or found else "fp32"
            if explain:
                log.info("--precision auto on CPU: %s (%s)", precision,
                         f"the CPU has {', '.join(found)}" if found else
                         ("a Space" if spaces else "no VNNI/AMX int8 instructions: int8 would lose accuracy"))
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
    #: how this engine came to serve when it is not the plain choice: why int8 fell back to
    #: eager PyTorch (a decoder has no ONNX export), or that its ONNX export was (re-)made at
    #: this start; shown by /health
    note: str = ""

    @abc.abstractmethod
    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor,
                token_type_ids: torch.Tensor | None = None) -> torch.Tensor:
        """[batch, seq] int64 ids and mask (and segment ids: a cross-encoder's query 0, document 1)
        -> [batch, seq, dim] hidden states (any float dtype); [batch, 1, dim] when ``first_token_only``."""

    @property
    @abc.abstractmethod
    def dim(self) -> int:
        """Width of the hidden states."""


class TorchBackend(Backend):
    """transformers ``AutoModel`` in eager PyTorch: fp32/fp16/bf16 on CPU or CUDA, int8 on CPU."""

    name = "torch"

    def __init__(self, folder: Path, device: str = "cpu", precision: str = "fp32",
                 int8_mode: str = "accurate", first_token_only: bool = False, tokenizer=None,
                 trust_remote_code: bool = False, decoder: bool = False) -> None:
        # heavy: transformers takes seconds to import, so it loads with the first model, not the module
        from transformers import AutoModel

        dtype = {"fp32": torch.float32, "fp16": torch.float16, "bf16": torch.bfloat16,
                 "int8": torch.float32}[precision]
        self.device = device
        self.precision = precision
        model = AutoModel.from_pretrained(str(folder), dtype=dtype, trust_remote_code=trust_remote_code)
        model.eval()
        if device == "cpu":
            own_weights(model)
        if precision == "int8":
            self.name = f"torch-int8-{int8_mode}"
            if int8_mode == "dynamic":
                model = quantize_dynamic_int8(model)
            else:
                mode = INT8_MODES[int8_mode]
                keep = mode.torch_fp32_layers + (mode.decoder_fp32_layers if decoder else ())
                model = quantize_w8a8(model, tokenizer=tokenizer or load_tokenizer(folder, trust_remote_code),
                                      alpha=0.5, keep_fp32=keep)
        if first_token_only:
            self.first_token_only = keep_first_token_only(model)
        self.model = model.to(device)
        self._dim = int(model.config.hidden_size)

    @property
    def dim(self) -> int:
        return self._dim

    @torch.inference_mode()
    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor,
                token_type_ids: torch.Tensor | None = None) -> torch.Tensor:
        extra = {} if token_type_ids is None else {"token_type_ids": token_type_ids.to(self.device)}
        out = self.model(input_ids=input_ids.to(self.device), attention_mask=attention_mask.to(self.device),
                         **extra)
        return out.last_hidden_state


def own_weights(model: torch.nn.Module) -> torch.nn.Module:
    """Copy every parameter and buffer out of the checkpoint file's memory map.

    transformers maps ``model.safetensors`` and, on CPU at the file's dtype, leaves the weights
    in that map: a file truncated or rewritten in place while the server runs (``cp`` over it, a
    re-download into the same folder) then kills the process with SIGBUS on the next request.
    One copy per tensor at load (a memcpy of the model's size) makes the running model
    independent of its folder.
    """
    with torch.no_grad():
        for tensor in (*model.parameters(), *model.buffers()):
            tensor.data = tensor.data.clone()
    return model


def quantize_dynamic_int8(model: torch.nn.Module) -> torch.nn.Module:
    """Dynamic int8 quantisation of every ``nn.Linear``, per-channel weights (first version)."""
    # torch's quantization package is only for this (non-default) int8 path
    from torch.ao.quantization import per_channel_dynamic_qconfig, quantize_dynamic

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        return quantize_dynamic(model, {torch.nn.Linear: per_channel_dynamic_qconfig}, dtype=torch.qint8)
