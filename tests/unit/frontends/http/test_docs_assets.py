"""/docs and /redoc served with no network (gte_ui.frontends.http.docs_assets): every file the
pages load comes from this server, found in the fastapi-offline package."""

from __future__ import annotations

import re

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from gte_ui.frontends.http.docs_assets import (
    ASSETS,
    ASSETS_URL,
    REDOC_LOGO,
    install_docs,
)


@pytest.fixture(scope="module")
def client():
    app = FastAPI(title="GTE", docs_url=None, redoc_url=None)
    install_docs(app)
    with TestClient(app) as c:
        yield c


def loaded_urls(page: str) -> list[str]:
    """What a page's tags load (src=, href=, and the URLs handed to the JS bundles)."""
    return re.findall(r"""(?:src|href|url)\s*[:=]\s*['"]([^'"]+)['"]""", page)


@pytest.mark.parametrize("path", ["/docs", "/redoc"])
def test_pages_load_nothing_from_another_host(client, path):
    r = client.get(path)
    assert r.status_code == 200 and "text/html" in r.headers["content-type"]
    urls = loaded_urls(r.text)
    assert urls and all(u.startswith(("/", "#")) for u in urls), urls
    assert "cdn.jsdelivr" not in r.text and "fonts.googleapis" not in r.text
    for url in urls:
        if url.startswith(ASSETS_URL):
            assert client.get(url).status_code == 200, url


def test_redoc_hides_the_one_remote_logo_in_its_bundle(client):
    page = client.get("/redoc").text
    assert f"img[src^='{REDOC_LOGO}']{{display:none}}" in page
    bundle = client.get(f"{ASSETS_URL}/redoc.standalone.js").text
    assert REDOC_LOGO in bundle  # the reason for the rule above: if the bundle drops it, so can we


@pytest.mark.parametrize("name", list(ASSETS))
def test_each_asset_is_served_with_its_type_and_caching(client, name):
    r = client.get(f"{ASSETS_URL}/{name}")
    assert r.status_code == 200 and len(r.content) > 100
    assert r.headers["content-type"].startswith(ASSETS[name]) and "max-age=86400" in r.headers["cache-control"]


@pytest.mark.parametrize("name", ["nope.js", "..%2F..%2Fetc%2Fpasswd", "__init__.py"])
def test_only_the_listed_assets_are_served(client, name):
    assert client.get(f"{ASSETS_URL}/{name}").status_code == 404


def test_behind_a_proxy_prefix_the_pages_point_under_it():
    app = FastAPI(docs_url=None, redoc_url=None)
    install_docs(app)
    with TestClient(app, root_path="/gte") as c:
        docs = c.get("/docs").text
    assert f"/gte{ASSETS_URL}/swagger-ui-bundle.js" in docs and "/gte/openapi.json" in docs
    assert "/gte/docs/oauth2-redirect" in docs
