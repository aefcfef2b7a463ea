"""INT8 on CPU through ONNX Runtime: the W8A8 model of :mod:`gte_ui.engine.backends.int8`, exported once and cached.

Why ONNX Runtime: eager PyTorch spends most of an int8 forward pass on the per-token
quantise/dequantise element-wise work; ``torch.compile`` fuses it but compiles for about a
minute per input shape. ONNX Runtime runs the same arithmetic with fused kernels, no compile:

* a per-token W8A8 ``Linear`` becomes ``ReduceMax/ReduceMin`` per token → ``QuantizeLinear``
  (per axis, one fused pass; symmetric int8 stored as uint8 + 128, because ORT's u8×s8 GEMM is
  ~10x faster than s8×s8 on x86) → ``MatMulIntegerToFloat`` (token scales and per-channel
  weight scales both in its epilogue) → ``+ bias`` (last, so ORT fuses it into BiasGelu);
* Q, K and V are one GEMM on one quantised input; the attention output projection's smoothing
  is folded into V (see :func:`gte_ui.engine.backends.int8.quantize_w8a8`);
* in ``accurate`` mode every activation row is uint8 with its own zero point (the correction
  is a few extra weight rows inside the same GEMM, see :func:`gte_ui.engine.backends.int8.zero_point_rows`), and
  the few outlier channels of each FFN are split off and applied in fp32 (a tiny GEMM): the
  precision the symmetric per-token scheme loses, at ~1 % of its time (``MatMulNBits``, tried
  before, ran at half the GEMM speed);
* ONNX Runtime's session-level graph optimisation handles the fp32 parts (LayerNorm, GELU);
* for CLS pooling the last layer computes the first token only (``first_token_only``).

The export (fp32 load → calibration → smoothing → quantisation → ``torch.onnx.export``) runs
once per model + int8 mode (+ the versions of torch, transformers, onnx and onnxruntime: two venvs
sharing the cache each keep their own) into a cache folder; later starts only open the cached file (about
2 s for GTE-large), and the fp32 checkpoint is never loaded again, so it does not stay resident.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import shutil
import sys
import tempfile
import time
import warnings
from collections.abc import Callable, Iterator
from importlib import metadata
from pathlib import Path

import numpy as np
import torch

from gte_ui.engine.backends.int8 import _EXPORT_MEMO, INT8_MODES, quantize_w8a8, trim_heap
from gte_ui.engine.backends.pytorch import keep_first_token_only
from gte_ui.engine.backends.registry import Backend, BackendRequest, BackendSpec, cpu_int8_instructions, register
from gte_ui.engine.tokenizer import load_tokenizer

log = logging.getLogger(__name__)

#: bump when the exported graph changes, so stale cache entries are not reused
#: (6: the key and the record name the libraries' versions, see ONNX_EXPORT_LIBRARIES)
EXPORT_VERSION = 6
#: the libraries whose versions make an export: two venvs with different ones each keep their own
ONNX_EXPORT_LIBRARIES = ("torch", "transformers", "onnx", "onnxruntime")
OPSET = 17
#: output name of an export that computes the first token's state only ([batch, 1, dim])
FIRST_TOKEN_OUTPUT = "first_token_state"


def cpu_has_vnni() -> bool:
    """AVX-512 VNNI / AVX-VNNI / AMX present? Without them the u8×s8 kernels add pairs of products
    in 16 bits and can saturate, so weights are then kept to 7 bits (ONNX Runtime's ``reduce_range``)."""
    return bool(cpu_int8_instructions())


def library_versions(packages: tuple[str, ...]) -> dict[str, str]:
    """The installed version of each of ``packages`` ("?" for one that is not installed)."""
    versions = {}
    for package in packages:
        try:
            versions[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            versions[package] = "?"
    return versions


def export_key(folder: Path, mode: str, reduce_range: bool, first_token_only: bool = False,
               token_types: bool = False) -> str:
    """Cache key: model identity (config + weight file sizes and mtimes) + mode + what the graph
    reads and outputs + export version + the versions of the libraries that make the export."""
    h = hashlib.sha256()
    versions = "|".join(f"{k}={v}" for k, v in library_versions(ONNX_EXPORT_LIBRARIES).items())
    h.update(f"v{EXPORT_VERSION}|{mode}|rr={int(reduce_range)}|first={int(first_token_only)}|{versions}".encode())
    if token_types:  # only then, so that the keys of existing exports stay what they were
        h.update(b"|token_type_ids")
    hash_model_files(h, folder)
    return h.hexdigest()[:16]


def hash_model_files(h, folder: Path) -> None:
    """Feed the model's identity into hash ``h``: its resolved path and the name, size and mtime
    of each config and weight file (any export engine's cache key starts from it)."""
    h.update(str(folder.resolve()).encode())
    for name in sorted(os.listdir(folder)):
        p = folder / name
        if p.is_file() and (name.endswith((".json", ".safetensors", ".bin"))):
            st = p.stat()
            h.update(f"{name}:{st.st_size}:{int(st.st_mtime)}".encode())


class HiddenStates(torch.nn.Module):
    """The exported function: ids, mask (and segment ids, for cross-encoders) in, last hidden states out."""

    def __init__(self, model: torch.nn.Module, padding: "_KeyPadding | None" = None) -> None:
        super().__init__()
        self.model = model
        object.__setattr__(self, "padding", padding)

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor,
                token_type_ids: torch.Tensor | None = None) -> torch.Tensor:
        if self.padding is not None:
            self.padding.mask = attention_mask  # read by every FusedSelfAttention
        return self.model(input_ids=input_ids, attention_mask=attention_mask,
                          token_type_ids=token_type_ids).last_hidden_state


class _KeyPadding:
    """The [batch, seq] padding mask of the running forward pass, shared by the attention layers."""

    mask: torch.Tensor | None = None


class FusedSelfAttention(torch.nn.Module):
    """BERT self-attention as one ``com.microsoft::MultiHeadAttention`` node in the export.

    Eager BERT attention exports as ~20 nodes a layer (reshapes, four transposes, scaling,
    mask, softmax, two batched matmuls, shape arithmetic); ONNX Runtime's CPU kernel does the
    same in one, with the Q/K/V bias added inside it. Fewer nodes matter most at batch 1.
    Padded keys are masked from the [batch, seq] mask, as BERT's additive mask does.
    """

    def __init__(self, attention: torch.nn.Module, padding: _KeyPadding) -> None:
        super().__init__()
        self.query, self.key, self.value = attention.query, attention.key, attention.value
        self.heads = int(attention.num_attention_heads)
        self.scaling = float(attention.scaling)
        dim = self.heads * int(attention.attention_head_size)
        fused_bias = getattr(self.query, "bias", None)
        if getattr(self.query, "splits", None) == [dim, dim, dim] and fused_bias is not None:
            self.register_buffer("qkv_bias", fused_bias)
            self.query.bias = None  # added inside the attention kernel instead
        else:
            self.register_buffer("qkv_bias", torch.zeros(3 * dim))
        object.__setattr__(self, "padding", padding)

    def forward(self, hidden_states: torch.Tensor, attention_mask=None, **kwargs):
        q, k, v = self.query(hidden_states), self.key(hidden_states), self.value(hidden_states)
        return _MultiHeadAttentionOnnx.apply(q, k, v, self.qkv_bias, self.padding.mask, self.heads,
                                             self.scaling), None


class _MultiHeadAttentionOnnx(torch.autograd.Function):
    """softmax(Q K^T * scaling, padded keys masked) V over ``heads`` heads; [batch, seq, dim] in and out."""

    @staticmethod
    def forward(ctx, q, k, v, bias, mask, heads, scaling):  # noqa: D401 - torch API
        b, s, dim = q.shape
        q, k, v = (t + bb for t, bb in zip((q, k, v), bias.split(dim)))
        q, k, v = (t.reshape(b, s, heads, -1).transpose(1, 2) for t in (q, k, v))
        scores = (q @ k.transpose(-1, -2)) * scaling
        scores = scores.masked_fill(mask[:, None, None, :] == 0, torch.finfo(scores.dtype).min)
        return (scores.softmax(-1) @ v).transpose(1, 2).reshape(b, s, dim)

    @staticmethod
    def symbolic(g, q, k, v, bias, mask, heads, scaling):
        # torch.onnx only while exporting
        from torch.onnx import symbolic_helper

        if mask.unique() not in _MASK_MEMO:  # one Cast for all layers
            _MASK_MEMO[mask.unique()] = g.op("Cast", mask, to_i=6)  # 6 = int32
        out = g.op("com.microsoft::MultiHeadAttention", q, k, v, bias, _MASK_MEMO[mask.unique()],
                   num_heads_i=int(symbolic_helper._maybe_get_const(heads, "i")),
                   scale_f=float(symbolic_helper._maybe_get_const(scaling, "f")))
        out.setType(q.type())  # [batch, seq, dim] like the query (else the exporter warns)
        return out


_MASK_MEMO: dict = {}


#: self-attention classes with BERT's layout (query/key/value Linears, scaled softmax, no
#: relative positions): XLM-R and RoBERTa rerankers (bge-reranker) take the same fused node
_FUSABLE_ATTENTION = ("BertSelfAttention", "RobertaSelfAttention", "XLMRobertaSelfAttention")


def fuse_attention(model: torch.nn.Module) -> _KeyPadding | None:
    """Swap every BERT self-attention for :class:`FusedSelfAttention` (export only). Returns the
    shared padding holder, or None when the model has no such layers (left as it is)."""
    padding = _KeyPadding()
    swapped = 0
    for name, module in list(model.named_modules()):
        if type(module).__name__ in _FUSABLE_ATTENTION and not getattr(module, "is_decoder", False):
            parent, _, child = name.rpartition(".")
            setattr(model.get_submodule(parent), child, FusedSelfAttention(module, padding))
            swapped += 1
    return padding if swapped else None


def export_int8(folder: Path, target: Path, mode: str, reduce_range: bool = False,
                first_token_only: bool = False, record: dict | None = None, tokenizer=None,
                token_types: bool = False, step: Callable[[str], None] | None = None) -> Path:
    """Load the fp32 model, calibrate + smooth + quantise it (W8A8), export it to ``target``.

    ``first_token_only``: the graph outputs [batch, 1, dim], the first token's state, and its last
    layer computes no more than that needs (:func:`gte_ui.engine.backends.pytorch.keep_first_token_only`; where
    the architecture does not allow it the output stays [batch, seq, dim]).

    ``token_types``: the graph also reads ``token_type_ids`` (BERT cross-encoders put the
    document in segment 1).

    Written to a temporary folder first and renamed, so a crash never leaves a half-written cache;
    ``record`` (what was exported) goes to ``source.json`` beside it with the file's size and
    SHA-256, which :func:`verify_export` checks before every load. The model file is renamed in
    first: a crash between the two renames leaves a file whose record does not match, which the
    next start exports again.

    ``step(name)`` is called as each stage starts (the caller's progress bar).
    """
    # heavy: transformers takes seconds to import, so it loads with the first model, not the module
    from transformers import AutoModel

    step = step or (lambda name: None)
    t0 = time.perf_counter()
    step("loading the fp32 weights")
    model = AutoModel.from_pretrained(str(folder), dtype=torch.float32, attn_implementation="eager").eval()
    tokenizer = tokenizer or load_tokenizer(folder)
    step("calibrating and quantising")
    quantize_w8a8(model, tokenizer=tokenizer, alpha=0.5, weight_max=63 if reduce_range else 127,
                  **INT8_MODES[mode].onnx_scheme)
    padding = fuse_attention(model)
    first_only = first_token_only and keep_first_token_only(model)
    output = FIRST_TOKEN_OUTPUT if first_only else "last_hidden_state"  # the name tells the backend
    wrapped = HiddenStates(model, padding).eval()
    example = tokenizer(["今天天气很好 the weather is fine", "好"], padding=True, return_tensors="pt")
    ids, mask = example["input_ids"], example["attention_mask"]  # batch and length stay dynamic
    inputs, names = (ids, mask), ["input_ids", "attention_mask"]
    if token_types:
        inputs, names = (ids, mask, (torch.arange(ids.shape[1]) >= 3).long().expand_as(ids).contiguous()), \
            names + ["token_type_ids"]
    step("writing the ONNX graph")
    with staged_export(target) as tmp_dir:
        tmp = tmp_dir / target.name
        _EXPORT_MEMO.clear()
        _MASK_MEMO.clear()
        with torch.inference_mode(), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            torch.onnx.export(
                wrapped, inputs, str(tmp), dynamo=False, opset_version=OPSET,
                input_names=names, output_names=[output],
                dynamic_axes={**{name: {0: "batch", 1: "seq"} for name in names},
                              output: {0: "batch"} if first_only else {0: "batch", 1: "seq"}},
                custom_opsets={"com.microsoft": 1}, do_constant_folding=True)
        move_in([tmp], {**(record or {}), "size": tmp.stat().st_size, "sha256": file_sha256(tmp)}, target.parent)
    log.info("exported %s (int8 %s) to %s in %.1f s", folder, mode, target, time.perf_counter() - t0)
    return target


def cached_export_path(folder: Path, mode: str, cache_dir: Path,
                       first_token_only: bool = False, token_types: bool = False) -> Path:
    """Where the int8 export of ``folder`` + ``mode`` lives in ``cache_dir`` (``Settings.export_cache``),
    whether or not it exists yet."""
    key = export_key(folder, mode, not cpu_has_vnni(), first_token_only, token_types)
    return Path(cache_dir).expanduser() / f"{folder.name}-int8-{mode}-{key}" / "model.onnx"


def cached_int8_export(folder: Path, mode: str, cache_dir: Path,
                       first_token_only: bool = False, tokenizer=None, token_types: bool = False) -> Path:
    """The exported int8 model for ``folder`` + ``mode``, exporting it on first use."""
    return ensure_int8_export(folder, mode, cache_dir, first_token_only, tokenizer, token_types)[0]


def ensure_int8_export(folder: Path, mode: str, cache_dir: Path, first_token_only: bool = False,
                       tokenizer=None, token_types: bool = False) -> tuple[Path, str]:
    """The verified int8 export for ``folder`` + ``mode`` and a note on how it came to be: ``""``
    for a cached export that passed its checksum, else why it was (re-)exported now.

    A cached file that fails :func:`verify_export` (truncated, overwritten, bit rot, no record)
    is exported again in place, so a damaged cache heals on the next start instead of
    sending every start to the slower eager fallback.
    """
    reduce_range = not cpu_has_vnni()
    target = cached_export_path(folder, mode, cache_dir, first_token_only, token_types)
    note = why_export(target)
    if note is None:
        return target, ""
    with export_progress(folder, target.parent) as step:
        export_int8(folder, target, mode, reduce_range, first_token_only, record={
            "model": str(folder), "mode": mode, "reduce_range": reduce_range,
            "first_token_only": first_token_only, "export_version": EXPORT_VERSION,
            "versions": library_versions(ONNX_EXPORT_LIBRARIES)}, tokenizer=tokenizer,
            token_types=token_types, step=step)
    prune_stale_exports(target.parent, folder, mode, first_token_only,
                        versions=library_versions(ONNX_EXPORT_LIBRARIES))
    return target, note


def why_export(target: Path, kind: str = "") -> str | None:
    """None when ``target`` is a cached export that passes :func:`verify_export` (use it), else the
    note on why it is exported now: there is none yet, or it is damaged (``kind`` names the engine
    in the note, e.g. "OpenVINO ")."""
    if not target.is_file():
        return f"{kind + 'int8 ' if kind else ''}exported at this start"
    problem = verify_export(target)
    if problem is None:
        return None
    log.warning("cached %sint8 export %s is damaged (%s): exporting it again", kind, target, problem)
    return f"re-exported: the cached {kind}export was damaged ({problem})"


def int64_feed(input_ids: torch.Tensor, attention_mask: torch.Tensor, token_type_ids: torch.Tensor | None,
               reads_token_types: bool) -> dict[str, np.ndarray]:
    """The int64 arrays an exported graph reads; segment ids (zeros when not given) only where it
    reads them."""
    feed = {"input_ids": input_ids.cpu().numpy().astype(np.int64, copy=False),
            "attention_mask": attention_mask.cpu().numpy().astype(np.int64, copy=False)}
    if reads_token_types:
        types = torch.zeros_like(input_ids) if token_type_ids is None else token_type_ids
        feed["token_type_ids"] = types.cpu().numpy().astype(np.int64, copy=False)
    return feed


#: the record written beside each export: what was exported, its size and SHA-256
RECORD = "source.json"


def file_sha256(path: Path) -> str:
    with path.open("rb") as f:
        return hashlib.file_digest(f, "sha256").hexdigest()


def file_records(files: list[Path]) -> dict:
    """``{"files": {name: {"size", "sha256"}}}`` for an export made of several files (OpenVINO's
    .xml + .bin), the record :func:`verify_export` checks; the ONNX export keeps its one-file
    ``size``/``sha256`` keys so that existing caches stay valid."""
    return {"files": {p.name: {"size": p.stat().st_size, "sha256": file_sha256(p)} for p in files}}


def verify_export(target: Path) -> str | None:
    """None when ``target`` (and, for a multi-file record, every file listed beside it) is what
    its record describes (size, then SHA-256), else what is wrong. Hashing GTE-large's int8
    export (~0.3 GB) takes well under a second."""
    try:
        record = json.loads((target.parent / RECORD).read_text(encoding="utf-8"))
        if "files" in record:
            expected = {target.parent / name: (str(f["sha256"]), int(f["size"]))
                        for name, f in record["files"].items()}
            if target not in expected:
                raise KeyError(target.name)
        else:
            expected = {target: (record["sha256"], int(record["size"]))}
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return "no checksum recorded for it"
    for path, (sha256, size) in expected.items():
        if not path.is_file():
            return f"{path.name} is missing"
        actual = path.stat().st_size
        if actual != size:
            return f"{actual:,} bytes where {size:,} were written" + (f" ({path.name})" if path != target else "")
        if file_sha256(path) != sha256:
            return "its SHA-256 differs from the one recorded at export" + (
                f" ({path.name})" if path != target else "")
    return None


TMP_PREFIX = ".export-"


def remove_abandoned_exports(folder: Path, older_than_s: float = 3600) -> list[Path]:
    """Delete half-written exports a killed process left (``kill -9`` skips its clean-up). Only
    old ones: another process sharing the cache may be exporting right now (GTE-large takes
    minutes, not an hour). They never break a start; they only take disk."""
    removed = []
    for entry in folder.glob(TMP_PREFIX + "*"):
        try:
            abandoned = time.time() - entry.stat().st_mtime > older_than_s
        except OSError:
            continue
        if abandoned:
            shutil.rmtree(entry, ignore_errors=True)
            removed.append(entry)
    return removed


def remove_if_empty(folder: Path) -> None:
    try:
        folder.rmdir()
    except OSError:
        pass  # not empty (a good export lives there) or already gone


@contextlib.contextmanager
def staged_export(target: Path) -> Iterator[Path]:
    """A fresh temporary folder beside ``target`` to write an export into (abandoned ones that
    killed runs left go first); :func:`move_in` renames the finished files into place. The folder
    is removed afterwards, and so is ``target``'s folder if nothing landed there: a failed first
    export leaves nothing behind."""
    target.parent.mkdir(parents=True, exist_ok=True)
    remove_abandoned_exports(target.parent)
    tmp_dir = Path(tempfile.mkdtemp(prefix=TMP_PREFIX, dir=target.parent))
    try:
        yield tmp_dir
    finally:
        shutil.rmtree(tmp_dir, ignore_errors=True)
        remove_if_empty(target.parent)


def move_in(files: list[Path], record: dict, folder: Path) -> None:
    """Write ``record`` (:data:`RECORD`) beside ``files`` and rename them into ``folder``, the
    record last: a crash in between leaves files that do not match their record, which the next
    start exports again."""
    record_file = files[0].parent / RECORD
    record_file.write_text(json.dumps(record, indent=1), encoding="utf-8")
    for f in [*files, record_file]:
        os.replace(f, folder / f.name)


def export_seconds_estimate(folder: Path) -> float:
    """Rough one-time export time from the checkpoint's size, as measured on 2 cores: MiniLM
    (90 MB) 5 s, GTE-large (1.3 GB fp32) 17-40 s."""
    size = sum(p.stat().st_size for p in folder.iterdir() if p.suffix in (".safetensors", ".bin"))
    return 4 + 25 * size / 1e9


@contextlib.contextmanager
def export_progress(folder: Path, where: Path, seconds: float | None = None, what: str = "the int8 model",
                    stages: int = 3):
    """Say what the first int8 start is doing, and how long it will take, on stderr whatever the
    log level (a silent half-minute looks like a hang): a progress bar on a terminal, a few whole
    lines otherwise (a log file would collect every ``\r`` update of a bar). transformers' own
    weight-loading bar is hidden meanwhile. ``seconds``: the estimate (default: the ONNX export's);
    ``stages``: how many ``step(name)`` calls the export makes."""
    # only while an export runs
    from tqdm import tqdm
    from transformers.utils import logging as hf_logging

    seconds = export_seconds_estimate(folder) if seconds is None else seconds
    headline = f"exporting {what} once (~{5 * max(1, round(seconds / 5)):.0f} s), cached in {where}"
    log.info(headline)
    bar = None
    if sys.stderr.isatty():
        bar = tqdm(total=stages, desc=headline, file=sys.stderr, bar_format="{desc} [{elapsed}]", mininterval=0)

    def show(text: str) -> None:
        if bar is not None:
            bar.set_description_str(text)
        else:
            print(text, file=sys.stderr, flush=True)

    if bar is None:
        show(headline)
    bars_were_on = hf_logging.is_progress_bar_enabled()
    hf_logging.disable_progress_bar()
    done: list[str] = []

    def step(name: str) -> None:
        done.append(name)
        show(f"{headline}: {len(done)}/{stages} {name}")

    t0 = time.perf_counter()
    try:
        yield step
        show(f"{headline}: done in {time.perf_counter() - t0:.0f} s")
    finally:
        if bar is not None:
            bar.close()
        if bars_were_on:
            hf_logging.enable_progress_bar()


def prune_stale_exports(keep: Path, folder: Path, mode: str, first_token_only: bool = False,
                        version: int = EXPORT_VERSION, versions: dict[str, str] | None = None) -> list[Path]:
    """Delete the other cached exports of the same model folder + mode: those of the same graph
    made with the same library ``versions`` (older weights) and any of an older export version.
    Each is a few hundred MB for GTE-large and would never be read again. Exports of other
    models or modes, the current version's export with the other output (first token only or
    not), and those other library versions made (another venv sharing the cache reads them) are
    left alone. Returns the deleted folders."""
    removed = []
    for entry in keep.parent.iterdir():
        source = entry / RECORD
        if entry == keep or not source.is_file():
            continue
        try:
            info = json.loads(source.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        same_graph = bool(info.get("first_token_only", False)) == first_token_only
        same_libraries = info.get("versions") == versions
        older_version = info.get("export_version") != version  # never read again either
        if info.get("model") == str(folder) and info.get("mode") == mode and (
                (same_graph and same_libraries) or older_version):
            shutil.rmtree(entry, ignore_errors=True)
            log.info("removed stale int8 export %s", entry)
            removed.append(entry)
    return removed


class OrtInt8Backend(Backend):
    """W8A8 int8 (per-token activations, per-channel weights) in ONNX Runtime on CPU."""

    device = "cpu"
    precision = "int8"

    def __init__(self, folder: Path, mode: str = "accurate", threads: int | None = None, *,
                 cache_dir: Path, first_token_only: bool = False, tokenizer=None,
                 token_types: bool = False) -> None:
        # optional engine: onnxruntime loads only when the ONNX int8 engine serves
        import onnxruntime as ort

        self.name = f"onnx-int8-{mode}"
        self.path, self.note = ensure_int8_export(Path(folder), mode, cache_dir, first_token_only, tokenizer,
                                                  token_types=token_types)
        opts = ort.SessionOptions()
        opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        opts.intra_op_num_threads = threads or torch.get_num_threads()
        opts.inter_op_num_threads = 1
        opts.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        self.session = ort.InferenceSession(str(self.path), opts, providers=["CPUExecutionProvider"])
        # what the export could do for this architecture: its output is [batch, 1, dim] or [batch, seq, dim]
        self.first_token_only = self.session.get_outputs()[0].name == FIRST_TOKEN_OUTPUT
        self._reads_token_types = any(i.name == "token_type_ids" for i in self.session.get_inputs())
        trim_heap()  # the parsed model file is freed once weights are prepacked: give it back
        config = json.loads((Path(folder) / "config.json").read_text(encoding="utf-8"))
        self._dim = int(config["hidden_size"])

    @property
    def dim(self) -> int:
        return self._dim

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor,
                token_type_ids: torch.Tensor | None = None) -> torch.Tensor:
        feed = int64_feed(input_ids, attention_mask, token_type_ids, self._reads_token_types)
        (hidden,) = self.session.run(None, feed)
        return torch.from_numpy(hidden)


def _build(request: BackendRequest) -> OrtInt8Backend:
    return OrtInt8Backend(request.folder, mode=request.int8_mode, threads=request.threads,
                          cache_dir=request.cache_dir, first_token_only=request.first_token_only,
                          tokenizer=request.tokenizer, token_types=request.token_types)


register(BackendSpec("onnx", "ONNX Runtime", _build, devices=("cpu",), precisions=("int8",),
                     int8_modes=tuple(name for name, mode in INT8_MODES.items() if mode.onnx),
                     bert_family_only=True))
