"""The wheel works with no checkout around it (issue 13.5).

Builds the wheel from a copy of the sources (so the checkout gets no build/ or egg-info),
installs it with --no-deps into a temp folder, and from a temp cwd runs the ``gte-ui`` console
script: ``--help``, then ``serve`` on a free port → /health 200 and the UI page with the CSS,
logo and favicon read from inside the installed package.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests

from conftest import free_port

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]


def _run(args: list[str], **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run(args, capture_output=True, text=True, timeout=120, **kwargs)


@pytest.fixture(scope="module")
def installed(tmp_path_factory) -> Path:
    """The wheel installed into a temp target folder; returns the folder."""
    src = tmp_path_factory.mktemp("src")
    shutil.copy(ROOT / "pyproject.toml", src)
    shutil.copy(ROOT / "README.md", src)
    shutil.copytree(ROOT / "gte_ui", src / "gte_ui", ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    dist, target = tmp_path_factory.mktemp("dist"), tmp_path_factory.mktemp("target")
    # --no-build-isolation: build with the installed setuptools instead of fetching it
    built = _run([sys.executable, "-m", "pip", "wheel", str(src), "--no-deps", "--no-build-isolation", "--no-index",
                  "-q", "-w", str(dist)], cwd=src)
    assert built.returncode == 0, built.stderr[-2000:]
    (wheel,) = dist.glob("gte_ui-*.whl")
    done = _run([sys.executable, "-m", "pip", "install", "--no-deps", "-q", "--target", str(target), str(wheel)])
    assert done.returncode == 0, done.stderr[-2000:]
    return target


def _env(target: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    env.update(PYTHONPATH=str(target), PATH=f"{target / 'bin'}{os.pathsep}{env.get('PATH', '')}")
    return env


def test_console_script_help_from_elsewhere(installed, tmp_path):
    where = _run([sys.executable, "-c", "import gte_ui; print(gte_ui.__file__)"], cwd=tmp_path, env=_env(installed))
    assert where.stdout.strip().startswith(str(installed)), where.stdout + where.stderr
    script = installed / "bin" / "gte-ui"
    assert script.is_file()
    helped = _run([str(script), "--help"], cwd=tmp_path, env=_env(installed))
    assert helped.returncode == 0 and "serve" in helped.stdout, helped.stderr[-2000:]
    served_help = _run([str(script), "serve", "--help"], cwd=tmp_path, env=_env(installed))
    assert served_help.returncode == 0 and "--allow-calibration" in served_help.stdout


def test_installed_server_serves_ui_with_its_assets(installed, tiny_model_dir, tmp_path):
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    log = (tmp_path / "server.log").open("w")
    proc = subprocess.Popen([str(installed / "bin" / "gte-ui"), "serve", "--model", str(tiny_model_dir),
                             "--offline", "--device", "cpu", "--precision", "fp32", "--port", str(port)],
                            cwd=tmp_path, env=_env(installed), stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline = time.time() + 75
        while True:
            assert proc.poll() is None, (tmp_path / "server.log").read_text()[-3000:]
            assert time.time() < deadline, "the installed server never answered /health"
            try:
                health = requests.get(url + "/health", timeout=5)
                if health.status_code == 200:
                    break
            except requests.ConnectionError:
                pass
            time.sleep(0.5)
        assert health.json()["model"] == tiny_model_dir.name
        assert requests.get(url + "/", timeout=10).status_code == 200
        config = requests.get(url + "/config", timeout=10).json()
        values = "\n".join(str(c.get("props", {}).get("value")) for c in config["components"])
        package_assets = installed / "gte_ui" / "assets"
        css_rule = "#gte-header { display: flex;"
        assert css_rule in (package_assets / "style.css").read_text(encoding="utf-8") and css_rule in config["css"]
        assert '<div id="gte-header"><svg' in values  # the logo, inlined into the header
        favicon = requests.get(url + "/favicon.ico", timeout=10)
        assert favicon.status_code == 200 and favicon.content == (package_assets / "logo.png").read_bytes()
        assert f"http://127.0.0.1:{port}/api/predict" in values  # About's snippet: the port served
        assert "atec_300.tsv" in str(config["components"])  # the Evaluate tab found the shipped samples
    finally:
        proc.terminate()
        proc.wait(timeout=30)
        log.close()
