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


def test_openapi_document_has_no_dangling_references(live_server):
    """Bodies documented by hand (routes that parse their own JSON) carried $refs to schemas the
    document does not hold: ReDoc then drew only "Something went wrong"."""
    spec = requests.get(live_server.url + "/openapi.json", timeout=10).json()
    text = json.dumps(spec)
    refs = set(re.findall(r'"\$ref": "#/components/schemas/([^"]+)"', text))
    missing = refs - set(spec.get("components", {}).get("schemas", {}))
    assert not missing, f"dangling $refs: {sorted(missing)}"
    assert '"#/$defs/' not in text
