"""The dynamic batcher over the real tiny encoder: merging, correctness, bounded queue, errors."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest
from batching_kit import GatedEncode  # the gate both batching test files hold the worker with

from gte_ui.engine.batching import DynamicBatcher
from gte_ui.core.errors import ErrorType, GteError


def test_concurrent_requests_share_one_model_call(tiny_encoder):
    gated = GatedEncode(tiny_encoder)
    batcher = DynamicBatcher(gated, max_batch=256, wait_ms=50, max_queue=1024)
    try:
        texts = [f"第{i}句话很好" for i in range(16)]
        with ThreadPoolExecutor(16) as pool:
            first = pool.submit(batcher.submit, ["先到的一句"])
            assert gated.entered.wait(10)  # the worker is now busy with the first request
            futures = [pool.submit(batcher.submit, [t]) for t in texts]
            deadline = time.time() + 10
            while batcher.pending < 16 and time.time() < deadline:
                time.sleep(0.01)
            gated.gate.set()
            results = [f.result(timeout=30) for f in futures]
            first.result(timeout=30)
        assert gated.calls == [1, 16]  # 17 requests, 2 model calls
        assert batcher.batches == 2 and batcher.requests == 17
        expected = tiny_encoder.encode(texts).vectors
        for i, res in enumerate(results):
            np.testing.assert_allclose(res.vectors[0], expected[i], atol=1e-5)
            assert res.token_counts[0] == len(texts[i]) + 2
    finally:
        gated.gate.set()
        batcher.close()


def test_same_text_from_many_callers_is_embedded_once(tiny_encoder):
    gated = GatedEncode(tiny_encoder)
    batcher = DynamicBatcher(gated, max_batch=64, wait_ms=50)
    try:
        with ThreadPoolExecutor(8) as pool:
            blocker = pool.submit(batcher.submit, ["占位"])
            assert gated.entered.wait(10)
            futures = [pool.submit(batcher.submit, ["同一句", "另一句"]) for _ in range(6)]
            while batcher.pending < 12:
                time.sleep(0.01)
            gated.gate.set()
            outs = [f.result(timeout=30) for f in futures]
            blocker.result(timeout=30)
        assert gated.calls[-1] == 2  # 12 texts submitted, 2 distinct
        assert all(np.array_equal(o.vectors, outs[0].vectors) for o in outs)
    finally:
        gated.gate.set()
        batcher.close()


def test_full_queue_refuses_at_once(tiny_encoder):
    gated = GatedEncode(tiny_encoder)
    batcher = DynamicBatcher(gated, max_batch=8, wait_ms=0, max_queue=4)
    try:
        with ThreadPoolExecutor(4) as pool:
            busy = pool.submit(batcher.submit, ["忙"])
            assert gated.entered.wait(10)
            waiting = pool.submit(batcher.submit, ["一", "二", "三"])
            while batcher.pending < 3:
                time.sleep(0.01)
            t0 = time.perf_counter()
            with pytest.raises(GteError) as err:
                batcher.submit(["四", "五"])
            assert time.perf_counter() - t0 < 1.0  # refused, not queued
            assert err.value.error_type is ErrorType.OVERLOADED and err.value.status_code == 429
            assert "limit 4" in err.value.message
            gated.gate.set()
            assert waiting.result(timeout=30).vectors.shape == (3, 32)
            busy.result(timeout=30)
    finally:
        gated.gate.set()
        batcher.close()


def test_an_encoder_error_reaches_its_callers_and_the_worker_survives(tiny_encoder):
    def encode(texts):
        if "坏" in texts:
            raise RuntimeError("boom")
        return tiny_encoder.encode(texts)

    batcher = DynamicBatcher(encode, wait_ms=0)
    try:
        with pytest.raises(RuntimeError, match="boom"):
            batcher.submit(["坏"])
        assert batcher.submit(["好"]).vectors.shape == (1, 32)
    finally:
        batcher.close()


def test_a_failing_request_does_not_fail_the_others_batched_with_it(tiny_encoder):
    gate = threading.Event()
    entered = threading.Event()

    def encode(texts):
        if "占位" in texts:
            entered.set()
            gate.wait(timeout=30)
        if "坏" in texts:
            raise ValueError("bad text")
        return tiny_encoder.encode(texts)

    batcher = DynamicBatcher(encode, max_batch=64, wait_ms=50)
    try:
        with ThreadPoolExecutor(4) as pool:
            blocker = pool.submit(batcher.submit, ["占位"])
            assert entered.wait(10)
            good = pool.submit(batcher.submit, ["好的一句"])
            bad = pool.submit(batcher.submit, ["坏"])
            while batcher.pending < 2:
                time.sleep(0.01)
            gate.set()
            assert good.result(timeout=30).vectors.shape == (1, 32)
            with pytest.raises(ValueError, match="bad text"):
                bad.result(timeout=30)
            blocker.result(timeout=30)
    finally:
        gate.set()
        batcher.close()


def test_service_from_settings_uses_the_batcher(tiny_settings):
    from gte_ui.service.service import EmbeddingService

    svc = EmbeddingService.from_settings(tiny_settings)
    try:
        assert isinstance(svc.runner, DynamicBatcher)
        svc.pair("一", "二")
        assert svc.stats()["batcher"]["requests"] == 1
    finally:
        svc.close()
