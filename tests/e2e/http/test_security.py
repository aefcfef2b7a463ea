"""Edge protections: body cap, API key, CORS allow-list, start-up warnings, file-route traversal."""

from __future__ import annotations

import pytest

from gte_ui.core.auth import check_api_key
import requests
from fastapi import FastAPI, Request
from fastapi.testclient import TestClient

from gte_ui.frontends.http import security
from gte_ui.core.settings import Settings
from gte_ui.core.errors import ErrorType, GteError


def small_app(settings: Settings) -> FastAPI:
    app = FastAPI()

    @app.post("/echo")
    async def echo(request: Request) -> dict:
        return {"size": len(await request.body())}

    security.install(app, settings)
    return app


def test_body_over_the_cap_is_refused_with_413():
    client = TestClient(small_app(Settings(max_body_bytes=1000)))
    assert client.post("/echo", content=b"x" * 1000).json() == {"size": 1000}
    r = client.post("/echo", content=b"x" * 1001)
    assert r.status_code == 413
    assert r.json()["error_type"] == "too_large"
    assert "1,001 bytes is over the limit of 1,000 bytes" in r.json()["error"]


def test_streamed_body_without_length_is_cut_off():
    client = TestClient(small_app(Settings(max_body_bytes=1000)))

    def chunks():
        for _ in range(10):
            yield b"y" * 300

    r = client.post("/echo", content=chunks())
    assert r.status_code == 413 and "over the limit" in r.json()["error"]


def test_bad_content_length_is_a_400():
    client = TestClient(small_app(Settings()))
    r = client.post("/echo", content=b"abc", headers={"content-length": "lots"})
    assert r.status_code == 400


@pytest.mark.parametrize("header, ok", [
    (None, False), ("Bearer wrong", False), ("Basic s3cret", False), ("Bearer s3cret", True),
    ("bearer s3cret", True),
])
def test_api_key(header, ok):
    settings = Settings(api_key="s3cret")
    if ok:
        check_api_key(settings, header)
    else:
        with pytest.raises(GteError) as err:
            check_api_key(settings, header)
        assert err.value.error_type is ErrorType.UNAUTHORIZED and err.value.status_code == 401
        assert "Authorization: Bearer" in err.value.message


def test_no_api_key_configured_lets_everyone_in():
    check_api_key(Settings(), None)


def test_cors_only_for_listed_origins():
    client = TestClient(small_app(Settings(cors_origins=("http://good.example",))))
    good = client.options("/echo", headers={"Origin": "http://good.example", "Access-Control-Request-Method": "POST"})
    assert good.headers.get("access-control-allow-origin") == "http://good.example"
    bad = client.options("/echo", headers={"Origin": "http://evil.example", "Access-Control-Request-Method": "POST"})
    assert "access-control-allow-origin" not in bad.headers
    # default: no CORS headers at all (same origin only)
    plain = TestClient(small_app(Settings())).post("/echo", content=b"", headers={"Origin": "http://x.example"})
    assert "access-control-allow-origin" not in plain.headers


def test_startup_warnings():
    assert security.startup_warnings(Settings()) == []
    open_server = security.startup_warnings(Settings(host="0.0.0.0"))
    assert len(open_server) == 1 and "neither --auth nor --api-key" in open_server[0]
    assert security.startup_warnings(Settings(host="0.0.0.0", api_key="k", auth="a:b")) == []
    assert security.gradio_auth(Settings(auth="ann:pw:with:colons")) == ("ann", "pw:with:colons")
    assert security.gradio_auth(Settings()) is None


@pytest.mark.parametrize("path", [
    "/gradio_api/file=/etc/passwd", "/gradio_api/file=../../../../etc/passwd",
    "/gradio_api/file=%2Fetc%2Fpasswd", "/file=/etc/passwd", "/gradio_api/file=app.py",
    "/static/../../../etc/passwd", "/assets/..%2F..%2F..%2Fetc%2Fpasswd",
])
def test_no_file_outside_gradio_folders_is_reachable(live_server, path):
    r = requests.get(live_server.url + path, timeout=10)
    assert "root:" not in r.text and "def main" not in r.text
    assert r.status_code in (400, 403, 404, 405)


def test_ui_login_when_auth_is_set(tiny_service):
    from conftest import LiveServer

    from gte_ui.server import create_app

    settings = tiny_service.settings.replace(auth="ann:secret")
    with LiveServer(create_app(tiny_service, settings)) as server:
        config = requests.get(server.url + "/config", timeout=10)
        assert config.status_code == 401 or config.json().get("auth_required") is True
        bad = requests.post(server.url + "/login", data={"username": "ann", "password": "nope"}, timeout=10)
        assert bad.status_code == 400
        session = requests.Session()
        good = session.post(server.url + "/login", data={"username": "ann", "password": "secret"}, timeout=10)
        assert good.ok
        assert "components" in session.get(server.url + "/config", timeout=10).json()


def test_upload_over_the_cap_is_refused(live_server):
    r = requests.post(live_server.url + "/gradio_api/upload", files={"files": ("big.txt", b"x" * (11 * 2**20))},
                      timeout=30)
    assert r.status_code in (400, 413)
