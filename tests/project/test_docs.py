"""Docs that must not drift: the offline /docs and /redoc pages, the settings table, README's images."""

from __future__ import annotations

import json
import re
from html.parser import HTMLParser

import pytest
import requests


class _AssetLinks(HTMLParser):
    """Every URL a page loads by itself: script src, link href, img src."""

    def __init__(self) -> None:
        super().__init__()
        self.urls: list[str] = []

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag in ("script", "img") and a.get("src"):
            self.urls.append(a["src"])
        if tag == "link" and a.get("href"):
            self.urls.append(a["href"])


def _page_assets(html: str) -> list[str]:
    parser = _AssetLinks()
    parser.feed(html)
    # redoc.standalone.js is given in <redoc spec-url>, the Swagger bundle reads its spec by url: both local
    return parser.urls


@pytest.mark.parametrize("page, kinds", [("/docs", {"javascript", "css"}), ("/redoc", {"javascript"})])
def test_api_docs_pages_load_only_local_assets(live_server, page, kinds):
    """Issue 30.2: /docs and /redoc were blank offline (Swagger UI / ReDoc came from a CDN)."""
    r = requests.get(live_server.url + page, timeout=10)
    assert r.status_code == 200 and "text/html" in r.headers["content-type"]
    urls = _page_assets(r.text)
    assert urls, f"{page} loads no assets"
    remote = [u for u in urls if re.match(r"^(https?:)?//", u)]
    assert not remote, f"{page} loads from the network: {remote}"
    seen = set()
    for url in urls:
        asset = requests.get(live_server.url + url, timeout=10)
        assert asset.status_code == 200, url
        kind = asset.headers["content-type"]
        assert len(asset.content) > 1000, url
        seen |= {k for k in kinds if k in kind}
    assert seen == kinds, f"{page}: expected {kinds} assets, got {seen}"
    spec = requests.get(live_server.url + "/openapi.json", timeout=10)
    assert spec.status_code == 200 and "/v1/embeddings" in spec.json()["paths"]
    # only the bundles: nothing else of the package (or the disk) is served
    for other in ("/docs-assets/__init__.py", "/docs-assets/..%2Fcore.py"):
        assert requests.get(live_server.url + other, timeout=10).status_code == 404


def test_openapi_document_has_no_dangling_references(live_server):
    """Bodies documented by hand (routes that parse their own JSON) carried $refs to schemas the
    document does not hold: ReDoc then drew only "Something went wrong"."""
    spec = requests.get(live_server.url + "/openapi.json", timeout=10).json()
    text = json.dumps(spec)
    refs = set(re.findall(r'"\$ref": "#/components/schemas/([^"]+)"', text))
    missing = refs - set(spec.get("components", {}).get("schemas", {}))
    assert not missing, f"dangling $refs: {sorted(missing)}"
    assert '"#/$defs/' not in text


# ------------------------------------------------------------------ docs/settings.md
def test_settings_doc_is_the_parsers():
    """Issue 30.9: docs/settings.md missed 17 flags and listed one twice. It is rendered from the
    parser; regenerate with `python3 -m gte_ui.core.settings_doc --write`."""
    from gte_ui.core.settings import build_parser
    from gte_ui.core.settings_doc import DOC, render

    text = DOC.read_text(encoding="utf-8")
    assert text == render(), "docs/settings.md is stale: run python3 -m gte_ui.core.settings_doc --write"
    flags = [f for a in build_parser()._actions for f in a.option_strings if f.startswith("--") and f != "--help"]
    for flag in flags:
        assert len(re.findall(rf"`{re.escape(flag)}`", text)) == 1, flag


# ------------------------------------------------------------------ README's screenshots
def test_readme_images_are_the_browser_tests_current_screenshots(tiny_service):
    """Issue 30.9: README's screenshots predated the Rerank tab, one showed a test server's temp
    path. Each README image must be the file the browser tests last wrote (UPDATE_SCREENSHOTS=1
    records it in docs/screenshots/manifest.json), taken with today's tabs and no temp path.
    Regenerate: UPDATE_SCREENSHOTS=1 python3 -m pytest tests/e2e/browser/test_browser.py tests/e2e/browser/test_browser_models.py
    tests/e2e/browser/test_browser_rerank.py"""
    import hashlib
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    manifest = json.loads((root / "docs" / "screenshots" / "manifest.json").read_text(encoding="utf-8"))
    images = re.findall(r"\((docs/screenshots/[^)]+\.png)\)", (root / "README.md").read_text(encoding="utf-8"))
    assert images, "README shows no screenshots"
    tabs = _app_tabs(tiny_service)
    for image in images:
        entry = manifest.get(Path(image).name)
        assert entry, f"{image} was not taken by a browser test"
        assert hashlib.sha256((root / image).read_bytes()).hexdigest() == entry["sha256"], \
            f"{image} is not the image the browser test took (regenerate it)"
        assert entry["tabs"] == tabs, f"{image} shows the tabs {entry['tabs']}, the app has {tabs}"
        assert not entry["temp_path"], f"{image} shows a temporary path"


def _app_tabs(service) -> list[str]:
    """The tab labels of the page as built today (the tiny model: the same tabs as any)."""
    import gradio as gr

    from gte_ui.frontends.ui.app import build_demo

    demo = build_demo(service)
    return [b.label for b in demo.blocks.values() if isinstance(b, gr.Tab) and b.visible is not False]


# ------------------------------------------------------------------ README's Quick start
def test_quick_start_installs_the_cpu_torch_in_a_venv():
    """Issue 30.1: the Quick start pulled PyPI's CUDA torch (6.5 GB) and said nothing of a venv
    (PEP 668). A venv line, then exactly two set-up commands: start the app, run the tests; each
    installs the CPU torch before the requirements, and `pip install .` is told the same."""
    from pathlib import Path

    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text(encoding="utf-8")
    quick = readme[readme.index("## Quick start"):readme.index("\n## ", readme.index("## Quick start") + 5)]
    blocks = re.findall(r"```bash\n(.*?)\n```", quick, re.DOTALL)
    assert len(blocks) == 3 and blocks[0].startswith("python3 -m venv .venv && . .venv/bin/activate")
    cpu = "torch==2.13.0 --index-url https://download.pytorch.org/whl/cpu"
    for block, requirements, last in ((blocks[1], "requirements.txt", "python3 app.py"),
                                      (blocks[2], "requirements-test.txt", "python3 -m pytest")):
        assert "\n" not in block and block.endswith(last)
        assert cpu in block and block.index(cpu) < block.index(f"-r {requirements}")
    assert f"{cpu} && pip install ." in quick


def test_readme_stays_short():
    """README is the first screen, not the manual (depth goes to docs/): at most 12,000 bytes."""
    from pathlib import Path

    size = len((Path(__file__).resolve().parents[2] / "README.md").read_bytes())
    assert size <= 12_000, f"README.md is {size} bytes; move detail into docs/"


def test_performance_page_is_the_current_figures():
    """docs/performance.md holds the current figures and how to reproduce them (≤ 15 KB); the lab
    notebook is docs/performance-history.md, and every link into it names an anchor that exists."""
    import re
    from pathlib import Path

    docs = Path(__file__).resolve().parents[2] / "docs"
    page = (docs / "performance.md").read_text(encoding="utf-8")
    assert len(page.encode()) <= 15_000, f"docs/performance.md is {len(page.encode())} bytes; move runs to the history"
    history = (docs / "performance-history.md").read_text(encoding="utf-8")
    anchors = re.findall(r"performance-history\.md#([\w-]+)", page)
    assert anchors, "performance.md links to the runs it summarises"
    for anchor in anchors:
        assert f'<a id="{anchor}"></a>' in history, f"performance-history.md has no anchor {anchor}"
