"""Issue 18.4: `pip install .` gives a `gte-ui` command that works from any folder.

The wheel is built offline (no build isolation: setuptools is already installed) from a copy of
the sources, so the checkout gets no build/ or egg-info folders.
"""

from __future__ import annotations

import configparser
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    src = tmp_path_factory.mktemp("src")
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, src / name)
    shutil.copytree(ROOT / "gte_ui", src / "gte_ui", ignore=shutil.ignore_patterns("__pycache__"))
    out = tmp_path_factory.mktemp("wheel")
    done = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation",
                           "--no-index", "-w", str(out), str(src)], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    (wheel_file,) = out.glob("gte_ui-*.whl")
    return wheel_file


def test_wheel_has_the_console_script_and_every_module_and_asset(wheel):
    with zipfile.ZipFile(wheel) as whl:
        names = set(whl.namelist())
        entry_points = next(n for n in names if n.endswith(".dist-info/entry_points.txt"))
        scripts = configparser.ConfigParser()
        scripts.read_string(whl.read(entry_points).decode())
    assert scripts["console_scripts"]["gte-ui"] == "gte_ui.__main__:main"
    sources = {p.relative_to(ROOT).as_posix() for p in (ROOT / "gte_ui").rglob("*")
               if p.is_file() and "__pycache__" not in p.parts}
    assert sources and sources <= names, sorted(sources - names)  # assets (samples, theme) included


def test_installed_command_runs_outside_the_checkout(wheel, tmp_path):
    """Unpacked elsewhere, the package answers `--help` with no checkout on the path."""
    target = tmp_path / "site"
    with zipfile.ZipFile(wheel) as whl:
        whl.extractall(target)
    done = subprocess.run([sys.executable, "-c", "import sys; from gte_ui.__main__ import main; sys.exit(main())",
                           "--help"], capture_output=True, text=True, cwd=tmp_path, timeout=120,
                          env={"PYTHONPATH": str(target), "PATH": "/usr/bin:/bin"})
    assert done.returncode == 0, done.stderr[-2000:]
    assert "embed" in done.stdout and "evaluate" in done.stdout
