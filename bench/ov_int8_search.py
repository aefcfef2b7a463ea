"""Issue 17 search: can OpenVINO static int8 be both >= 3x sentence-transformers and inside mean
|dcos| <= 0.003? Throwaway experiment script (variants of the export in gte_ui/engine/backends/openvino_int8.py).

    python bench/ov_int8_search.py acc VARIANT [VARIANT ...]   # MiniLM: STS-B 300 pairs + passages
    python bench/ov_int8_search.py speed VARIANT [...] --rounds 3  # GTE-large shape vs ST fp32

Third round (per-token/per-group activations instead of static scales): ``dyn-g128`` = the outlier
split, every other GEMM int8 weights only (``nncf.compress_weights`` INT8_SYM) and OpenVINO CPU's
dynamic activation quantisation in groups of 128 input channels; ``hyb-qkv+ao-g128`` = the static
version-2 export with the named kinds (qkv, ao = attention output, fi = FFN in, fo = FFN out)
dynamic instead; ``torch-compile`` (speed only) = the ONNX path's accurate W8A8 model under
``torch.compile(dynamic=True)`` (its arithmetic is the default's: accuracy as the default).

Variants are names in VARIANTS below. Outlier split (``split16`` etc.): before ov.convert_model each
BERT FFN's top-k input channels of the output projection (by calibration max |activation|, as the
ONNX accurate path picks them) are computed by a separate fp32 branch kept out of quantisation by
NNCF's ignored scope; the main FFN GEMMs see no outliers, so one static scale fits.
"""

from __future__ import annotations

import argparse
import gc
import statistics
import sys
import time
import warnings
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "bench")]

import nncf
import numpy as np
import openvino as ov
import torch
from torch import nn
from transformers import AutoModel, AutoTokenizer

from gte_ui.engine.backends.int8 import activation_maxima
from gte_ui.engine.backends.onnx_export import HiddenStates
from gte_ui.engine.backends.openvino_int8 import (
    GEMM_NAME_PATTERNS,
    OV_CALIBRATION_TEXTS,
    calibration_batches,
    split_ffn_outliers,
)

torch.set_num_threads(2)
CORE = ov.Core()
CFG = {"INFERENCE_NUM_THREADS": 2, "PERFORMANCE_HINT": "LATENCY", "INFERENCE_PRECISION_HINT": "f32"}


class SplitFfn(nn.Module):
    """The brief's mask form of the outlier split, kept to reproduce its row of the table:
    main = dense(h * keep), side = h[..., top] @ W_out[:, top]^T (h = the GELU output, shared by
    both). The "rows" form the engine adopted is the product's own
    :func:`gte_ui.engine.backends.openvino_int8.split_ffn_outliers`."""

    def __init__(self, intermediate: nn.Module, output_dense: nn.Linear, top: torch.Tensor) -> None:
        super().__init__()
        self.act = intermediate.intermediate_act_fn
        self.dense_in = intermediate.dense
        self.register_buffer("top", top)
        with torch.no_grad():
            self.outlier_side_out = nn.Linear(len(top), output_dense.out_features, bias=False)
            self.outlier_side_out.weight.copy_(output_dense.weight[:, top])
            keep = torch.ones(output_dense.in_features)
            keep[top] = 0
            self.register_buffer("keep", keep)
            output_dense.weight[:, top] = 0
        self.side: torch.Tensor | None = None

    def intermediate(self, x: torch.Tensor) -> torch.Tensor:
        h = self.act(self.dense_in(x))
        self.side = self.outlier_side_out(h[..., self.top])
        return h * self.keep


class SplitIntermediate(nn.Module):
    def __init__(self, ffn: SplitFfn) -> None:
        super().__init__()
        self.ffn = ffn

    def forward(self, x):
        return self.ffn.intermediate(x)


class SplitOutputDense(nn.Module):
    def __init__(self, dense: nn.Linear, ffn: SplitFfn) -> None:
        super().__init__()
        self.dense = dense
        object.__setattr__(self, "ffn", ffn)

    def forward(self, h):
        side, self.ffn.side = self.ffn.side, None
        return self.dense(h) + side


def split_outliers(model: nn.Module, tokenizer, k: int, mode: str, texts) -> None:
    """The product's split ("rows"), or the mask form (:class:`SplitFfn`) for comparison."""
    if mode == "rows":
        split_ffn_outliers(model, tokenizer, k, texts)
        return
    layers = model.encoder.layer
    names = [f"encoder.layer.{i}.output.dense" for i in range(len(layers))]
    maxima, _ = activation_maxima(model, tokenizer, texts, names)
    for i, layer in enumerate(layers):
        top = maxima[names[i]].argsort(descending=True)[:k].sort().values
        ffn = SplitFfn(layer.intermediate, layer.output.dense, top)
        layer.intermediate = SplitIntermediate(ffn)
        layer.output.dense = SplitOutputDense(layer.output.dense, ffn)


AQP = nncf.AdvancedQuantizationParameters
SQ = nncf.AdvancedSmoothQuantParameters
RE = nncf.quantization.range_estimator.RangeEstimatorParametersSet

# name -> (outlier k, split mode, quantize kwargs, advanced kwargs)
VARIANTS = {
    "static": (0, None, {}, {}),
    "split16": (16, "rows", {}, {}),
    "split32": (32, "rows", {}, {}),
    "split16mask": (16, "mask", {}, {}),
    "split32mask": (32, "mask", {}, {}),
    "split16-mixed": (16, "rows", {"preset": nncf.QuantizationPreset.MIXED}, {}),
    "split32-mixed": (32, "rows", {"preset": nncf.QuantizationPreset.MIXED}, {}),
    "split16-sq.5": (16, "rows", {}, {"smooth_quant_alphas": SQ(matmul=0.5)}),
    "split16-sq.75": (16, "rows", {}, {"smooth_quant_alphas": SQ(matmul=0.75)}),
    "split16-nosq": (16, "rows", {}, {"smooth_quant_alphas": SQ(matmul=-1)}),
    "split16-fullbc": (16, "rows", {"fast_bias_correction": False}, {}),
    "split16-meanmm": (16, "rows", {}, {"activations_range_estimator_params": RE.MEAN_MINMAX}),
    "split16-quantile": (16, "rows", {}, {"activations_range_estimator_params": RE.MEAN_QUANTILE}),
    "split32-mixed-sq.75": (32, "rows", {"preset": nncf.QuantizationPreset.MIXED}, {"smooth_quant_alphas": SQ(matmul=0.75)}),
    "static-mixed": (0, None, {"preset": nncf.QuantizationPreset.MIXED}, {}),
    "static-fullbc": (0, None, {"fast_bias_correction": False}, {}),
    # ablations: one kind of quantised op left fp32
    "fp-sdpa": (0, None, {}, {}, {"types": ["ScaledDotProductAttention"]}),
    "fp-qkv": (0, None, {}, {}, {"patterns": [r".*attention\.self\.(query|key|value)/.*MatMul"]}),
    "fp-attnout": (0, None, {}, {}, {"patterns": [r".*attention\.output\.dense/.*"]}),
    "fp-ffnin": (0, None, {}, {}, {"patterns": [r".*intermediate\.dense/.*"]}),
    "fp-ffnout": (0, None, {}, {}, {"patterns": [r".*\.output\.dense/.*"]}),
    "split16-fp-sdpa": (16, "rows", {}, {}, {"types": ["ScaledDotProductAttention"]}),
    "split32-fp-sdpa": (32, "rows", {}, {}, {"types": ["ScaledDotProductAttention"]}),
    "split16-mixed-fp-sdpa": (16, "rows", {"preset": nncf.QuantizationPreset.MIXED}, {}, {"types": ["ScaledDotProductAttention"]}),
    "mixed-fp-sdpa": (0, None, {"preset": nncf.QuantizationPreset.MIXED}, {}, {"types": ["ScaledDotProductAttention"]}),
}


def parse(variant: str):
    """A variant from VARIANTS, or composed: ``k16-sq0.5-fpsdpa-fullbc-mask-ffnsq0.3`` (outlier
    split k, SmoothQuant alpha for every MatMul, SDPA inputs fp32, full bias correction, mask form)."""
    if variant in VARIANTS:
        return VARIANTS[variant]
    k, mode, qkw, adv, ig = 0, "rows", {}, {}, {}
    for part in variant.split("-"):
        if part.startswith("k"):
            k = int(part[1:])
        elif part == "sqoff":
            adv["smooth_quant_alphas"] = SQ(matmul=-1)
        elif part.startswith("sq"):
            adv["smooth_quant_alphas"] = SQ(matmul=float(part[2:]))
        elif part == "fpsdpa":
            ig["types"] = ["ScaledDotProductAttention"]
        elif part == "fullbc":
            qkw["fast_bias_correction"] = False
        elif part == "nobc":  # no bias correction: reverting an op to fp32 then leaves no stale correction
            adv["disable_bias_correction"] = True
        elif part == "calx":
            qkw["calx"] = True
        elif part == "mask":
            mode = "mask"
        elif part in ("meanmm", "quantile", "median"):
            adv["activations_range_estimator_params"] = {"meanmm": RE.MEAN_MINMAX, "quantile": RE.MEAN_QUANTILE,
                                                         "median": RE.MEDIAN_MINMAX}[part]
        else:
            raise ValueError(part)
    return k, mode, qkw, adv, ig


#: GEMM kinds by OpenVINO node name: the engine's patterns, short names, and the FFN output (static in the engine)
KINDS = {"qkv": GEMM_NAME_PATTERNS["qkv"], "ao": GEMM_NAME_PATTERNS["attention_output"],
         "fi": GEMM_NAME_PATTERNS["ffn_input"], "fo": r".*layer\.\d+\.output\.dense/.*"}


def build_dynamic(folder: Path, variant: str, calib_texts=None):
    """``dyn-gN`` / ``hyb-KINDS-gN``: int8 weights with OpenVINO's runtime per-group activation
    quantisation (group N) for every GEMM, or only for KINDS with the rest static (split 16, α 0.5)."""
    parts = variant.split("-")
    group, kinds = int(parts[-1][1:]), (parts[1].split("+") if parts[0] == "hyb" else None)
    tok = AutoTokenizer.from_pretrained(str(folder))
    model = AutoModel.from_pretrained(str(folder), dtype=torch.float32).eval()
    calib = calibration_batches(tok)
    with torch.no_grad():
        split_ffn_outliers(model, tok, 16, calib_texts or list(OV_CALIBRATION_TEXTS))
    example = {n: torch.from_numpy(v) for n, v in calib[0].items()}
    with torch.inference_mode(), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ovm = ov.convert_model(HiddenStates(model).eval(), example_input=example)
    del model
    side = nncf.IgnoredScope(patterns=[r".*outlier_side.*"], validate=False)
    if kinds:
        ovm = nncf.quantize(ovm, nncf.Dataset(calib), model_type=nncf.ModelType.TRANSFORMER, subset_size=len(calib),
                            ignored_scope=nncf.IgnoredScope(patterns=[r".*outlier_side.*"] + [KINDS[k] for k in kinds],
                                                            validate=False),
                            advanced_parameters=AQP(smooth_quant_alphas=SQ(matmul=0.5)))
    ovm = nncf.compress_weights(ovm, mode=nncf.CompressWeightsMode.INT8_SYM, ignored_scope=side)
    return tok, CORE.compile_model(ovm, "CPU", {**CFG, "DYNAMIC_QUANTIZATION_GROUP_SIZE": group}), ovm


def build_torch_compiled(folder: Path):
    """The default's W8A8 model (accurate scheme) under torch.compile, as a numpy-in/out callable."""
    from gte_ui.engine.backends.int8 import INT8_MODES, quantize_w8a8

    tok = AutoTokenizer.from_pretrained(str(folder))
    model = AutoModel.from_pretrained(str(folder), dtype=torch.float32).eval()
    with torch.no_grad():
        quantize_w8a8(model, tokenizer=tok, alpha=0.5, **INT8_MODES["accurate"].onnx_scheme)
    compiled = torch.compile(model, dynamic=True)

    def run(feed):
        with torch.inference_mode():
            return compiled(**{n: torch.from_numpy(v) for n, v in feed.items()}).last_hidden_state.numpy()
    return tok, run, None


def build(folder: Path, variant: str, calib_texts=None):
    """The compiled OpenVINO model of ``variant`` and its tokenizer; product calibration data."""
    if variant.startswith(("dyn-", "hyb-")):
        return build_dynamic(folder, variant, calib_texts)
    if variant == "torch-compile":
        return build_torch_compiled(folder)
    k, mode, qkw, adv, *rest = parse(variant)
    ig = rest[0] if rest else {}
    tok = AutoTokenizer.from_pretrained(str(folder))
    model = AutoModel.from_pretrained(str(folder), dtype=torch.float32).eval()
    calib = calibration_batches(tok)
    if qkw.pop("calx", False):  # more and longer calibration inputs: the same texts joined 4 and 8 at a time
        texts = list(OV_CALIBRATION_TEXTS)
        for n in (4, 8):
            joined = [" ".join(texts[(i * 5 + j * 11) % len(texts)] for j in range(n)) for i in range(len(texts))]
            for i in range(0, len(joined), 4):
                e = tok(joined[i:i + 4], padding=True, truncation=True, return_tensors="np")
                calib.append({n_: e[n_].astype(np.int64) for n_ in ("input_ids", "attention_mask")})
    if k:
        split_outliers(model, tok, k, mode, calib_texts or list(OV_CALIBRATION_TEXTS))
    example = {n: torch.from_numpy(v) for n, v in calib[0].items()}
    with torch.inference_mode(), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ovm = ov.convert_model(HiddenStates(model).eval(), example_input=example)
    del model
    patterns = ([r".*outlier_side.*"] if k else []) + ig.get("patterns", [])
    ignored = nncf.IgnoredScope(patterns=patterns, types=ig.get("types", []), validate=False) if patterns or ig else None
    q = nncf.quantize(ovm, nncf.Dataset(calib), model_type=nncf.ModelType.TRANSFORMER, subset_size=len(calib),
                      ignored_scope=ignored, advanced_parameters=AQP(**adv) if adv else None, **qkw)
    return tok, CORE.compile_model(q, "CPU", CFG), q


def mean_pool(h, m):
    m = m[..., None].astype(np.float32)
    v = (h * m).sum(1) / m.sum(1)
    return v / np.linalg.norm(v, axis=1, keepdims=True)


def encode(fn, tok, texts, max_length, batch=16):
    out = []
    for i in range(0, len(texts), batch):
        e = tok(texts[i:i + batch], return_tensors="np", padding=True, truncation=True, max_length=max_length)
        feed = {"input_ids": e["input_ids"].astype(np.int64), "attention_mask": e["attention_mask"].astype(np.int64)}
        out.append(mean_pool(fn(feed), feed["attention_mask"]))
    return np.concatenate(out)


def accuracy(variants: list[str]) -> None:
    from passages import minilm_512, passage_pairs

    from gte_ui.core.pairs import read_stsb_en

    folder = minilm_512()
    tok = AutoTokenizer.from_pretrained(str(folder))
    ref_model = AutoModel.from_pretrained(str(folder)).eval()

    def torch_fn(feed):
        with torch.inference_mode():
            return ref_model(**{n: torch.from_numpy(v) for n, v in feed.items()}).last_hidden_state.numpy()

    stsb = read_stsb_en(ROOT / "tests" / "data" / "stsb_en" / "sts-test.tsv")
    sets = {"stsb": (stsb.a[:300], stsb.b[:300], 128)}
    for length in (128, 256, 512):
        a, b = passage_pairs(tok, length, 24)
        sets[f"p{length}"] = (a, b, length)
    refs = {name: (encode(torch_fn, tok, a, n) * encode(torch_fn, tok, b, n)).sum(1) for name, (a, b, n) in sets.items()}
    print(f"{'variant':24s} " + " ".join(f"{s:>14s}" for s in sets) + "   (mean / max |dcos|)", flush=True)
    for v in variants:
        t = time.perf_counter()
        if v == "ac":
            compiled = CORE.compile_model(_AC_MODEL, "CPU", CFG)
        else:
            _, compiled, _ = build(folder, v)
        fn = lambda feed, c=compiled: np.asarray(c(feed)[0])
        cells = []
        for name, (a, b, n) in sets.items():
            d = np.abs((encode(fn, tok, a, n) * encode(fn, tok, b, n)).sum(1) - refs[name])
            cells.append(f"{d.mean():.4f}/{d.max():.3f}")
        print(f"{v:24s} " + " ".join(f"{c:>14s}" for c in cells) + f"   ({time.perf_counter() - t:.0f} s)", flush=True)


def speed(variants: list[str], rounds: int) -> None:
    from bench_speed import sentences
    from sentence_transformers import SentenceTransformer

    from gte_ui.testing.toymodel import cached_random_bert

    folder = cached_random_bert()
    built = {}
    for v in variants:
        t = time.perf_counter()
        tok, compiled, _ = build(folder, v, calib_texts=sentences(64, 40, seed=5))
        if v == "torch-compile":
            compiled(calibration_batches(tok)[0])  # the one-time compile, outside the timing
        built[v] = compiled
        print(f"built {v} in {time.perf_counter() - t:.0f} s", flush=True)
        gc.collect()
    st = SentenceTransformer(str(folder), device="cpu")
    shapes = {128: 8, 256: 4, 512: 2}
    texts = {n: sentences(b, n, seed=n) for n, b in shapes.items()}
    feeds = {}
    for n in shapes:
        e = tok(texts[n], return_tensors="np", padding=True, truncation=True, max_length=n)
        feeds[n] = {"input_ids": e["input_ids"].astype(np.int64), "attention_mask": e["attention_mask"].astype(np.int64)}
        for c in built.values():
            c(feeds[n])  # warm-up
        st.encode(texts[n], batch_size=len(texts[n]))
    ratios = {v: {n: [] for n in shapes} for v in variants}
    for r in range(rounds):
        load = Path("/proc/loadavg").read_text().split()[0]
        for n in shapes:
            t = time.perf_counter()
            st.encode(texts[n], batch_size=len(texts[n]))
            st_s = time.perf_counter() - t
            line = []
            for v, c in (built.items() if r % 2 == 0 else reversed(built.items())):
                t = time.perf_counter()
                c(feeds[n])
                ratios[v][n].append(st_s / (time.perf_counter() - t))
            line = "  ".join(f"{v} {ratios[v][n][-1]:.2f}x" for v in variants)
            print(f"round {r + 1} load {load} tokens {n}: ST {st_s:.2f} s  {line}", flush=True)
    print("median x ST:", flush=True)
    for v in variants:
        print(f"  {v:24s} " + "  ".join(f"{n}: {statistics.median(ratios[v][n]):.2f}x ({', '.join(f'{x:.2f}' for x in ratios[v][n])})"
                                          for n in shapes), flush=True)
    print("loadavg", Path("/proc/loadavg").read_text().strip())


def accuracy_control(base: str, max_drop: float) -> None:
    """nncf.quantize_with_accuracy_control on MiniLM from ``base``; metric = -mean |dcos| vs fp32 on
    200 held-out STS-B pairs (rows 800-999, apart from the 300 scored); then the scored table."""
    from passages import minilm_512

    from gte_ui.core.pairs import read_stsb_en

    folder = minilm_512()
    k, mode, qkw, adv, *rest = parse(base)
    ig = rest[0] if rest else {}
    tok = AutoTokenizer.from_pretrained(str(folder))
    model = AutoModel.from_pretrained(str(folder), dtype=torch.float32).eval()
    calib = calibration_batches(tok)
    if k:
        split_outliers(model, tok, k, mode, list(OV_CALIBRATION_TEXTS))
    stsb = read_stsb_en(ROOT / "tests" / "data" / "stsb_en" / "sts-test.tsv")
    va, vb = stsb.a[800:1000], stsb.b[800:1000]
    ref_model = AutoModel.from_pretrained(str(folder)).eval()

    def torch_fn(feed):
        with torch.inference_mode():
            return ref_model(**{n: torch.from_numpy(v) for n, v in feed.items()}).last_hidden_state.numpy()

    items = []
    for i in range(0, len(va), 4):
        fa = [tok(va[i:i + 4], return_tensors="np", padding=True), tok(vb[i:i + 4], return_tensors="np", padding=True)]
        fa = [{n: e[n].astype(np.int64) for n in ("input_ids", "attention_mask")} for e in fa]
        ref = (mean_pool(torch_fn(fa[0]), fa[0]["attention_mask"]) * mean_pool(torch_fn(fa[1]), fa[1]["attention_mask"])).sum(1)
        items.append((fa[0], fa[1], ref))

    def validate(compiled, data):
        per = []
        for fa, fb, ref in data:
            ca = mean_pool(np.asarray(compiled(fa)[0]), fa["attention_mask"])
            cb = mean_pool(np.asarray(compiled(fb)[0]), fb["attention_mask"])
            per.append(float(-np.abs((ca * cb).sum(1) - ref).mean()))  # one value per dataset item
        return float(np.mean(per)), per

    example = {n: torch.from_numpy(v) for n, v in calib[0].items()}
    with torch.inference_mode(), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ovm = ov.convert_model(HiddenStates(model).eval(), example_input=example)
    patterns = ([r".*outlier_side.*"] if k else []) + ig.get("patterns", [])
    ignored = nncf.IgnoredScope(patterns=patterns, types=ig.get("types", []), validate=False) if patterns or ig else None
    t = time.perf_counter()
    q = nncf.quantize_with_accuracy_control(
        ovm, nncf.Dataset(calib), nncf.Dataset(items), validate, max_drop=max_drop, subset_size=len(calib),
        model_type=nncf.ModelType.TRANSFORMER, ignored_scope=ignored,
        advanced_quantization_parameters=AQP(**adv) if adv else None, **qkw)
    print(f"accuracy control from {base}, max_drop {max_drop}: {time.perf_counter() - t:.0f} s", flush=True)
    fq_in = sorted({t_.get_node().get_friendly_name() for op in q.get_ordered_ops() if op.get_type_name() == "FakeQuantize"
                    for t_ in op.output(0).get_target_inputs() if t_.get_node().get_type_name() == "MatMul"})
    all_mm = sorted(op.get_friendly_name() for op in q.get_ordered_ops() if op.get_type_name() == "MatMul"
                    and "outlier_side" not in op.get_friendly_name())
    print("fp32 MatMuls (no quantised input):", [n for n in all_mm if n not in fq_in], flush=True)
    ov.save_model(q, "/tmp/ovacc_ac.xml", compress_to_fp16=False)
    VARIANTS["ac"] = None
    global _AC_MODEL
    _AC_MODEL = q


if __name__ == "__main__":
    p = argparse.ArgumentParser()
    p.add_argument("what", choices=["acc", "speed", "ac"])
    p.add_argument("--max-drop", type=float, default=0.0025)
    p.add_argument("variants", nargs="+")
    p.add_argument("--rounds", type=int, default=3)
    a = p.parse_args()
    if a.what == "ac":
        accuracy_control(a.variants[0], a.max_drop)
        accuracy(["ac"])
    else:
        accuracy(a.variants) if a.what == "acc" else speed(a.variants, a.rounds)
