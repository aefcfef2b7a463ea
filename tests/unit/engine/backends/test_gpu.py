"""CUDA fp16 path: vectors within bound of CPU fp32 on the real MiniLM. Skipped without a GPU.

CI has no GPU; run ``python -m pytest -q -m gpu`` on a CUDA machine. Speed on the GPU is
reported by ``bench/bench_speed.py`` (its "gte_ui cuda fp16" row), never asserted here.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from gte_ui.core.settings import Settings
from gte_ui.engine.encoder import Encoder
from gte_ui.core.scoring import spearman

pytestmark = [pytest.mark.gpu,
              pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")]


def test_auto_picks_cuda_fp16(tiny_model_dir):
    enc = Encoder.load(Settings(model=str(tiny_model_dir)))  # device/precision auto
    assert (enc.info.device, enc.info.precision) == ("cuda", "fp16")
    vectors = enc.encode(["今天天气很好", "手机电池续航很强"]).vectors
    assert vectors.dtype == np.float32 and np.allclose(np.linalg.norm(vectors, axis=1), 1, atol=1e-3)


def test_fp16_tracks_cpu_fp32_on_stsb(minilm_dir, stsb_en):
    cpu = Encoder.load(Settings(model=str(minilm_dir), device="cpu", precision="fp32"))
    gpu = Encoder.load(Settings(model=str(minilm_dir), device="cuda", precision="fp16"))
    cos32 = (cpu.encode(stsb_en.a).vectors * cpu.encode(stsb_en.b).vectors).sum(1)
    cos16 = (gpu.encode(stsb_en.a).vectors * gpu.encode(stsb_en.b).vectors).sum(1)
    delta = np.abs(cos16 - cos32)
    drop = (spearman(cos32, stsb_en.labels) - spearman(cos16, stsb_en.labels)) * 100
    print(f"\ncuda fp16 vs cpu fp32: mean |dcos| {delta.mean():.5f}, max {delta.max():.5f}, drop {drop:.3f} pt")
    assert delta.mean() <= 0.001 and delta.max() <= 0.01 and abs(drop) <= 0.1


def test_int8_on_cuda_is_refused_clearly(tiny_model_dir):
    from gte_ui.core.errors import ConfigError

    with pytest.raises(ConfigError, match="int8 is the CPU path"):
        Encoder.load(Settings(model=str(tiny_model_dir), device="cuda", precision="int8"))
