"""Passages: batches formed by padded tokens (--max-batch-tokens) in the encoder, the dynamic
batcher and ``embed``, over a real tiny BERT with GTE's 512-token limit."""

from __future__ import annotations

import re
import time
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest
from batching_kit import GatedEncode  # the gate both batching test files hold the worker with
import torch

from gte_ui.core.errors import ConfigError
from gte_ui.core.settings import Settings, parse_settings
from gte_ui.engine.backends.registry import Backend
from gte_ui.engine.batching import DynamicBatcher
from gte_ui.engine.encoder import Encoder, plan_batches


class RecordingBackend(Backend):
    """A real backend that records the [rows, width] of every forward pass it runs."""

    def __init__(self, inner: Backend) -> None:
        self.inner = inner
        self.name, self.device, self.precision = inner.name, inner.device, inner.precision
        self.first_token_only = inner.first_token_only
        self.shapes: list[tuple[int, int]] = []

    @property
    def dim(self) -> int:
        return self.inner.dim

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        self.shapes.append(tuple(input_ids.shape))
        return self.inner.forward(input_ids, attention_mask)


@pytest.fixture(scope="module")
def long_model_dir(tmp_path_factory):
    from gte_ui.testing.toymodel import build_random_bert

    return build_random_bert(tmp_path_factory.mktemp("tiny-512"), "tiny-512", seed=1)


@pytest.fixture(scope="module")
def long_encoder(long_model_dir):
    return Encoder.load(Settings(model=str(long_model_dir), device="cpu", precision="fp32"))


def recording(encoder: Encoder, *, batch_size: int, max_batch_tokens: int | None) -> Encoder:
    return Encoder(encoder.tokenizer, RecordingBackend(encoder.backend), pooling=encoder.pooling,
                   max_length=encoder.max_length, batch_size=batch_size, max_batch_tokens=max_batch_tokens)


def passage(i: int, chars: int) -> str:
    """A distinct Chinese text of ``chars`` characters (one token each)."""
    base = "知识库中的段落通常有几百个字用于检索增强生成系统的召回阶段"
    return (f"{i}" + base * (chars // len(base) + 1))[:chars]


def test_plan_batches_counts_padded_tokens():
    lengths = [512] * 20 + [100] * 50 + [10] * 3
    batches = plan_batches(lengths, max_texts=32, max_tokens=4096)
    assert sorted(int(i) for b in batches for i in b) == list(range(len(lengths)))  # each text once
    for b in batches:
        assert len(b) * max(lengths[i] for i in b) <= 4096 and len(b) <= 32
    # 4096 // 512 = 8 rows of width 512 (the third: 4 of 512 + 4 of 100, padded to 512); 100-token
    # texts hit the text limit (32) before the budget (40)
    assert [len(b) for b in batches] == [8, 8, 8, 32, 17]
    # without a budget only the text count decides, as before
    assert [len(b) for b in plan_batches(lengths, max_texts=32)] == [32, 32, 9]


def test_a_text_longer_than_the_budget_runs_alone():
    assert [len(b) for b in plan_batches([600, 600, 5], max_texts=8, max_tokens=512)] == [1, 1, 1]


def test_256_passages_of_512_tokens_never_exceed_the_budget(long_encoder):
    budget = 4096
    enc = recording(long_encoder, batch_size=32, max_batch_tokens=budget)
    texts = [passage(i, 510) for i in range(256)]  # 510 characters + [CLS] + [SEP] = 512 tokens
    out = enc.encode(texts)
    shapes = enc.backend.shapes
    assert out.token_counts == [512] * 256 and not any(out.truncated)
    assert all(rows * width <= budget for rows, width in shapes), shapes
    assert shapes == [(8, 512)] * 32  # 4096 // 512 rows a pass, 256 texts
    # the budget changes how texts are grouped, never their vectors
    unbudgeted = recording(long_encoder, batch_size=32, max_batch_tokens=None)
    np.testing.assert_allclose(out.vectors[:64], unbudgeted.encode(texts[:64]).vectors, atol=1e-5)
    assert unbudgeted.backend.shapes == [(32, 512)] * 2


def test_mixed_lengths_fill_each_pass_up_to_the_budget(long_encoder):
    budget = 2048
    enc = recording(long_encoder, batch_size=64, max_batch_tokens=budget)
    texts = [passage(i, n) for i, n in enumerate([498, 30, 254, 126, 62, 510] * 10)]
    enc.encode(texts)
    shapes = enc.backend.shapes
    assert all(rows * width <= budget for rows, width in shapes), shapes
    # every pass but the last is as full as the budget allows: short texts share bigger passes
    assert all(rows == min(64, budget // width) for rows, width in shapes[:-1]), shapes
    assert shapes[0] == (4, 512) and max(rows for rows, _ in shapes) >= 16


def test_max_batch_tokens_setting_and_its_limits(long_model_dir):
    s = parse_settings(["--max-batch-tokens", "1024"], env={})
    assert s.max_batch_tokens == 1024
    assert parse_settings([], env={"GTE_MAX_BATCH_TOKENS": "2048"}).max_batch_tokens == 2048
    assert Settings().max_batch_tokens is None  # auto: 4096, or the model's limit when longer
    with pytest.raises(ConfigError, match="--max-batch-tokens must be at least 1"):
        Settings().replace(max_batch_tokens=0)
    with pytest.raises(ConfigError, match="--max-batch-tokens 256 is below --max-length 512"):
        Encoder.load(Settings(model=str(long_model_dir), device="cpu", precision="fp32", max_batch_tokens=256))
    enc = Encoder.load(Settings(model=str(long_model_dir), device="cpu", precision="fp32",
                                max_length=256, max_batch_tokens=256))
    assert enc.max_batch_tokens == 256
    assert Encoder.load(Settings(model=str(long_model_dir), device="cpu", precision="fp32")).max_batch_tokens == 4096


def test_the_default_budget_grows_for_a_long_context_model(tmp_path):
    """A decoder that reads 6,000 tokens loads with the defaults (the budget holds one text at its
    limit); a budget set below that limit is refused, naming both numbers."""
    from gte_ui.testing.decoder_model import build_random_decoder

    folder = build_random_decoder(tmp_path / "qwen3-6k", max_length=6000)
    enc = Encoder.load(Settings(model=str(folder), device="cpu", precision="fp32"))
    assert enc.max_length == 6000 and enc.max_batch_tokens == 6000
    assert enc.encode(["今天天气很好"]).vectors.shape[0] == 1
    with pytest.raises(ConfigError, match="--max-batch-tokens 4096 is below --max-length 6000"):
        Encoder.load(Settings(model=str(folder), device="cpu", precision="fp32", max_batch_tokens=4096))


def test_the_batcher_gathers_by_tokens(long_encoder):
    """12 waiting requests of one 512-token passage each, a budget of 2048 tokens: calls of 4
    passages, where a text-count limit alone would have merged all 12."""
    gated = GatedEncode(long_encoder)
    batcher = DynamicBatcher(gated, max_batch=128, wait_ms=50, max_tokens=2048,
                             weigh=long_encoder.run_weights)
    try:
        with ThreadPoolExecutor(13) as pool:
            first = pool.submit(batcher.submit, ["先到的一句"])
            assert gated.entered.wait(10)
            futures = [pool.submit(batcher.submit, [passage(i, 510)]) for i in range(12)]
            deadline = time.time() + 10
            while batcher.pending < 12 and time.time() < deadline:
                time.sleep(0.01)
            gated.gate.set()
            results = [f.result(timeout=60) for f in futures]
            first.result(timeout=30)
        assert gated.calls == [1, 4, 4, 4]
        assert all(r.token_counts == [512] for r in results)
    finally:
        gated.gate.set()
        batcher.close()


def test_a_request_over_the_batcher_budget_is_served_in_slices(long_encoder):
    batcher = DynamicBatcher(long_encoder.encode, max_batch=8, wait_ms=0, max_tokens=600,
                             weigh=long_encoder.run_weights)
    try:
        texts = [passage(i, 300) for i in range(5)]  # 1510 tokens, 5 texts
        out = batcher.submit(texts)
        assert out.vectors.shape == (5, long_encoder.dim) and batcher.batches == 5  # one text per slice
        np.testing.assert_allclose(out.vectors, long_encoder.encode(texts).vectors, atol=1e-5)
    finally:
        batcher.close()
    with pytest.raises(ValueError, match="go together"):
        DynamicBatcher(long_encoder.encode, max_tokens=100)


def test_the_service_batcher_uses_the_token_budget(long_model_dir):
    from gte_ui.service.service import EmbeddingService

    settings = Settings(model=str(long_model_dir), device="cpu", precision="fp32", max_batch_tokens=1024)
    svc = EmbeddingService.from_settings(settings)
    try:
        assert svc.runner.max_tokens == 1024 and svc.encoder.max_batch_tokens == 1024
        out = svc.embed([passage(i, 510) for i in range(3)])
        assert out.vectors.shape == (3, svc.dim)
    finally:
        svc.close()


def test_embed_bar_shows_texts_and_tokens_per_second(long_model_dir, tmp_path, capsys):
    from gte_ui.service.corpus import embed_file
    from gte_ui.service.service import EmbeddingService

    settings = Settings(model=str(long_model_dir), device="cpu", precision="fp32", max_batch_tokens=2048)
    service = EmbeddingService.from_settings(settings, batching=False)
    src = tmp_path / "passages.txt"
    src.write_text("\n".join(passage(i, 200) for i in range(40)), encoding="utf-8")
    report = embed_file(service, src, tmp_path / "out.npy", chunk_size=16, progress=True)
    bar = capsys.readouterr().err.replace("\r", "\n").strip().splitlines()[-1]
    assert report.texts == 40 and np.load(tmp_path / "out.npy").shape == (40, service.dim)
    assert re.search(r"\b40(\.0)? texts", bar) and " texts/s" in bar, bar
    tokens_per_s = re.search(r"([\d,.]+) tokens/s", bar)
    assert tokens_per_s and float(tokens_per_s.group(1).replace(",", "")) > 0, bar
