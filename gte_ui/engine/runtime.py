"""Pick and build the backend for a resolved (device, precision): torch, ONNX Runtime or OpenVINO int8."""

from __future__ import annotations

import logging
from pathlib import Path

from gte_ui.core.settings import INT8_MODES, Settings, check_openvino_mode
from gte_ui.engine.backends import Backend, TorchBackend
from gte_ui.engine.onnx_export import OrtInt8Backend
from gte_ui.engine.openvino_int8 import OvInt8Backend, require_openvino

log = logging.getLogger(__name__)


def load_backend(folder: Path, device: str, precision: str, int8_mode: str = "accurate",
                 int8_engine: str = "onnx", threads: int | None = None,
                 export_cache: str | Path = Settings.export_cache, first_token_only: bool = False,
                 tokenizer=None, token_types: bool = False, trust_remote_code: bool = False,
                 decoder: bool = False, remote_code: bool = False) -> Backend:
    """Build the backend for a resolved (device, precision).

    int8 on CPU runs in ONNX Runtime (``int8_engine="onnx"``, the fast path: the W8A8 model is
    exported once into a cache folder, see :mod:`gte_ui.engine.onnx_export`) or in eager PyTorch
    (``"torch"``: the same W8A8 layers in eager PyTorch, FFN output projections fp32 in accurate
    mode; slower, no export) or OpenVINO (``"openvino"``: NNCF int8, exported once,
    in ``int8_mode`` accurate (run-time per-group activations, within the default's accuracy bound)
    or fast (static, the fastest, less accurate), see :mod:`gte_ui.engine.openvino_int8`; without
    openvino installed, or in ``dynamic`` mode, it is a :class:`ConfigError`). Otherwise
    ``int8_mode="dynamic"`` is torch's ``quantize_dynamic``. ``first_token_only`` (for CLS
    pooling): the last layer computes only the first token where the architecture allows
    (:func:`keep_first_token_only`; the OpenVINO export always computes the whole layer); the backend's
    ``first_token_only`` says whether it did. ``tokenizer``: the encoder's, for int8 calibration
    (loaded from ``folder`` when None). ``token_types``: the int8 export also reads
    ``token_type_ids`` (BERT cross-encoders; torch backends always take them).

    Decoders (``decoder=True``: Qwen2/Qwen3) have no ONNX or OpenVINO int8 export (they are written for
    BERT-family layers): their int8 runs the same W8A8 layers in eager PyTorch, MLP down
    projections fp32 in accurate mode, and the backend's ``note`` says so (``/health`` shows it).
    Hub-hosted modelling code (``remote_code``; loaded only with ``trust_remote_code``) is
    likewise never exported.
    """
    log.info("loading %s on %s/%s", folder, device, precision)
    exported = precision == "int8" and (int8_engine == "openvino"
                                        or (int8_engine == "onnx" and INT8_MODES[int8_mode].onnx))
    engine = "OpenVINO" if int8_engine == "openvino" else "ONNX Runtime"
    if precision == "int8" and int8_engine == "openvino":
        check_openvino_mode(int8_mode)  # a start error, before any fallback could hide it
    if exported and (decoder or remote_code):
        what = "decoder models" if decoder else "models with their own modelling code"
        note = (f"int8 for {what} runs in eager PyTorch (W8A8, {int8_mode}); the {engine} int8 "
                "export covers BERT-family encoders only")
        log.warning(note)
        backend = TorchBackend(folder, device=device, precision=precision, int8_mode=int8_mode,
                               first_token_only=first_token_only, tokenizer=tokenizer,
                               trust_remote_code=trust_remote_code, decoder=decoder)
        backend.note = note
        return backend
    if exported:
        if int8_engine == "openvino":
            require_openvino()  # asked for by name: not installed is a start error, never a fallback
        try:
            if int8_engine == "openvino":
                return OvInt8Backend(folder, threads=threads, cache_dir=Path(export_cache).expanduser(),
                                     tokenizer=tokenizer, token_types=token_types, mode=int8_mode)
            return OrtInt8Backend(folder, mode=int8_mode, threads=threads,
                                  cache_dir=Path(export_cache).expanduser(),
                                  first_token_only=first_token_only, tokenizer=tokenizer,
                                  token_types=token_types)
        except Exception as exc:  # an architecture the exporter cannot handle, a full disk: still serve
            reason = describe_failure(exc)
            log.warning("int8 %s export/load failed for %s (%s); using eager PyTorch int8", engine, folder, reason)
            backend = TorchBackend(folder, device=device, precision=precision, int8_mode=int8_mode,
                                   first_token_only=first_token_only, tokenizer=tokenizer)
            backend.note = f"{engine} int8 unavailable ({reason}): serving eager PyTorch int8"
            return backend
    return TorchBackend(folder, device=device, precision=precision, int8_mode=int8_mode,
                        first_token_only=first_token_only, tokenizer=tokenizer,
                        trust_remote_code=trust_remote_code, decoder=decoder)


def describe_failure(exc: BaseException) -> str:
    """One line on why something failed, without file paths (it ends up in /health)."""
    if isinstance(exc, OSError) and exc.strerror:
        return f"{type(exc).__name__}: {exc.strerror}"
    first = str(exc).splitlines()[0] if str(exc) else ""
    return f"{type(exc).__name__}: {first[:160]}".rstrip(": ")
