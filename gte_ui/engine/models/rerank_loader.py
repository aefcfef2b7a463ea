"""``--reranker``: one flag, two kinds of model, picked from the checkpoint's config.

A ``*ForSequenceClassification`` checkpoint (bge-reranker, GTE's passage rankers) loads as the
cross-encoder :class:`~gte_ui.engine.reranker.Reranker`; a ``*ForCausalLM`` one (Qwen3-Reranker)
as the :class:`~gte_ui.engine.decoder_reranker.DecoderReranker`. Both answer the same interface,
so nothing above the engine knows which it got.
"""

from __future__ import annotations

from gte_ui.core.errors import ConfigError
from gte_ui.core.settings import Settings
from gte_ui.engine.backends.registry import resolve_runtime
from gte_ui.engine.decoder_reranker import DecoderReranker, is_decoder_reranker
from gte_ui.engine.encoder import public_model_name
from gte_ui.engine.models.families import check_remote_code, read_traits
from gte_ui.engine.models.hub import resolve_model, transformer_folder
from gte_ui.engine.reranker import Reranker, read_reranker_config


def load_reranker(settings: Settings) -> Reranker | DecoderReranker:
    """Resolve ``settings.reranker`` and load it as the kind of reranker its config declares.

    Raises:
        ModelNotFoundError: the model cannot be found or fetched.
        ConfigError: as :meth:`Reranker.load`; a decoder reranker's vocabulary without yes / no.
    """
    if not settings.reranker:
        raise ConfigError("no --reranker given", "未指定 --reranker")
    folder = resolve_model(settings.reranker, hub=settings.hub, offline=settings.offline,
                           cache_dir=settings.model_cache_dir)
    inner = transformer_folder(folder)
    if not is_decoder_reranker(read_reranker_config(inner)):
        return Reranker.load(settings, folder)
    check_remote_code(read_traits(inner, settings.reranker), settings.trust_remote_code)
    device, precision = resolve_runtime(settings.device, settings.reranker_precision or settings.precision,
                                        spaces=settings.spaces)
    return DecoderReranker(inner, device=device, precision=precision, max_length=settings.reranker_max_length,
                           batch_size=settings.batch_size, instruction=settings.reranker_instruction,
                           int8_mode=settings.int8_mode, trust_remote_code=settings.trust_remote_code,
                           model=settings.reranker, name=public_model_name(settings.reranker))
