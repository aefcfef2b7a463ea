"""Issue 18.1: the test command's needs beyond pip (Chromium, CJK fonts, redis-server) are said plainly."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from conftest import BROWSER_APT, REDIS_APT, missing_browser_packages, missing_system_packages

ROOT = Path(__file__).resolve().parents[2]


def python_only_path(tmp_path: Path) -> str:
    """A PATH holding only this Python: no chromium, no fc-list, as on a fresh machine."""
    bin_dir = tmp_path / "bin"
    if not bin_dir.exists():  # one per test, however often asked
        bin_dir.mkdir()
        for name in ("python3", "python"):
            (bin_dir / name).symlink_to(sys.executable)
    return str(bin_dir)


def test_this_machine_has_what_the_browser_tests_need():
    assert missing_browser_packages() == [], f"install them: {BROWSER_APT}"


def test_this_machine_has_what_the_test_command_needs():
    assert missing_system_packages() == [], "install them: apt-get install chromium fonts-noto-cjk redis-server"


def _pytest_without_packages(tmp_path, *args: str) -> subprocess.CompletedProcess:
    """The real test files run by pytest on a PATH with only python (no chromium, fonts, redis)."""
    env = {**os.environ, "PATH": python_only_path(tmp_path)}
    env.pop("CI", None)  # CI turns a missing package into a failure everywhere; here we see the local path
    return subprocess.run([sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "--timeout=300", *args],
                          capture_output=True, text=True, cwd=ROOT, env=env, timeout=300)


def test_missing_packages_are_named(monkeypatch, tmp_path):
    monkeypatch.setenv("PATH", python_only_path(tmp_path))
    assert missing_browser_packages() == ["chromium", "fonts-noto-cjk"]
    assert missing_system_packages() == ["chromium", "fonts-noto-cjk", "redis-server"]


def test_browser_tests_without_chromium_fail_with_the_apt_line(tmp_path):
    """The real suite on a machine without them: a one-line failure naming the apt command, not
    a traceback, and the run's header says it first."""
    done = _pytest_without_packages(tmp_path, "-x", "tests/e2e/browser/test_browser.py")
    out = done.stdout + done.stderr
    assert done.returncode == 1, out[-3000:]
    assert f"sudo {BROWSER_APT}" in out and "the browser tests need chromium and fonts-noto-cjk" in out
    assert "MISSING system packages" in out  # the header, before any test runs
    assert "Traceback" not in out and "def browser" not in out  # no code dump


def test_shared_cache_tests_without_redis_fail_with_the_apt_line(tmp_path):
    """The same for the shared-cache tests: the header names redis-server first, then each test
    that starts one fails in one line with the apt command, and `-m 'not redis'` leaves them out."""
    done = _pytest_without_packages(tmp_path, "-x", "tests/unit/engine/caches/test_shared.py")
    out = done.stdout + done.stderr
    assert done.returncode == 1, out[-3000:]
    assert f"sudo {REDIS_APT}" in out and "the shared-cache tests need redis-server" in out
    assert "MISSING system packages" in out.split("collected")[0]  # the header, before any test runs
    assert "Traceback" not in out and "FileNotFoundError" not in out
    left_out = _pytest_without_packages(tmp_path, "-q", "-m", "not redis", "tests/unit/engine/caches/test_shared.py")
    assert left_out.returncode == 5 and "deselected" in left_out.stdout, left_out.stdout[-2000:]  # 5: none ran
