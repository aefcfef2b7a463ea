"""Deployment files stay in step with what CI runs: Dockerfile, Spaces front matter, Spaces start-up."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests
import yaml

ROOT = Path(__file__).resolve().parent.parent


def test_dockerfile_uses_what_ci_tests():
    docker = (ROOT / "Dockerfile").read_text(encoding="utf-8")
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    torch_pin = re.search(r"torch==([\d.]+)", ci).group(1)
    assert f"ARG TORCH_VERSION={torch_pin}" in docker  # the torch CI tests
    assert "pip install -r requirements.txt" in docker  # the same requirements
    assert 'CMD ["python", "app.py"]' in docker  # the same start command as README
    assert "EXPOSE 7860" in docker and "HEALTHCHECK" in docker and "/health" in docker
    user = re.findall(r"^USER (\S+)", docker, flags=re.M)
    assert user and user[-1] not in ("root", "0")
    assert "ARG TORCH_INDEX=cpu" in docker  # CPU by default, CUDA by build argument
    assert "VOLUME" in docker and "HF_HOME=/data" in docker and "MODELSCOPE_CACHE=/data" in docker
    for needed in ("app.py", "gte_ui", "assets", "requirements.txt"):
        ignored = (ROOT / ".dockerignore").read_text().split()
        assert needed not in ignored


def test_spaces_front_matter():
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    front = yaml.safe_load(text.split("---")[1])
    assert front["sdk"] == "gradio" and front["app_file"] == "app.py"
    pinned = re.search(r"^gradio>=([\d.]+)", (ROOT / "requirements.txt").read_text(), flags=re.M).group(1)
    assert front["sdk_version"].startswith(pinned)
    assert str(front["python_version"]) == "3.11"
    assert "thenlper/gte-large-zh" in front["models"] and len(front["short_description"]) <= 60
    for key in ("title", "emoji", "colorFrom", "colorTo"):
        assert front[key]


@pytest.mark.slow
def test_spaces_startup_path(tiny_model_dir):
    """With Spaces' variables set the app picks 0.0.0.0:7860 and CPU int8 (host overridden here
    to loopback, port to a free one: tests never listen beyond 127.0.0.1)."""
    from conftest import free_port

    from gte_ui.config import parse_settings

    env = {**os.environ, "SPACE_ID": "someone/gte", "SYSTEM": "spaces"}
    s = parse_settings([], env={"SPACE_ID": "someone/gte", "SYSTEM": "spaces"})
    assert (s.host, s.port) == ("0.0.0.0", 7860)
    port = free_port()
    proc = subprocess.Popen([sys.executable, str(ROOT / "app.py"), "--model", str(tiny_model_dir),
                             "--host", "127.0.0.1", "--port", str(port)], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        deadline = time.time() + 120
        while time.time() < deadline:
            try:
                health = requests.get(f"http://127.0.0.1:{port}/health", timeout=2).json()
                break
            except requests.RequestException:
                assert proc.poll() is None, proc.stdout.read()
                time.sleep(0.5)
        else:
            pytest.fail("app did not start")
        assert health["precision"] == "int8" and health["device"] == "cpu"
        r = requests.post(f"http://127.0.0.1:{port}/api/predict", json={"data": ["你好", "您好\n再见"]}, timeout=30)
        assert r.status_code == 200 and len(r.json()["data"]) == 2
    finally:
        proc.terminate()
        proc.wait(timeout=20)
