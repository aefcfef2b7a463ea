"""The app end to end: app.py's start-up messages, and the served page + pairwise endpoint."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parents[3]


def run_app(*args: str, env_extra: dict | None = None) -> subprocess.CompletedProcess:
    import os

    env = {**os.environ, **(env_extra or {})}
    return subprocess.run([sys.executable, str(ROOT / "app.py"), *args], capture_output=True,
                          text=True, timeout=120, env=env)


def test_missing_model_exits_with_one_clear_message(tmp_path):
    r = run_app("--model", str(tmp_path / "missing"))
    assert r.returncode == 2
    assert "模型目录" in r.stderr and "does not exist" in r.stderr
    assert "Traceback" not in r.stderr


def test_default_model_offline_exits_clearly(tmp_path):
    r = run_app("--offline", "--model-cache-dir", str(tmp_path))
    assert r.returncode == 2
    assert "could not load model 'iic/nlp_gte_sentence-embedding_chinese-large'" in r.stderr
    assert "Traceback" not in r.stderr


def test_impossible_settings_exit_before_loading(tiny_model_dir):
    r = run_app("--model", str(tiny_model_dir), "--device", "cuda")
    assert r.returncode == 2 and "no CUDA GPU is available" in r.stderr
    r = run_app("--precision", "int4")
    assert r.returncode == 2 and "choose one of: auto, fp32, fp16, bf16, int8" in r.stderr
    assert "Traceback" not in r.stderr


def test_favicon_and_installable_app_icons(live_server):
    """The favicon is a 512-px PNG, so the PWA manifest's sized icons resize it (an SVG answered 500)."""
    import io

    from PIL import Image

    manifest = requests.get(live_server.url + "/manifest.json", timeout=10).json()
    sizes = sorted(icon["sizes"] for icon in manifest["icons"])
    assert sizes == ["192x192", "512x512"]
    for size in (192, 512):
        r = requests.get(f"{live_server.url}/pwa_icon/{size}", timeout=10)
        assert r.status_code == 200 and r.headers["content-type"] == "image/png"
        assert Image.open(io.BytesIO(r.content)).size == (size, size)


def test_served_page_and_pairwise_endpoint(live_server):
    from gradio_client import Client

    health = requests.get(live_server.url + "/health", timeout=10).json()
    assert health["status"] == "ok" and health["dim"] == 32
    assert requests.get(live_server.url + "/", timeout=10).status_code == 200
    client = Client(live_server.url, verbose=False)
    out = client.predict("这款手机电池续航很强", "手机电量很耐用", api_name="/similarity")
    expected = live_server.service.pair("这款手机电池续航很强", "手机电量很耐用")
    assert out["score"] == expected.score and out["verdict"] == expected.verdict.zh
