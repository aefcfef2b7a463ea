"""Pick and build the backend for a resolved (device, precision): torch or ONNX Runtime int8."""

from __future__ import annotations

import logging
from pathlib import Path

from gte_ui.core.settings import INT8_MODES, Settings
from gte_ui.engine.backends import Backend, TorchBackend
from gte_ui.engine.onnx_export import OrtInt8Backend

log = logging.getLogger(__name__)


def load_backend(folder: Path, device: str, precision: str, int8_mode: str = "accurate",
                 int8_engine: str = "onnx", threads: int | None = None,
                 export_cache: str | Path = Settings.export_cache, first_token_only: bool = False,
                 tokenizer=None) -> Backend:
    """Build the backend for a resolved (device, precision).

    int8 on CPU runs in ONNX Runtime (``int8_engine="onnx"``, the fast path: the W8A8 model is
    exported once into a cache folder, see :mod:`gte_ui.engine.onnx_export`) or in eager PyTorch
    (``"torch"``: the same W8A8 layers in eager PyTorch, FFN output projections fp32 in accurate
    mode; slower, no export). ``int8_mode="dynamic"`` is always torch's
    ``quantize_dynamic``. ``first_token_only`` (for CLS pooling): the last layer computes only
    the first token where the architecture allows (:func:`keep_first_token_only`); the backend's
    ``first_token_only`` says whether it did. ``tokenizer``: the encoder's, for int8 calibration
    (loaded from ``folder`` when None).
    """
    log.info("loading %s on %s/%s", folder, device, precision)
    if precision == "int8" and int8_engine == "onnx" and INT8_MODES[int8_mode].onnx:
        try:
            return OrtInt8Backend(folder, mode=int8_mode, threads=threads,
                                  cache_dir=Path(export_cache).expanduser(),
                                  first_token_only=first_token_only, tokenizer=tokenizer)
        except Exception as exc:  # an architecture the exporter cannot handle: still serve
            log.warning("int8 ONNX export/load failed for %s (%s: %s); using eager PyTorch int8",
                        folder, type(exc).__name__, exc)
    return TorchBackend(folder, device=device, precision=precision, int8_mode=int8_mode,
                        first_token_only=first_token_only, tokenizer=tokenizer)
