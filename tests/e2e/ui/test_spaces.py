"""Hugging Face Spaces: README front matter, and the start-up path with Spaces' variables set."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from pathlib import Path

import gradio
import pytest
import requests
import yaml

from gte_ui.engine.backends.registry import resolve_runtime
from gte_ui.core.settings import DEFAULT_MODEL, KNOWN_MODELS, on_spaces, parse_settings

ROOT = Path(__file__).resolve().parents[3]
SPACES_ENV = {"SPACE_ID": "someone/gte-workbench", "SYSTEM": "spaces"}
HF_COLORS = {"red", "yellow", "green", "blue", "indigo", "purple", "pink", "gray"}


@pytest.fixture(scope="module")
def front() -> dict:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    assert text.startswith("---\n"), "Spaces reads the front matter only at the very top of README.md"
    return yaml.safe_load(text.split("---\n")[1])


def test_front_matter_is_valid_for_spaces(front):
    assert front["sdk"] == "gradio" and (ROOT / front["app_file"]).is_file()
    # sdk_version: the Gradio that requirements.txt pins, and that CI installs and tests.
    pinned = re.search(r"^gradio>=([\d.]+),<(\d+)", (ROOT / "requirements.txt").read_text(), flags=re.M)
    assert pinned, "requirements.txt must pin gradio as gradio>=X.Y,<Z"
    assert str(front["sdk_version"]).startswith(pinned.group(1) + ".")
    assert gradio.__version__.split(".")[:2] == str(front["sdk_version"]).split(".")[:2]
    assert re.fullmatch(r"3\.\d+", str(front["python_version"]))
    assert 0 < len(front["short_description"]) <= 60
    assert front["colorFrom"] in HF_COLORS and front["colorTo"] in HF_COLORS
    assert front["title"] and front["emoji"]
    hf_default = KNOWN_MODELS[DEFAULT_MODEL]
    assert hf_default in front["models"]
    # Preloaded into the Space's image at build time, so the first start downloads nothing.
    assert hf_default in front["preload_from_hub"]


def test_spaces_settings_and_runtime():
    assert on_spaces(SPACES_ENV) and on_spaces({"SYSTEM": "spaces"}) and not on_spaces({})
    s = parse_settings([], env=SPACES_ENV)
    assert (s.host, s.port, s.spaces) == ("0.0.0.0", 7860, True)
    assert not parse_settings([], env={}).spaces  # the encoder reads Spaces from the settings, not os.environ
    assert s.model == KNOWN_MODELS[DEFAULT_MODEL]  # the preloaded Hugging Face twin
    assert parse_settings([], env={}).model == DEFAULT_MODEL and parse_settings([], env={}).host == "127.0.0.1"
    explicit = parse_settings(["--host", "127.0.0.1", "--model", "./m"], env=SPACES_ENV)
    assert (explicit.host, explicit.model) == ("127.0.0.1", "./m")
    # Free Spaces hardware is a small CPU: int8 (even without VNNI). A GPU Space gets fp16;
    # outside Spaces a CPU is int8 only where it has VNNI / AMX.
    assert resolve_runtime("auto", "auto", cuda_available=False, spaces=True, int8_instructions=[]) == ("cpu", "int8")
    assert resolve_runtime("auto", "auto", cuda_available=True, spaces=True) == ("cuda", "fp16")
    assert resolve_runtime("auto", "auto", cuda_available=False, spaces=False, int8_instructions=[]) == ("cpu", "fp32")


@pytest.mark.slow
def test_app_starts_the_spaces_way(tiny_model_dir):
    """``python app.py`` (what Spaces runs) with Spaces' variables: CPU int8, /health, the legacy
    /api/predict, the REST and the Gradio routes all answer. Host overridden to loopback and the
    port to a free one: tests never listen beyond 127.0.0.1."""
    from conftest import free_port

    port = free_port()
    env = {**os.environ, **SPACES_ENV, "GTE_LOG_LEVEL": "warning"}
    proc = subprocess.Popen([sys.executable, str(ROOT / "app.py"), "--model", str(tiny_model_dir),
                             "--host", "127.0.0.1", "--port", str(port)], env=env, cwd=ROOT,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.time() + 180
        while True:
            try:
                health = requests.get(base + "/health", timeout=2).json()
                break
            except requests.RequestException:
                assert proc.poll() is None, proc.stdout.read()
                assert time.time() < deadline, "app did not start"
                time.sleep(0.5)
        assert (health["status"], health["device"], health["precision"]) == ("ok", "cpu", "int8")
        r = requests.post(base + "/api/predict", json={"data": ["你好", "您好\n再见"]}, timeout=30)
        assert r.status_code == 200 and len(r.json()["data"]) == 2
        r = requests.post(base + "/similarity", json={"sentence_a": "你好", "sentence_b": "您好"}, timeout=30)
        assert r.status_code == 200 and -1 <= r.json()["similarity"] <= 1
        assert requests.get(base + "/", timeout=30).status_code == 200  # the UI
        assert requests.get(base + "/gradio_api/info", timeout=30).status_code == 200  # gradio_client's door
    finally:
        proc.terminate()
        proc.wait(timeout=30)
