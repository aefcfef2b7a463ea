"""INT8 paths: each within its stated bound of fp32 on the real MiniLM (STS-B test pairs), and the
ONNX Runtime export computing what the PyTorch W8A8 model computes.

Speed is shown by bench/bench_speed.py, not here. Exports go to the session's throw-away
``GTE_EXPORT_CACHE`` (tests/conftest.py) or to ``tmp_path``.
"""

from __future__ import annotations

import os

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from gte_ui.core.scoring import spearman
from gte_ui.core.settings import Settings
from gte_ui.engine.backends.int8 import (
    INT8_MODES,
    QuantLinearOnnx,
    W8A8Linear,
    W8A8Slice,
    quantize_w8a8,
    zero_point_rows,
)
from gte_ui.engine.encoder import Encoder

# (engine, mode) -> (max mean |dcos|, max Spearman drop in points), as documented in README.
# The eager PyTorch W8A8 path is left out here (~50 s on 2 busy cores): it computes what the
# exported graph computes (test_onnx_export_matches_torch_w8a8_and_is_reused).
BOUNDS = {
    ("onnx", "accurate"): (0.003, 0.5),
    ("onnx", "fast"): (0.006, 0.5),
    ("torch", "dynamic"): (0.05, 2.0),
}


@torch.no_grad()
def test_w8a8_linear_tracks_fp32_and_smoothing_tames_outliers():
    torch.manual_seed(0)
    lin = torch.nn.Linear(256, 64)
    x = torch.randn(3, 7, 256)
    x[..., 5] *= 60.0  # one outlier channel, as in BERT's FFN activations
    ref = lin(x)

    def rel_error(layer):
        got = layer(x)
        assert got.shape == ref.shape
        return float((got - ref).norm() / ref.norm())

    plain = rel_error(W8A8Linear(lin))
    x_max = x.reshape(-1, 256).abs().amax(0)
    w_max = lin.weight.abs().amax(0)
    smoothed = rel_error(W8A8Linear(lin, (x_max.sqrt() / w_max.sqrt())))
    grouped = rel_error(W8A8Linear(lin, None, 64))
    assert plain < 0.05
    assert smoothed < plain / 2 and grouped < plain  # both remedies help
    clean = torch.randn(4, 256)
    np.testing.assert_allclose(W8A8Linear(lin)(clean), lin(clean), atol=0.05)
    # 7-bit weights (CPUs without VNNI) still track fp32, a little less closely
    seven = rel_error(W8A8Linear(lin, (x_max.sqrt() / w_max.sqrt()), weight_max=63))
    assert smoothed < seven < 0.05


@torch.no_grad()
def test_fused_layers_give_exactly_the_separate_layers_outputs():
    """Q, K and V fused into one GEMM: per-channel weight scales and per-token activation scales
    make each part's output identical to quantising that layer alone."""
    torch.manual_seed(1)
    parts = [torch.nn.Linear(96, n) for n in (32, 32, 48)]
    fused_fp32 = torch.nn.Linear(96, 112)
    fused_fp32.weight.copy_(torch.cat([p.weight for p in parts]))
    fused_fp32.bias.copy_(torch.cat([p.bias for p in parts]))
    fused = W8A8Linear(fused_fp32, splits=[32, 32, 48])
    key, value = W8A8Slice(fused, 1), W8A8Slice(fused, 2)
    x = torch.randn(2, 5, 96)
    got = [fused(x), key(x), value(x)]
    for lin, out in zip(parts, got):
        assert torch.equal(out, W8A8Linear(lin)(x))
    other = torch.randn(2, 5, 96)  # a slice asked about another input recomputes, never reuses
    assert torch.equal(value(other), W8A8Linear(parts[2])(other))


@settings(max_examples=60, deadline=None)
@given(k=st.integers(1, 300), n=st.integers(1, 40), weight_max=st.sampled_from([63, 127]),
       seed=st.integers(0, 2**31 - 1))
def test_zero_point_rows_cancel_the_column_sums_exactly(k, n, weight_max, seed):
    g = torch.Generator().manual_seed(seed)
    w = torch.randint(-weight_max, weight_max + 1, (k, n), generator=g, dtype=torch.int8)
    rows = zero_point_rows(w, weight_max)
    assert rows.dtype == torch.int8 and rows.shape[1] == n
    assert int(rows.abs().max()) <= weight_max  # stays inside what the u8 x s8 kernel takes
    assert torch.equal(rows.long().sum(0), -w.long().sum(0))
    # few rows: at most one more than the largest column sum needs
    assert rows.shape[0] <= max(1, -(-int(w.long().sum(0).abs().max()) // weight_max))


@torch.no_grad()
def test_asymmetric_activations_are_exact_integer_arithmetic_and_beat_symmetric_on_gelu_outputs():
    torch.manual_seed(3)
    lin = torch.nn.Linear(128, 48)
    x = torch.nn.functional.gelu(torch.randn(5, 9, 128) * 2)  # lopsided rows: >= -0.17, long right tail
    ref = lin(x)
    asym, sym = W8A8Linear(lin, asymmetric=True), W8A8Linear(lin)
    assert asym.weight_q.shape[0] > 128  # the zero-point rows live below the weights
    got = asym(x)
    # the int8 kernel path (torch._int_mm) equals the float simulation the exporter traces
    want = QuantLinearOnnx.forward(None, x, None, asym.weight_q, asym.weight_scale, asym.bias,
                                   asym.weight_q.shape[0] - 128, 0)
    torch.testing.assert_close(got, want, rtol=1e-5, atol=1e-5)

    def err(y):
        return float((y - ref).norm() / ref.norm())

    assert err(got) < 0.7 * err(sym(x)) and err(got) < 0.01


def test_quantize_fuses_qkv_folds_value_and_drops_fp32_weights(tiny_model_dir):
    from transformers import AutoModel, AutoTokenizer

    model = AutoModel.from_pretrained(tiny_model_dir).eval()
    tok = AutoTokenizer.from_pretrained(tiny_model_dir)
    ids = tok(["今天天气很好", "手机电池续航很强"], padding=True, return_tensors="pt")
    with torch.no_grad():
        ref = model(**ids).last_hidden_state
    quantize_w8a8(model, tokenizer=tok, alpha=0.5, keep_fp32=(r"pooler", r"layer\.\d+\.output\.dense"))
    kinds = {name: type(m).__name__ for name, m in model.named_modules()}
    assert kinds["encoder.layer.0.attention.self.query"] == "W8A8Linear"  # Q+K+V as one GEMM
    assert kinds["encoder.layer.0.attention.self.key"] == "W8A8Slice"
    assert kinds["encoder.layer.0.attention.self.value"] == "W8A8Slice"
    assert kinds["encoder.layer.0.intermediate.dense"] == "W8A8Linear"
    assert kinds["encoder.layer.0.output.dense"] == "Linear"  # kept fp32 in accurate mode
    out_proj = model.get_submodule("encoder.layer.0.attention.output.dense")
    assert out_proj.inv_smooth is None  # its smoothing division lives in V's weights
    qkv = model.get_submodule("encoder.layer.1.attention.self.query")
    assert qkv.weight_q.dtype == torch.int8 and qkv.splits == [model.config.hidden_size] * 3
    assert not any(p.dtype == torch.float32 and p.dim() == 2 for p in qkv.parameters())
    with torch.no_grad():
        got = model(**ids).last_hidden_state
    mask = ids["attention_mask"].bool()
    cos = torch.nn.functional.cosine_similarity(got[mask], ref[mask], dim=-1)
    assert cos.min() > 0.99, cos


def test_onnx_export_matches_torch_w8a8_and_is_reused(tiny_model_dir, tmp_path, monkeypatch):
    from transformers import AutoModel, AutoTokenizer

    from gte_ui.engine.backends import onnx_export as onnx_backend
    from gte_ui.engine.backends.onnx_export import OrtInt8Backend

    backend = OrtInt8Backend(tiny_model_dir, mode="fast", cache_dir=tmp_path)
    assert backend.path.is_file() and backend.path.parent.parent == tmp_path
    assert backend.name == "onnx-int8-fast" and backend.precision == "int8" and backend.dim == model_dim(tiny_model_dir)
    model = AutoModel.from_pretrained(tiny_model_dir).eval()
    tok = AutoTokenizer.from_pretrained(tiny_model_dir)
    quantize_w8a8(model, tokenizer=tok, alpha=0.5, weight_max=127 if onnx_backend.cpu_has_vnni() else 63,
                  **INT8_MODES["fast"].onnx_scheme)
    # batch 1 and a padded batch of 3: shapes the export never saw
    for texts in (["北京"], ["今天天气很好", "手机电池续航很强，用一天没问题", "好"]):
        ids = tok(texts, padding=True, return_tensors="pt")
        got = backend.forward(ids["input_ids"], ids["attention_mask"])
        with torch.no_grad():
            want = model(**ids).last_hidden_state
        assert got.shape == want.shape
        mask = ids["attention_mask"].bool()
        cos = torch.nn.functional.cosine_similarity(got[mask], want[mask], dim=-1)
        assert cos.min() > 0.999, cos  # same arithmetic; only rounding ties may differ

    def no_export(*args, **kwargs):
        raise AssertionError("the cached export should have been reused")

    monkeypatch.setattr(onnx_backend, "export_int8", no_export)
    again = OrtInt8Backend(tiny_model_dir, mode="fast", cache_dir=tmp_path)
    assert again.path == backend.path
    with pytest.raises(AssertionError, match="reused"):  # another mode is another export
        OrtInt8Backend(tiny_model_dir, mode="accurate", cache_dir=tmp_path)


def test_accurate_export_is_asymmetric_with_fp32_outlier_channels(tiny_model_dir, tmp_path):
    """accurate = asymmetric uint8 activations everywhere, each FFN's outlier channels split off
    in fp32; the exported graph computes what the PyTorch model quantised the same way computes."""
    import onnx
    from transformers import AutoModel, AutoTokenizer

    from gte_ui.engine.backends import onnx_export as onnx_backend
    from gte_ui.engine.backends.int8 import OutlierInputLinear, SplitIntermediate
    from gte_ui.engine.backends.onnx_export import OrtInt8Backend

    backend = OrtInt8Backend(tiny_model_dir, mode="accurate", cache_dir=tmp_path)
    ops = [n.op_type for n in onnx.load(str(backend.path), load_external_data=False).graph.node]
    layers = AutoModel.from_pretrained(tiny_model_dir).config.num_hidden_layers
    # QKV, attention output, FFN in (main + outlier part), FFN out
    assert ops.count("MatMulIntegerToFloat") == 5 * layers
    assert ops.count("QuantizeLinear") == 4 * layers  # both FFN-in parts share one quantised input
    assert "MatMulNBits" not in ops
    # attention is one fused node a layer (its padding mask checked by the padded batch below)
    assert ops.count("MultiHeadAttention") == layers and "Softmax" not in ops
    model = AutoModel.from_pretrained(tiny_model_dir).eval()
    tok = AutoTokenizer.from_pretrained(tiny_model_dir)
    quantize_w8a8(model, tokenizer=tok, alpha=0.5, weight_max=127 if onnx_backend.cpu_has_vnni() else 63,
                  **INT8_MODES["accurate"].onnx_scheme)
    assert isinstance(model.get_submodule("encoder.layer.0.intermediate.dense"), SplitIntermediate)
    out = model.get_submodule("encoder.layer.0.output.dense")
    assert isinstance(out, OutlierInputLinear) and out.side_weight_t.shape[0] == 8
    assert out.main.asymmetric and out.main.inv_smooth is None  # the split FFN output is not smoothed
    for texts in (["北京"], ["今天天气很好", "手机电池续航很强，用一天没问题", "好"]):
        ids = tok(texts, padding=True, return_tensors="pt")
        got = backend.forward(ids["input_ids"], ids["attention_mask"])
        with torch.no_grad():
            want = model(**ids).last_hidden_state
        mask = ids["attention_mask"].bool()
        cos = torch.nn.functional.cosine_similarity(got[mask], want[mask], dim=-1)
        assert cos.min() > 0.999, cos


@pytest.mark.parametrize("mode", ["accurate", "fast"])
def test_first_token_only_export_gives_the_same_cls_state_from_a_smaller_graph(tiny_model_dir, tmp_path, mode):
    """For CLS pooling the export's last layer runs the attention output projection and the FFN
    on the first token only; the state it returns is the full export's first row."""
    import onnx
    from transformers import AutoTokenizer

    from gte_ui.engine.backends.onnx_export import FIRST_TOKEN_OUTPUT, OrtInt8Backend

    full = OrtInt8Backend(tiny_model_dir, mode=mode, cache_dir=tmp_path)
    first = OrtInt8Backend(tiny_model_dir, mode=mode, cache_dir=tmp_path, first_token_only=True)
    assert not full.first_token_only and first.first_token_only and first.path != full.path
    graph = onnx.load(str(first.path), load_external_data=False).graph
    assert [o.name for o in graph.output] == [FIRST_TOKEN_OUTPUT]
    tok = AutoTokenizer.from_pretrained(tiny_model_dir)
    for texts in (["北京"], ["今天天气很好", "手机电池续航很强，用一天没问题", "好"]):
        ids = tok(texts, padding=True, return_tensors="pt")
        want = full.forward(ids["input_ids"], ids["attention_mask"])
        got = first.forward(ids["input_ids"], ids["attention_mask"])
        assert want.shape[1] == ids["input_ids"].shape[1] and got.shape == (len(texts), 1, want.shape[2])
        torch.testing.assert_close(got[:, 0], want[:, 0], atol=1e-5, rtol=1e-5)


def test_export_cache_setting_decides_where_the_export_goes(tiny_model_dir, tmp_path):
    from gte_ui.core.settings import parse_settings

    settings = parse_settings(["--model", str(tiny_model_dir), "--precision", "int8"],
                              env={"GTE_EXPORT_CACHE": str(tmp_path / "exports")})
    enc = Encoder.load(settings)
    assert enc.info.backend == "onnx-int8-accurate"
    assert enc.backend.path.parent.parent == tmp_path / "exports"
    assert enc.encode(["北京"]).vectors.shape == (1, model_dim(tiny_model_dir))


def model_dim(folder) -> int:
    import json

    return json.loads((folder / "config.json").read_text(encoding="utf-8"))["hidden_size"]


@pytest.fixture(scope="module")
def fp32_cosines(minilm_dir, stsb_en):
    enc = Encoder.load(Settings(model=str(minilm_dir), precision="fp32"))
    a, b = enc.encode(stsb_en.a).vectors, enc.encode(stsb_en.b).vectors
    return (a * b).sum(1)


@pytest.mark.slow
@pytest.mark.parametrize("engine,mode", list(BOUNDS))
def test_int8_path_within_its_bound(minilm_dir, stsb_en, fp32_cosines, engine, mode):
    enc = Encoder.load(Settings(model=str(minilm_dir), precision="int8", int8_mode=mode,
                                int8_engine=engine, export_cache=os.environ["GTE_EXPORT_CACHE"]))
    expected = f"onnx-int8-{mode}" if engine == "onnx" and mode != "dynamic" else f"torch-int8-{mode}"
    assert enc.info.precision == "int8" and enc.info.backend == expected
    a, b = enc.encode(stsb_en.a).vectors, enc.encode(stsb_en.b).vectors
    cos = (a * b).sum(1)
    delta = np.abs(cos - fp32_cosines)
    drop = (spearman(fp32_cosines, stsb_en.labels) - spearman(cos, stsb_en.labels)) * 100
    print(f"\nint8 {engine}/{mode}: mean |dcos| {delta.mean():.4f}, max {delta.max():.4f}, "
          f"Spearman drop {drop:.2f} pt")
    max_mean, max_drop = BOUNDS[(engine, mode)]
    assert delta.mean() <= max_mean and drop <= max_drop
    # same text twice -> identical vector, also in int8
    assert np.array_equal(enc.encode(["same text"]).vectors, enc.encode(["same text"]).vectors)


def test_int8_settings_are_validated():
    from gte_ui.core.errors import ConfigError
    from gte_ui.core.settings import parse_settings

    with pytest.raises(ConfigError, match="choose one of: accurate, fast, dynamic"):
        parse_settings(["--int8-mode", "turbo"], env={})
    with pytest.raises(ConfigError, match="choose one of: onnx, torch"):
        parse_settings(["--int8-engine", "tvm"], env={})
    assert parse_settings([], env={"GTE_INT8_ENGINE": "torch"}).int8_engine == "torch"
