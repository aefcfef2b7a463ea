"""Trust boundaries: with --api-key set, no route of the server computes for a caller without it.

The walk takes every route the app exposes (FastAPI's routes and OpenAPI paths, Gradio's routes
and the named endpoints of Gradio's API info), calls each the way an API client would, without
the key, and proves from the encoder's forward-pass counter that nothing was computed. The same
calls with the key do compute (so the counter would have seen it), and the page's own cookie
opens the page's events only.
"""

from __future__ import annotations

import itertools
import json
import re
import time

import pytest
import requests
from starlette.routing import Mount

from conftest import AppProcess, LiveServer
from gte_ui.frontends.http import security
from gte_ui.core.settings import Settings

KEY = "s3cret-key"
AUTH = {"Authorization": f"Bearer {KEY}"}
_texts = itertools.count()


def fresh(prefix: str = "walk") -> str:
    """A text no cache has seen, so any call that computes must run the model."""
    return f"{prefix} {next(_texts)} 今天天气很好"


@pytest.fixture(scope="module")
def keyed(tiny_encoder, tiny_settings, tmp_path_factory):
    from gte_ui.server import create_app
    from gte_ui.service.corpus import build_index
    from gte_ui.service.search import catalog_from_settings
    from gte_ui.service.service import EmbeddingService

    idx = tmp_path_factory.mktemp("trust-indexes")
    settings = tiny_settings.replace(api_key=KEY, index_dir=str(idx))
    service = EmbeddingService(tiny_encoder, settings)
    corpus = idx.parent / "walk.txt"
    corpus.write_text("今天天气很好\n明天会下雨\n", encoding="utf-8")
    build_index(service, catalog_from_settings(settings), corpus, "walk", progress=False)  # /v1/search's body
    app = create_app(service, settings)
    with LiveServer(app) as server:
        server.service, server.app = service, app
        yield server


def flatten(routes, prefix: str = ""):
    """(path template, method) of every route, through mounts and included routers."""
    for route in routes:
        if isinstance(route, Mount):
            yield from flatten(route.routes, prefix + route.path)
        elif hasattr(route, "original_router"):  # FastAPI's included router
            yield from flatten(route.original_router.routes, prefix + route.include_context.prefix)
        elif getattr(route, "methods", None):
            for method in set(route.methods) - {"HEAD"} or {"HEAD"}:
                yield prefix + route.path, method


def gradio_blocks(app):
    mount = next(r for r in app.routes if isinstance(r, Mount))
    return mount.app.get_blocks()


def fill(template: str, api_name: str) -> str:
    values = {"api_name": api_name, "size": "192", "event_id": "e0", "session_hash": "walk"}
    return re.sub(r"\{(\w+)(:\w+)?\}", lambda m: values.get(m.group(1), "x"), template)


def bodies(path: str, blocks) -> list[dict]:
    """Request bodies that would compute if the route let them through (every shape our REST
    routes take: the walk with the key proves each POST route computes with one of them)."""
    if path.endswith("/queue/join"):
        return [{"data": [fresh()] * len(fn.inputs), "fn_index": i, "session_hash": "walk", "event_data": None}
                for i, fn in blocks.fns.items()]
    if "/gradio_api/" in path:
        return [{"data": [fresh(), fresh()], "session_hash": "walk", "fn_index": None}]
    return [{"data": [fresh(), fresh()]}, {"input": [fresh()], "model": "gte"},
            {"sentence_a": fresh(), "sentence_b": fresh()}, {"inputs": fresh()},
            {"inputs": {"source_sentence": fresh(), "sentences": [fresh()]}},
            {"query": fresh(), "docs": [fresh()]}, {"query": fresh(), "texts": [fresh()]},
            {"query": fresh(), "documents": [fresh()]}, {"instances": [{"inputs": fresh()}]},
            {"texts": [fresh(), fresh(), fresh()]},  # /v1/map
            {"index": "walk", "query": fresh()}]  # /v1/search (the keyed app's index)


#: what answers a caller without the key: the page, its static files and Gradio's login, the
#: API's own docs, /health, Gradio's monitoring (turned off: 403). None of them computes. Every other route the app exposes, today's
#: and any added later, must answer 401 without the key: the walk fails closed.
OPEN_WITHOUT_KEY = re.compile(
    r"^/($|assets/|static/|svelte/|favicon\.ico$|robots\.txt$|manifest\.json$|pwa_icon|theme\.css$|config/?$"
    r"|login/?$|logout$|monitoring|docs|redoc$|openapi\.json$|health$"
    # TEI's public health routes (GET only; POST there is the API): the root's /ping, and each
    # model's base URL, /health and /ping
    r"|ping$|tei/[^/]+(/|/health|/ping)?$)")
#: TEI routes that never run the embedding model's forward pass (tokenizer only, the fp32 token
#: states of embed_all, TEI's 424 for sparse / predict on the default embedder): the 401 walk
#: covers them; the computing walk cannot see them
NO_FORWARD = {"/tokenize", "/decode", "/embed_sparse", "/predict", "/embed_all"}


def test_no_route_computes_for_a_caller_without_the_key(keyed):
    blocks = gradio_blocks(keyed.app)
    api_names = sorted({fn.api_name for fn in blocks.fns.values() if fn.api_name})
    named = requests.get(keyed.url + "/gradio_api/info", headers=AUTH, timeout=10).json()["named_endpoints"]
    assert {"/similarity", "/rank", "/embed"} <= set(named)
    routes = set(flatten(keyed.app.routes))
    routes |= {(p, m.upper()) for p, ops in keyed.app.openapi()["paths"].items() for m in ops}
    walked = set()
    before = keyed.service.encoder.forward_calls
    refused = {}
    for template, method in sorted(routes):
        for name in api_names if "{api_name}" in template else [""]:
            path = fill(template, name)
            walked.add(path)
            for body in (bodies(path, blocks) if method in ("POST", "PUT") else [None]):
                if path.endswith("/upload"):
                    r = requests.post(keyed.url + path, files={"files": ("a.txt", fresh().encode())}, timeout=10)
                else:
                    r = requests.request(method, keyed.url + path, json=body, timeout=10, stream=True)
                    r.close()
                refused[(method, path)] = r.status_code
                # Gradio's /pwa_icon cannot open an SVG favicon (PIL): a plain 500, nothing leaked
                assert r.status_code != 500 or path.startswith("/pwa_icon"), (method, path)
                assert "Traceback" not in r.text and "/work/" not in r.text
    time.sleep(1.0)  # anything the queue had accepted would have run by now
    assert keyed.service.encoder.forward_calls == before, "a route computed for a caller without the key"

    # every route outside the page's own answered 401 at the door (a new route must too)
    opened = {k: v for k, v in refused.items() if v != 401 and not OPEN_WITHOUT_KEY.match(k[1])}
    assert not opened, f"answered a caller without the key: {opened}"
    # Gradio's monitoring would hand out per-event call counts and latency (/metrics needs the key)
    assert refused[("GET", "/monitoring/summary")] == 403
    # the walk did reach every OpenAPI path, Gradio's named endpoints under each of its API
    # routes, and the routes added after the guard (a walk that found nothing would pass above)
    assert {fill(p, "") for p in keyed.app.openapi()["paths"]} <= walked
    for path in ["/api/predict", "/api/predict/", "/v1/embeddings", "/similarity", "/embed", "/rerank",
                 "/v1/rerank", "/v2/rerank", "/gradio_api/queue/join", "/gradio_api/upload"]:
        assert refused[("POST", path)] == 401, path
    for path in ["/gradio_api/info", "/v1/models", "/metrics"]:
        assert refused[("GET", path)] == 401, path
    assert {"/similarity", "/align", "/rank", "/embed", "/rerank"} <= set(named)
    for name in (n.lstrip("/") for n in named):
        for path in (f"/gradio_api/call/{name}", f"/gradio_api/run/{name}", f"/gradio_api/api/{name}",
                     f"/gradio_api/call/v2/{name}"):
            assert refused[("POST", path)] == 401, path
    assert all(code == 401 for (method, path), code in refused.items() if path.startswith("/gradio_api/")), \
        {k: v for k, v in refused.items() if k[1].startswith("/gradio_api/") and v != 401}
    assert len(walked) > 60  # Gradio's ~50 routes × endpoint names, plus ours

    # the same bodies with the key do compute on every REST route that takes a body, so the
    # counter above would have seen a route that let a caller through
    for path, ops in keyed.app.openapi()["paths"].items():
        if "post" in ops and path not in NO_FORWARD:
            counter = keyed.service.encoder.forward_calls
            for body in bodies(path, blocks):
                requests.post(keyed.url + path, json=body, headers=AUTH, timeout=30)
            assert keyed.service.encoder.forward_calls > counter, f"no walk body computes on {path}"


def test_the_key_opens_rest_and_gradio(keyed):
    from gradio_client import Client

    before = keyed.service.encoder.forward_calls
    a, b = fresh("key"), fresh("key")
    rest = requests.post(keyed.url + "/similarity", json={"sentence_a": a, "sentence_b": b}, headers=AUTH, timeout=30)
    assert rest.status_code == 200
    # call/v2 takes parameters by name (the others keep their defaults)
    event = requests.post(keyed.url + "/gradio_api/call/v2/embed", json={"texts": fresh("key")}, headers=AUTH,
                          timeout=30)
    assert event.status_code == 200, event.text
    stream = requests.get(f"{keyed.url}/gradio_api/call/v2/embed/{event.json()['event_id']}", headers=AUTH,
                          timeout=30)
    assert "event: complete" in stream.text, stream.text
    result = json.loads(stream.text.split("data:", 1)[1])[0]
    assert result["dim"] == keyed.service.dim and len(result["vectors"]) == 1
    c, d = fresh("client"), fresh("client")
    got = Client(keyed.url, headers=AUTH, verbose=False).predict(c, d, api_name="/similarity")
    assert got["score"] == pytest.approx(keyed.service.pair(c, d).score, abs=1e-5)
    assert keyed.service.encoder.forward_calls > before  # the counter the walk relies on does move


def test_gradio_client_without_the_key_gets_nothing(keyed):
    from gradio_client import Client

    with pytest.raises(ValueError, match="credentials"):  # it cannot even read the page's /config
        Client(keyed.url, verbose=False)
    with pytest.raises(ValueError):
        Client(keyed.url, headers={"Authorization": "Bearer wrong"}, verbose=False)


def test_the_page_cookie_opens_the_page_events_only(keyed):
    blocks = gradio_blocks(keyed.app)
    on_pair = next(i for i, fn in blocks.fns.items() if fn.name == "on_pair")
    similarity = next(i for i, fn in blocks.fns.items() if fn.api_name == "similarity")
    page = requests.Session()
    prompt = page.get(keyed.url + "/", timeout=10)  # no key yet: the key prompt, no cookie
    assert prompt.status_code == 401 and security.PAGE_COOKIE not in page.cookies
    unlocked = page.post(keyed.url + security.UNLOCK, data={"key": KEY}, allow_redirects=False, timeout=10)
    assert unlocked.status_code == 303 and security.PAGE_COOKIE in page.cookies
    assert "HttpOnly" in unlocked.headers["set-cookie"] and "SameSite" in unlocked.headers["set-cookie"]
    assert page.get(keyed.url + "/", timeout=10).status_code == 200

    before = keyed.service.encoder.forward_calls
    joined = page.post(keyed.url + "/gradio_api/queue/join", timeout=10, json={
        "data": page_data(blocks, on_pair, fresh("page"), fresh("page")), "fn_index": on_pair,
        "session_hash": "page1"})
    assert joined.status_code == 200 and "event_id" in joined.json()
    with page.get(keyed.url + "/gradio_api/queue/data", params={"session_hash": "page1"}, stream=True,
                  timeout=30) as events:
        assert any(b"process_completed" in line for line in events.iter_lines())
    assert keyed.service.encoder.forward_calls > before

    # every named endpoint of Gradio's API info, by fn_index, is the key's alone
    info = requests.get(keyed.url + "/gradio_api/info", headers=AUTH, timeout=10).json()["named_endpoints"]
    named_fns = [i for i, fn in blocks.fns.items() if fn.api_name and f"/{fn.api_name}" in info]
    assert similarity in named_fns and len(named_fns) >= 5
    for fn_index in named_fns:
        named = page.post(keyed.url + "/gradio_api/queue/join", timeout=10, json={
            "data": page_data(blocks, fn_index, fresh(), fresh()), "fn_index": fn_index, "session_hash": "page1"})
        assert named.status_code == 401, blocks.fns[fn_index].api_name
    assert page.post(keyed.url + "/gradio_api/call/similarity", json={"data": ["a", "b"]}, timeout=10).status_code == 401
    for junk in ({"fn_index": "1"}, {"fn_index": True}, [1], "not json"):
        r = page.post(keyed.url + "/gradio_api/queue/join", data=str(junk) if isinstance(junk, str) else None,
                      json=None if isinstance(junk, str) else junk, timeout=10)
        assert r.status_code == 401

    token = page.cookies[security.PAGE_COOKIE]
    forged = token[:-4] + ("0000" if not token.endswith("0000") else "1111")
    for cookie in (forged, "1.2.3", "", token.rpartition(".")[0]):
        r = requests.get(keyed.url + "/gradio_api/info", cookies={security.PAGE_COOKIE: cookie}, timeout=10)
        assert r.status_code == 401


def page_data(blocks, fn_index: int, *texts: str) -> list:
    """What the page sends for event ``fn_index``: ``texts`` first, the other inputs' defaults."""
    inputs = blocks.fns[fn_index].inputs
    return [*texts, *(getattr(c, "value", None) for c in inputs[len(texts):])]


def test_page_tokens_expire_and_bind_to_the_key():
    guard = security.GradioApiGuard(None, Settings(api_key=KEY), page_event=lambda _: True, max_age_s=60)
    other = security.GradioApiGuard(None, Settings(api_key="another"), page_event=lambda _: True)
    token = guard.page_token()
    assert guard.valid_page_token(token) and not other.valid_page_token(token)
    assert not guard.valid_page_token(guard.page_token(issued=int(time.time()) - 61))
    assert not guard.valid_page_token(guard.page_token(issued=int(time.time()) + 3600))
    assert KEY not in token
    for junk in ("", ".", "..", "x.y.z", "١٢.n.sig", "12.n.é", token + "x", "9" * 400 + ".n.s"):
        assert not guard.valid_page_token(junk)


def test_without_a_key_gradio_stays_open(tiny_service):
    from gradio_client import Client

    from gte_ui.server import create_app

    with LiveServer(create_app(tiny_service, tiny_service.settings)) as server:
        assert "gte_page" not in requests.get(server.url + "/", timeout=10).headers.get("set-cookie", "")
        got = Client(server.url, verbose=False).predict("好", "好", api_name="/similarity")
        assert got["score"] == pytest.approx(1.0, abs=1e-4)


def test_key_and_login_together(tiny_service):
    """--auth still gates the page's events (Gradio's login); the key alone does not open the page."""
    from gte_ui.server import create_app

    settings = tiny_service.settings.replace(api_key=KEY, auth="ann:pw")
    app = create_app(tiny_service, settings)
    blocks = gradio_blocks(app)
    on_pair = next(i for i, fn in blocks.fns.items() if fn.name == "on_pair")
    with LiveServer(app) as server:
        page = requests.Session()
        page.get(server.url + "/", timeout=10)
        r = page.post(server.url + "/gradio_api/queue/join", timeout=10, json={
            "data": page_data(blocks, on_pair, "a", "b"), "fn_index": on_pair, "session_hash": "s"})
        assert r.status_code == 401  # Gradio's login check: the page cookie alone is not a login
        assert page.post(server.url + "/login", data={"username": "ann", "password": "pw"}, timeout=10).ok
        r = page.post(server.url + "/gradio_api/queue/join", timeout=10, json={
            "data": page_data(blocks, on_pair, "a", "b"), "fn_index": on_pair, "session_hash": "s"})
        assert r.status_code == 200
        from gradio_client import Client

        with pytest.raises(ValueError):  # a login without the key is not an API client
            Client(server.url, auth=("ann", "pw"), verbose=False)
        both = Client(server.url, auth=("ann", "pw"), headers=AUTH, verbose=False)
        assert both.predict("好", "好", api_name="/similarity")["score"] == pytest.approx(1.0, abs=1e-4)


def test_no_open_ui_warning_now_the_page_asks_for_the_key():
    # a key alone used to leave the page open (and a warning said so); the page now asks for it
    assert security.startup_warnings(Settings(api_key="k")) == []
    assert security.startup_warnings(Settings(api_key="k", auth="a:b")) == []


def test_the_command_line_key_guards_a_real_server(tiny_model_dir, tmp_path):
    """The issue's reproduction on a real ``python -m gte_ui serve --api-key``: the page asks for
    the key, Gradio's API and gradio_client get nothing without it, oversized headers are refused
    by the server `serve` starts, and the versions go to the log, not the page."""
    from gradio_client import Client

    app = AppProcess(tiny_model_dir, tmp_path, "--api-key", KEY).start()
    try:
        assert "the web UI is open" not in app.log and "versions: Python" in app.log
        page = requests.get(app.url + "/", timeout=10)
        assert page.status_code == 401 and 'name="key"' in page.text and "torch" not in page.text
        try:
            big = requests.get(app.url + "/health", headers={"X-Big": "a" * 2_000_000}, timeout=10).status_code
        except (requests.ConnectionError, requests.exceptions.ChunkedEncodingError):
            big = "closed"
        assert big in (400, 431, "closed")
        call = requests.post(app.url + "/gradio_api/call/similarity", json={"data": ["a", "b"]}, timeout=10)
        assert call.status_code == 401 and "密钥" in call.json()["error"] and "Bearer" in call.json()["error"]
        with pytest.raises(ValueError):
            Client(app.url, verbose=False)
        got = Client(app.url, headers=AUTH, verbose=False).predict("好", "好", api_name="/similarity")
        assert got["score"] == pytest.approx(1.0, abs=1e-4)
    finally:
        app.stop()
