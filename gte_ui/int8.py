"""INT8 inference on CPU that keeps accuracy: W8A8 with per-token activation scales.

Dynamic quantisation (torch ``quantize_dynamic``, ONNX Runtime) scales a whole batch's
activations with one number, so one outlier token — BERT's FFN activations have large ones —
costs every other token its precision (mean |Δcos| 0.029 on STS-B with MiniLM). Here every
token row gets its own scale, weights get one scale per output channel, and the int8 × int8 →
int32 product runs in ``torch._int_mm`` (the fastest int8 GEMM measured on this machine).

Optional SmoothQuant-style smoothing (``alpha``) moves activation outliers into the weights with
per-input-channel factors from a small calibration set; layers named in ``keep_fp32`` stay fp32.
The fp32 weights are dropped after quantising, so they do not stay resident.
"""

from __future__ import annotations

import gc
import logging
import re
from collections.abc import Iterable, Sequence

import torch
from torch import nn

log = logging.getLogger(__name__)

#: sentences used to calibrate smoothing factors (mixed Chinese/English, varied lengths)
CALIBRATION_TEXTS = [
    "这款手机电池续航很强", "手机电量很耐用，用一天没问题", "充电速度特别快，半小时就能充满",
    "今天北京的天气怎么样？明天会下雨吗", "花呗怎么提前还款", "借呗的额度为什么突然降低了",
    "我想修改银行卡绑定的手机号码", "这家餐厅的服务态度非常好，菜也很好吃",
    "A man is playing a guitar on the stage.", "The stock market fell sharply after the announcement.",
    "How do I reset my password if I forgot the security question?",
    "深度学习模型在自然语言处理任务中取得了显著的进展，尤其是预训练语言模型。",
    "Two dogs are running through a field of tall grass.", "学生们在教室里认真地准备期末考试",
    "请问从上海到杭州的高铁需要多长时间", "The quick brown fox jumps over the lazy dog.",
]


class W8A8Linear(nn.Module):
    """``y = x W^T + b`` with int8 weights (per output channel) and int8 activations (per token).

    Args:
        linear: the fp32 layer to replace (its weights are copied and quantised).
        smooth: optional per-input-channel factors ``s``: the layer computes ``(x / s)(W s)^T``,
            which is the same function with the activation outliers moved into the weights.
    """

    def __init__(self, linear: nn.Linear, smooth: torch.Tensor | None = None, group: int | None = None,
                 weight_max: int = 127, splits: Sequence[int] | None = None,
                 smooth_folded: bool = False) -> None:
        super().__init__()
        # splits: this layer is several layers fused along the output (Q, K, V read the same
        # input): one quantised input and one GEMM, the parts handed out by W8A8Slice.
        self.splits = list(splits) if splits else None
        self._pending: tuple[torch.Tensor, tuple[torch.Tensor, ...]] | None = None
        # group: activations quantised per token *and* per block of `group` input channels (one
        # int_mm per block): wide inputs with outliers (the FFN output projection) keep precision.
        self.group = group if group and group < linear.in_features and linear.in_features % group == 0 else None
        w = linear.weight.detach().float()
        if smooth is not None:
            w = w * smooth.unsqueeze(0)
            # smooth_folded: the producer of x already divides by `smooth` (see fold_into_value)
            self.register_buffer("inv_smooth", None if smooth_folded else (1.0 / smooth).float().contiguous())
        else:
            self.inv_smooth = None
        scale = w.abs().amax(dim=1).clamp(min=1e-8) / weight_max
        self.register_buffer("weight_q", torch.round(w / scale.unsqueeze(1)).clamp(-weight_max, weight_max)
                             .to(torch.int8).t().contiguous())  # [in, out]
        self.register_buffer("weight_scale", scale.float())
        bias = linear.bias.detach().float().clone() if linear.bias is not None else None
        self.register_buffer("bias", bias)
        self.in_features, self.out_features = linear.in_features, linear.out_features

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.full(x)
        if self.splits is None:
            return y
        parts = y.split(self.splits, dim=-1)
        self._pending = (x, parts)
        return parts[0]

    def full(self, x: torch.Tensor) -> torch.Tensor:
        """All output channels (of every fused part): [..., in] -> [..., out]."""
        if torch.onnx.is_in_onnx_export():
            if self.group is not None:
                raise NotImplementedError("grouped activations are not exported to ONNX")
            return QuantLinearOnnx.apply(x, self.inv_smooth, self.weight_q, self.weight_scale, self.bias)
        shape = x.shape
        x2 = x.reshape(-1, shape[-1]).float()
        if self.inv_smooth is not None:
            x2 = x2 * self.inv_smooth
        rows = x2.shape[0]
        padded = max(32, (rows + 7) // 8 * 8)  # _int_mm's fast path wants > 16 rows, multiple of 8
        if self.group is None:
            y = self._int8_matmul(x2, self.weight_q, padded, rows)
        else:
            g = self.group
            y = sum(self._int8_matmul(x2[:, i:i + g], self.weight_q[i:i + g], padded, rows)
                    for i in range(0, self.in_features, g))
        y = y * self.weight_scale
        if self.bias is not None:
            y = y + self.bias
        return y.reshape(*shape[:-1], self.out_features)

    @staticmethod
    def _int8_matmul(x: torch.Tensor, wq: torch.Tensor, padded: int, rows: int) -> torch.Tensor:
        """Per-token int8 quantisation of ``x`` [rows, k], int8 GEMM with ``wq`` [k, out], rescaled."""
        scale = x.abs().amax(dim=1, keepdim=True).clamp(min=1e-8) / 127.0
        xq = torch.round(x / scale).clamp(-127, 127).to(torch.int8)
        if padded != rows:
            xq = torch.nn.functional.pad(xq, (0, 0, 0, padded - rows))
        return torch._int_mm(xq, wq)[:rows].float() * scale

    def extra_repr(self) -> str:
        return f"in={self.in_features}, out={self.out_features}, smooth={self.inv_smooth is not None}"


class BlockInt8Linear(nn.Module):
    """``y = x W^T + b`` as ONNX Runtime's ``MatMulNBits`` (8 bits, ``accuracy_level`` 4): weights
    in int8 blocks of ``block`` input channels, each with its own scale, and the activations
    quantised to int8 per token *and per block* inside the kernel. Far more precise than one scale
    per token where a few channels carry outliers (BERT's FFN output projection), at ~75 % of the
    plain int8 GEMM's speed and ~2x fp32's. Exported only (ONNX Runtime); in PyTorch it computes
    with the dequantised weights (used while tracing)."""

    def __init__(self, linear: nn.Linear, block: int = 32) -> None:
        super().__init__()
        w = linear.weight.detach().float()  # [out, in]
        out_f, in_f = w.shape
        blocks = w.reshape(out_f, in_f // block, block)
        scale = blocks.abs().amax(dim=2).clamp(min=1e-8) / 127.0  # [out, in / block]
        q = torch.round(blocks / scale.unsqueeze(2)).clamp(-127, 127)
        self.register_buffer("weight_u8", (q + 128).to(torch.uint8).contiguous())  # zero point 128
        self.register_buffer("block_scale", scale.reshape(-1).contiguous())
        self.register_buffer("bias", linear.bias.detach().float().clone() if linear.bias is not None else None)
        self.in_features, self.out_features, self.block = in_f, out_f, block

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if torch.onnx.is_in_onnx_export():
            return BlockInt8Onnx.apply(x, self.weight_u8, self.block_scale, self.bias,
                                       self.in_features, self.out_features, self.block)
        w = (self.weight_u8.float() - 128) * self.block_scale.reshape(self.out_features, -1, 1)
        return nn.functional.linear(x, w.reshape(self.out_features, self.in_features), self.bias)

    def extra_repr(self) -> str:
        return f"in={self.in_features}, out={self.out_features}, block={self.block}"


class BlockInt8Onnx(torch.autograd.Function):
    """Export hook for :class:`BlockInt8Linear`: one ``com.microsoft::MatMulNBits`` node (+ bias)."""

    @staticmethod
    def forward(ctx, x, weight_u8, block_scale, bias, in_f, out_f, block):  # noqa: D401 - torch API
        w = (weight_u8.float() - 128) * block_scale.reshape(out_f, -1, 1)
        return nn.functional.linear(x, w.reshape(out_f, in_f), bias)

    @staticmethod
    def symbolic(g, x, weight_u8, block_scale, bias, in_f, out_f, block):
        y = g.op("com.microsoft::MatMulNBits", x, weight_u8, block_scale, K_i=in_f, N_i=out_f,
                 bits_i=8, block_size_i=block, accuracy_level_i=4)  # 4: int8 compute
        return y if _is_none(bias) else g.op("Add", y, bias)


class W8A8Slice(nn.Module):
    """Part ``index`` of a fused :class:`W8A8Linear` (K or V next to Q): reuses the output the
    fused layer computed for the same input tensor, else computes it."""

    def __init__(self, fused: W8A8Linear, index: int) -> None:
        super().__init__()
        object.__setattr__(self, "fused", fused)  # not a submodule: its weights live once
        self.index = index

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        pending = self.fused._pending
        if pending is not None and pending[0] is x:
            return pending[1][self.index]
        return self.fused.full(x).split(self.fused.splits, dim=-1)[self.index]

    def extra_repr(self) -> str:
        return f"part {self.index} of a fused W8A8Linear"


class QuantLinearOnnx(torch.autograd.Function):
    """Export hook: emits the per-token W8A8 subgraph; in eager mode computes the same function."""

    @staticmethod
    def forward(ctx, x, inv_smooth, weight_q, weight_scale, bias):  # noqa: D401 - torch API
        x2 = x.reshape(-1, x.shape[-1]).float()
        if inv_smooth is not None:
            x2 = x2 * inv_smooth
        scale = x2.abs().amax(dim=1, keepdim=True).clamp(min=1e-8) / 127.0
        xq = torch.round(x2 / scale).clamp(-127, 127)
        y = (xq @ weight_q.float()) * weight_scale * scale
        if bias is not None:
            y = y + bias
        return y.reshape(*x.shape[:-1], weight_q.shape[1])

    @staticmethod
    def symbolic(g, x, inv_smooth, weight_q, weight_scale, bias):
        def const(value, dtype=None):
            return g.op("Constant", value_t=torch.tensor(value, dtype=dtype))

        # Layers reading the same input (Q, K and V) share one quantised copy of it.
        key = (x.unique(), None if _is_none(inv_smooth) else inv_smooth.unique())
        if key not in _EXPORT_MEMO:
            x_in = x if _is_none(inv_smooth) else g.op("Mul", x, inv_smooth)
            # per-token max |x| from max and min: two read-only passes, no |x| temporary
            amax = g.op("Max", g.op("ReduceMax", x_in, axes_i=[-1], keepdims_i=1),
                        g.op("Neg", g.op("ReduceMin", x_in, axes_i=[-1], keepdims_i=1)))
            scale = g.op("Div", g.op("Max", amax, const(1e-8)), const(127.0))  # [..., 1]
            rows = g.op("Reshape", scale, const([-1], torch.long))
            flat = g.op("Reshape", x_in, g.op("Concat", const([-1], torch.long),
                                              g.op("Shape", x, start_i=-1), axis_i=0))
            # symmetric int8 stored as uint8 + 128: u8 x s8 is ONNX Runtime's fast int8 GEMM
            # (s8 x s8 runs ~10x slower on x86); QuantizeLinear per axis 0 = one scale per token
            zero_points = g.op("Expand", const(128, torch.uint8), g.op("Shape", rows))
            xq = g.op("QuantizeLinear", flat, rows, zero_points, axis_i=0)
            _EXPORT_MEMO[key] = (g.op("Reshape", xq, g.op("Shape", x)), scale)
        xq, scale = _EXPORT_MEMO[key]
        y = g.op("com.microsoft::MatMulIntegerToFloat", xq, weight_q, const(1.0), weight_scale,
                 const(128, torch.uint8))  # int32 accumulators x weight scales -> [..., out]
        y = g.op("Mul", y, scale)
        # bias last and in the input's rank, so ONNX Runtime can fuse it (BiasGelu, SkipLayerNorm)
        return y if _is_none(bias) else g.op("Add", y, bias)


#: per-export memo of quantised inputs (cleared by the exporter before each export)
_EXPORT_MEMO: dict = {}


def _is_none(value) -> bool:
    return value is None or (hasattr(value, "node") and value.node().mustBeNone())


def release_fp32_checkpoint(model: nn.Module) -> None:
    """Let the fp32 checkpoint go: copy the tensors that stay fp32 out of the memory-mapped file
    (so the mapping can close), collect, and hand freed heap pages back to the OS."""
    with torch.no_grad():
        for module in model.modules():
            for name, p in list(module.named_parameters(recurse=False)):
                module._parameters[name] = nn.Parameter(p.detach().clone(), requires_grad=False)
            for name, b in list(module.named_buffers(recurse=False)):
                if b is not None and b.is_floating_point():
                    module._buffers[name] = b.clone()
    trim_heap()


def trim_heap() -> None:
    """Collect garbage and hand freed heap pages back to the OS (glibc keeps freed arenas
    otherwise, and RSS never shrinks)."""
    gc.collect()
    try:
        import ctypes

        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):
        pass


@torch.inference_mode()
def activation_maxima(model: nn.Module, tokenizer, texts: Sequence[str],
                      names: Iterable[str]) -> tuple[dict[str, torch.Tensor], list[list[str]]]:
    """Per-input-channel max |x| seen by each named Linear over ``texts`` (calibration), and the
    groups of those layers that read the very same input tensor (Q, K, V), in model order."""
    wanted = set(names)
    maxima: dict[str, torch.Tensor] = {}
    inputs_of: dict[str, int] = {}
    alive: list[torch.Tensor] = []
    hooks = []
    for name, module in model.named_modules():
        if name in wanted:
            def hook(mod, inputs, _out, name=name):
                x = inputs[0].detach().reshape(-1, inputs[0].shape[-1]).abs().amax(dim=0).float()
                maxima[name] = torch.maximum(maxima[name], x) if name in maxima else x
                inputs_of[name] = id(inputs[0])
                alive.append(inputs[0])  # keep it referenced: ids of freed tensors get reused
            hooks.append(module.register_forward_hook(hook))
    try:
        batch = tokenizer(list(texts), padding=True, truncation=True, max_length=128, return_tensors="pt")
        model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"])
    finally:
        for h in hooks:
            h.remove()
    groups: dict[int, list[str]] = {}
    for name in [n for n, _ in model.named_modules() if n in inputs_of]:
        groups.setdefault(inputs_of[name], []).append(name)
    return maxima, list(groups.values())


def quantize_w8a8(model: nn.Module, *, tokenizer=None, alpha: float | None = None,
                  keep_fp32: Sequence[str] = (r"pooler",), grouped: Sequence[str] = (),
                  group: int = 512, weight_max: int = 127, fuse_shared_inputs: bool = True,
                  fold_into_value: bool = True, alpha_for: Sequence[tuple[str, float]] = (),
                  blockwise: Sequence[str] = (), block: int = 32,
                  calibration: Sequence[str] = CALIBRATION_TEXTS) -> nn.Module:
    """Replace every ``nn.Linear`` by :class:`W8A8Linear`, except those whose module name matches a
    ``keep_fp32`` regular expression (e.g. ``r"layer\.\d+\.output\.dense"`` = the FFN output projections).

    Args:
        alpha: SmoothQuant migration strength (0.5 is the paper's default); None: no smoothing.
            Needs ``tokenizer`` to run the calibration texts.
        weight_max: 127 (8-bit weights) or 63 (7 bits, for CPUs without VNNI, whose u8×s8
            instructions can saturate).
        fuse_shared_inputs: layers reading the same input (Q, K, V) share one smoothing vector
            and become one GEMM (bigger GEMMs run closer to the int8 peak).
        fold_into_value: BERT's attention output projection reads softmax(QK)·V, which is linear
            in V: its smoothing division is folded into V's weights instead of costing a pass.
    """
    targets = [name for name, m in model.named_modules()
               if isinstance(m, nn.Linear) and not any(re.search(k, name) for k in keep_fp32)]
    for name in [n for n in targets if any(re.search(k, n) for k in blockwise)]:
        linear = model.get_submodule(name)
        if linear.in_features % block == 0:
            parent_name, _, child = name.rpartition(".")
            setattr(model.get_submodule(parent_name) if parent_name else model, child,
                    BlockInt8Linear(linear, block))
        targets.remove(name)  # not divisible: stays fp32
    maxima: dict[str, torch.Tensor] = {}
    groups = [[name] for name in targets]
    if alpha is not None:
        if tokenizer is None:
            raise ValueError("smoothing needs the tokenizer for calibration")
        maxima, groups = activation_maxima(model, tokenizer, calibration, targets)
        groups += [[n] for n in targets if not any(n in g for g in groups)]  # never called
    if not fuse_shared_inputs:
        groups = [[n] for g in groups for n in g]

    def get(name: str) -> nn.Linear:
        return model.get_submodule(name)

    def put(name: str, module: nn.Module) -> None:
        parent_name, _, child = name.rpartition(".")
        setattr(model.get_submodule(parent_name) if parent_name else model, child, module)

    smooths: dict[str, torch.Tensor] = {}
    for names in groups:
        if alpha is not None and names[0] in maxima:
            w_max = torch.stack([get(n).weight.detach().abs().amax(dim=0).float() for n in names]).amax(0)
            a = next((a for pattern, a in alpha_for if re.search(pattern, names[0])), alpha)
            s = (maxima[names[0]].clamp(min=1e-5) ** a / w_max.clamp(min=1e-5) ** (1 - a))
            smooths.update({n: s.clamp(min=1e-2, max=1e2) for n in names})
    folded: set[str] = set()
    if fold_into_value:
        with torch.no_grad():
            for name in list(smooths):
                m = re.fullmatch(r"(.*attention)\.output\.dense", name)
                value = f"{m.group(1)}.self.value" if m else None
                if value is None or value not in dict(model.named_modules()):
                    continue
                v = get(value)  # fp32 still: divide its output channels by the smoothing factors
                v.weight.data = v.weight.data / smooths[name].unsqueeze(1)
                if v.bias is not None:
                    v.bias.data = v.bias.data / smooths[name]
                folded.add(name)
    for names in groups:
        linears = [get(n) for n in names]
        g = group if any(re.search(k, names[0]) for k in grouped) else None
        s = smooths.get(names[0])
        if len(names) == 1 or g is not None:
            for n, lin in zip(names, linears):
                put(n, W8A8Linear(lin, smooths.get(n), g, weight_max, smooth_folded=n in folded))
            continue
        fused_fp32 = nn.Linear(linears[0].in_features, sum(x.out_features for x in linears),
                               bias=all(x.bias is not None for x in linears))
        with torch.no_grad():
            fused_fp32.weight.copy_(torch.cat([x.weight.detach() for x in linears]))
            if fused_fp32.bias is not None:
                fused_fp32.bias.copy_(torch.cat([x.bias.detach() for x in linears]))
        fused = W8A8Linear(fused_fp32, s, None, weight_max, splits=[x.out_features for x in linears])
        put(names[0], fused)
        for i, n in enumerate(names[1:], start=1):
            put(n, W8A8Slice(fused, i))
        del fused_fp32, linears
    release_fp32_checkpoint(model)
    log.info("W8A8: %d Linear layers quantised in %d GEMMs (alpha=%s, kept fp32: %s)",
             len(targets), len(groups), alpha, keep_fp32)
    return model
