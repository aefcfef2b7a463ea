"""One health result: the default model's public facts, the counters and the loaded models;
never the model's folder, never library versions (docs/security.md)."""

from __future__ import annotations

import json

from gte_ui.service.health import health, loaded_models


def test_health_has_the_facts_counters_and_models_and_nothing_private(tiny_service, tiny_model_dir):
    tiny_service.embed(["今天天气很好"])
    body = health(tiny_service).to_dict()
    assert body["status"] == "ok" and body["ready"] is True
    assert body["model"] == tiny_model_dir.name and body["dim"] == tiny_service.dim and body["device"] == "cpu"
    assert body["forward_calls"] == tiny_service.stats()["forward_calls"] >= 1
    assert body["cache"]["local"]["misses"] == 1 and body["reranker"]["loaded"] is False
    assert [m["name"] for m in body["models"]] == [tiny_service.name]
    text = json.dumps(body)
    assert str(tiny_model_dir) not in text and "path" not in body
    assert not any(word in body for word in ("torch", "transformers", "gradio", "python", "version"))


def test_loaded_models_mark_the_default_first(tiny_service, tiny_encoder, tiny_settings):
    from gte_ui.service.service import EmbeddingService

    other = EmbeddingService(tiny_encoder, tiny_settings, name="second")
    tiny_service.add_model(other)
    models = loaded_models(tiny_service)
    assert [(m.name, m.default) for m in models] == [(tiny_service.name, True), ("second", False)]
    assert models[0].to_dict()["max_length"] == tiny_service.max_length
