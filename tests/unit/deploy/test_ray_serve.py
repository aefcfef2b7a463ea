"""deploy/ray_serve.py, its pure parts (no Ray cluster: tests/e2e/ray/ does that): the Embedder's
wire answers, Serve options from the settings, what the ingress loads."""

from __future__ import annotations

import asyncio

import numpy as np
import pytest

pytest.importorskip("ray.serve")

from gte_ui.core.settings import Settings
from gte_ui.deploy.ray_serve import (
    Embedder,
    deployment_options,
    ingress_tokenizer,
    model_folder,
    replica_name,
)


def test_outside_a_replica_the_name_is_local():
    assert replica_name() == "local"


def test_the_embedder_answers_in_the_wire_shape(tiny_settings, tiny_encoder):
    """The class itself, as a replica runs it (its @serve.batch encode needs a replica: tests/e2e/ray)."""
    embedder = Embedder.func_or_class(tiny_settings)
    texts = ["今天天气很好", "我想借钱"]
    wire = asyncio.run(embedder.encode_chunked(texts))
    want = tiny_encoder.encode_chunked(texts)
    np.testing.assert_allclose(wire["vectors"], want.vectors, atol=1e-6)
    assert (wire["token_counts"], wire["truncated"], wire["chunks"]) == (want.token_counts, want.truncated, want.chunks)
    assert (wire["replica"], wire["batch"]) == ("local", 2)
    assert embedder.stats()["requests"] == 1 and embedder.info()["dim"] == 32


@pytest.mark.parametrize(("flags", "want"), [
    ({}, {"num_replicas": 1, "ray_actor_options": {"num_cpus": 1, "num_gpus": 0}}),
    ({"replicas": 3, "threads": 2}, {"num_replicas": 3, "ray_actor_options": {"num_cpus": 2, "num_gpus": 0}}),
    ({"min_replicas": 1, "max_replicas": 4, "batch_size": 32},
     {"ray_actor_options": {"num_cpus": 1, "num_gpus": 0},
      "autoscaling_config": {"min_replicas": 1, "max_replicas": 4, "initial_replicas": 1,
                             "target_ongoing_requests": 8}}),
])
def test_serve_options_follow_the_replica_flags(flags, want):
    assert deployment_options(Settings(**flags)) == want


def test_a_gpu_replica_reserves_one_gpu_and_no_cpu():
    assert deployment_options(Settings(device="cuda", replicas=2))["ray_actor_options"] == {"num_cpus": 0, "num_gpus": 1}


def test_the_ingress_loads_the_tokenizer_only(tiny_settings, tiny_model_dir):
    folder = model_folder(tiny_settings)
    assert folder.resolve() == tiny_model_dir.resolve()
    tok = ingress_tokenizer(folder)
    assert tok.convert_ids_to_tokens(tok("电池")["input_ids"]) == ["[CLS]", "电", "池", "[SEP]"]
