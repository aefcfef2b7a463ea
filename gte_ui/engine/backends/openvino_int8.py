"""Int8 on CPU through OpenVINO + NNCF, in two schemes (``--int8-mode``, see :data:`OV_SCHEMES`).

*fast*: NNCF's static post-training quantisation (``model_type=TRANSFORMER``: SmoothQuant on the
MatMuls, per-tensor int8 activations calibrated once) leaves OpenVINO's CPU plugin whole int8
GEMMs with the quantise/dequantise fused around them, where the ONNX Runtime path
(:mod:`gte_ui.engine.backends.onnx_export`) spends ~40 % of its time on per-token quantisation and fp32
attention: the fastest CPU path, but one scale per tensor fits less well than per-token ones.
*accurate* (the default mode): only the FFN output projections (outliers split off) keep static
scales; Q/K/V, the attention output and the FFN input projection get int8 weights
(``nncf.compress_weights``) and OpenVINO quantises their activations at run time in groups of
:data:`DYNAMIC_GROUP` channels per token, inside its GEMM kernel — within the 0.003 bound of the
default engine, and faster than it at 128–512 tokens (figures: docs/performance.md). Opt-in
(``--int8-engine openvino``) because openvino and nncf are optional dependencies.

The export (fp32 load → ``ov.convert_model`` → ``nncf.quantize`` → ``ov.save_model``) runs once
per model into the export cache, keyed and checked like the ONNX one (same record, same
re-export of a damaged cache). openvino and nncf are optional dependencies
(``pip install gte-ui[openvino]``), imported inside the functions below only.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
import threading
import time
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from gte_ui.core.errors import ConfigError
from gte_ui.core.settings import OPENVINO_INT8_MODES, check_openvino_mode
from gte_ui.engine.backends.int8 import CALIBRATION_TEXTS, activation_maxima, trim_heap
from gte_ui.engine.backends.onnx_export import (
    HiddenStates,
    export_progress,
    file_records,
    hash_model_files,
    int64_feed,
    library_versions,
    move_in,
    prune_stale_exports,
    staged_export,
    why_export,
)
from gte_ui.engine.backends.registry import Backend, BackendRequest, BackendSpec, register
from gte_ui.engine.tokenizer import load_tokenizer

log = logging.getLogger(__name__)

#: bump when the exported graph or its quantisation changes, so stale cache entries are not reused
#: (3: the key and the record name the libraries' versions, OV_EXPORT_LIBRARIES)
OV_EXPORT_VERSION = 3
#: the libraries whose versions make an export: two venvs with different ones each keep their own
OV_EXPORT_LIBRARIES = ("torch", "transformers", "openvino", "nncf")
#: each FFN's input channels of the output projection with the largest calibration activations,
#: computed in fp32 beside the int8 GEMMs (:class:`OutlierSplitOutput`); 32 and 64 measured no better
OUTLIER_CHANNELS = 16
#: SmoothQuant strength on the MatMuls. With the outliers split off, 0.5 measured best (mean |dcos|
#: 0.0040 on STS-B for MiniLM, against 0.0061 at NNCF's default 0.95; docs/performance.md)
SMOOTH_QUANT_ALPHA = 0.5
#: OpenVINO CPU's run-time activation quantisation: one scale per token per this many input
#: channels. 32/64 measured as accurate and slower, 256-1024 less accurate or slower (2026-12-01)
DYNAMIC_GROUP = 128
#: BERT-family GEMMs by OpenVINO node name (the torch module path survives conversion)
GEMM_NAME_PATTERNS = {"qkv": r".*attention\.self\.(query|key|value)/.*",
                      "attention_output": r".*attention\.output\.dense/.*",
                      "ffn_input": r".*intermediate\.dense/.*"}


@dataclass(frozen=True)
class OvScheme:
    """One ``--int8-mode`` of this engine: the ``mode`` written in the export's record (the ONNX
    exports record their int8 mode there) and the GEMM kinds whose activations are quantised at run
    time (int8 weights only in the export) instead of by calibrated static scales."""

    record: str
    dynamic: tuple[str, ...] = ()


#: accurate: mean |dcos| 0.0028 on STS-B (MiniLM), 0.0020-0.0025 on passages; fast: 0.0040,
#: 0.0037-0.0059 (docs/performance.md); torch's per-tensor ``dynamic`` mode has no OpenVINO form
OV_SCHEMES = {
    "accurate": OvScheme("openvino-hybrid", ("qkv", "attention_output", "ffn_input")),
    "fast": OvScheme("openvino-static"),
}
#: OpenVINO's model file; its weights are ``model.bin`` beside it
MODEL_FILE = "model.xml"

INSTALL_HINT_EN = "--int8-engine openvino needs `pip install openvino nncf` (or `pip install gte-ui[openvino]`)"
INSTALL_HINT_ZH = "--int8-engine openvino 需要先安装：`pip install openvino nncf`（或 `pip install gte-ui[openvino]`）"


def require_openvino() -> None:
    """Raise :class:`ConfigError` with the pip line when openvino or nncf cannot be imported: an
    engine the user asked for by name never falls back silently."""
    try:
        import nncf  # noqa: F401 - heavy optional dependency, imported only for this engine
        import openvino  # noqa: F401
    except ImportError as exc:
        raise ConfigError(INSTALL_HINT_EN, INSTALL_HINT_ZH) from exc


def ov_scheme(mode: str) -> OvScheme:
    """The scheme of ``--int8-mode`` ``mode``; a :class:`ConfigError` naming the valid ones otherwise."""
    check_openvino_mode(mode)
    return OV_SCHEMES[mode]


def ov_export_key(folder: Path, token_types: bool = False, mode: str = "accurate") -> str:
    """Cache key: model identity + export version + scheme + the OV_EXPORT_LIBRARIES' versions + inputs read."""
    h = hashlib.sha256()
    versions = "|".join(f"{k}={v}" for k, v in library_versions(OV_EXPORT_LIBRARIES).items())
    h.update(f"ov{OV_EXPORT_VERSION}|{ov_scheme(mode).record}|{versions}|token_types={int(token_types)}".encode())
    hash_model_files(h, folder)
    return h.hexdigest()[:16]


def ov_export_path(folder: Path, cache_dir: Path, token_types: bool = False, mode: str = "accurate") -> Path:
    """Where the OpenVINO int8 export of ``folder`` in ``mode`` lives in ``cache_dir``
    (``Settings.export_cache``), whether or not it exists yet."""
    key = ov_export_key(folder, token_types, mode)
    return Path(cache_dir).expanduser() / f"{folder.name}-openvino-int8-{mode}-{key}" / MODEL_FILE


#: Static int8 fixes one activation range per tensor from the calibration inputs, so they must
#: look like what the model will read: the ONNX path's 16 :data:`CALIBRATION_TEXTS` (11 Chinese)
#: leave an English model (MiniLM reads Chinese as [UNK]) at mean |dcos| 0.021 on STS-B; these
#: hand-written sentences (written for this project, none from an evaluation set) bring it to 0.007.
EXTRA_CALIBRATION_TEXTS = [
    "A woman is slicing onions in the kitchen.", "Two children are riding bicycles down a quiet street.",
    "The committee approved the new budget after a long debate on Tuesday.",
    "Can you recommend a good hotel near the train station?", "My laptop battery drains too quickly.",
    "The patient was given antibiotics and sent home the next day.",
    "Scientists have discovered a new species of frog in the rainforest.",
    "What is the difference between a virus and a bacterium?", "A black cat is sleeping on the sofa.",
    "The company reported record profits despite supply chain problems.",
    "I ordered the blue shirt but received a red one, how do I return it?",
    "Heavy rain caused flooding in several coastal towns overnight.",
    "A man in a red jacket is climbing a steep rock wall.", "Python is a popular programming language.",
    "The museum will be closed for renovation until next spring.",
    "Police arrested two suspects in connection with the robbery.",
    "She plays the piano every evening after dinner.", "How long does it take to boil an egg?",
    "The team won the championship for the third year in a row.",
    "Prices of fresh vegetables rose sharply this month.", "A group of people are dancing at a wedding.",
    "The new phone has a larger screen and a faster processor.", "Is it safe to drink tap water here?",
    "The president met with foreign leaders to discuss climate policy.", "Birds are flying over the lake.",
    "This restaurant serves the best noodles in town.", "He forgot his umbrella and got wet on the way home.",
    "Researchers trained a neural network to translate between languages.",
    "the flight was delayed by three hours due to fog", "Where can I find the user manual for this printer?",
    "北京今天最高气温三十五度，注意防暑降温", "这件衣服质量不错，就是尺码偏小", "如何申请信用卡的分期付款",
    "一个男人正在公园里遛狗", "两个孩子在沙滩上堆沙堡", "研究人员发现了一种新的治疗方法",
    "我的快递已经三天没有更新物流信息了", "股市今天大幅下跌，投资者情绪低迷", "请问附近有没有便宜的停车场",
    "他每天早上六点起床跑步", "这部电影的剧情很精彩，演员的表演也很出色", "手机屏幕碎了，维修要多少钱",
    "政府出台了新的住房补贴政策", "一只猫正在窗台上晒太阳", "为什么我的账户被冻结了",
    "机器学习算法可以用来预测用户的购买行为", "周末我们一起去爬山吧", "飞机因为天气原因延误了两个小时",
]
#: what calibrates this engine: the ONNX path's texts and the ones above
OV_CALIBRATION_TEXTS = [*CALIBRATION_TEXTS, *EXTRA_CALIBRATION_TEXTS]


def calibration_batches(tokenizer, token_types: bool = False, batch: int = 4) -> list[dict[str, np.ndarray]]:
    """NNCF calibration inputs from :data:`CALIBRATION_TEXTS` and :data:`EXTRA_CALIBRATION_TEXTS`:
    the texts alone and joined in pairs
    (longer, more varied lengths); for a cross-encoder (``token_types``) as (query, document) pairs,
    so segment 1 is calibrated too."""
    texts = OV_CALIBRATION_TEXTS
    pairs = list(zip(texts, texts[7:] + texts[:7]))  # far apart in the list: mixed languages and lengths
    if token_types:
        encoded = [tokenizer([a for a, _ in pairs[i:i + batch]], [b for _, b in pairs[i:i + batch]],
                             padding=True, truncation=True, return_tensors="np")
                   for i in range(0, len(pairs), batch)]
    else:
        joined = texts + [a + b for a, b in pairs]
        encoded = [tokenizer(joined[i:i + batch], padding=True, truncation=True, return_tensors="np")
                   for i in range(0, len(joined), batch)]
    names = ("input_ids", "attention_mask", "token_type_ids") if token_types else ("input_ids", "attention_mask")
    return [{name: e[name].astype(np.int64) for name in names} for e in encoded]


class OutlierSplitOutput(torch.nn.Module):
    """A BERT-family FFN output (dense → dropout → LayerNorm(· + residual)) whose ``top`` channels
    come from an fp32 side branch, ``GELU(x·W_in[top]ᵀ + b)·W_out[:, top]ᵀ``, read from the FFN's
    input ``x`` (the residual). Those channels are zeroed in the intermediate GEMM (weights and
    bias: GELU(0) = 0) and in the output projection, so the int8 GEMMs never see the few
    activations that would set their one static scale; NNCF's ignored scope (``outlier_side``)
    keeps the side branch fp32. Exact in fp32: the sum is the unsplit layer's."""

    def __init__(self, output: torch.nn.Module, intermediate: torch.nn.Module, top: torch.Tensor) -> None:
        super().__init__()
        self.dense, self.dropout, self.LayerNorm = output.dense, output.dropout, output.LayerNorm
        self.act = intermediate.intermediate_act_fn
        dense_in = intermediate.dense
        with torch.no_grad():
            self.outlier_side_in = torch.nn.Linear(dense_in.in_features, len(top))
            self.outlier_side_in.weight.copy_(dense_in.weight[top])
            self.outlier_side_in.bias.copy_(dense_in.bias[top])
            self.outlier_side_out = torch.nn.Linear(len(top), self.dense.out_features, bias=False)
            self.outlier_side_out.weight.copy_(self.dense.weight[:, top])
            dense_in.weight[top] = 0
            dense_in.bias[top] = 0
            self.dense.weight[:, top] = 0

    def forward(self, hidden_states: torch.Tensor, input_tensor: torch.Tensor) -> torch.Tensor:
        side = self.outlier_side_out(self.act(self.outlier_side_in(input_tensor)))
        return self.LayerNorm(self.dropout(self.dense(hidden_states)) + side + input_tensor)


def split_ffn_outliers(model: torch.nn.Module, tokenizer, channels: int = OUTLIER_CHANNELS,
                       texts: Sequence[str] = OV_CALIBRATION_TEXTS) -> int:
    """Give each BERT-family layer's FFN an :class:`OutlierSplitOutput` (channels picked by
    calibration max |activation| of the output projection's input, as the ONNX path picks them).
    Returns the number of layers split: 0 for an architecture without that FFN shape, which is
    then quantised whole."""
    layers = getattr(getattr(model, "encoder", None), "layer", None)
    if layers is None or not all(hasattr(layer, "intermediate") and hasattr(getattr(layer, "output", None), "dense")
                                 and hasattr(layer.intermediate, "intermediate_act_fn") for layer in layers):
        return 0
    if float(layers[0].intermediate.intermediate_act_fn(torch.zeros(1))) != 0.0:
        return 0  # zeroing a channel's weights must zero its activation (GELU, ReLU: yes)
    names = [f"encoder.layer.{i}.output.dense" for i in range(len(layers))]
    maxima, _ = activation_maxima(model, tokenizer, texts, names)
    for name, layer in zip(names, layers):
        top = maxima[name].argsort(descending=True)[:channels].sort().values
        layer.output = OutlierSplitOutput(layer.output, layer.intermediate, top)
    return len(layers)


def export_ov_int8(folder: Path, target: Path, *, tokenizer=None, token_types: bool = False, mode: str = "accurate",
                   record: dict | None = None, step: Callable[[str], None] | None = None) -> Path:
    """Load the fp32 model, convert it to OpenVINO, quantise it with NNCF (``mode``: see
    :data:`OV_SCHEMES`), save it.

    Batch and sequence stay dynamic. Written to a temporary folder, then moved in (weights, graph,
    record last): a crash in between leaves files that do not match their record, which the next
    start exports again.
    """
    # optional: OpenVINO / NNCF (gte-ui[openvino]) and transformers only while exporting
    import nncf  # heavy optional dependency: only this engine pays for it
    import openvino as ov
    from transformers import AutoModel

    step = step or (lambda name: None)
    t0 = time.perf_counter()
    step("loading the fp32 weights")
    tokenizer = tokenizer or load_tokenizer(folder)
    model = AutoModel.from_pretrained(str(folder), dtype=torch.float32).eval()
    with torch.no_grad():  # not inference_mode: the new side-branch parameters stay ordinary tensors
        split = split_ffn_outliers(model, tokenizer)
    calib = calibration_batches(tokenizer, token_types)
    example = {name: torch.from_numpy(value) for name, value in calib[0].items()}
    step("converting and quantising")
    with torch.inference_mode(), warnings.catch_warnings():
        warnings.simplefilter("ignore")  # tracer warnings on shape checks that hold for every input
        ov_model = ov.convert_model(HiddenStates(model).eval(), example_input=example)
    del model
    scheme = ov_scheme(mode)
    side = [r".*outlier_side.*"] if split else []
    dynamic = [GEMM_NAME_PATTERNS[kind] for kind in scheme.dynamic]
    matmuls = [op.get_friendly_name() for op in ov_model.get_ordered_ops() if op.get_type_name() == "MatMul"]
    missing = [kind for kind in scheme.dynamic if not any(re.match(GEMM_NAME_PATTERNS[kind], n) for n in matmuls)]
    if missing:  # fail the export (eager int8 then serves, and says why) rather than silently go static
        raise RuntimeError(f"no {', '.join(missing)} GEMMs found by name: the {mode} OpenVINO scheme "
                           "covers BERT-family encoders")
    quantised = nncf.quantize(
        ov_model, nncf.Dataset(calib), model_type=nncf.ModelType.TRANSFORMER, subset_size=len(calib),
        ignored_scope=nncf.IgnoredScope(patterns=side + dynamic, validate=False) if side or dynamic else None,
        advanced_parameters=nncf.AdvancedQuantizationParameters(
            smooth_quant_alphas=nncf.AdvancedSmoothQuantParameters(matmul=SMOOTH_QUANT_ALPHA)))
    if dynamic:
        step("int8 weights for the GEMMs quantised at run time")
        # the statically quantised GEMMs already hold int8 weights, which this leaves as they are
        quantised = nncf.compress_weights(quantised, mode=nncf.CompressWeightsMode.INT8_SYM,
                                          ignored_scope=nncf.IgnoredScope(patterns=side, validate=False) if side else None)
    step("writing the OpenVINO model")
    with staged_export(target) as tmp_dir:
        tmp = tmp_dir / target.name
        # no fp16 weight compression: the fp32 parts (embeddings, LayerNorm) stay as calibrated
        ov.save_model(quantised, str(tmp), compress_to_fp16=False)
        files = [tmp.with_suffix(".bin"), tmp]  # weights first, graph, then the record
        move_in(files, {**(record or {}), **file_records(files)}, target.parent)
    log.info("exported %s (OpenVINO int8, %s) to %s in %.1f s", folder, mode, target, time.perf_counter() - t0)
    return target


def ov_export_seconds_estimate(folder: Path) -> float:
    """Rough one-time export time from the checkpoint's size (2 cores): MiniLM (90 MB) ~12 s."""
    size = sum(p.stat().st_size for p in folder.iterdir() if p.suffix in (".safetensors", ".bin"))
    return 6 + 70 * size / 1e9


def ensure_ov_export(folder: Path, cache_dir: Path, tokenizer=None, token_types: bool = False,
                     mode: str = "accurate") -> tuple[Path, str]:
    """The verified OpenVINO int8 export for ``folder`` in ``mode`` and a note on how it came to be:
    ``""`` for a cached export that passed its checksums, else why it was (re-)exported now."""
    target = ov_export_path(folder, cache_dir, token_types, mode)
    scheme = ov_scheme(mode)
    note = why_export(target, "OpenVINO ")
    if note is None:
        return target, ""
    with export_progress(folder, target.parent, ov_export_seconds_estimate(folder),
                         what=f"the OpenVINO int8 model ({mode})", stages=4 if scheme.dynamic else 3) as step:
        export_ov_int8(folder, target, tokenizer=tokenizer, token_types=token_types, mode=mode, step=step, record={
            "model": str(folder), "mode": scheme.record, "token_types": token_types,
            "export_version": OV_EXPORT_VERSION, "outlier_channels": OUTLIER_CHANNELS,
            "smooth_quant_alpha": SMOOTH_QUANT_ALPHA, "versions": library_versions(OV_EXPORT_LIBRARIES)})
    # older weights or versions of the same model; first_token_only is the key's slot for token_types
    prune_stale_exports(target.parent, folder, scheme.record, first_token_only=token_types, version=OV_EXPORT_VERSION,
                        versions=library_versions(OV_EXPORT_LIBRARIES))
    return target, note


class OvInt8Backend(Backend):
    """NNCF int8 in OpenVINO on CPU (FFN outliers split off in fp32, SmoothQuant α 0.5; ``mode``
    accurate: run-time per-group activations for all but the FFN output GEMMs, fast: static
    per-tensor activations everywhere); whole last layer."""

    device = "cpu"
    precision = "int8"

    def __init__(self, folder: Path, threads: int | None = None, *, cache_dir: Path, tokenizer=None,
                 token_types: bool = False, mode: str = "accurate") -> None:
        require_openvino()
        import openvino as ov  # heavy optional dependency: only this engine pays for it

        folder = Path(folder)
        self.name = f"openvino-int8-{mode}"
        self.path, self.note = ensure_ov_export(folder, cache_dir, tokenizer, token_types, mode)
        # f32 explicitly: on AVX512_BF16 CPUs OpenVINO would pick bf16 for the fp32 parts (slower here);
        # the group size switches on the run-time quantisation of the int8-weight GEMMs (0: off)
        config = {"INFERENCE_NUM_THREADS": threads or torch.get_num_threads(), "PERFORMANCE_HINT": "LATENCY",
                  "INFERENCE_PRECISION_HINT": "f32",
                  "DYNAMIC_QUANTIZATION_GROUP_SIZE": DYNAMIC_GROUP if ov_scheme(mode).dynamic else 0}
        self.compiled = ov.Core().compile_model(str(self.path), "CPU", config)
        self._inputs = {port.get_any_name() for port in self.compiled.inputs}
        self._request = self.compiled.create_infer_request()
        self._lock = threading.Lock()  # one infer request: calls from several threads take turns
        trim_heap()
        self._dim = int(json.loads((folder / "config.json").read_text(encoding="utf-8"))["hidden_size"])

    @property
    def dim(self) -> int:
        return self._dim

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor,
                token_type_ids: torch.Tensor | None = None) -> torch.Tensor:
        feed = int64_feed(input_ids, attention_mask, token_type_ids, "token_type_ids" in self._inputs)
        with self._lock:
            result = self._request.infer(feed)  # copies the output out of the request's buffer
            hidden = result[self.compiled.output(0)]
        return torch.from_numpy(np.asarray(hidden))


def _build(request: BackendRequest) -> OvInt8Backend:
    return OvInt8Backend(request.folder, threads=request.threads, cache_dir=request.cache_dir,
                         tokenizer=request.tokenizer, token_types=request.token_types, mode=request.int8_mode)


register(BackendSpec("openvino", "OpenVINO", _build, devices=("cpu",), precisions=("int8",),
                     int8_modes=OPENVINO_INT8_MODES, check_mode=check_openvino_mode,
                     require=require_openvino, bert_family_only=True))
