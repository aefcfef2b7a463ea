"""engine/memory.py: a model's memory cost from its weight files, before loading it."""

from __future__ import annotations

import json
import struct

import pytest
import torch
from safetensors.torch import save_file

from gte_ui.engine.memory import (
    OVERHEAD_BYTES,
    count_weights,
    estimate_bytes,
    human_bytes,
    release_free_memory,
)


def test_weight_count_is_exact(minilm_dir):
    from transformers import AutoModel

    model = AutoModel.from_pretrained(str(minilm_dir))
    counted = count_weights(minilm_dir)
    assert counted.params == sum(p.numel() for p in model.parameters())
    assert counted.embedding_params == sum(p.numel() for n, p in model.named_parameters() if "embeddings" in n)
    assert estimate_bytes(minilm_dir, "fp32") > estimate_bytes(minilm_dir, "int8") > counted.params


def test_int8_keeps_embedding_tables_in_fp32_and_integer_buffers_are_not_weights(tmp_path):
    save_file({"embeddings.word_embeddings.weight": torch.zeros(100, 8),  # 800 params, kept fp32 by int8
               "encoder.layer.0.dense.weight": torch.zeros(40, 10, dtype=torch.float16),  # 400 params
               "embeddings.position_ids": torch.zeros(1, 512, dtype=torch.int64)}, str(tmp_path / "model.safetensors"))
    w = count_weights(tmp_path)
    assert (w.params, w.embedding_params) == (1200, 800)
    assert w.file_bytes == (tmp_path / "model.safetensors").stat().st_size
    assert estimate_bytes(tmp_path, "fp32") == 1200 * 4 + OVERHEAD_BYTES
    assert estimate_bytes(tmp_path, "bf16") == 1200 * 2 + OVERHEAD_BYTES
    assert estimate_bytes(tmp_path, "int8") == 400 * 1 + 800 * 4 + OVERHEAD_BYTES


def test_a_pytorch_bin_is_read_as_fp32_and_a_damaged_header_counts_nothing(tmp_path):
    (tmp_path / "pytorch_model.bin").write_bytes(b"\0" * 4000)
    assert count_weights(tmp_path).params == 1000
    damaged = tmp_path / "damaged"
    damaged.mkdir()
    (damaged / "model.safetensors").write_bytes(struct.pack("<Q", 10) + b"{not json!")
    (damaged / "huge.safetensors").write_bytes(struct.pack("<Q", 2**40) + json.dumps({}).encode())
    assert count_weights(damaged).params == 0
    assert estimate_bytes(tmp_path / "empty-folder-that-does-not-exist", "fp32") == OVERHEAD_BYTES


@pytest.mark.parametrize(("n", "text"), [(0, "0 B"), (1023, "1023 B"), (1536, "1.5 KB"), (5 * 2**20, "5.0 MB"),
                                         (1.5 * 2**30, "1.5 GB"), (3 * 2**40, "3072.0 GB")])
def test_human_bytes(n, text):
    assert human_bytes(n) == text


def test_release_free_memory_says_false_without_glibc(monkeypatch):
    from gte_ui.engine import memory

    def no_glibc(name):
        raise OSError(f"{name}: cannot open shared object file")

    monkeypatch.setattr(memory.ctypes, "CDLL", no_glibc)  # musl / macOS / Windows have no libc.so.6
    assert release_free_memory() is False
