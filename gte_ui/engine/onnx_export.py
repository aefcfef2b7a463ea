"""INT8 on CPU through ONNX Runtime: the W8A8 model of :mod:`gte_ui.engine.int8`, exported once and cached.

Why ONNX Runtime: eager PyTorch spends most of an int8 forward pass on the per-token
quantise/dequantise element-wise work; ``torch.compile`` fuses it but compiles for about a
minute per input shape. ONNX Runtime runs the same arithmetic with fused kernels, no compile:

* a per-token W8A8 ``Linear`` becomes ``ReduceMax/ReduceMin`` per token → ``QuantizeLinear``
  (per axis, one fused pass; symmetric int8 stored as uint8 + 128, because ORT's u8×s8 GEMM is
  ~10x faster than s8×s8 on x86) → ``MatMulIntegerToFloat`` (token scales and per-channel
  weight scales both in its epilogue) → ``+ bias`` (last, so ORT fuses it into BiasGelu);
* Q, K and V are one GEMM on one quantised input; the attention output projection's smoothing
  is folded into V (see :func:`gte_ui.engine.int8.quantize_w8a8`);
* in ``accurate`` mode every activation row is uint8 with its own zero point (the correction
  is a few extra weight rows inside the same GEMM, see :func:`gte_ui.engine.int8.zero_point_rows`), and
  the few outlier channels of each FFN are split off and applied in fp32 (a tiny GEMM): the
  precision the symmetric per-token scheme loses, at ~1 % of its time (``MatMulNBits``, tried
  before, ran at half the GEMM speed);
* ONNX Runtime's session-level graph optimisation handles the fp32 parts (LayerNorm, GELU);
* for CLS pooling the last layer computes the first token only (``first_token_only``).

The export (fp32 load → calibration → smoothing → quantisation → ``torch.onnx.export``) runs
once per model + int8 mode into a cache folder; later starts only open the cached file (about
2 s for GTE-large), and the fp32 checkpoint is never loaded again, so it does not stay resident.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from gte_ui.core.settings import INT8_MODES
from gte_ui.engine.backends import Backend, keep_first_token_only
from gte_ui.engine.int8 import _EXPORT_MEMO, quantize_w8a8, trim_heap
from gte_ui.engine.tokenizer import load_tokenizer

log = logging.getLogger(__name__)

#: bump when the exported graph changes, so stale cache entries are not reused
EXPORT_VERSION = 5
OPSET = 17
#: output name of an export that computes the first token's state only ([batch, 1, dim])
FIRST_TOKEN_OUTPUT = "first_token_state"


def cpu_has_vnni() -> bool:
    """AVX-512 VNNI / AVX-VNNI present? Without them the u8×s8 kernels add pairs of products in
    16 bits and can saturate, so weights are then kept to 7 bits (ONNX Runtime's ``reduce_range``)."""
    try:
        flags = Path("/proc/cpuinfo").read_text(errors="ignore")
    except OSError:
        return False
    return "avx512_vnni" in flags or "avx_vnni" in flags or "amx_int8" in flags


def export_key(folder: Path, mode: str, reduce_range: bool, first_token_only: bool = False) -> str:
    """Cache key: model identity (config + weight file sizes and mtimes) + mode + what the graph
    outputs + export version."""
    h = hashlib.sha256()
    h.update(f"v{EXPORT_VERSION}|{mode}|rr={int(reduce_range)}|first={int(first_token_only)}|"
             f"torch={torch.__version__}".encode())
    h.update(str(folder.resolve()).encode())
    for name in sorted(os.listdir(folder)):
        p = folder / name
        if p.is_file() and (name.endswith((".json", ".safetensors", ".bin"))):
            st = p.stat()
            h.update(f"{name}:{st.st_size}:{int(st.st_mtime)}".encode())
    return h.hexdigest()[:16]


class _HiddenStates(torch.nn.Module):
    """The exported function: ids and mask in, last hidden states out."""

    def __init__(self, model: torch.nn.Module, padding: "_KeyPadding | None" = None) -> None:
        super().__init__()
        self.model = model
        object.__setattr__(self, "padding", padding)

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        if self.padding is not None:
            self.padding.mask = attention_mask  # read by every FusedSelfAttention
        return self.model(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state


class _KeyPadding:
    """The [batch, seq] padding mask of the running forward pass, shared by the attention layers."""

    mask: torch.Tensor | None = None


class FusedSelfAttention(torch.nn.Module):
    """BERT self-attention as one ``com.microsoft::MultiHeadAttention`` node in the export.

    Eager BERT attention exports as ~20 nodes a layer (reshapes, four transposes, scaling,
    mask, softmax, two batched matmuls, shape arithmetic); ONNX Runtime's CPU kernel does the
    same in one, with the Q/K/V bias added inside it. Fewer nodes matter most at batch 1.
    Padded keys are masked from the [batch, seq] mask, as BERT's additive mask does.
    """

    def __init__(self, attention: torch.nn.Module, padding: _KeyPadding) -> None:
        super().__init__()
        self.query, self.key, self.value = attention.query, attention.key, attention.value
        self.heads = int(attention.num_attention_heads)
        self.scaling = float(attention.scaling)
        dim = self.heads * int(attention.attention_head_size)
        fused_bias = getattr(self.query, "bias", None)
        if getattr(self.query, "splits", None) == [dim, dim, dim] and fused_bias is not None:
            self.register_buffer("qkv_bias", fused_bias)
            self.query.bias = None  # added inside the attention kernel instead
        else:
            self.register_buffer("qkv_bias", torch.zeros(3 * dim))
        object.__setattr__(self, "padding", padding)

    def forward(self, hidden_states: torch.Tensor, attention_mask=None, **kwargs):
        q, k, v = self.query(hidden_states), self.key(hidden_states), self.value(hidden_states)
        return _MultiHeadAttentionOnnx.apply(q, k, v, self.qkv_bias, self.padding.mask, self.heads,
                                             self.scaling), None


class _MultiHeadAttentionOnnx(torch.autograd.Function):
    """softmax(Q K^T * scaling, padded keys masked) V over ``heads`` heads; [batch, seq, dim] in and out."""

    @staticmethod
    def forward(ctx, q, k, v, bias, mask, heads, scaling):  # noqa: D401 - torch API
        b, s, dim = q.shape
        q, k, v = (t + bb for t, bb in zip((q, k, v), bias.split(dim)))
        q, k, v = (t.reshape(b, s, heads, -1).transpose(1, 2) for t in (q, k, v))
        scores = (q @ k.transpose(-1, -2)) * scaling
        scores = scores.masked_fill(mask[:, None, None, :] == 0, torch.finfo(scores.dtype).min)
        return (scores.softmax(-1) @ v).transpose(1, 2).reshape(b, s, dim)

    @staticmethod
    def symbolic(g, q, k, v, bias, mask, heads, scaling):
        from torch.onnx import symbolic_helper

        if mask.unique() not in _MASK_MEMO:  # one Cast for all layers
            _MASK_MEMO[mask.unique()] = g.op("Cast", mask, to_i=6)  # 6 = int32
        out = g.op("com.microsoft::MultiHeadAttention", q, k, v, bias, _MASK_MEMO[mask.unique()],
                   num_heads_i=int(symbolic_helper._maybe_get_const(heads, "i")),
                   scale_f=float(symbolic_helper._maybe_get_const(scaling, "f")))
        out.setType(q.type())  # [batch, seq, dim] like the query (else the exporter warns)
        return out


_MASK_MEMO: dict = {}


def fuse_attention(model: torch.nn.Module) -> _KeyPadding | None:
    """Swap every BERT self-attention for :class:`FusedSelfAttention` (export only). Returns the
    shared padding holder, or None when the model has no such layers (left as it is)."""
    padding = _KeyPadding()
    swapped = 0
    for name, module in list(model.named_modules()):
        if type(module).__name__ == "BertSelfAttention" and not getattr(module, "is_decoder", False):
            parent, _, child = name.rpartition(".")
            setattr(model.get_submodule(parent), child, FusedSelfAttention(module, padding))
            swapped += 1
    return padding if swapped else None


def export_int8(folder: Path, target: Path, mode: str, reduce_range: bool = False,
                first_token_only: bool = False, tokenizer=None) -> Path:
    """Load the fp32 model, calibrate + smooth + quantise it (W8A8), export it to ``target``.

    ``first_token_only``: the graph outputs [batch, 1, dim], the first token's state, and its last
    layer computes no more than that needs (:func:`gte_ui.engine.backends.keep_first_token_only`; where
    the architecture does not allow it the output stays [batch, seq, dim]).

    Written to a temporary file first and renamed, so a crash never leaves a half-written cache.
    """
    import warnings

    from transformers import AutoModel


    t0 = time.perf_counter()
    model = AutoModel.from_pretrained(str(folder), dtype=torch.float32, attn_implementation="eager").eval()
    tokenizer = tokenizer or load_tokenizer(folder)
    quantize_w8a8(model, tokenizer=tokenizer, alpha=0.5, weight_max=63 if reduce_range else 127,
                  **INT8_MODES[mode].onnx_scheme)
    padding = fuse_attention(model)
    first_only = first_token_only and keep_first_token_only(model)
    output = FIRST_TOKEN_OUTPUT if first_only else "last_hidden_state"  # the name tells the backend
    wrapped = _HiddenStates(model, padding).eval()
    example = tokenizer(["今天天气很好 the weather is fine", "好"], padding=True, return_tensors="pt")
    ids, mask = example["input_ids"], example["attention_mask"]  # batch and length stay dynamic
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp_dir = Path(tempfile.mkdtemp(prefix=".export-", dir=target.parent))
    try:
        tmp = tmp_dir / target.name
        _EXPORT_MEMO.clear()
        _MASK_MEMO.clear()
        with torch.inference_mode(), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            torch.onnx.export(
                wrapped, (ids, mask), str(tmp), dynamo=False, opset_version=OPSET,
                input_names=["input_ids", "attention_mask"], output_names=[output],
                dynamic_axes={"input_ids": {0: "batch", 1: "seq"}, "attention_mask": {0: "batch", 1: "seq"},
                              output: {0: "batch"} if first_only else {0: "batch", 1: "seq"}},
                custom_opsets={"com.microsoft": 1}, do_constant_folding=True)
        os.replace(tmp, target)
    finally:
        shutil.rmtree(tmp_dir, ignore_errors=True)
    log.info("exported %s (int8 %s) to %s in %.1f s", folder, mode, target, time.perf_counter() - t0)
    return target


#: int8 modes of the ONNX Runtime path -> arguments of :func:`gte_ui.engine.int8.quantize_w8a8`.
#: Measured on STS-B with MiniLM (mean |dcos| vs fp32): fast 0.0044; accurate 0.0023 (the
#: FFN output projections' few outlier input channels in fp32 and every activation asymmetric
#: uint8 per token), at ~1 % more time than fast. See README, Performance.
def cached_export_path(folder: Path, mode: str, cache_dir: Path,
                       first_token_only: bool = False) -> Path:
    """Where the int8 export of ``folder`` + ``mode`` lives in ``cache_dir`` (``Settings.export_cache``),
    whether or not it exists yet."""
    key = export_key(folder, mode, not cpu_has_vnni(), first_token_only)
    return Path(cache_dir).expanduser() / f"{folder.name}-int8-{mode}-{key}" / "model.onnx"


def cached_int8_export(folder: Path, mode: str, cache_dir: Path,
                       first_token_only: bool = False, tokenizer=None) -> Path:
    """The exported int8 model for ``folder`` + ``mode``, exporting it on first use."""
    reduce_range = not cpu_has_vnni()
    target = cached_export_path(folder, mode, cache_dir, first_token_only)
    if not target.is_file():
        log.info("no cached int8 export for %s (%s): exporting once into %s", folder, mode, target.parent)
        export_int8(folder, target, mode, reduce_range, first_token_only, tokenizer=tokenizer)
        (target.parent / "source.json").write_text(json.dumps(
            {"model": str(folder), "mode": mode, "reduce_range": reduce_range,
             "first_token_only": first_token_only, "export_version": EXPORT_VERSION},
            indent=1), encoding="utf-8")
        prune_stale_exports(target.parent, folder, mode, first_token_only)
    return target


def prune_stale_exports(keep: Path, folder: Path, mode: str, first_token_only: bool = False) -> list[Path]:
    """Delete the other cached exports of the same model folder + mode: those of the same graph
    (older weights) and any of an older export version. Each is a few hundred MB for GTE-large
    and would never be read again. Exports of other models or modes, and the current version's
    export with the other output (first token only or not), are left alone. Returns the deleted
    folders."""
    removed = []
    for entry in keep.parent.iterdir():
        source = entry / "source.json"
        if entry == keep or not source.is_file():
            continue
        try:
            info = json.loads(source.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        same_graph = bool(info.get("first_token_only", False)) == first_token_only
        older_version = info.get("export_version") != EXPORT_VERSION  # never read again either
        if info.get("model") == str(folder) and info.get("mode") == mode and (same_graph or older_version):
            shutil.rmtree(entry, ignore_errors=True)
            log.info("removed stale int8 export %s", entry)
            removed.append(entry)
    return removed


class OrtInt8Backend(Backend):
    """W8A8 int8 (per-token activations, per-channel weights) in ONNX Runtime on CPU."""

    device = "cpu"
    precision = "int8"

    def __init__(self, folder: Path, mode: str = "accurate", threads: int | None = None, *,
                 cache_dir: Path, first_token_only: bool = False, tokenizer=None) -> None:
        import onnxruntime as ort

        self.name = f"onnx-int8-{mode}"
        self.path = cached_int8_export(Path(folder), mode, cache_dir, first_token_only, tokenizer=tokenizer)
        opts = ort.SessionOptions()
        opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        opts.intra_op_num_threads = threads or torch.get_num_threads()
        opts.inter_op_num_threads = 1
        opts.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        self.session = ort.InferenceSession(str(self.path), opts, providers=["CPUExecutionProvider"])
        # what the export could do for this architecture: its output is [batch, 1, dim] or [batch, seq, dim]
        self.first_token_only = self.session.get_outputs()[0].name == FIRST_TOKEN_OUTPUT
        trim_heap()  # the parsed model file is freed once weights are prepacked: give it back
        config = json.loads((Path(folder) / "config.json").read_text(encoding="utf-8"))
        self._dim = int(config["hidden_size"])

    @property
    def dim(self) -> int:
        return self._dim

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        (hidden,) = self.session.run(None, {"input_ids": input_ids.cpu().numpy().astype(np.int64, copy=False),
                                            "attention_mask": attention_mask.cpu().numpy().astype(np.int64, copy=False)})
        return torch.from_numpy(hidden)
