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

import ctypes
import gc
import logging
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

import torch
from torch import nn

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Int8Mode:
    """One int8 flavour: whether ONNX Runtime runs it, and which layers eager torch keeps fp32."""

    onnx: bool  # exported to ONNX Runtime with --int8-engine onnx (else eager torch)
    torch_fp32_layers: tuple[str, ...]  # regular expressions over module names, eager torch only
    #: quantize_w8a8's keyword arguments for the ONNX export (layers kept fp32, asymmetric
    #: activations, FFN outlier channels split off into fp32)
    onnx_scheme: dict = field(default_factory=dict)
    #: layers eager torch keeps fp32 in a decoder (Qwen2/Qwen3 names); decoders have no ONNX export
    decoder_fp32_layers: tuple[str, ...] = ()


#: The one table of int8 flavours, keyed by settings.INT8_MODE_NAMES (the user's choices; accuracy
#: figures: docs/performance.md). The layer name patterns are this engine's business, not a setting.
INT8_MODES: dict[str, Int8Mode] = {
    "accurate": Int8Mode(onnx=True, torch_fp32_layers=(r"pooler", r"layer\.\d+\.output\.dense"),
                         onnx_scheme={"keep_fp32": (r"pooler",), "asymmetric": True,
                                      "outlier_split": (r"layer\.\d+\.output\.dense",)},
                         decoder_fp32_layers=(r"mlp\.down_proj",)),
    "fast": Int8Mode(onnx=True, torch_fp32_layers=(r"pooler",), onnx_scheme={"keep_fp32": (r"pooler",)}),
    "dynamic": Int8Mode(onnx=False, torch_fp32_layers=()),  # torch quantize_dynamic, per tensor
}

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
                 smooth_folded: bool = False, asymmetric: bool = False) -> None:
        super().__init__()
        # asymmetric: each token row is quantised to uint8 over [min, max] with its own zero
        # point (255 steps where symmetric int8 has 127 over [-max, max]): about one more bit
        # where a row is lopsided (GELU outputs, LayerNorm outputs with outlier dimensions).
        self.asymmetric = asymmetric
        #: layers reading one input with one smoothing and the same share_key quantise it once
        self.share_key: int | None = None
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
        weight_q = torch.round(w / scale.unsqueeze(1)).clamp(-weight_max, weight_max).to(torch.int8).t()
        zero_rows = zero_point_rows(weight_q, weight_max) if asymmetric else None
        if zero_rows is not None:  # the zero-point rows live below the weights: one constant in the export
            weight_q = torch.cat([weight_q, zero_rows])
        self.register_buffer("weight_q", weight_q.contiguous())  # [in (+ zero-point rows), out]
        # sum of each weight column (eager asymmetric path), once here instead of every call
        self.register_buffer("weight_colsum", None if zero_rows is None else
                             -zero_rows.sum(dim=0, dtype=torch.int32))
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
            extra = self.weight_q.shape[0] - self.in_features if self.asymmetric else None
            share = self.share_key or (0 if self.inv_smooth is None else id(self.inv_smooth))
            return QuantLinearOnnx.apply(x, self.inv_smooth, self.weight_q, self.weight_scale, self.bias,
                                         extra, share)
        shape = x.shape
        x2 = x.reshape(-1, shape[-1]).float()
        if self.inv_smooth is not None:
            x2 = x2 * self.inv_smooth
        rows = x2.shape[0]
        padded = max(32, (rows + 7) // 8 * 8)  # _int_mm's fast path wants > 16 rows, multiple of 8
        if self.asymmetric:
            if self.group is not None:
                raise NotImplementedError("asymmetric activations are not combined with groups")
            y = self._int8_matmul_asymmetric(x2, self.weight_q[:self.in_features], self.weight_colsum,
                                             padded, rows)
        elif self.group is None:
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

    @staticmethod
    def _int8_matmul_asymmetric(x: torch.Tensor, wq: torch.Tensor, colsum: torch.Tensor, padded: int,
                                rows: int) -> torch.Tensor:
        """Per-token asymmetric uint8 quantisation of ``x`` (as ONNX ``QuantizeLinear`` with one
        zero point per row), exact integer product with ``wq``, rescaled. ``_int_mm`` is int8 × int8,
        so the uint8 values are shifted by 128 and the shift is added back through column sums."""
        scale, zero = asymmetric_params(x)
        q = (torch.round(x / scale) + zero).clamp(0, 255)
        xq = (q - 128).to(torch.int8)
        if padded != rows:
            xq = torch.nn.functional.pad(xq, (0, 0, 0, padded - rows))
        acc = torch._int_mm(xq, wq)[:rows]  # sum (q - 128) w
        acc = acc + (128 - zero).to(torch.int32) * colsum  # -> sum (q - zero) w
        return acc.float() * scale

    def extra_repr(self) -> str:
        return (f"in={self.in_features}, out={self.out_features}, smooth={self.inv_smooth is not None}, "
                f"asymmetric={self.asymmetric}")


def asymmetric_params(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-row uint8 scale and zero point of ``x`` [rows, k]: the range [min, max] (always
    holding 0, so zero is exact) in 255 steps. Shapes [rows, 1]; the zero point as float."""
    lo = x.amin(dim=1, keepdim=True).clamp(max=0)
    hi = x.amax(dim=1, keepdim=True).clamp(min=0)
    scale = ((hi - lo) / 255.0).clamp(min=1e-8)
    return scale, torch.round(-lo / scale).clamp(0, 255)


def zero_point_rows(weight_q: torch.Tensor, weight_max: int = 127) -> torch.Tensor:
    """Extra int8 rows ``R`` [j, out] whose column sums are ``-weight_q.sum(0)`` exactly.

    ONNX Runtime's integer GEMM takes one zero point for the whole activation matrix, not one
    per row. Appending ``j`` columns that all hold the row's zero point ``z`` to the uint8
    activations and ``R`` below the weights adds ``z * sum(R) = -z * sum(W)`` to every output,
    which is exactly the per-row zero-point correction, computed inside the same GEMM (the
    alternative, a correction pass over every output, costs more than these few extra rows).
    """
    total = -weight_q.to(torch.int64).sum(dim=0)  # [out]
    j = max(1, int((total.abs().max().item() + weight_max - 1) // weight_max))
    base = torch.div(total, j, rounding_mode="floor")
    extra = total - base * j  # 0 <= extra < j: that many rows get one more
    rows = base.unsqueeze(0) + (torch.arange(j).unsqueeze(1) < extra.unsqueeze(0)).to(torch.int64)
    assert int(rows.abs().max()) <= weight_max and torch.equal(rows.sum(0), total)
    return rows.to(torch.int8)


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


class SplitIntermediate(nn.Module):
    """BERT's FFN input projection with its ``k`` outlier output channels split off.

    A handful of FFN channels (found at calibration) carry activations many times larger than
    the rest; whichever single scale a token's row gets, they cost the others their precision,
    and rounding errors of the weights that meet them are multiplied by them. Their GELU outputs
    are produced by a separate small GEMM on the same quantised input and handed to
    :class:`OutlierInputLinear`, which applies them in fp32. Returns the main part (the caller
    applies GELU to it, as ``BertIntermediate`` does)."""

    def __init__(self, main: W8A8Linear, side: W8A8Linear, act) -> None:
        super().__init__()
        self.main, self.side = main, side
        object.__setattr__(self, "act", act)
        self.side_output: torch.Tensor | None = None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.side_output = self.act(self.side(x))
        return self.main(x)


class OutlierInputLinear(nn.Module):
    """BERT's FFN output projection fed by a :class:`SplitIntermediate`: int8 over the ordinary
    channels, fp32 over the few outlier channels (``k`` × out weights, a tiny GEMM)."""

    def __init__(self, main: W8A8Linear, side_weight: torch.Tensor, source: SplitIntermediate) -> None:
        super().__init__()
        self.main = main
        self.register_buffer("side_weight_t", side_weight.detach().float().t().contiguous())  # [k, out]
        object.__setattr__(self, "source", source)  # not a submodule: it lives in the intermediate

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        side = self.source.side_output
        if side is None or side.shape[:-1] != x.shape[:-1]:
            raise RuntimeError("OutlierInputLinear runs right after its SplitIntermediate")
        self.source.side_output = None
        return self.main(x) + side @ self.side_weight_t

    def extra_repr(self) -> str:
        return f"outlier channels={self.side_weight_t.shape[0]} in fp32"


class QuantLinearOnnx(torch.autograd.Function):
    """Export hook: emits the per-token W8A8 subgraph; in eager mode computes the same function.

    ``zp_rows`` None: symmetric int8 per token. Otherwise asymmetric uint8 per token, and
    ``weight_q`` ends with that many zero-point rows (see :func:`zero_point_rows`). ``share``:
    layers with the same input and the same ``share`` reuse one quantised copy of the input."""

    @staticmethod
    def forward(ctx, x, inv_smooth, weight_q, weight_scale, bias, zp_rows, share):  # noqa: D401
        x2 = x.reshape(-1, x.shape[-1]).float()
        weight_q = weight_q[:x2.shape[1]]  # without the zero-point rows
        if inv_smooth is not None:
            x2 = x2 * inv_smooth
        if zp_rows is None:
            scale = x2.abs().amax(dim=1, keepdim=True).clamp(min=1e-8) / 127.0
            xq = torch.round(x2 / scale).clamp(-127, 127)
        else:
            scale, zero = asymmetric_params(x2)
            xq = (torch.round(x2 / scale) + zero).clamp(0, 255) - zero
        y = (xq @ weight_q.float()) * weight_scale * scale
        if bias is not None:
            y = y + bias
        return y.reshape(*x.shape[:-1], weight_q.shape[1])

    @staticmethod
    def symbolic(g, x, inv_smooth, weight_q, weight_scale, bias, zp_rows, share):
        def const(value, dtype=None):
            return g.op("Constant", value_t=torch.tensor(value, dtype=dtype))

        # torch.onnx only while exporting
        from torch.onnx import symbolic_helper

        # python numbers reach here as graph constants
        asymmetric = not _is_none(zp_rows)
        share = int(symbolic_helper._maybe_get_const(share, "i"))
        j = int(symbolic_helper._maybe_get_const(zp_rows, "i")) if asymmetric else 0
        # Layers reading the same input with the same smoothing (Q, K and V; the two parts of a
        # split FFN) share one quantised copy of it.
        key = (x.unique(), share, asymmetric)
        if key not in _EXPORT_MEMO:
            x_in = x if _is_none(inv_smooth) else g.op("Mul", x, inv_smooth)
            # per-token max and min: two read-only passes, no |x| temporary
            hi = g.op("ReduceMax", x_in, axes_i=[-1], keepdims_i=1)
            lo = g.op("ReduceMin", x_in, axes_i=[-1], keepdims_i=1)
            flat = g.op("Reshape", x_in, g.op("Concat", const([-1], torch.long),
                                              g.op("Shape", x, start_i=-1), axis_i=0))
            if asymmetric:
                hi, lo = g.op("Max", hi, const(0.0)), g.op("Min", lo, const(0.0))
                scale = g.op("Max", g.op("Div", g.op("Sub", hi, lo), const(255.0)), const(1e-8))
                # lo <= 0 <= hi, so -lo / scale lies in [0, 255]: no clipping needed
                zero = g.op("Cast", g.op("Round", g.op("Div", g.op("Neg", lo), scale)), to_i=2)  # uint8 [..., 1]
                rows = g.op("Reshape", scale, const([-1], torch.long))
                zero_points = g.op("Reshape", zero, const([-1], torch.long))
            else:
                amax = g.op("Max", hi, g.op("Neg", lo))
                scale = g.op("Div", g.op("Max", amax, const(1e-8)), const(127.0))  # [..., 1]
                rows = g.op("Reshape", scale, const([-1], torch.long))
                # symmetric int8 stored as uint8 + 128: u8 x s8 is ONNX Runtime's fast int8 GEMM
                # (s8 x s8 runs ~10x slower on x86)
                zero_points, zero = g.op("Expand", const(128, torch.uint8), g.op("Shape", rows)), None
            xq = g.op("QuantizeLinear", flat, rows, zero_points, axis_i=0)  # per axis 0 = per token
            _EXPORT_MEMO[key] = (g.op("Reshape", xq, g.op("Shape", x)), scale, zero)
        xq, scale, zero = _EXPORT_MEMO[key]
        # ONNX Runtime's MatMulIntegerToFloat applies the per-token scale ([..., 1]) in its
        # epilogue too (int32 accumulators x token scale x weight scales), saving a pass. Not the
        # bias: with a non-scalar A scale it adds the bias *before* scaling (ORT 1.32), so the
        # bias stays a separate Add (last, so ORT fuses it into BiasGelu / the residual).
        if asymmetric:
            # append j columns holding each row's zero point; the weights get zp_rows below them
            lead = g.op("Shape", x, end_i=-1)
            zeros = g.op("Expand", zero, g.op("Concat", lead, const([j], torch.long), axis_i=0))
            y = g.op("com.microsoft::MatMulIntegerToFloat", g.op("Concat", xq, zeros, axis_i=-1), weight_q,
                     scale, weight_scale, const(0, torch.uint8))
        else:
            y = g.op("com.microsoft::MatMulIntegerToFloat", xq, weight_q, scale, weight_scale,
                     const(128, torch.uint8))
        # declare the output's type ([..., out] float, like x), else the exporter warns that
        # the contrib op has no shape inference, once per layer
        sizes = symbolic_helper._get_tensor_sizes(x)
        out_features = symbolic_helper._get_tensor_sizes(weight_q)
        if sizes is not None and out_features is not None:
            y.setType(x.type().with_sizes(list(sizes[:-1]) + [out_features[-1]]))
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
                  asymmetric: bool = False,
                  outlier_split: Sequence[str] = (), outlier_channels: int | None = None,
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
        asymmetric: activations as uint8 per token with a zero point (see :class:`W8A8Linear`).
        outlier_split: FFN output projections (``...layer.N.output.dense``) whose largest input
            channels at calibration are split off and computed in fp32 (see
            :class:`SplitIntermediate`); those layers are not smoothed. ``outlier_channels``: how
            many (default: in_features / 256, at least 8).
    """
    targets = [name for name, m in model.named_modules()
               if isinstance(m, nn.Linear) and not any(re.search(k, name) for k in keep_fp32)]
    maxima: dict[str, torch.Tensor] = {}
    groups = [[name] for name in targets]
    if alpha is not None or outlier_split:
        if tokenizer is None:
            raise ValueError("smoothing and outlier channels need the tokenizer for calibration")
        maxima, groups = activation_maxima(model, tokenizer, calibration, targets)
        groups += [[n] for n in targets if not any(n in g for g in groups)]  # never called
    if not fuse_shared_inputs:
        groups = [[n] for g in groups for n in g]

    def get(name: str) -> nn.Linear:
        return model.get_submodule(name)

    def put(name: str, module: nn.Module) -> None:
        parent_name, _, child = name.rpartition(".")
        setattr(model.get_submodule(parent_name) if parent_name else model, child, module)

    split_pairs = _outlier_pairs(model, targets, outlier_split)
    split_done = {n for pair in split_pairs for n in pair}
    split_consumers = {c for _, c in split_pairs}
    smooths: dict[str, torch.Tensor] = {}
    for names in groups:
        if names[0] in split_consumers:
            continue  # an FFN output projection with split-off outliers: not smoothed
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
    for producer, consumer in split_pairs:
        ffn_in, ffn_out = get(producer), get(consumer)
        k = outlier_channels or max(8, ffn_out.in_features // 256)
        top = maxima[consumer].argsort(descending=True)[:k].sort().values
        rest = torch.ones(ffn_out.in_features, dtype=torch.bool)
        rest[top] = False
        rest = rest.nonzero().squeeze(1)
        s = smooths.get(producer)
        main = W8A8Linear(_sub_linear(ffn_in, rows=rest), s, None, weight_max, asymmetric=asymmetric)
        side = W8A8Linear(_sub_linear(ffn_in, rows=top), s, None, weight_max, asymmetric=asymmetric)
        main.share_key = side.share_key = id(main)  # the export quantises their input once
        act = model.get_submodule(producer.rpartition(".")[0]).intermediate_act_fn
        split = SplitIntermediate(main, side, act)
        put(producer, split)
        put(consumer, OutlierInputLinear(
            W8A8Linear(_sub_linear(ffn_out, cols=rest), None, None, weight_max, asymmetric=asymmetric),
            ffn_out.weight.detach()[:, top], split))
    groups = [names for names in groups if names[0] not in split_done]
    for names in groups:
        linears = [get(n) for n in names]
        g = group if any(re.search(k, names[0]) for k in grouped) else None
        s = smooths.get(names[0])
        if len(names) == 1 or g is not None:
            for n, lin in zip(names, linears):
                put(n, W8A8Linear(lin, smooths.get(n), g, weight_max, smooth_folded=n in folded,
                                  asymmetric=asymmetric))
            continue
        fused_fp32 = nn.Linear(linears[0].in_features, sum(x.out_features for x in linears),
                               bias=all(x.bias is not None for x in linears))
        with torch.no_grad():
            fused_fp32.weight.copy_(torch.cat([x.weight.detach() for x in linears]))
            if fused_fp32.bias is not None:
                fused_fp32.bias.copy_(torch.cat([x.bias.detach() for x in linears]))
        fused = W8A8Linear(fused_fp32, s, None, weight_max, splits=[x.out_features for x in linears],
                           asymmetric=asymmetric)
        put(names[0], fused)
        for i, n in enumerate(names[1:], start=1):
            put(n, W8A8Slice(fused, i))
        del fused_fp32, linears
    release_fp32_checkpoint(model)
    log.info("W8A8: %d Linear layers quantised in %d GEMMs (alpha=%s, asymmetric=%s, outliers split "
             "in %d FFNs, kept fp32: %s)", len(targets), len(groups) + 3 * len(split_pairs), alpha,
             asymmetric, len(split_pairs), keep_fp32)
    return model


def _outlier_pairs(model: nn.Module, targets: Sequence[str], patterns: Sequence[str]) -> list[tuple[str, str]]:
    """(FFN input projection, FFN output projection) name pairs of BERT layers matching ``patterns``."""
    pairs = []
    for name in targets:
        m = re.fullmatch(r"(.*layer\.\d+)\.output\.dense", name)
        if not m or not any(re.search(p, name) for p in patterns):
            continue
        producer = f"{m.group(1)}.intermediate.dense"
        if producer in targets and hasattr(model.get_submodule(f"{m.group(1)}.intermediate"), "intermediate_act_fn"):
            pairs.append((producer, name))
    return pairs


def _sub_linear(linear: nn.Linear, rows: torch.Tensor | None = None, cols: torch.Tensor | None = None) -> nn.Linear:
    """A Linear made of some output channels (``rows``) or input channels (``cols``) of another."""
    w = linear.weight.detach()
    bias = linear.bias.detach() if linear.bias is not None else None
    if rows is not None:
        w, bias = w[rows], (bias[rows] if bias is not None else None)
    if cols is not None:
        w = w[:, cols]
    out = nn.Linear(w.shape[1], w.shape[0], bias=bias is not None)
    with torch.no_grad():
        out.weight.copy_(w)
        if bias is not None:
            out.bias.copy_(bias)
    return out
