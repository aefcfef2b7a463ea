"""The model registry: each model's folder resolved once at start-up, the --models names, 404s."""

from __future__ import annotations

import pytest

from gte_ui.core.errors import ConfigError, ErrorType, GteError
from gte_ui.engine import encoder as encoder_module
from gte_ui.service import registry
from gte_ui.service.service import EmbeddingService


def _count_resolutions(monkeypatch) -> list[str]:
    """Every resolution of a model folder, wherever the loading code asks for one."""
    seen: list[str] = []
    for module in (registry, encoder_module):
        real = module.resolve_model

        def counting(model, *args, _real=real, **kwargs):
            seen.append(model)
            return _real(model, *args, **kwargs)

        monkeypatch.setattr(module, "resolve_model", counting)
    return seen


def test_each_model_folder_is_resolved_once(monkeypatch, tiny_settings, tiny_model_dir):
    """The memory estimate and the load share one resolution (main resolved twice here, three
    times counting launch.py's early check)."""
    seen = _count_resolutions(monkeypatch)
    settings = tiny_settings.replace(models=(f"second={tiny_model_dir}",), max_memory=10**10)
    service = EmbeddingService.from_settings(settings, batching=False)
    try:
        assert [s.name for s in service.models()] == [service.name, "second"]
        assert seen == [str(tiny_model_dir), str(tiny_model_dir)]  # one per model
        assert all(s.memory_estimate and s.memory_estimate > 0 for s in service.models())
    finally:
        service.close()


def test_a_folder_resolved_by_the_caller_is_not_resolved_again(monkeypatch, tiny_settings, tiny_model_dir):
    """launch.py resolves before its heavy imports (a missing model fails in a second) and hands
    the folder on."""
    folder = registry.resolve_folder(tiny_settings)
    seen = _count_resolutions(monkeypatch)
    service = EmbeddingService.from_settings(tiny_settings, batching=False, folders={tiny_settings.model: folder})
    service.close()
    assert seen == []


def test_for_model_names_the_loaded_models(tiny_service, tiny_encoder, tiny_settings):
    other = EmbeddingService(tiny_encoder, tiny_settings, name="other")
    tiny_service.add_model(other)
    assert tiny_service.for_model("other") is other and tiny_service.for_model(None) is tiny_service
    with pytest.raises(GteError) as err:
        tiny_service.for_model("missing")
    assert err.value.error_type is ErrorType.UNKNOWN_MODEL and f"{tiny_service.name}, other" in err.value.message
    with pytest.raises(ConfigError, match="two models are called 'other'"):
        tiny_service.add_model(EmbeddingService(tiny_encoder, tiny_settings, name="other"))


def test_memory_budget_refuses_the_model_over_it(tiny_settings, tiny_model_dir):
    with pytest.raises(ConfigError) as err:
        EmbeddingService.from_settings(tiny_settings.replace(models=(f"second={tiny_model_dir}",), max_memory=1),
                                       batching=False)
    assert "--max-memory" in err.value.message and "nothing" in err.value.message  # nothing loaded before it
