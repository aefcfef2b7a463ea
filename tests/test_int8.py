"""INT8 paths: each within its stated bound of fp32 on the real MiniLM (STS-B test pairs).

Speed is shown by bench/bench_speed.py, not here.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from gte_ui.config import Settings
from gte_ui.encoder import Encoder
from gte_ui.int8 import W8A8Linear, quantize_w8a8
from gte_ui.similarity import spearman

# mode -> (max mean |dcos|, max Spearman drop in points), as documented in README
BOUNDS = {"accurate": (0.003, 0.5), "fast": (0.006, 0.5), "dynamic": (0.05, 2.0)}


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


def test_quantize_replaces_linears_and_drops_fp32_weights(tiny_model_dir):
    from transformers import AutoModel, AutoTokenizer

    model = AutoModel.from_pretrained(tiny_model_dir).eval()
    tok = AutoTokenizer.from_pretrained(tiny_model_dir)
    quantize_w8a8(model, tokenizer=tok, alpha=0.5, keep_fp32=(r"pooler", r"layer\.\d+\.output\.dense"))
    kinds = {name: type(m).__name__ for name, m in model.named_modules()}
    assert kinds["encoder.layer.0.attention.self.query"] == "W8A8Linear"
    assert kinds["encoder.layer.0.intermediate.dense"] == "W8A8Linear"
    assert kinds["encoder.layer.0.output.dense"] == "Linear"  # kept fp32 in accurate mode
    assert kinds["encoder.layer.0.attention.output.dense"] == "W8A8Linear"
    q = model.get_submodule("encoder.layer.1.attention.self.key")
    assert q.weight_q.dtype == torch.int8 and not any(p.dtype == torch.float32 and p.dim() == 2
                                                      for p in q.parameters())


@pytest.fixture(scope="module")
def fp32_cosines(minilm_dir, stsb_en):
    enc = Encoder.load(Settings(model=str(minilm_dir)))
    a, b = enc.encode(stsb_en.a).vectors, enc.encode(stsb_en.b).vectors
    return (a * b).sum(1)


@pytest.mark.slow
@pytest.mark.parametrize("mode", ["accurate", "fast", "dynamic"])
def test_int8_mode_within_its_bound(minilm_dir, stsb_en, fp32_cosines, mode):
    enc = Encoder.load(Settings(model=str(minilm_dir), precision="int8", int8_mode=mode))
    assert enc.info.precision == "int8" and enc.info.backend == f"torch-int8-{mode}"
    a, b = enc.encode(stsb_en.a).vectors, enc.encode(stsb_en.b).vectors
    cos = (a * b).sum(1)
    delta = np.abs(cos - fp32_cosines)
    drop = (spearman(fp32_cosines, stsb_en.labels) - spearman(cos, stsb_en.labels)) * 100
    print(f"\nint8 {mode}: mean |dcos| {delta.mean():.4f}, max {delta.max():.4f}, Spearman drop {drop:.2f} pt")
    max_mean, max_drop = BOUNDS[mode]
    assert delta.mean() <= max_mean and drop <= max_drop
    # same text twice -> identical vector, also in int8
    assert np.array_equal(enc.encode(["same text"]).vectors, enc.encode(["same text"]).vectors)


def test_int8_mode_setting_is_validated():
    from gte_ui.config import parse_settings
    from gte_ui.errors import ConfigError

    with pytest.raises(ConfigError, match="choose one of: accurate, fast, dynamic"):
        parse_settings(["--int8-mode", "turbo"], env={})
