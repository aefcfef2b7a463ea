"""The backend registry: which engine turns token ids into token states for a (device, precision).

A backend takes padded ``input_ids`` and ``attention_mask`` (int64 tensors, [batch, seq]) and
returns the last hidden states [batch, seq, dim] -- or [batch, 1, dim] when built with
``first_token_only`` (CLS pooling reads nothing else; see
:class:`~gte_ui.engine.backends.pytorch.FirstTokenLastLayer`). Pooling, normalising, batching and
caching live in :mod:`gte_ui.engine.encoder`, identical for every backend: the encoder never knows
which one runs.

Each backend module registers itself (:func:`register`: a name, a factory, the devices and
precisions it serves): eager PyTorch (``torch``, :mod:`~gte_ui.engine.backends.pytorch`), ONNX
Runtime int8 (``onnx``, :mod:`~gte_ui.engine.backends.onnx_export`) and OpenVINO int8
(``openvino``, :mod:`~gte_ui.engine.backends.openvino_int8`); importing the package
``gte_ui.engine.backends`` imports all three. :func:`load_backend` chooses by (device, precision,
engine) through :func:`choose`, so an engine for another precision (a TensorRT fp16, say) is one
more registration, not one more branch here.
"""

from __future__ import annotations

import abc
import dataclasses
import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from gte_ui.core.errors import ConfigError
from gte_ui.core.settings import Settings

log = logging.getLogger(__name__)

#: where exported engines keep their exports unless --export-cache says otherwise
DEFAULT_EXPORT_CACHE = Path(Settings.export_cache).expanduser()


#: CPU instructions that make the int8 path fast *and* accurate: 8-bit dot products that
#: accumulate in 32 bits (AVX-512 VNNI, AVX-VNNI) or AMX tiles. Without them ONNX Runtime's
#: u8 x s8 kernels add pairs of products in 16 bits, so weights are kept to 7 bits, and the
#: accurate int8 mode then measures mean |dcos| 0.0035, above the 0.003 bound (docs/performance.md).
FAST_INT8_FLAGS = ("amx_int8", "avx512_vnni", "avx_vnni")


def cpu_int8_instructions(cpuinfo: str | None = None) -> list[str]:
    """Which of :data:`FAST_INT8_FLAGS` this CPU has (read from ``/proc/cpuinfo``; [] elsewhere)."""
    if cpuinfo is None:
        try:
            cpuinfo = Path("/proc/cpuinfo").read_text(errors="ignore")
        except OSError:
            return []
    flags = set(next((line.split(":", 1)[1].split() for line in cpuinfo.splitlines()
                      if line.startswith("flags")), []))
    return [f for f in FAST_INT8_FLAGS if f in flags]


def resolve_runtime(device: str, precision: str, cuda_available: bool | None = None,
                    spaces: bool = False, int8_instructions: list[str] | None = None,
                    explain: bool = True) -> tuple[str, str]:
    """Turn ``--device``/``--precision`` (possibly ``auto``) into a combination that can run.

    ``auto`` means CUDA + fp16 when a GPU is present; on CPU, int8 (accurate) where the CPU has
    the instructions that make it fast and within the accuracy bound (:data:`FAST_INT8_FLAGS`;
    measured in docs/performance.md), and on a Space (its free
    hardware is a small CPU); fp32 otherwise. ``int8_instructions``: the CPU's, detected when None.
    ``explain``: log what ``auto`` chose and why (False for a look ahead, e.g. a memory estimate,
    so that the load logs it once).

    Raises:
        ConfigError: a combination that cannot run, naming the valid choices.
    """
    if cuda_available is None:
        cuda_available = torch.cuda.is_available()
    if device == "auto":
        device = "cuda" if cuda_available else "cpu"
    if device == "cuda" and not cuda_available:
        raise ConfigError(
            "--device cuda was asked for but no CUDA GPU is available "
            f"(torch {torch.__version__}, built {'with' if torch.version.cuda else 'without'} CUDA). "
            "Valid choices here: --device cpu or --device auto.",
            "请求了 --device cuda，但没有可用的 CUDA GPU；此处可选 --device cpu 或 auto")
    if precision == "auto":
        if device == "cuda":
            precision = "fp16"
        else:
            found = cpu_int8_instructions() if int8_instructions is None else int8_instructions
            precision = "int8" if spaces or found else "fp32"
            if explain:
                log.info("--precision auto on CPU: %s (%s)", precision,
                         f"the CPU has {', '.join(found)}" if found else
                         ("a Space" if spaces else "no VNNI/AMX int8 instructions: int8 would lose accuracy"))
    if device == "cpu" and precision == "fp16":
        raise ConfigError(
            "--precision fp16 on CPU is not supported (CPUs here have no fast fp16 and it would be "
            "slower than fp32). On CPU choose: fp32, int8 or bf16.",
            "CPU 不支持 fp16（比 fp32 更慢）；CPU 可选 fp32、int8 或 bf16")
    if device == "cuda" and precision == "int8":
        raise ConfigError(
            "--precision int8 is the CPU path; on CUDA choose fp16, bf16 or fp32.",
            "int8 仅用于 CPU；CUDA 可选 fp16、bf16 或 fp32")
    return device, precision



class Backend(abc.ABC):
    """Token ids in, last hidden states out."""

    name: str = "backend"
    device: str = "cpu"
    precision: str = "fp32"
    #: forward returns only the first token's state ([batch, 1, dim]); enough for CLS pooling
    first_token_only: bool = False
    #: how this engine came to serve when it is not the plain choice: why int8 fell back to
    #: eager PyTorch (a decoder has no ONNX export), or that its ONNX export was (re-)made at
    #: this start; shown by /health
    note: str = ""

    @abc.abstractmethod
    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor,
                token_type_ids: torch.Tensor | None = None) -> torch.Tensor:
        """[batch, seq] int64 ids and mask (and segment ids: a cross-encoder's query 0, document 1)
        -> [batch, seq, dim] hidden states (any float dtype); [batch, 1, dim] when ``first_token_only``."""

    @property
    @abc.abstractmethod
    def dim(self) -> int:
        """Width of the hidden states."""


@dataclass(frozen=True)
class BackendRequest:
    """What a backend is built for: the keywords every registered factory takes.

    ``tokenizer``: the encoder's, for int8 calibration (loaded from ``folder`` when None).
    ``token_types``: an int8 export also reads ``token_type_ids`` (BERT cross-encoders).
    ``decoder``: a Qwen2/Qwen3 decoder (int8 keeps its MLP down projections fp32 in accurate mode).
    """

    folder: Path
    device: str
    precision: str
    int8_mode: str = "accurate"
    threads: int | None = None
    cache_dir: Path = DEFAULT_EXPORT_CACHE
    first_token_only: bool = False
    tokenizer: Any = None
    token_types: bool = False
    trust_remote_code: bool = False
    decoder: bool = False


@dataclass(frozen=True)
class BackendSpec:
    """One registered engine: ``name`` (as ``--int8-engine`` spells it) → ``factory``, and what it serves."""

    name: str
    label: str  # how notes and logs name it: "ONNX Runtime"
    factory: Callable[[BackendRequest], Backend]
    devices: tuple[str, ...]
    precisions: tuple[str, ...]
    #: the --int8-mode values it has a form for (None: all); another mode runs in eager PyTorch
    int8_modes: tuple[str, ...] | None = None
    #: raises ConfigError for an --int8-mode it refuses outright (checked before any fallback)
    check_mode: Callable[[str], None] | None = None
    #: raises ConfigError when its optional packages are missing: asked for by name, never a fallback
    require: Callable[[], None] | None = None
    #: its export is written for BERT-family layers: decoders and hub modelling code run in eager PyTorch
    bert_family_only: bool = False


#: every registered engine by name, filled by the backend modules as they are imported
BACKENDS: dict[str, BackendSpec] = {}


def register(spec: BackendSpec) -> BackendSpec:
    """Add ``spec`` to :data:`BACKENDS`; a name registered twice is a programming error."""
    if spec.name in BACKENDS:
        raise ValueError(f"backend {spec.name!r} is already registered")
    BACKENDS[spec.name] = spec
    return spec


def lookup(name: str) -> BackendSpec:
    """The engine registered as ``name``; a :class:`ConfigError` naming the registered ones otherwise."""
    try:
        return BACKENDS[name]
    except KeyError:
        known = ", ".join(sorted(BACKENDS))
        raise ConfigError(f"unknown inference engine {name!r}; registered engines: {known}",
                          f"未知的推理引擎 {name!r}；已注册的引擎：{known}") from None


def choose(device: str, precision: str, engine: str = "torch") -> BackendSpec:
    """The engine ``engine`` when it serves (``device``, ``precision``); a :class:`ConfigError`
    naming the engines that do otherwise."""
    spec = lookup(engine)
    if device in spec.devices and precision in spec.precisions:
        return spec
    serving = ", ".join(sorted(s.name for s in BACKENDS.values()
                               if device in s.devices and precision in s.precisions)) or "none"
    raise ConfigError(f"the {engine} engine does not serve {precision} on {device}; engines that do: {serving}",
                      f"{engine} 引擎不支持 {device} 上的 {precision}；支持的引擎：{serving}")


def load_backend(folder: Path, device: str, precision: str, int8_mode: str = "accurate",
                 int8_engine: str = "onnx", threads: int | None = None,
                 export_cache: str | Path = Settings.export_cache, first_token_only: bool = False,
                 tokenizer=None, token_types: bool = False, trust_remote_code: bool = False,
                 decoder: bool = False, remote_code: bool = False, engine: str | None = None) -> Backend:
    """Build the backend for a resolved (device, precision).

    ``engine`` names the registered engine (:func:`choose`); when None it is ``int8_engine`` for
    int8 and eager PyTorch for every other precision. int8 on CPU runs in ONNX Runtime
    (``int8_engine="onnx"``, the fast path: the W8A8 model is exported once into a cache folder,
    see :mod:`gte_ui.engine.backends.onnx_export`) or in eager PyTorch
    (``"torch"``: the same W8A8 layers in eager PyTorch, FFN output projections fp32 in accurate
    mode; slower, no export) or OpenVINO (``"openvino"``: NNCF int8, exported once,
    in ``int8_mode`` accurate (run-time per-group activations, within the default's accuracy bound)
    or fast (static, the fastest, less accurate), see :mod:`gte_ui.engine.backends.openvino_int8`; without
    openvino installed, or in ``dynamic`` mode, it is a :class:`ConfigError`). Otherwise
    ``int8_mode="dynamic"`` is torch's ``quantize_dynamic``. ``first_token_only`` (for CLS
    pooling): the last layer computes only the first token where the architecture allows
    (:func:`~gte_ui.engine.backends.pytorch.keep_first_token_only`; the OpenVINO export always computes the whole layer); the backend's
    ``first_token_only`` says whether it did. ``tokenizer``: the encoder's, for int8 calibration
    (loaded from ``folder`` when None). ``token_types``: the int8 export also reads
    ``token_type_ids`` (BERT cross-encoders; torch backends always take them).

    Decoders (``decoder=True``: Qwen2/Qwen3) have no ONNX or OpenVINO int8 export (they are written for
    BERT-family layers): their int8 runs the same W8A8 layers in eager PyTorch, MLP down
    projections fp32 in accurate mode, and the backend's ``note`` says so (``/health`` shows it).
    Hub-hosted modelling code (``remote_code``; loaded only with ``trust_remote_code``) is
    likewise never exported. An engine that fails to export or load falls back to eager PyTorch,
    its ``note`` saying why.
    """
    log.info("loading %s on %s/%s", folder, device, precision)
    spec = choose(device, precision, engine or (int8_engine if precision == "int8" else "torch"))
    request = BackendRequest(Path(folder), device, precision, int8_mode=int8_mode, threads=threads,
                             cache_dir=Path(export_cache).expanduser(), first_token_only=first_token_only,
                             tokenizer=tokenizer, token_types=token_types,
                             trust_remote_code=trust_remote_code, decoder=decoder)
    if precision == "int8" and spec.check_mode is not None:
        spec.check_mode(int8_mode)  # a start error, before any fallback could hide it
    if precision == "int8" and spec.int8_modes is not None and int8_mode not in spec.int8_modes:
        spec = lookup("torch")  # e.g. ``dynamic``: torch's quantize_dynamic, which has no export
    eager = lookup("torch")
    if spec is eager:
        return eager.factory(request)
    if spec.bert_family_only and (decoder or remote_code):
        what = "decoder models" if decoder else "models with their own modelling code"
        note = (f"{precision} for {what} runs in eager PyTorch (W8A8, {int8_mode}); the {spec.label} "
                f"{precision} export covers BERT-family encoders only")
        log.warning(note)
        backend = eager.factory(request)
        backend.note = note
        return backend
    if spec.require is not None:
        spec.require()  # asked for by name: not installed is a start error, never a fallback
    try:
        return spec.factory(request)
    except Exception as exc:  # an architecture the exporter cannot handle, a full disk: still serve
        reason = describe_failure(exc)
        log.warning("%s %s export/load failed for %s (%s); using eager PyTorch %s",
                    precision, spec.label, folder, reason, precision)
        backend = eager.factory(dataclasses.replace(request, trust_remote_code=False, decoder=False))
        backend.note = f"{spec.label} {precision} unavailable ({reason}): serving eager PyTorch {precision}"
        return backend


def describe_failure(exc: BaseException) -> str:
    """One line on why something failed, without file paths (it ends up in /health)."""
    if isinstance(exc, OSError) and exc.strerror:
        return f"{type(exc).__name__}: {exc.strerror}"
    first = str(exc).splitlines()[0] if str(exc) else ""
    return f"{type(exc).__name__}: {first[:160]}".rstrip(": ")
