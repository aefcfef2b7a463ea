"""The eager PyTorch backend: transformers ``AutoModel`` for fp32/fp16/bf16 on CPU or CUDA and int8 on CPU.

Registered as the ``torch`` engine (:mod:`gte_ui.engine.backends.registry`): every precision's
plain choice, and where an exported int8 engine falls back to.
"""

from __future__ import annotations

import logging
import warnings
from pathlib import Path

import torch

from gte_ui.engine.backends.int8 import INT8_MODES, quantize_w8a8
from gte_ui.engine.backends.registry import Backend, BackendRequest, BackendSpec, register
from gte_ui.engine.tokenizer import load_tokenizer

log = logging.getLogger(__name__)


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


def _build(request: BackendRequest) -> TorchBackend:
    return TorchBackend(request.folder, device=request.device, precision=request.precision,
                        int8_mode=request.int8_mode, first_token_only=request.first_token_only,
                        tokenizer=request.tokenizer, trust_remote_code=request.trust_remote_code,
                        decoder=request.decoder)


register(BackendSpec("torch", "PyTorch", _build, devices=("cpu", "cuda"),
                     precisions=("fp32", "fp16", "bf16", "int8")))
