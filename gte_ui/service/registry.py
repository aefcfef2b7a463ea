"""The models a server holds: loading them (and the reranker) from Settings, each model's folder
resolved once, the memory budget, the ``--models`` names, finding one by name, closing them all."""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path

from gte_ui.core.bands import load_bands
from gte_ui.core.errors import ConfigError, ErrorType, GteError
from gte_ui.core.scoring import VerdictBands
from gte_ui.core.settings import (
    DEFAULT_MAX_BATCH_TOKENS,
    ModelSpec,
    Settings,
    parse_model_spec,
)
from gte_ui.engine.backends.registry import resolve_runtime
from gte_ui.engine.batching import DynamicBatcher
from gte_ui.engine.encoder import Encoder, public_model_name
from gte_ui.engine.memory import estimate_bytes, human_bytes
from gte_ui.engine.models.hub import resolve_model, transformer_folder
from gte_ui.engine.models.rerank_loader import load_reranker
from gte_ui.service.cache import shared_from_settings
from gte_ui.service.served import Served

log = logging.getLogger(__name__)


class ModelRegistry:
    """The default model and the others served beside it (``--models``), by name, in load order."""

    def __init__(self, default: Served) -> None:
        self.default = default
        self._others: dict[str, Served] = {}

    def add(self, other: Served) -> None:
        """Serve ``other`` beside the default, under ``other.name``.

        Raises:
            ConfigError: the name is taken.
        """
        if other.name in self._others or other.name == self.default.name:
            raise ConfigError(f"two models are called {other.name!r}; give one a name: --models NAME=SOURCE",
                              f"两个模型同名 {other.name!r}，请用 --models 名称=来源 区分")
        self._others[other.name] = other

    def models(self) -> list[Served]:
        """Every loaded model, the default first."""
        return [self.default, *self._others.values()]

    def for_model(self, name: str | None) -> Served:
        """The model called ``name`` (None, "" or the default's name: the default).

        Raises:
            GteError: UNKNOWN_MODEL (404), listing the loaded models.
        """
        if not name or name == self.default.name:
            return self.default
        if not isinstance(name, str):
            raise GteError(ErrorType.VALIDATION, f"model must be a string, got {type(name).__name__}",
                           "model 必须是字符串")
        found = self._others.get(name)
        if found is None:
            loaded = ", ".join(s.name for s in self.models())
            raise GteError(ErrorType.UNKNOWN_MODEL, f"model {name!r} is not loaded here; loaded: {loaded}",
                           f"未加载模型 {name!r}；已加载：{loaded}")
        return found

    def close(self) -> None:
        """Finish what the batchers have queued and stop them (the reranker's and every model's),
        then send the queued shared-cache writes."""
        close = getattr(self.default.rerank_runner, "close", None)
        if close is not None:
            close()
        for model in self.models():
            close = getattr(model.runner, "close", None)
            if close is not None:
                close()
            if model.shared is not None:
                model.shared.close()


#: builds one served model from its parts: the facade's constructor
Build = Callable[..., Served]


def resolve_folder(settings: Settings) -> Path:
    """The local folder of ``settings.model``: the one resolution a model gets at start-up."""
    return resolve_model(settings.model, hub=settings.hub, revision=settings.revision,
                         offline=settings.offline, cache_dir=settings.model_cache_dir)


def load_models(settings: Settings, build: Build, *, batching: bool = True,
                folders: dict[str, Path] | None = None) -> Served:
    """Load the model and every ``--models`` entry beside it, each behind a dynamic batcher unless
    ``batching=False``; returns the default, whose ``registry`` holds the others.

    Each model's folder is resolved once (or taken from ``folders``, by source, when the caller
    resolved it already) and serves both the memory estimate and the load. With ``--max-memory``
    set, a model that would take the total over it is refused, naming what is already loaded.

    Raises:
        ConfigError: over ``--max-memory``, or two models with one name.
    """
    specs = [ModelSpec(source=settings.model, name=settings.model_name),
             *(parse_model_spec(m) for m in settings.models)]
    budget = MemoryBudget(settings.max_memory)
    default: Served | None = None
    try:
        for spec in specs:
            own = settings.replace(model=spec.source, model_name=spec.name,
                                   precision=spec.precision or settings.precision, models=(),
                                   # one reranker, beside the default model only
                                   **({} if default is None else {"reranker": None}))
            folder = (folders or {}).get(spec.source)
            try:
                folder = folder or resolve_folder(own)
            except GteError:
                if settings.max_memory is not None:
                    raise
                folder = None  # Encoder.load reports the missing model properly
            estimate = budget.admit(spec, own, folder) if folder is not None else None
            model = load_one(own, build, batching, spec.name, folder)
            model.memory_estimate = estimate
            if default is None:
                default = model
            else:
                default.registry.add(model)
    except BaseException:
        if default is not None:
            default.registry.close()
        raise
    return default


def load_one(settings: Settings, build: Build, batching: bool, name: str | None, folder: Path | None) -> Served:
    """One model (and the reranker its settings name), behind dynamic batchers unless ``batching=False``."""
    encoder = Encoder.load(settings, folder=folder)
    reranker = load_reranker(settings) if settings.reranker else None
    runner = rerank_runner = None
    if batching:
        # gathers up to 4 forward passes of short texts, or one token budget of long ones
        runner = DynamicBatcher(encoder.encode, max_batch=settings.batch_size * 4,
                                wait_ms=settings.batch_wait_ms, max_queue=settings.max_queue,
                                max_tokens=encoder.max_batch_tokens, weigh=encoder.run_weights)
        if reranker is not None:  # concurrent rerank requests share forward passes, sliced as texts are
            rerank_runner = DynamicBatcher(reranker.score, max_batch=settings.batch_size * 4,
                                           wait_ms=settings.batch_wait_ms, max_queue=settings.max_queue,
                                           max_tokens=settings.max_batch_tokens
                                           or max(DEFAULT_MAX_BATCH_TOKENS, reranker.max_length),
                                           weigh=reranker.run_weights)
    return build(encoder, settings, runner=runner, name=name, shared=shared_from_settings(settings),
                 reranker=reranker, rerank_runner=rerank_runner)


class MemoryBudget:
    """Estimated memory of the models loaded so far, against ``--max-memory``."""

    def __init__(self, limit: int | None) -> None:
        self.limit = limit
        self.used = 0
        self.loaded: list[str] = []

    def admit(self, spec: ModelSpec, settings: Settings, folder: Path) -> int:
        """Estimate the memory of the model in ``folder`` before loading it; refuse it if the
        total would exceed the limit. Returns the estimate."""
        # a look ahead: the load that follows logs what --precision auto chose, once
        _, precision = resolve_runtime(settings.device, settings.precision, spaces=settings.spaces, explain=False)
        need = estimate_bytes(transformer_folder(folder), precision)
        name = spec.name or public_model_name(spec.source)
        if self.limit is not None and self.used + need > self.limit:
            held = ", ".join(self.loaded) or "nothing"
            raise ConfigError(
                f"loading {name} ({precision}) needs about {human_bytes(need)}; with {held} loaded "
                f"({human_bytes(self.used)}) that is over --max-memory {human_bytes(self.limit)}. "
                "Drop a model, choose int8 for one (NAME=SOURCE@int8), or raise --max-memory",
                f"加载 {name} 约需 {human_bytes(need)}，加上已加载的 {human_bytes(self.used)} 超过 "
                f"--max-memory {human_bytes(self.limit)}")
        self.used += need
        self.loaded.append(name)
        log.info("%s: estimated %s (%s)", name, human_bytes(need), precision)
        return need


def default_bands(settings: Settings) -> VerdictBands:
    """Verdict bands: ``--verdict-high/--verdict-mid`` > the model's calibration file > SPEC's 0.75 / 0.50."""
    calibrated = load_bands(settings.model, settings.calibration_dir)
    if settings.verdict_high is None and settings.verdict_mid is None:
        return calibrated or VerdictBands()
    base = calibrated or VerdictBands()
    high = settings.verdict_high if settings.verdict_high is not None else base.high
    mid = settings.verdict_mid if settings.verdict_mid is not None else min(base.mid, high - 0.01)
    return VerdictBands(high=high, mid=mid, source="settings")
