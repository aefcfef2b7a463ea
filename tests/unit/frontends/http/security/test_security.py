"""``install`` (gte_ui/frontends/http/security/__init__.py): which protections a setting turns on,
in which order they stand (outermost first: Host, body cap, CORS, the key guard, upload quotas),
and a full disk's 507; and the start-up warnings. Each protection's own rules are tested beside
its module (test_edge.py, test_page_key.py, test_uploads.py, …)."""

from __future__ import annotations

import errno

import pytest
from fastapi import FastAPI, Request
from fastapi.testclient import TestClient

from gte_ui.core.settings import Settings
from gte_ui.frontends.http import security

GOOD, EVIL = "http://good.example", "http://evil.example"
KEY = {"Authorization": "Bearer s3cret"}


def installed(settings: Settings, **kwargs) -> TestClient:
    """A FastAPI app with a REST route, a stand-in for Gradio's routes and routes that fail on a
    disk, the protections installed as the server installs them."""
    app = FastAPI()

    @app.post("/echo")
    async def echo(request: Request) -> dict:
        return {"size": len(await request.body())}

    @app.post("/gradio_api/{rest:path}")
    async def gradio(rest: str, request: Request) -> dict:
        return {"gradio": rest, "size": len(await request.body())}

    @app.get("/write")
    async def write(code: str) -> dict:
        raise OSError(getattr(errno, code), "write failed", "/srv/secret/path.npy")

    security.install(app, settings, **kwargs)
    return TestClient(app, raise_server_exceptions=False)


def test_the_host_allow_list_is_on_only_with_allowed_hosts_and_stands_outermost():
    assert installed(Settings()).post("/echo", content=b"x", headers={"Host": "evil.example"}).status_code == 200
    guarded = installed(Settings(allowed_hosts=("box.lan",), max_body_bytes=10))
    assert guarded.post("/echo", content=b"x", headers={"Host": "box.lan"}).json() == {"size": 1}
    bad = guarded.post("/echo", content=b"x" * 11, headers={"Host": "evil.example"})  # over the cap too
    assert bad.status_code == 400 and "--allowed-hosts" in bad.json()["error"]


def test_the_body_cap_is_read_from_the_settings_and_stands_before_the_key_guard():
    client = installed(Settings(max_body_bytes=64, api_key="s3cret"))
    assert client.post("/gradio_api/queue/join", content=b"x" * 64, headers=KEY).json()["size"] == 64
    over = client.post("/gradio_api/queue/join", content=b"x" * 65)  # no key either: the cap answers first
    assert over.status_code == 413 and "65 bytes is over the limit of 64 bytes" in over.json()["error"]


def test_the_key_guard_is_on_only_with_a_key():
    assert installed(Settings()).post("/gradio_api/call/similarity", json={}).status_code == 200
    client = installed(Settings(api_key="s3cret"))
    refused = client.post("/gradio_api/call/similarity", json={})
    assert refused.status_code == 401 and refused.json()["error_type"] == "unauthorized"
    assert client.post("/gradio_api/call/similarity", json={}, headers=KEY).json()["gradio"] == "call/similarity"


def test_the_key_guards_401_carries_cors_headers_for_listed_origins_only():
    """CORS wraps the key guard, so a page on a listed origin can read why it was refused."""
    client = installed(Settings(api_key="s3cret", cors_origins=(GOOD,)))
    good = client.post("/gradio_api/call/similarity", json={}, headers={"Origin": GOOD})
    assert good.status_code == 401 and good.headers.get("access-control-allow-origin") == GOOD
    evil = client.post("/gradio_api/call/similarity", json={}, headers={"Origin": EVIL})
    assert evil.status_code == 401 and "access-control-allow-origin" not in evil.headers


def preflight(client: TestClient, method: str, headers: str = "Content-Type"):
    return client.options("/echo", headers={"Origin": GOOD, "Access-Control-Request-Method": method,
                                             "Access-Control-Request-Headers": headers})


def test_cors_grants_the_apis_methods_and_headers_and_no_credentials():
    client = installed(Settings(cors_origins=(GOOD,)))
    ok = preflight(client, "POST", "Authorization, Content-Type")
    assert ok.status_code == 200 and ok.headers["access-control-allow-origin"] == GOOD
    assert "access-control-allow-credentials" not in ok.headers
    assert preflight(client, "DELETE").status_code == 400
    assert preflight(client, "POST", "X-Api-Key").status_code == 400


def test_a_page_cookie_opens_no_event_unless_page_event_says_it_is_the_pages():
    settings = Settings(api_key="s3cret")
    join = {"fn_index": 3, "data": [], "session_hash": "s"}
    for page_event, status in ((None, 401), (lambda i: i == 3, 200)):
        client = installed(settings, page_event=page_event)
        unlocked = client.post("/unlock", data={"key": "s3cret"}, follow_redirects=False)
        assert unlocked.status_code == 303 and security.PAGE_COOKIE in client.cookies
        assert client.post("/gradio_api/queue/join", json=join).status_code == status


def test_upload_quotas_are_on_only_with_an_upload_folder(tmp_path):
    (tmp_path / "old.bin").write_bytes(b"x" * 900)
    settings = Settings(max_upload_total_bytes=1000)
    assert installed(settings).post("/gradio_api/upload", content=b"y" * 200).status_code == 200
    full = installed(settings, upload_folder=lambda: str(tmp_path)).post("/gradio_api/upload", content=b"y" * 200)
    assert full.status_code == 507 and full.json()["error_type"] == "disk_full"


@pytest.mark.parametrize("code, status", [("ENOSPC", 507), ("EDQUOT", 507), ("EACCES", 500)])
def test_a_full_disk_is_507_and_other_os_errors_stay_500(code, status):
    r = installed(Settings()).get("/write", params={"code": code})
    assert r.status_code == status
    assert "/srv/secret" not in r.text
    if status == 507:
        assert r.json()["error_type"] == "disk_full" and "服务器磁盘已满" in r.json()["error"]


@pytest.mark.parametrize("settings, says", [
    (Settings(host="::"), ["neither --auth nor --api-key"]),
    (Settings(host="0.0.0.0", auth="a:b"), []),
    (Settings(host="0.0.0.0", api_key="k"), []),
    (Settings(cors_origins=("*",)), ["--cors-origins '*' lets any web page call this API"]),
    (Settings(host="0.0.0.0", cors_origins=("*",)), ["neither --auth nor --api-key", "--cors-origins '*'"]),
    (Settings(cors_origins=(GOOD,)), []),
])
def test_startup_warnings_name_an_open_server_and_a_wildcard_origin(settings, says):
    warnings = security.startup_warnings(settings)
    assert len(warnings) == len(says)
    assert all(fragment in warning for fragment, warning in zip(says, warnings))
