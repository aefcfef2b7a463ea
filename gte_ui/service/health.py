"""Readiness as one result: what every front end's health answer adapts (docs/api.md)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from gte_ui.service.results import HealthResult, LoadedModel

if TYPE_CHECKING:  # the serverless handler imports this before its timed cold start loads torch
    from gte_ui.service.service import EmbeddingService


def loaded_models(service: EmbeddingService) -> list[LoadedModel]:
    """Every loaded embedding model, the default first (``/health``'s models, ``/v1/models``)."""
    return [LoadedModel(name=s.name, dim=s.dim, max_length=s.max_length, device=s.info.device,
                        precision=s.info.precision, backend=s.info.backend, memory_estimate=s.memory_estimate,
                        default=s is service) for s in service.models()]


def health(service: EmbeddingService) -> HealthResult:
    """The service is loaded and serving: the default model's public facts, the counters, the models."""
    return HealthResult(facts=service.info.public_dict(), counters=service.stats(), models=loaded_models(service))
