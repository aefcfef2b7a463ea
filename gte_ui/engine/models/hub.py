"""Resolve ``--model`` to a local folder: a folder as is, or an id through the real hub clients.

ModelScope ids (``iic/...``, ``damo/...``) go through ``modelscope.snapshot_download``; other ids
through ``huggingface_hub.snapshot_download``. Both use their normal caches. With ``offline``
nothing touches the network: only what is already cached (or a folder) is used. Every failure
becomes one :class:`ModelNotFoundError` that says what was tried and how to use a local folder.

Before a client runs, one quick request (:func:`probe_hub`) asks the hub about the model. The
clients retry every network error with back-off (ModelScope's took 24-34 s to give up offline),
but no DNS, a refused connection, an unreachable network or a 404 are not fixed by retrying:
those end the attempt at once. Any other answer, or none within :data:`PROBE_TIMEOUT_S`, hands
over to the client and its own retries, which a flaky network deserves.
"""

from __future__ import annotations

import errno
import functools
import hashlib
import json
import logging
import os
import shutil
import socket
import threading
import urllib.error
import urllib.parse
import urllib.request
import zipfile
from pathlib import Path

from gte_ui.core.errors import ModelNotFoundError
from gte_ui.core.settings import KNOWN_MODELS, hub_client_env

log = logging.getLogger(__name__)

MODELSCOPE_PREFIXES = ("iic/", "damo/")
#: Seconds the reachability probe waits for an answer before leaving the verdict to the client.
PROBE_TIMEOUT_S = 3.0
#: Connection errors that mean "no route to the hub": retrying within seconds cannot help.
UNREACHABLE_ERRNOS = {errno.ECONNREFUSED, errno.ENETUNREACH, errno.EHOSTUNREACH}
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
    check_weight_files(inner)
    return folder


def weight_files(inner: Path) -> list[Path]:
    """The weight files a load will read: the shards an index names, else the single file."""
    for index in ("model.safetensors.index.json", "pytorch_model.bin.index.json"):
        if (inner / index).is_file():
            try:
                shards = sorted(set(json.loads((inner / index).read_text(encoding="utf-8"))["weight_map"].values()))
            except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
                raise DamagedModelError(inner / index, f"unreadable index ({type(exc).__name__})") from exc
            return [inner / shard for shard in shards]
    return [inner / name for name in WEIGHT_FILES[:2] if (inner / name).is_file()][:1]


def check_weight_files(inner: Path) -> None:
    """Raise :class:`DamagedModelError` naming the first weight file that is missing, short or
    corrupt. Reads headers only (a safetensors header, a zip's central directory), so it costs
    milliseconds even for GTE-large: an interrupted download leaves exactly such a short file,
    which would otherwise end in a deserialisation traceback."""
    # safetensors only when weights are checked: resolving a model stays import-light
    from safetensors import SafetensorError, safe_open

    for path in weight_files(inner):
        if not path.is_file():
            raise DamagedModelError(path, "missing")
        if path.suffix == ".safetensors":
            try:
                with safe_open(str(path), framework="pt"):  # checks the header covers the file exactly
                    pass
            except (SafetensorError, OSError) as exc:
                raise DamagedModelError(path, str(exc).split(":")[-1].strip() or type(exc).__name__) from exc
        elif path.suffix == ".bin" and not _intact_zip_or_pickle(path):
            raise DamagedModelError(path, "not a complete PyTorch checkpoint")


def _intact_zip_or_pickle(path: Path) -> bool:
    """A torch.save zip whose central directory (at the very end) reads, or a legacy pickle."""
    with path.open("rb") as f:
        legacy = f.read(2) == b"\x80\x02"  # protocol-2 pickle: torch's pre-1.6 format, not checkable
    if legacy:
        return True
    try:
        with zipfile.ZipFile(path):
            return True
    except (zipfile.BadZipFile, OSError):
        return False


class DamagedModelError(ModelNotFoundError):
    """A weight file that is there but cannot be loaded: truncated, corrupt or missing."""

    def __init__(self, path: Path, reason: str, model: str | None = None) -> None:
        size = path.stat().st_size if path.is_file() else 0
        self.path, self.reason = path, reason
        fix = (f"`python -m gte_ui download --model {model or 'ID'} --to FOLDER` and start with "
               "`--model FOLDER`" if model else
               f"`python -m gte_ui download --model ID --to {path.parent}`")
        super().__init__(
            f"model file {path} is damaged ({reason}; {size:,} bytes): an interrupted download leaves "
            f"a short file. Fetch it again with {fix} (download checks what it fetched and refetches "
            "damaged files), or copy the folder again.",
            f"模型文件 {path} 已损坏（{size:,} 字节），可能是下载中断。请用 python -m gte_ui download "
            "重新下载（会校验并重新获取损坏的文件）")


def hub_endpoint(which: str) -> str:
    """The base URL the hub client will use, from the clients' own environment variables."""
    if which == "modelscope":
        return hub_client_env().modelscope_endpoint
    from huggingface_hub import constants  # the hub client, imported only when a hub is used

    return hub_client_env().hf_endpoint or constants.ENDPOINT.rstrip("/")


def probe_url(which: str, name: str, revision: str | None = None) -> str:
    """The hub's API address for the model: for Hugging Face the request snapshot_download makes
    first (so a mirror that serves the client serves the probe); ModelScope's model page."""
    base, quoted = hub_endpoint(which), urllib.parse.quote(name, safe="/")
    if which == "modelscope":
        return f"{base}/api/v1/models/{quoted}"
    return f"{base}/api/models/{quoted}/revision/{urllib.parse.quote(revision or 'main', safe='')}"


def probe_hub(which: str, name: str, revision: str | None = None,
              timeout: float = PROBE_TIMEOUT_S) -> str | None:
    """One request to the hub's API about ``name``: why retrying is pointless, or None.

    Returns a reason (no DNS, connection refused, network unreachable, 404) when the client
    could not succeed; None when the hub answered anything else or did not answer in time (the
    client then runs with its own retries). Honours the usual proxy variables, as the clients do.
    """
    url = probe_url(which, name, revision)
    host = urllib.parse.urlsplit(url).netloc
    headers = {"User-Agent": "gte_ui-hub-probe"}
    # A private model may be invisible (404) without the user's token: send Hugging Face's as its
    # client would; with a ModelScope token set, leave a 404 for the client to judge.
    trust_404 = True
    if which == "huggingface":
        from huggingface_hub import get_token  # the hub client, imported only when a hub is used

        if token := get_token():
            headers["Authorization"] = f"Bearer {token}"
    elif hub_client_env().modelscope_token:
        trust_404 = False
    verdict: list[str | None] = [None]

    def ask() -> None:
        request = urllib.request.Request(url, headers=headers)
        try:
            with urllib.request.urlopen(request, timeout=timeout):  # noqa: S310 - the hub's own URL
                return
        except urllib.error.HTTPError as exc:
            if exc.code == 404 and trust_404:
                verdict[0] = f"{host} answers 404: no model '{name}' there"
        except urllib.error.URLError as exc:
            reason = exc.reason
            if isinstance(reason, socket.gaierror):
                verdict[0] = f"cannot resolve {urllib.parse.urlsplit(url).hostname} (no DNS or no network)"
            elif isinstance(reason, OSError) and reason.errno in UNREACHABLE_ERRNOS:
                verdict[0] = f"{host}: {os.strerror(reason.errno).lower()}"
        except OSError:  # a timeout or a reset: the client's retries may still get through
            pass

    # A thread bounds the whole probe: urlopen's timeout does not cover name resolution.
    worker = threading.Thread(target=ask, name=f"probe-{which}", daemon=True)
    worker.start()
    worker.join(timeout + 0.5)
    if verdict[0]:
        log.debug("%s is unreachable for %s: %s", which, name, verdict[0])
    return verdict[0]


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

    return _resolve_id(model, hub, revision, offline, cache_dir)


@functools.lru_cache(maxsize=16)
def _resolve_id(model: str, hub: str, revision: str | None, offline: bool, cache_dir: str | None) -> Path:
    """:func:`resolve_model` for an id; a success is remembered, so the server can resolve before
    its heavy imports (a failure shows in a second) and the encoder's own call asks no hub again."""
    order = [pick_hub(model, hub)]
    # A known GTE id may also be fetched from the other hub under its other name.
    twin = KNOWN_MODELS.get(model) or {v: k for k, v in KNOWN_MODELS.items()}.get(model)
    attempts: list[str] = []
    for which in order + (["huggingface" if order[0] == "modelscope" else "modelscope"] if twin and hub == "auto" else []):
        name = model if which == order[0] else twin
        assert name is not None
        unreachable = None if offline else probe_hub(which, name, revision)
        if unreachable:  # the client would only retry; what its cache holds still serves
            try:
                folder = check_model_folder(_download(which, name, revision=revision, offline=True,
                                                      cache_dir=cache_dir))
                log.warning("%s is unreachable (%s); using the cached copy of %s", which, unreachable, name)
                return folder
            except Exception:  # noqa: BLE001 - not cached (each client raises its own type)
                attempts.append(f"{which} '{name}' -> {unreachable}; not in the local cache either")
                continue
        try:
            folder = _download(which, name, revision=revision, offline=offline, cache_dir=cache_dir)
            return check_model_folder(folder)
        except DamagedModelError as exc:  # in the hub's cache: the fix names the id, not the cache
            raise DamagedModelError(exc.path, exc.reason, model=name) from exc
        except ModelNotFoundError:
            raise
        except Exception as exc:  # the hub clients raise many types; all mean "not available"
            reason = f"{type(exc).__name__}: {str(exc).splitlines()[0][:200] if str(exc) else ''}"
            attempts.append(f"{which} '{name}'{' (offline, cache only)' if offline else ''} -> {reason}")
            log.debug("model %s not available from %s", name, which, exc_info=True)
    raise ModelNotFoundError(
        f"could not load model '{model}'. Tried: " + "; ".join(attempts) + ". "
        "To run offline, download it once with `python -m gte_ui download --model "
        f"{model} --to ./models/gte` and start with `--model ./models/gte`. "
        "No network here? Download it on a machine that has one, copy the folder over "
        "(scp, rsync, a USB disk) and start with `--model FOLDER --offline`.",
        f"无法加载模型 '{model}'。请先下载到本地目录，再用 --model 指向该目录；"
        "本机无网络时，可在联网的机器上下载后把整个目录复制过来")


def _download(which: str, name: str, *, revision: str | None, offline: bool,
              cache_dir: str | None) -> Path:
    if which == "modelscope":
        # each hub's client loads only when that hub is used
        from modelscope import snapshot_download as ms_download

        kwargs = dict(model_id=name, cache_dir=cache_dir, local_files_only=offline)
        if revision:
            kwargs["revision"] = revision
        return Path(ms_download(**kwargs))
    # each hub's client loads only when that hub is used
    from huggingface_hub import snapshot_download as hf_download

    return Path(hf_download(repo_id=name, revision=revision, cache_dir=cache_dir,
                            local_files_only=offline, endpoint=hub_endpoint("huggingface")))


def download(model: str, to: str | Path, *, hub: str = "auto", revision: str | None = None,
             attempts: int = 2) -> Path:
    """Fetch ``model`` into the folder ``to`` for later offline use (progress bars from the clients),
    then check every file against the hub's record (size, and SHA-256 where the hub publishes it);
    a damaged file is deleted and fetched again, up to ``attempts`` rounds in all.

    Both clients resume: Hugging Face keeps partial downloads aside (``.incomplete``) and
    ModelScope re-hashes files it already has (switched on here), so a rerun after an
    interruption fetches only what is missing or wrong.
    """
    to = Path(to)
    which = pick_hub(model, hub)
    unreachable = probe_hub(which, model, revision)
    if unreachable:
        raise ModelNotFoundError(
            f"download of '{model}' from {which} failed: {unreachable}. Without a network here, run "
            "the same command on a machine that has one and copy the folder over.",
            f"从 {which} 下载 '{model}' 失败：无法连接；可在联网的机器上下载后复制目录")
    created = [p for p in (to, *to.parents) if not p.exists()]  # deepest first
    to.mkdir(parents=True, exist_ok=True)
    try:
        return _download_into(to, which, model, revision, attempts)
    except BaseException:
        _remove_if_nothing_fetched(created)
        raise


def _remove_if_nothing_fetched(created: list[Path]) -> None:
    """After a failed download: remove the folders it created (``created``, deepest first) when no
    byte was fetched into them; a partial download stays, for the rerun to resume."""
    if not created:
        return
    top = created[-1]
    if any(p.is_file() and p.stat().st_size for p in top.rglob("*")):
        log.warning("kept the partial download in %s: run the same command again to resume", top)
        return
    shutil.rmtree(top, ignore_errors=True)


def _download_into(to: Path, which: str, model: str, revision: str | None, attempts: int) -> Path:
    damaged: list[tuple[Path, str]] = []
    for attempt in range(1, attempts + 1):
        try:
            fetch_snapshot(which, model, revision, to)
            manifest = hub_manifest(which, model, revision) or local_manifest(to)
        except Exception as exc:
            raise ModelNotFoundError(f"download of '{model}' from {which} failed: {exc}",
                                     f"从 {which} 下载 '{model}' 失败") from exc
        damaged = verify_files(to, manifest)
        if not damaged:
            return check_model_folder(to)
        for path, reason in damaged:
            log.warning("%s: %s; %s", path, reason, "fetching it again" if attempt < attempts else "giving up")
            _forget(to, path)
    names = "; ".join(f"{path.name} ({reason})" for path, reason in damaged)
    raise ModelNotFoundError(
        f"download of '{model}' from {which} is still damaged after {attempts} tries: {names}. "
        "Check the disk space and the connection, then run the same command again.",
        f"从 {which} 下载 '{model}' 重试 {attempts} 次后文件仍不完整：{names}")


#: what the hub says a file should be: its size in bytes and its SHA-256 (None where not published)
FileRecord = tuple[int | None, str | None]


def fetch_snapshot(which: str, model: str, revision: str | None, to: Path) -> None:
    """The hub client's own snapshot download into ``to`` (files it has and trusts are skipped)."""
    if which == "modelscope":
        # ModelScope trusts a file it has already fetched unless told to re-hash it; read at import
        os.environ.setdefault("MODELSCOPE_ENABLE_DEFAULT_HASH_VALIDATION", "true")
        # each hub's client loads only when that hub is used
        from modelscope import snapshot_download as ms_download

        ms_download(model_id=model, revision=revision, local_dir=str(to))
    else:
        # each hub's client loads only when that hub is used
        from huggingface_hub import snapshot_download as hf_download

        hf_download(repo_id=model, revision=revision, local_dir=str(to), endpoint=hub_endpoint("huggingface"))


def hub_manifest(which: str, model: str, revision: str | None) -> dict[str, FileRecord]:
    """Sizes and hashes the hub publishes for ``model``'s files; {} when it cannot be asked."""
    try:
        if which == "modelscope":
            # each hub's client loads only when that hub is used
            from modelscope.hub.api import HubApi

            files = HubApi().get_model_files(model, revision=revision or "master", recursive=True)
            return {f["Path"]: (f.get("Size"), f.get("Sha256") or None) for f in files if f.get("Type") == "blob"}
        # each hub's client loads only when that hub is used
        from huggingface_hub import HfApi

        info = HfApi().model_info(model, revision=revision, files_metadata=True)
        return {s.rfilename: (s.size, s.lfs.sha256 if s.lfs else None) for s in info.siblings or []}
    except Exception:  # offline, rate-limited, an older server: fall back to what the client recorded
        log.debug("no file list from %s for %s", which, model, exc_info=True)
        return {}


def local_manifest(folder: Path) -> dict[str, FileRecord]:
    """What ``huggingface_hub`` recorded while downloading into ``folder``: the ETag of a
    large (LFS) file is its SHA-256. Other files and ModelScope folders have no local record."""
    from huggingface_hub._local_folder import read_download_metadata  # the client's own reader

    records: dict[str, FileRecord] = {}
    meta_root = folder / ".cache" / "huggingface" / "download"
    for meta in meta_root.rglob("*.metadata"):
        name = meta.relative_to(meta_root).as_posix()[: -len(".metadata")]
        record = read_download_metadata(folder, name)
        etag = (record.etag if record else "").strip('"')
        if len(etag) == 64 and all(c in "0123456789abcdef" for c in etag):
            records[name] = (None, etag)
    return records


def verify_files(folder: Path, manifest: dict[str, FileRecord]) -> list[tuple[Path, str]]:
    """The files of ``folder`` that differ from ``manifest``, each with what is wrong."""
    damaged = []
    for name, (size, sha256) in sorted(manifest.items()):
        path = folder / name
        if not path.is_file():
            damaged.append((path, "missing"))
        elif size is not None and path.stat().st_size != size:
            damaged.append((path, f"{path.stat().st_size:,} bytes where the hub has {size:,}"))
        elif sha256:
            with path.open("rb") as f:
                if hashlib.file_digest(f, "sha256").hexdigest() != sha256:
                    damaged.append((path, "SHA-256 differs from the hub's"))
    return damaged


def _forget(folder: Path, path: Path) -> None:
    """Delete a damaged file and the client's record of it, so the next fetch gets it again."""
    path.unlink(missing_ok=True)
    name = path.relative_to(folder).as_posix()
    (folder / ".cache" / "huggingface" / "download" / f"{name}.metadata").unlink(missing_ok=True)


_FINGERPRINT_SUFFIXES = (".json", ".txt", ".safetensors", ".bin", ".model")
_SAMPLE = 1 << 20


def model_fingerprint(folder: Path) -> str:
    """A short content hash of a model folder: the same model gives the same value on every
    machine whatever its path, a fine-tuned or re-quantised one a different value.

    Config, tokenizer and pooling files are hashed whole; weight files by their size and three
    1 MiB samples (start, middle, end), so GTE-large's 1.3 GB costs milliseconds, not seconds.
    The shared cache keys on it (:mod:`gte_ui.engine.caches.shared`).
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
