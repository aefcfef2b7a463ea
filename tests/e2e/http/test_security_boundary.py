"""The HTTP/Gradio boundary against an anonymous visitor (issue 26): server files through upload
fields, computing on a keyed server without the key, filling the disk through uploads and
exports, CORS and Host, malformed Gradio calls, oversized headers, versions on the open page.

Every test drives the real app (``create_app`` over the tiny model) through HTTP, as an attacker
would; docs/security.md's threat table names each one.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import re
import socket
import time
import uuid
from pathlib import Path

import pytest
import requests
from conftest import LiveServer

from gte_ui.frontends.http import security

KEY = "boundary-key"
SECRET = "DB_PASSWORD=hunter2-boundary"


def gradio_blocks(app):
    """The Blocks mounted at "/" (its live components and events)."""
    from starlette.routing import Mount

    return next(r for r in app.routes if isinstance(r, Mount)).app.get_blocks()


def app_for(service, settings):
    from gte_ui.server import create_app

    return create_app(service, settings)


@contextlib.contextmanager
def serving(encoder, settings):
    """The whole app over ``encoder`` with ``settings``, on a free loopback port."""
    from gte_ui.service.service import EmbeddingService

    service = EmbeddingService(encoder, settings)
    app = app_for(service, settings)
    with LiveServer(app) as server:
        server.service, server.app = service, app
        yield server


@pytest.fixture(scope="module")
def open_server(tiny_encoder, tiny_settings):
    """No key and no login, as `python -m gte_ui serve` starts by default."""
    with serving(tiny_encoder, tiny_settings) as server:
        yield server


@pytest.fixture(scope="module")
def keyed_server(tiny_encoder, tiny_settings):
    """--api-key without --auth: the page asks for the key."""
    with serving(tiny_encoder, tiny_settings.replace(api_key=KEY)) as server:
        yield server


@pytest.fixture()
def planted(tmp_path_factory) -> Path:
    """A secret on the server's disk, outside Gradio's upload folder."""
    folder = tmp_path_factory.mktemp("planted")
    path = folder / "secret.txt"
    path.write_text(f"{SECRET}\nAPI_TOKEN=abc\n", encoding="utf-8")
    return path


# ------------------------------------------------------------------ 1. server files via upload fields
def file_components(config: dict, blocks) -> set[int]:
    """Ids of the page's components (from /config) whose value can carry a FileData, judged from
    each component's own data model, so a new kind of file input is found without editing this."""
    from gradio.data_classes import FileData

    found = set()
    for comp in config["components"]:
        model = getattr(blocks.blocks.get(comp["id"]), "data_model", None)
        if isinstance(model, type) and (issubclass(model, FileData) or "FileData" in json.dumps(
                model.model_json_schema())):
            found.add(comp["id"])
    return found


def run_event(url: str, fn_index: int, data: list, session: requests.Session | None = None) -> str:
    """Join the queue as the page does and return the event's whole stream up to its completion."""
    http = session or requests.Session()
    session_hash = uuid.uuid4().hex
    joined = http.post(url + "/gradio_api/queue/join", timeout=10, json={
        "data": data, "fn_index": fn_index, "session_hash": session_hash, "event_data": None})
    assert joined.status_code == 200, joined.text
    lines = []
    with http.get(url + "/gradio_api/queue/data", params={"session_hash": session_hash}, stream=True,
                  timeout=60) as events:
        for line in events.iter_lines(decode_unicode=True):
            lines.append(line)
            if "process_completed" in line:
                break
    return "\n".join(lines)


def test_no_file_input_opens_a_server_file(open_server, planted, tmp_path):
    """Every event with a file input, found from /config, refuses a FileData naming a server file,
    a folder, nothing or a URL (the server would fetch it), with one answer that tells them apart
    in no way; a file the page uploaded first is read."""
    from gte_ui.core.textfiles import NOT_AN_UPLOAD

    config = requests.get(open_server.url + "/config", timeout=10).json()
    blocks = gradio_blocks(open_server.app)
    files = file_components(config, blocks)
    events = [(dep["id"], slot) for dep in config["dependencies"]
              for slot, cid in enumerate(dep["inputs"]) if cid in files]
    names = {blocks.fns[i].name for i, _ in events}
    assert {"on_rank", "on_rerank", "on_evaluate"} <= names  # today's three; a new one is walked too

    before = open_server.service.encoder.forward_calls
    for fn_index, slot in events:
        answers = set()
        for path in (planted, planted.parent, tmp_path / "nope.txt", "https://example.org/list.txt",
                     f"{open_server.url}/health"):
            data = page_data(config, fn_index)
            data[slot] = {"path": str(path), "meta": {"_type": "gradio.FileData"}}
            joined = requests.post(open_server.url + "/gradio_api/queue/join", timeout=10,
                                   json={"data": data, "fn_index": fn_index, "session_hash": uuid.uuid4().hex})
            assert SECRET not in joined.text and "Errno" not in joined.text
            answers.add((joined.status_code, joined.text))
            direct = requests.post(f"{open_server.url}/gradio_api/run/predict", timeout=10,  # queue=False's route
                                   json={"data": data, "fn_index": fn_index, "session_hash": uuid.uuid4().hex})
            answers.add((direct.status_code, direct.text))
        assert answers == {(422, json.dumps(NOT_AN_UPLOAD.to_dict(), ensure_ascii=False))}, (fn_index, answers)
    assert open_server.service.encoder.forward_calls == before
    # nor does Gradio's file route fetch a URL for a visitor
    for url in ("https://example.org/list.txt", "http://169.254.169.254/latest/meta-data"):
        assert requests.get(f"{open_server.url}/gradio_api/file={url}", timeout=10).status_code == 404

    # the same event with a file the page uploaded first does run
    uploaded = requests.post(open_server.url + "/gradio_api/upload", timeout=10,
                             files={"files": ("cands.txt", "今天天气不错\n股票跌了".encode())}).json()[0]
    on_rank = next(i for i, slot in events if blocks.fns[i].name == "on_rank")
    data = page_data(config, on_rank)
    data[next(slot for i, slot in events if i == on_rank)] = {"path": uploaded, "meta": {"_type": "gradio.FileData"}}
    stream = run_event(open_server.url, on_rank, data)
    assert '"success":true' in stream.replace(" ", "") and "股票跌了" in stream


def test_gradio_checks_file_inputs_itself(open_server, planted):
    """The root cause: Gradio's own "uploaded by a user" check runs in the mounted app (it ran only
    after launch(), which a mounted app never calls), so a path that got past the door still fails."""
    import anyio
    from gradio import processing_utils
    from gradio.context import LocalContext
    from gradio.exceptions import InvalidPathError

    blocks = gradio_blocks(open_server.app)
    config = requests.get(open_server.url + "/config", timeout=10).json()
    file_input = blocks.blocks[min(file_components(config, blocks))]
    token = LocalContext.blocks.set(blocks)
    try:
        with pytest.raises(InvalidPathError, match="not uploaded by a user"):
            anyio.run(lambda: processing_utils.async_move_files_to_cache(
                {"path": str(planted), "meta": {"_type": "gradio.FileData"}}, file_input, check_in_upload_folder=True))
    finally:
        LocalContext.blocks.reset(token)


def page_data(config: dict, fn_index: int) -> list:
    """What the page would send for event ``fn_index``: each input's value as /config has it."""
    values = {c["id"]: c.get("props", {}).get("value") for c in config["components"]}
    return [values.get(cid) for cid in next(d for d in config["dependencies"] if d["id"] == fn_index)["inputs"]]


def test_every_tab_opens_uploads_through_one_guard(tiny_service, planted, tmp_path, monkeypatch):
    """The tabs' own guard, behind Gradio's: a path outside the upload folder, a folder, a missing
    file and a link out of the folder get one bilingual refusal; a real upload is read."""
    from gte_ui.core.textfiles import NOT_AN_UPLOAD
    from gte_ui.frontends.ui.tabs import evaluate, ranking, rerank

    uploads = tmp_path / "gradio"
    uploads.mkdir()
    monkeypatch.setenv("GRADIO_TEMP_DIR", str(uploads))
    link = uploads / "link.txt"
    link.symlink_to(planted)
    calls = {
        "rank": lambda p: ranking.on_rank(tiny_service, "今天天气很好", "", p, 0, False, False, False, "truncate")[0],
        "rerank": lambda p: rerank.on_rerank(tiny_service, "今天天气很好", "", p, 3)[0],
        "evaluate": lambda p: evaluate.on_evaluate(tiny_service, p, None, "", 0)[0],
    }
    for name, call in calls.items():
        answers = {call(str(p)) for p in (planted, planted.parent, tmp_path / "nope.txt", link, uploads / "..")}
        assert answers == {f"⚠️ {NOT_AN_UPLOAD.message}"}, (name, answers)
        assert "该文件不是通过本页面上传的" in NOT_AN_UPLOAD.message and "Errno" not in NOT_AN_UPLOAD.message
    good = uploads / "cands.txt"
    good.write_text("今天天气不错\n股票跌了", encoding="utf-8")
    assert "2 个候选" in calls["rank"](str(good))


# ------------------------------------------------------------------ 2. --api-key: no computation without it
def test_the_keyed_page_asks_for_the_key_before_anything(keyed_server):
    url = keyed_server.url
    before = keyed_server.service.encoder.forward_calls
    page = requests.get(url + "/", timeout=10)
    assert page.status_code == 401 and 'name="key"' in page.text and "API 密钥" in page.text
    assert security.PAGE_COOKIE not in page.headers.get("set-cookie", "")
    assert "gradio_config" not in page.text and "components" not in page.text
    for path in ("/config", "/gradio_api/info", "/gradio_api/file=/tmp/x.txt"):
        assert requests.get(url + path, timeout=10).status_code == 401, path
    up = requests.post(url + "/gradio_api/upload", files={"files": ("a.txt", b"x")}, timeout=10)
    assert up.status_code == 401

    wrong = requests.post(url + security.UNLOCK, data={"key": "guess"}, allow_redirects=False, timeout=10)
    assert wrong.status_code == 401 and "密钥错误" in wrong.text and "set-cookie" not in wrong.headers
    browser = requests.Session()
    unlocked = browser.post(url + security.UNLOCK, data={"key": KEY}, allow_redirects=False, timeout=10)
    assert unlocked.status_code == 303 and security.PAGE_COOKIE in browser.cookies
    assert "HttpOnly" in unlocked.headers["set-cookie"]
    assert keyed_server.service.encoder.forward_calls == before

    home = browser.get(url + "/", timeout=10)
    assert home.status_code == 200 and "gradio" in home.text.lower()
    config = browser.get(url + "/config", timeout=10).json()
    on_pair = next(i for i, fn in gradio_blocks(keyed_server.app).fns.items() if fn.name == "on_pair")
    data = ["钥匙打开了页面", "页面计算了", *page_data(config, on_pair)[2:]]
    assert "process_completed" in run_event(url, on_pair, data, browser)
    assert keyed_server.service.encoder.forward_calls > before
    assert browser.post(url + "/gradio_api/upload", files={"files": ("a.txt", b"x")}, timeout=10).status_code == 200
    # events that skip the queue (the About tab) post to run/…: the cookie opens the page's, not the named ones
    fns = gradio_blocks(keyed_server.app).fns
    on_about = next(i for i, fn in fns.items() if fn.name == "on_about")
    similarity = next(i for i, fn in fns.items() if fn.api_name == "similarity")
    about = browser.post(url + "/gradio_api/run/predict", timeout=10,
                         json={"data": [], "fn_index": on_about, "session_hash": "k"})
    assert about.status_code == 200 and "hit rate" in about.text  # counters: this visitor has the key
    named = browser.post(url + "/gradio_api/run/predict", timeout=10,
                         json={"data": page_data(config, similarity), "fn_index": similarity, "session_hash": "k"})
    assert named.status_code == 401


def test_wrong_keys_at_the_prompt_are_rate_limited(tiny_encoder, tiny_settings):
    with serving(tiny_encoder, tiny_settings.replace(api_key=KEY)) as server:
        codes = [requests.post(server.url + security.UNLOCK, data={"key": f"guess{i}"}, allow_redirects=False,
                               timeout=10).status_code for i in range(security.UNLOCK_TRIES_PER_MINUTE + 2)]
        assert codes[:security.UNLOCK_TRIES_PER_MINUTE] == [401] * security.UNLOCK_TRIES_PER_MINUTE
        blocked = requests.post(server.url + security.UNLOCK, data={"key": KEY}, allow_redirects=False, timeout=10)
        assert codes[-1] == 429 and blocked.status_code == 429 and "retry-after" in blocked.headers


# ------------------------------------------------------------------ 3. disk filling
@pytest.fixture()
def upload_server(tiny_encoder, tiny_settings, tmp_path, monkeypatch):
    """Small upload caps over a private upload folder."""
    monkeypatch.setenv("GRADIO_TEMP_DIR", str(tmp_path / "gradio"))
    settings = tiny_settings.replace(max_uploads_per_minute=3, max_upload_client_bytes=20_000,
                                     max_upload_total_bytes=60_000)
    with serving(tiny_encoder, settings) as server:
        server.folder = tmp_path / "gradio"
        yield server


def upload(server, size: int, name: str = "a.txt") -> requests.Response:
    return requests.post(server.url + "/gradio_api/upload", timeout=10,
                         files={"files": (name, os.urandom(size // 2).hex().encode()[:size])})


def test_uploads_are_rate_limited_per_client(upload_server):
    assert [upload(upload_server, 100, f"{i}.txt").status_code for i in range(3)] == [200] * 3
    fourth = upload(upload_server, 100)
    assert fourth.status_code == 429 and int(fourth.headers["retry-after"]) >= 1
    assert "上传超过 3 次" in fourth.json()["error"] and "3 uploads in a minute" in fourth.json()["error"]


def test_uploads_are_capped_per_client_and_in_total(upload_server):
    assert upload(upload_server, 15_000).status_code == 200
    over = upload(upload_server, 15_000)  # 30 KB in the hour: over the client's 20 KB
    assert over.status_code == 429 and "20,000 bytes in an hour" in over.json()["error"]
    # the folder's real size counts for everyone: fill it as other clients (or downloads) would
    (upload_server.folder / "others").mkdir(parents=True, exist_ok=True)
    (upload_server.folder / "others" / "big.bin").write_bytes(b"\0" * 55_000)
    full = requests.post(upload_server.url + "/gradio_api/upload", files={"files": ("b.txt", b"y" * 1_000)},
                         timeout=10)
    assert full.status_code == 507 and full.json()["error_type"] == "disk_full"
    assert "上传空间已满" in full.json()["error"] and "upload space is full" in full.json()["error"]


def test_a_full_disk_answers_507_not_500(open_server, monkeypatch):
    import gradio.routes

    async def no_space(*args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(gradio.routes, "upload_fn", no_space)
    r = requests.post(open_server.url + "/gradio_api/upload", files={"files": ("a.txt", b"x")}, timeout=10)
    assert r.status_code == 507, r.text
    assert r.json() == {"error": "服务器磁盘已满，请稍后重试或联系管理员 / the server's disk is full; try again "
                                 "later or tell its operator", "error_type": "disk_full"}


def test_a_full_disk_in_a_tab_says_so(tiny_service, monkeypatch):
    from gte_ui.frontends.ui import views
    from gte_ui.frontends.ui.tabs import ranking

    def no_space():
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(views, "export_dir", no_space)
    summary = ranking.on_rank(tiny_service, "今天天气很好", "a\nb", None, 0, False, False, False, "truncate")[0]
    assert summary == "⚠️ 服务器磁盘已满，请稍后重试或联系管理员 / the server's disk is full; try again later or tell its operator"


def test_exports_are_swept(tmp_path):
    from gte_ui.frontends.ui import views

    now = time.time()
    folders = []
    for i, age in enumerate((5, 120, 300, 3600)):
        folder = tmp_path / f"{views.EXPORT_PREFIX}{i}"
        folder.mkdir()
        (folder / "vectors.npy").write_bytes(b"\0" * 1000)
        os.utime(folder, (now - age, now - age))
        folders.append(folder)
    (tmp_path / "someone-else").mkdir()
    # the hour-old one goes by age; then the 2 KB cap keeps the newest two (the 5 s one is never swept)
    assert views.sweep_exports(tmp_path, max_age_s=900, max_bytes=2000, now=now) == 2
    assert [f.exists() for f in folders] == [True, True, False, False]
    assert views.sweep_exports(tmp_path, max_age_s=900, max_bytes=0, now=now) == 1  # 120 s: past the minute
    assert folders[0].exists() and (tmp_path / "someone-else").exists()


# ------------------------------------------------------------------ 4. CORS and Host
def test_gradio_routes_grant_no_unlisted_origin(open_server, tiny_encoder, tiny_settings):
    local = {"Origin": "http://localhost:9999"}
    for path in ("/config", "/gradio_api/info", "/"):
        r = requests.get(open_server.url + path, headers=local, timeout=10)
        assert "access-control-allow-origin" not in r.headers, path
        assert "access-control-allow-credentials" not in r.headers, path
    pre = requests.options(open_server.url + "/gradio_api/queue/join", timeout=10,
                           headers={**local, "Access-Control-Request-Method": "POST"})
    assert "access-control-allow-origin" not in pre.headers

    with serving(tiny_encoder, tiny_settings.replace(cors_origins=("https://good.example",))) as server:
        for path in ("/config", "/gradio_api/info"):
            good = requests.get(server.url + path, headers={"Origin": "https://good.example"}, timeout=10)
            assert good.headers.get("access-control-allow-origin") == "https://good.example", path
            bad = requests.get(server.url + path, headers=local, timeout=10)
            assert "access-control-allow-origin" not in bad.headers, path


def test_allowed_hosts(tiny_encoder, tiny_settings):
    with serving(tiny_encoder, tiny_settings.replace(allowed_hosts=("gte.example.org", "*.lan"))) as server:
        def get(path, **headers):
            return requests.get(server.url + path, headers=headers, timeout=10)

        for host in ("evil.example", "gte.example.org.evil.example", "lan"):
            r = get("/config", Host=host)
            assert r.status_code == 400 and "allowed-hosts" in r.json()["error"], host
        assert get("/config", Host="gte.example.org", **{"X-Forwarded-Host": "evil.example"}).status_code == 400
        assert get("/health", Host="127.0.0.1").status_code == 400
        ok = get("/config", Host="gte.example.org:7860")
        assert ok.status_code == 200 and ok.json()["root"] == "http://gte.example.org:7860"
        assert get("/health", Host="box.lan").status_code == 200
    assert security.HostGuard(None, ("[::1]", "::1")).allows("[::1]:7860")


# ------------------------------------------------------------------ 5. malformed calls, headers, versions
@pytest.mark.parametrize("path, body", [
    ("/gradio_api/queue/join", {"data": [], "fn_index": 999, "session_hash": "m"}),
    ("/gradio_api/queue/join", {"data": [], "fn_index": -1, "session_hash": "m"}),
    ("/gradio_api/queue/join", {"data": ["only one"], "fn_index": 1, "session_hash": "m"}),
    ("/gradio_api/queue/join", {"data": [], "fn_index": "1", "session_hash": "m"}),
    ("/gradio_api/queue/join", "{not json"),
    ("/gradio_api/queue/join", [1, 2]),
    ("/gradio_api/call/similarity", {"data": ["a"]}),
    ("/gradio_api/call/nope", {"data": ["a"]}),
    ("/gradio_api/run/similarity", {"data": ["a"]}),
    ("/gradio_api/api/similarity", {"data": ["a", "b", "c", "d", "e", "f", "g", "h", "i", "j"]}),
    ("/gradio_api/api/nope", {"data": []}),
])
def test_malformed_gradio_calls_are_4xx(open_server, path, body):
    data = body if isinstance(body, str) else json.dumps(body)
    r = requests.post(open_server.url + path, data=data, headers={"Content-Type": "application/json"}, timeout=10)
    assert 400 <= r.status_code < 500, (r.status_code, r.text[:200])
    assert "Traceback" not in r.text and "object at 0x" not in r.text


def test_oversized_headers_are_refused(tiny_service):
    """uvicorn as `serve` runs it: a 2 MB header is refused, a normal request still answers."""
    import threading

    import uvicorn

    from gte_ui.launch import uvicorn_limits

    settings = tiny_service.settings
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app_for(tiny_service, settings), log_level="warning",
                                           **uvicorn_limits(settings)))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    try:
        deadline = time.time() + 30
        while not server.started and time.time() < deadline:
            time.sleep(0.05)
        url = f"http://127.0.0.1:{port}"
        try:
            big = requests.get(url + "/health", headers={"X-Big": "a" * 2_000_000}, timeout=10)
            assert big.status_code in (400, 413, 431), big.status_code
        except (requests.ConnectionError, requests.exceptions.ChunkedEncodingError):
            pass  # refused by closing the connection (h11 answers 400 and closes while we still send)
        assert requests.get(url + "/health", headers={"X-Fine": "a" * 4000}, timeout=10).status_code == 200
    finally:
        server.should_exit = True
        thread.join(timeout=10)


def test_the_open_page_shows_no_versions_or_counters(open_server):
    import platform

    import torch
    import transformers

    open_server.service.pair("计数器", "计数器")  # something to count
    for path in ("/", "/config"):
        text = requests.get(open_server.url + path, timeout=10).text
        for version in (f"Python {platform.python_version()}", f"torch {torch.__version__}",
                        f"transformers {transformers.__version__}"):
            assert version not in text, (path, version)
        assert "hit rate" not in text and "model calls for" not in text, path
    about = requests.get(open_server.url + "/config", timeout=10).json()
    assert any("hidden on an open server" in json.dumps(c.get("props", {}), ensure_ascii=False)
               for c in about["components"])


def test_every_test_the_threat_table_names_exists():
    """docs/security.md's threat table names the test behind each defence: each must exist, so a
    renamed or deleted test cannot leave a defence claimed but unproven."""
    root = Path(__file__).resolve().parents[3]
    table = [line for line in (root / "docs/security.md").read_text(encoding="utf-8").splitlines()
             if line.startswith("| ") and "`" in line]
    abbreviations = {"boundary": "tests/e2e/http/test_security_boundary.py", "engine": "tests/unit/service/test_security_engine.py"}
    named = []
    for line in table:
        current = None
        for ref in re.findall(r"`([^`]*::[^`]*)`", line.rsplit(" | ", 1)[-1]):
            file, _, name = ref.partition("::")
            file = abbreviations.get(file, file)
            if file and not file.startswith("tests/"):
                # a bare file name (`test_trust.py`) names the one test file of that name in tests/
                found = sorted((root / "tests").rglob(file))
                assert len(found) == 1, f"{file} names {len(found)} test files"
                file = str(found[0].relative_to(root))
            current = file or current
            named.append((current, name.split("[")[0]))
    assert len(named) >= 15, named
    for file, name in named:
        source = (root / file).read_text(encoding="utf-8")
        assert re.search(rf"^(async )?def {re.escape(name)}\(", source, re.MULTILINE), f"{file}::{name} is not a test"
