"""Fixtures every browser test shares: one headless Debian chromium per module, and a page on the
live app with the first-score probe installed."""

from __future__ import annotations

import shutil

import pytest

from browser_kit import ARGS, FIRST_SCORE_PROBE, _missing
from conftest import BROWSER_APT, browser_packages_message, missing_browser_packages


@pytest.fixture(scope="module")
def browser():
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _missing("playwright is not installed")
    missing = missing_browser_packages()
    if missing:
        pytest.fail(browser_packages_message(missing), pytrace=False)
    exe = shutil.which("chromium") or shutil.which("chromium-browser")
    with sync_playwright() as p:
        try:
            b = p.chromium.launch(executable_path=exe, args=ARGS)
        except Exception as exc:  # noqa: BLE001 - a broken install: say what to do, not a trace
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            pytest.fail(f"{exe} did not start ({first}); reinstall it: `sudo {BROWSER_APT}`", pytrace=False)
        yield b
        b.close()


@pytest.fixture()
def page(browser, live_server):
    context = browser.new_context(viewport={"width": 1280, "height": 900}, accept_downloads=True, locale="zh-CN")
    pg = context.new_page()
    pg.set_default_timeout(30_000)
    pg.add_init_script(FIRST_SCORE_PROBE)
    pg.goto(live_server.url + "/")
    pg.wait_for_selector("#btn-pair")
    yield pg
    context.close()
