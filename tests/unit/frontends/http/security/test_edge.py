"""The body cap and the Host allow-list, in front of a real Starlette app."""

from __future__ import annotations

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import Route
from starlette.testclient import TestClient

from gte_ui.frontends.http.security.edge import BodySizeLimit, HostGuard


async def echo(request: Request) -> PlainTextResponse:
    return PlainTextResponse(str(len(await request.body())))


def app() -> Starlette:
    return Starlette(routes=[Route("/", echo, methods=["POST", "GET"])])


def test_body_cap_refuses_declared_and_streamed_bodies_over_the_limit():
    # inside the app's error middleware, where FastAPI's add_middleware puts it on the server
    capped = Starlette(routes=[Route("/", echo, methods=["POST"])],
                       middleware=[Middleware(BodySizeLimit, max_bytes=10)])
    client = TestClient(capped)
    assert client.post("/", content=b"x" * 10).text == "10"
    declared = client.post("/", content=b"x" * 11)
    assert declared.status_code == 413 and "11 bytes" in declared.json()["error"]
    streamed = client.post("/", content=iter([b"x" * 6, b"x" * 6]))  # chunked: no Content-Length
    assert streamed.status_code == 413
    bad = client.post("/", content=b"x", headers={"Content-Length": "nope"})
    assert bad.status_code == 400


def test_host_guard_allows_listed_names_and_their_wildcard_subdomains():
    guard = HostGuard(app(), ("box.lan", "*.example.org"))
    assert guard.allows("box.lan:7860") and guard.allows("a.example.org") and not guard.allows("example.org.evil")
    assert not guard.allows("[::1]:80")
    client = TestClient(guard, base_url="http://box.lan")
    assert client.get("/").status_code == 200
    assert client.get("/", headers={"X-Forwarded-Host": "evil.com"}).status_code == 400
