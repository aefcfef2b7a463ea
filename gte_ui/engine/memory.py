"""What a model will cost in memory, estimated from its weight files before loading it.

The safetensors header lists every tensor's dtype and shape, so the parameter count is exact
without reading any weights. Bytes per parameter follow the precision the model will run in; the
int8 path keeps the embedding tables in fp32 (they are looked up, not multiplied). A fixed
overhead covers the tokenizer, the runtime's buffers and activations of one batch. Measured
against the process's resident memory in docs/performance.md.
"""

from __future__ import annotations

import ctypes
import json
import struct
from dataclasses import dataclass
from pathlib import Path

#: bytes per parameter for each precision the engine runs
BYTES_PER_PARAM = {"fp32": 4.0, "fp16": 2.0, "bf16": 2.0, "int8": 1.0}
#: tokenizer, runtime buffers and one batch's activations (measured: GTE-large fp32 RSS 1.57 GB
#: for 1.30 GB of weights; int8 0.70 GB for 0.41 GB)
OVERHEAD_BYTES = 256 * 2**20



@dataclass(frozen=True)
class WeightCount:
    params: int  # all parameters
    embedding_params: int  # of which in embedding tables (kept fp32 by int8)
    file_bytes: int  # what the weight files take on disk


def count_weights(folder: Path) -> WeightCount:
    """Parameters in ``folder``'s weights: exact from safetensors headers; for a PyTorch ``.bin``
    only its size is known, read as fp32 (4 bytes a parameter)."""
    params = embeddings = size = 0
    files = sorted(folder.glob("*.safetensors"))
    for path in files:
        size += path.stat().st_size
        for name, meta in _safetensors_header(path).items():
            if name == "__metadata__" or not str(meta.get("dtype", "F")).startswith(("F", "BF")):
                continue  # integer buffers such as position_ids are not weights
            n = 1
            for d in meta.get("shape", []):
                n *= int(d)
            params += n
            if "embeddings" in name or "embed_tokens" in name:
                embeddings += n
    if not files:
        for path in sorted(folder.glob("*.bin")):
            size += path.stat().st_size
            params += path.stat().st_size // 4
    return WeightCount(params=params, embedding_params=embeddings, file_bytes=size)


def _safetensors_header(path: Path) -> dict:
    with open(path, "rb") as f:
        (length,) = struct.unpack("<Q", f.read(8))
        if length > 100 * 2**20:  # a damaged file; the loader reports it properly
            return {}
        try:
            return json.loads(f.read(length))
        except ValueError:
            return {}


def estimate_bytes(folder: Path, precision: str) -> int:
    """Resident memory the model will need once loaded and serving, in bytes."""
    w = count_weights(folder)
    per = BYTES_PER_PARAM.get(precision, 4.0)
    if precision == "int8":
        body = (w.params - w.embedding_params) * per + w.embedding_params * 4.0
    else:
        body = w.params * per
    return int(body + OVERHEAD_BYTES)


def human_bytes(n: float) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if abs(n) < 1024 or unit == "GB":
            return f"{n:.1f} {unit}" if unit != "B" else f"{int(n)} B"
        n /= 1024
    return f"{n:.1f} GB"


def release_free_memory() -> bool:
    """Hand the heap's free pages back to the system (glibc ``malloc_trim``); False where there is
    no glibc. A big request frees what it allocated, but glibc keeps the freed pages mapped, so
    without this the process kept its peak RSS for good."""
    try:
        libc = ctypes.CDLL("libc.so.6")
    except OSError:
        return False
    return bool(libc.malloc_trim(0))
