"""Faults an unlucky operator meets: damaged files, a read-only or full export cache, a model folder
rewritten under a running server, an export killed half-way. Each ends in one clear message or a
working server that says how it is serving, never a traceback or a crash; each is bounded in time.

Whatever could take the test process down (SIGBUS, a file-size limit, a mount namespace, kill -9)
runs in a subprocess.
"""

from __future__ import annotations

import json
import os
import resource
import shutil
import signal
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import pytest
import requests
import torch

from conftest import LiveServer
from gte_ui.core.errors import ModelNotFoundError
from gte_ui.core.settings import Settings
from gte_ui.engine.encoder import Encoder
from gte_ui.engine.models.hub import DamagedModelError, check_model_folder
from gte_ui.engine.backends.onnx_export import RECORD, TMP_PREFIX, remove_abandoned_exports, verify_export

ROOT = Path(__file__).resolve().parents[3]


def run_python(code: str, *, env: dict | None = None, timeout: float = 240, prefix: list[str] | None = None,
               preexec_fn=None) -> subprocess.CompletedProcess:
    """``code`` in a fresh interpreter at the repository root (the conftest's offline env kept)."""
    full_env = {**os.environ, "PYTHONPATH": str(ROOT), **(env or {})}
    return subprocess.run([*(prefix or []), sys.executable, "-c", code], cwd=ROOT, env=full_env, capture_output=True,
                          text=True, timeout=timeout, preexec_fn=preexec_fn)


@pytest.fixture()
def model_copy(tiny_model_dir, tmp_path) -> Path:
    return Path(shutil.copytree(tiny_model_dir, tmp_path / "model"))


# ----------------------------------------------------------------- damaged weights
@pytest.mark.parametrize("size", [0, 5, 100, -1])
def test_truncated_safetensors_is_named(model_copy, size):
    weights = model_copy / "model.safetensors"
    os.truncate(weights, weights.stat().st_size + size if size < 0 else size)
    with pytest.raises(DamagedModelError) as err:
        check_model_folder(model_copy)
    assert err.value.path == weights and "python -m gte_ui download" in err.value.message
    assert isinstance(err.value, ModelNotFoundError)  # one message, the same door as a missing model


def test_truncated_bin_and_missing_shard_are_named(model_copy):
    from safetensors.torch import load_file

    state = load_file(model_copy / "model.safetensors")
    (model_copy / "model.safetensors").unlink()
    torch.save(state, model_copy / "pytorch_model.bin")
    check_model_folder(model_copy)  # a whole checkpoint passes
    os.truncate(model_copy / "pytorch_model.bin", (model_copy / "pytorch_model.bin").stat().st_size - 10)
    with pytest.raises(DamagedModelError, match="pytorch_model.bin is damaged"):
        check_model_folder(model_copy)
    (model_copy / "pytorch_model.bin").unlink()
    index = {"metadata": {}, "weight_map": {"a": "model-00001-of-00002.safetensors",
                                            "b": "model-00002-of-00002.safetensors"}}
    (model_copy / "model.safetensors.index.json").write_text(json.dumps(index), encoding="utf-8")
    with pytest.raises(DamagedModelError, match="model-00001-of-00002.safetensors is damaged .missing"):
        check_model_folder(model_copy)
    assert zipfile  # the .bin check reads the zip's central directory (see hub._intact_zip_or_pickle)


@pytest.mark.parametrize("command", [
    ["app.py", "--device", "cpu"],
    ["-m", "gte_ui", "similarity", "a", "b"],
    ["-m", "gte_ui", "rank", "a", "b", "c"],
    ["-m", "gte_ui", "evaluate", "tests/data/stsb_en/sts-test.tsv", "--limit", "3"],
])
def test_every_entry_point_gives_one_message_for_a_truncated_model(model_copy, tmp_path, command):
    weights = model_copy / "model.safetensors"
    os.truncate(weights, weights.stat().st_size // 2)
    out = subprocess.run([sys.executable, *command, "--model", str(model_copy)], cwd=ROOT, capture_output=True,
                         text=True, timeout=120, env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert out.returncode == 2, out.stderr[-2000:]
    assert "Traceback" not in out.stderr and "SafetensorError" not in out.stderr
    lines = [line for line in out.stderr.splitlines() if line.startswith("error:")]
    assert len(lines) == 1 and f"{weights} is damaged" in lines[0] and "python -m gte_ui download" in lines[0]


def test_embed_command_too(model_copy, tmp_path):
    os.truncate(model_copy / "model.safetensors", 10)
    (tmp_path / "in.txt").write_text("好\n", encoding="utf-8")
    out = subprocess.run([sys.executable, "-m", "gte_ui", "embed", str(tmp_path / "in.txt"), "--out",
                          str(tmp_path / "v.npy"), "--model", str(model_copy)], cwd=ROOT, capture_output=True,
                         text=True, timeout=120, env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert out.returncode == 2 and "Traceback" not in out.stderr and "is damaged" in out.stderr


# ----------------------------------------------------------------- a model folder rewritten at run time
REWRITE_WHILE_SERVING = """
import threading, sys
from gte_ui.core.settings import Settings
from gte_ui.service.service import EmbeddingService
folder = sys.argv[1] if len(sys.argv) > 1 else {folder!r}
service = EmbeddingService.from_settings(Settings(model=folder, device="cpu", precision={precision!r}))
before = service.encoder.encode(["今天天气很好"]).vectors
errors, done = [], []
def client(k):
    try:
        for i in range(40):
            service.embed([f"请求 {{k}} {{i}} 手机电池"])
            done.append(1)
    except BaseException as exc:
        errors.append(repr(exc))
threads = [threading.Thread(target=client, args=(k,)) for k in range(4)]
for t in threads: t.start()
weights = {folder!r} + "/model.safetensors"
with open(weights, "r+b") as f:   # rewritten in place, as cp over it or a re-download would
    f.write(b"\\0" * 4096)
    f.truncate(64)
for name in ("tokenizer.json", "vocab.txt", "config.json"):
    open({folder!r} + "/" + name, "w").close()
export = getattr(service.encoder.backend, "path", None)  # int8: the ONNX export in the cache too
if export is not None:
    with open(export, "r+b") as f:
        f.truncate(64)
for t in threads: t.join(timeout=120)
after = service.encoder.encode(["今天天气很好"]).vectors
print("requests", len(done), "errors", errors, "same", bool(abs(before - after).max() < 1e-5))
"""


@pytest.mark.parametrize("precision", ["fp32", "int8"])
def test_a_model_folder_rewritten_under_a_running_service(model_copy, tmp_path, precision):
    out = run_python(REWRITE_WHILE_SERVING.format(folder=str(model_copy), precision=precision),
                     env={"GTE_EXPORT_CACHE": str(tmp_path / "exports")})
    assert out.returncode == 0, f"rc {out.returncode} (-7 = SIGBUS): {out.stderr[-1500:]}"
    assert "requests 160 errors [] same True" in out.stdout, out.stdout + out.stderr[-1500:]


# ----------------------------------------------------------------- int8 export cache
def int8_settings(folder: Path, cache: Path) -> Settings:
    return Settings(model=str(folder), device="cpu", precision="int8", int8_mode="fast",
                    export_cache=str(cache))


@pytest.fixture(scope="module")
def good_export(tiny_model_dir, tmp_path_factory):
    """One good export, copied into each test's cache (an export takes seconds on shared cores)."""
    cache = tmp_path_factory.mktemp("exports")
    encoder = Encoder.load(int8_settings(tiny_model_dir, cache))
    assert encoder.info.backend == "onnx-int8-fast" and encoder.info.backend_note == "exported at this start"
    return cache, encoder.backend.path


@pytest.fixture()
def cache_copy(good_export, tmp_path) -> tuple[Path, Path]:
    cache, path = good_export
    copy = Path(shutil.copytree(cache, tmp_path / "exports"))
    return copy, copy / path.relative_to(cache)


def test_cached_export_is_verified_and_reused(tiny_model_dir, cache_copy):
    cache, onnx = cache_copy
    record = json.loads((onnx.parent / RECORD).read_text(encoding="utf-8"))
    assert record["size"] == onnx.stat().st_size and len(record["sha256"]) == 64
    mtime = onnx.stat().st_mtime_ns
    encoder = Encoder.load(int8_settings(tiny_model_dir, cache))
    assert encoder.info.backend == "onnx-int8-fast" and encoder.info.backend_note == ""
    assert onnx.stat().st_mtime_ns == mtime  # not exported again


@pytest.mark.parametrize("damage", ["flip", "truncate", "no-record"])
def test_a_damaged_export_is_replaced_on_the_next_start(tiny_model_dir, cache_copy, damage, caplog):
    cache, onnx = cache_copy
    if damage == "flip":  # same size, different bytes: only the hash sees it
        data = bytearray(onnx.read_bytes())
        data[len(data) // 2] ^= 0xFF
        onnx.write_bytes(bytes(data))
    elif damage == "truncate":
        os.truncate(onnx, onnx.stat().st_size // 3)
    else:  # a crash between the export's two renames
        (onnx.parent / RECORD).unlink()
    assert verify_export(onnx) is not None
    with caplog.at_level("WARNING"):
        encoder = Encoder.load(int8_settings(tiny_model_dir, cache))
    assert encoder.info.backend == "onnx-int8-fast"
    assert encoder.info.backend_note.startswith("re-exported: the cached export was damaged")
    # one message for the operator, no traceback, no fallback to eager PyTorch
    warnings = [r for r in caplog.records if r.levelname in ("WARNING", "ERROR") and r.name.startswith("gte_ui")]
    assert len(warnings) == 1 and "is damaged" in warnings[0].getMessage(), [r.getMessage() for r in warnings]
    assert warnings[0].exc_info is None and "eager PyTorch" not in caplog.text
    assert verify_export(onnx) is None  # healed in place
    again = Encoder.load(int8_settings(tiny_model_dir, cache))
    assert again.info.backend_note == ""
    assert again.encode(["北京"]).vectors.shape == (1, encoder.dim)


def test_health_names_the_serving_engine(tiny_model_dir, cache_copy):
    from gte_ui.server import create_app
    from gte_ui.service.service import EmbeddingService

    cache, onnx = cache_copy
    os.truncate(onnx, 100)
    settings = int8_settings(tiny_model_dir, cache)
    service = EmbeddingService.from_settings(settings)
    with LiveServer(create_app(service, settings)) as server:
        health = requests.get(server.url + "/health", timeout=10).json()
    assert health["backend"] == "onnx-int8-fast" and health["precision"] == "int8"
    assert "re-exported" in health["backend_note"] and "100 bytes" in health["backend_note"]
    assert str(cache) not in json.dumps(health) and str(tiny_model_dir) not in json.dumps(health)


FALLBACK = """
import json
from gte_ui.core.settings import Settings
from gte_ui.engine.encoder import Encoder
enc = Encoder.load(Settings(model={folder!r}, device="cpu", precision="int8", int8_mode="fast", export_cache={cache!r}))
vec = enc.encode(["今天天气很好"]).vectors
print(json.dumps({{"backend": enc.info.backend, "note": enc.info.backend_note, "dim": int(vec.shape[1])}}))
"""


def leftovers(cache: Path) -> list[str]:
    return sorted(str(p.relative_to(cache)) for p in cache.rglob("*"))


def test_read_only_export_cache_falls_back_and_says_why(tiny_model_dir, tmp_path):
    cache = tmp_path / "ro-cache"
    cache.mkdir()
    code = FALLBACK.format(folder=str(tiny_model_dir), cache=str(cache))
    if os.geteuid() != 0:
        cache.chmod(0o555)
        out = run_python(code)
        cache.chmod(0o755)
    else:  # root ignores permissions: a read-only bind mount in a private mount namespace
        if not shutil.which("unshare") or subprocess.run(["unshare", "-rm", "true"], capture_output=True).returncode:
            pytest.skip("running as root without user namespaces: cannot make a read-only folder")
        out = run_python(code, prefix=["unshare", "-rm", "sh", "-c",
                                       f'mount --bind -o ro "{cache}" "{cache}" && exec "$0" "$@"'])
    assert out.returncode == 0, out.stderr[-2000:]
    result = json.loads(out.stdout.strip().splitlines()[-1])
    assert result["backend"] == "torch-int8-fast" and result["dim"] > 0
    assert "Read-only file system" in result["note"] and "serving eager PyTorch int8" in result["note"]
    assert str(cache) not in result["note"]  # /health shows it: no paths
    assert leftovers(cache) == []


def test_disk_full_while_exporting_falls_back_and_leaves_no_partial_file(tiny_model_dir, good_export, tmp_path):
    cache = tmp_path / "full-cache"
    limit = good_export[1].stat().st_size // 2  # the export cannot be written whole

    def limit_file_size():
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

    out = run_python(FALLBACK.format(folder=str(tiny_model_dir), cache=str(cache)), preexec_fn=limit_file_size)
    assert out.returncode == 0, out.stderr[-2000:]
    result = json.loads(out.stdout.strip().splitlines()[-1])
    assert result["backend"] == "torch-int8-fast" and result["dim"] > 0, result
    assert "ONNX Runtime int8 unavailable (OSError: File too large)" in result["note"], result
    assert leftovers(cache) == []
    # with room again, the next start exports and serves ONNX
    assert Encoder.load(int8_settings(tiny_model_dir, cache)).info.backend == "onnx-int8-fast"


def test_kill_9_during_an_export_breaks_nothing(tiny_model_dir, tmp_path):
    cache = tmp_path / "killed"
    code = FALLBACK.format(folder=str(tiny_model_dir), cache=str(cache))
    proc = subprocess.Popen([sys.executable, "-c", code], cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)},
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.time() + 120
        while not list(cache.glob(f"*/{TMP_PREFIX}*")) and time.time() < deadline and proc.poll() is None:
            time.sleep(0.02)
        assert proc.poll() is None, "the export finished before it could be killed"
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert not list(cache.rglob("model.onnx")) or all(verify_export(p) is not None for p in cache.rglob("model.onnx"))
    encoder = Encoder.load(int8_settings(tiny_model_dir, cache))
    assert encoder.info.backend == "onnx-int8-fast" and encoder.encode(["好"]).vectors.shape[0] == 1
    # what the killed export left is only disk; old enough, the next export removes it
    for left in cache.glob(f"*/{TMP_PREFIX}*"):
        os.utime(left, (time.time() - 7200, time.time() - 7200))
        assert remove_abandoned_exports(left.parent) == [left] and not left.exists()


# ----------------------------------------------------------------- download verifies what it fetched
def manifest_of(folder: Path) -> dict:
    import hashlib

    return {p.name: (p.stat().st_size, hashlib.sha256(p.read_bytes()).hexdigest())
            for p in folder.iterdir() if p.is_file()}


def test_verify_files_names_short_altered_and_missing_files(tiny_model_dir, model_copy):
    from gte_ui.engine.models.hub import verify_files

    manifest = manifest_of(tiny_model_dir)
    assert verify_files(model_copy, manifest) == []
    os.truncate(model_copy / "model.safetensors", 1000)
    data = bytearray((model_copy / "tokenizer.json").read_bytes())
    data[100] ^= 1
    (model_copy / "tokenizer.json").write_bytes(bytes(data))
    (model_copy / "vocab.txt").unlink()
    found = {p.name: why for p, why in verify_files(model_copy, manifest)}
    assert found == {"model.safetensors": f"1,000 bytes where the hub has {manifest['model.safetensors'][0]:,}",
                     "tokenizer.json": "SHA-256 differs from the hub's", "vocab.txt": "missing"}


def test_huggingface_download_records_are_checked_offline(tiny_model_dir, model_copy):
    from huggingface_hub._local_folder import write_download_metadata

    from gte_ui.engine.models.hub import local_manifest, verify_files

    sha = manifest_of(tiny_model_dir)["model.safetensors"][1]
    write_download_metadata(model_copy, "model.safetensors", commit_hash="0" * 40, etag=sha)  # as the client does
    write_download_metadata(model_copy, "config.json", commit_hash="0" * 40, etag="1" * 40)  # git blob id: no hash
    assert local_manifest(model_copy) == {"model.safetensors": (None, sha)}
    assert verify_files(model_copy, local_manifest(model_copy)) == []
    data = bytearray((model_copy / "model.safetensors").read_bytes())
    data[-1] ^= 1  # same size, damaged: only the hash sees it
    (model_copy / "model.safetensors").write_bytes(bytes(data))
    os.utime(model_copy / "model.safetensors", (0, 0))  # keep the client's record current
    assert [p.name for p, _ in verify_files(model_copy, local_manifest(model_copy))] == ["model.safetensors"]


def test_download_refetches_a_damaged_file(tiny_model_dir, tmp_path, monkeypatch):
    """No hub is reachable from the tests, so the client's snapshot fetch is a copy from a local
    "hub" folder that delivers a short weights file the first time; the check against the hub's
    sizes and hashes, the deletion and the refetch are the real code."""
    from gte_ui.engine.models import hub

    fetches = []

    def fetch(which, model, revision, to):
        fetches.append(model)
        for f in tiny_model_dir.iterdir():
            if not (to / f.name).exists():
                shutil.copy(f, to / f.name)
                if f.name == "model.safetensors" and (len(fetches) == 1 or model == "always/short"):
                    os.truncate(to / f.name, 5000)

    monkeypatch.setattr(hub, "probe_hub", lambda *a, **k: None)  # the stand-in hub is "reachable"
    monkeypatch.setattr(hub, "fetch_snapshot", fetch)
    monkeypatch.setattr(hub, "hub_manifest", lambda which, model, revision: manifest_of(tiny_model_dir))
    folder = hub.download("someone/model", tmp_path / "good")
    assert len(fetches) == 2 and hub.verify_files(folder, manifest_of(tiny_model_dir)) == []
    check_model_folder(folder)
    with pytest.raises(ModelNotFoundError, match=r"still damaged after 2 tries: model.safetensors \(5,000 bytes"):
        hub.download("always/short", tmp_path / "bad")
