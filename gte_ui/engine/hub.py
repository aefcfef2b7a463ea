"""Resolve ``--model`` to a local folder: a folder as is, or an id through the real hub clients.

ModelScope ids (``iic/...``, ``damo/...``) go through ``modelscope.snapshot_download``; other ids
through ``huggingface_hub.snapshot_download``. Both use their normal caches. With ``offline``
nothing touches the network: only what is already cached (or a folder) is used. Every failure
becomes one :class:`ModelNotFoundError` that says what was tried and how to use a local folder.
"""

from __future__ import annotations

import hashlib
import logging
import os
from pathlib import Path

from gte_ui.core.settings import KNOWN_MODELS
from gte_ui.core.errors import ModelNotFoundError

log = logging.getLogger(__name__)

MODELSCOPE_PREFIXES = ("iic/", "damo/")
WEIGHT_FILES = ("model.safetensors", "pytorch_model.bin", "model.safetensors.index.json",
                "pytorch_model.bin.index.json")


def looks_like_path(model: str) -> bool:
    """True for things users type as paths (absolute, ./, ~, or an existing folder)."""
    return (model.startswith(("/", "./", "../", "~", "\\")) or os.path.isdir(os.path.expanduser(model))
            or (len(model) > 1 and model[1] == ":"))


def pick_hub(model_id: str, hub: str = "auto") -> str:
    if hub != "auto":
        return hub
    return "modelscope" if model_id.startswith(MODELSCOPE_PREFIXES) else "huggingface"


def transformer_folder(folder: Path) -> Path:
    """The folder holding config.json and the weights (a sentence-transformers folder may nest it)."""
    import json

    modules = folder / "modules.json"
    if modules.is_file():
        try:
            for module in json.loads(modules.read_text(encoding="utf-8")):
                if module.get("type", "").endswith("Transformer"):
                    return folder / module.get("path", "")
        except (ValueError, TypeError, AttributeError):
            pass
    return folder


def check_model_folder(folder: Path) -> Path:
    """Raise unless ``folder`` holds a loadable model (config.json + weights + vocabulary)."""
    inner = transformer_folder(folder)
    missing = []
    if not (inner / "config.json").is_file():
        missing.append("config.json")
    if not any((inner / w).is_file() for w in WEIGHT_FILES):
        missing.append("weights (" + " or ".join(WEIGHT_FILES[:2]) + ")")
    if not any((inner / t).is_file() or (folder / t).is_file()
               for t in ("tokenizer.json", "vocab.txt", "sentencepiece.bpe.model")):
        missing.append("tokenizer (tokenizer.json or vocab.txt)")
    if missing:
        raise ModelNotFoundError(
            f"model folder {folder} is incomplete: missing {', '.join(missing)}. "
            "Download the whole model with `python -m gte_ui download --model ID --to FOLDER`.",
            f"模型目录 {folder} 不完整，缺少：{', '.join(missing)}")
    return folder


def resolve_model(model: str, *, hub: str = "auto", revision: str | None = None,
                  offline: bool = False, cache_dir: str | None = None) -> Path:
    """Return a local folder for ``model`` (a folder, a ModelScope id or a Hugging Face id).

    Raises:
        ModelNotFoundError: with a message naming every place that was tried.
    """
    if looks_like_path(model):
        folder = Path(model).expanduser().resolve()
        if not folder.is_dir():
            raise ModelNotFoundError(
                f"model folder {folder} does not exist. Pass --model with a folder that holds "
                "config.json and the weights, or a ModelScope / Hugging Face model id.",
                f"模型目录 {folder} 不存在")
        return check_model_folder(folder)

    order = [pick_hub(model, hub)]
    # A known GTE id may also be fetched from the other hub under its other name.
    twin = KNOWN_MODELS.get(model) or {v: k for k, v in KNOWN_MODELS.items()}.get(model)
    attempts: list[str] = []
    for which in order + (["huggingface" if order[0] == "modelscope" else "modelscope"] if twin and hub == "auto" else []):
        name = model if which == order[0] else twin
        assert name is not None
        try:
            folder = _download(which, name, revision=revision, offline=offline, cache_dir=cache_dir)
            return check_model_folder(folder)
        except ModelNotFoundError:
            raise
        except Exception as exc:  # the hub clients raise many types; all mean "not available"
            reason = f"{type(exc).__name__}: {str(exc).splitlines()[0][:200] if str(exc) else ''}"
            attempts.append(f"{which} '{name}'{' (offline, cache only)' if offline else ''} -> {reason}")
            log.debug("model %s not available from %s", name, which, exc_info=True)
    raise ModelNotFoundError(
        f"could not load model '{model}'. Tried: " + "; ".join(attempts) + ". "
        "To run offline, download it once with `python -m gte_ui download --model "
        f"{model} --to ./models/gte` and start with `--model ./models/gte`.",
        f"无法加载模型 '{model}'。请先下载到本地目录，再用 --model 指向该目录")


def _download(which: str, name: str, *, revision: str | None, offline: bool,
              cache_dir: str | None) -> Path:
    if which == "modelscope":
        from modelscope import snapshot_download as ms_download

        kwargs = dict(model_id=name, cache_dir=cache_dir, local_files_only=offline)
        if revision:
            kwargs["revision"] = revision
        return Path(ms_download(**kwargs))
    from huggingface_hub import snapshot_download as hf_download

    return Path(hf_download(repo_id=name, revision=revision, cache_dir=cache_dir,
                            local_files_only=offline))


def download(model: str, to: str | Path, *, hub: str = "auto", revision: str | None = None) -> Path:
    """Fetch ``model`` into the folder ``to`` for later offline use (progress bars from the clients)."""
    to = Path(to)
    to.mkdir(parents=True, exist_ok=True)
    which = pick_hub(model, hub)
    try:
        if which == "modelscope":
            from modelscope import snapshot_download as ms_download

            ms_download(model_id=model, revision=revision, local_dir=str(to))
        else:
            from huggingface_hub import snapshot_download as hf_download

            hf_download(repo_id=model, revision=revision, local_dir=str(to))
    except Exception as exc:
        raise ModelNotFoundError(f"download of '{model}' from {which} failed: {exc}",
                                 f"从 {which} 下载 '{model}' 失败") from exc
    return check_model_folder(to)


_FINGERPRINT_SUFFIXES = (".json", ".txt", ".safetensors", ".bin", ".model")
_SAMPLE = 1 << 20


def model_fingerprint(folder: Path) -> str:
    """A short content hash of a model folder: the same model gives the same value on every
    machine whatever its path, a fine-tuned or re-quantised one a different value.

    Config, tokenizer and pooling files are hashed whole; weight files by their size and three
    1 MiB samples (start, middle, end), so GTE-large's 1.3 GB costs milliseconds, not seconds.
    The shared cache keys on it (:mod:`gte_ui.engine.shared_cache`).
    """
    digest = hashlib.blake2b(digest_size=12)
    folder = Path(folder)
    files = sorted(p for p in folder.rglob("*") if p.is_file() and p.suffix in _FINGERPRINT_SUFFIXES
                   and not any(part.startswith(".") for part in p.relative_to(folder).parts))
    for path in files:
        size = path.stat().st_size
        digest.update(f"{path.relative_to(folder).as_posix()}|{size}|".encode())
        with open(path, "rb") as f:
            if size <= 3 * _SAMPLE:
                digest.update(f.read())
                continue
            for offset in (0, size // 2, size - _SAMPLE):
                f.seek(offset)
                digest.update(f.read(_SAMPLE))
    return digest.hexdigest()
