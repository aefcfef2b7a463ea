"""Model resolution: folders, ids, offline mode, and the promised messages."""

from __future__ import annotations

import http.server
import shutil
import sys
import threading
import time

import pytest

from gte_ui.core.errors import ModelNotFoundError
from gte_ui.engine.models.hub import check_model_folder, pick_hub, resolve_model


def test_hub_choice():
    assert pick_hub("iic/nlp_gte_sentence-embedding_chinese-large") == "modelscope"
    assert pick_hub("damo/nlp_gte_sentence-embedding_chinese-base") == "modelscope"
    assert pick_hub("thenlper/gte-large-zh") == "huggingface"
    assert pick_hub("thenlper/gte-large-zh", "modelscope") == "modelscope"


def test_folder_resolves_to_itself(tiny_model_dir):
    assert resolve_model(str(tiny_model_dir)) == tiny_model_dir.resolve()


def test_sentence_transformers_folder(minilm_dir):
    assert resolve_model(str(minilm_dir)) == minilm_dir.resolve()


def test_missing_folder_message(tmp_path):
    with pytest.raises(ModelNotFoundError) as err:
        resolve_model(str(tmp_path / "nope"))
    assert "does not exist" in err.value.message and "模型目录" in err.value.message


def test_incomplete_folder_names_what_is_missing(tiny_model_dir, tmp_path):
    bad = tmp_path / "bad"
    shutil.copytree(tiny_model_dir, bad)
    (bad / "model.safetensors").unlink()
    with pytest.raises(ModelNotFoundError, match=r"missing weights"):
        check_model_folder(bad)


def test_offline_default_model_says_what_it_tried_and_how_to_fix(tmp_path):
    with pytest.raises(ModelNotFoundError) as err:
        resolve_model("iic/nlp_gte_sentence-embedding_chinese-large", offline=True,
                      cache_dir=str(tmp_path))
    msg = err.value.message
    assert "modelscope 'iic/nlp_gte_sentence-embedding_chinese-large' (offline, cache only)" in msg
    assert "huggingface 'thenlper/gte-large-zh' (offline, cache only)" in msg
    assert "--model ./models/gte" in msg and "python -m gte_ui download" in msg


def test_unknown_hf_id_offline(tmp_path):
    with pytest.raises(ModelNotFoundError, match="huggingface 'someone/not-a-model'"):
        resolve_model("someone/not-a-model", offline=True, cache_dir=str(tmp_path))


# ------------------------------------------------------------------ an unreachable hub fails fast
# Issue 18.2: offline, the hub clients retried with back-off for 24-34 s before the message.
# Every TCP connection attempt the process makes is seen through the "socket.connect" audit
# event; the hook counts only those to the port a test names (hooks cannot be removed).
_watched: dict[int, int] = {}


def _count_connects(event: str, args: tuple) -> None:
    if event == "socket.connect" and isinstance(args[1], tuple) and args[1][1:2] and args[1][1] in _watched:
        _watched[args[1][1]] += 1


sys.addaudithook(_count_connects)


@pytest.fixture()
def hub_at(monkeypatch):
    """Point both hub clients at http://127.0.0.1:PORT, the way users override them. Both clients
    are imported first (modelscope's import alone takes seconds: it loads torch), so the timings
    below measure the network attempts."""
    import huggingface_hub.constants
    import modelscope  # noqa: F401

    def point(port: int) -> None:
        url = f"http://127.0.0.1:{port}"
        monkeypatch.setenv("HF_ENDPOINT", url)
        monkeypatch.setenv("MODELSCOPE_ENDPOINT", url)
        monkeypatch.setattr(huggingface_hub.constants, "ENDPOINT", url)
        monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", False)

    return point


def test_closed_port_hub_fails_at_once_with_one_try_per_hub(hub_at, tmp_path):
    from conftest import free_port

    port = free_port()  # bound then closed: nothing listens, connections are refused
    hub_at(port)
    _watched[port] = 0
    start = time.perf_counter()
    with pytest.raises(ModelNotFoundError) as err:
        resolve_model("iic/nlp_gte_sentence-embedding_chinese-large", cache_dir=str(tmp_path))
    elapsed = time.perf_counter() - start
    tries = _watched.pop(port)
    msg = err.value.message
    assert elapsed < 5.0, f"{elapsed:.1f} s"
    assert tries == 2, tries  # ModelScope once, then the Hugging Face twin once: no retries
    assert msg.count("connection refused") == 2
    assert "copy the folder over" in msg and "复制" in msg and "--offline" in msg


class _CountingHub(http.server.BaseHTTPRequestHandler):
    """A hub that knows one model path (answers 200 ``{}``) and answers 404 to everything else."""

    known: tuple[str, ...] = ()
    seen: list[tuple[str, str]] = []

    def do_GET(self) -> None:
        self.seen.append((self.path, self.headers.get("User-Agent", "")))
        ok = self.path.split("?")[0] in self.known
        body = b"{}" if ok else b'{"error": "Repository not found"}'
        self.send_response(200 if ok else 404)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_HEAD = do_GET

    def log_message(self, *args) -> None:
        pass


@pytest.fixture()
def counting_hub():
    _CountingHub.seen = []
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _CountingHub)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


def test_hub_404_ends_the_attempt_after_one_request(hub_at, counting_hub, tmp_path):
    hub_at(counting_hub.server_address[1])
    _CountingHub.known = ()
    start = time.perf_counter()
    with pytest.raises(ModelNotFoundError) as err:
        resolve_model("someone/not-a-model", cache_dir=str(tmp_path))
    assert time.perf_counter() - start < 5.0
    assert [path for path, _ in _CountingHub.seen] == ["/api/models/someone/not-a-model/revision/main"]
    assert "404: no model 'someone/not-a-model'" in err.value.message


def test_unresolvable_hub_name_fails_at_once(monkeypatch, tmp_path):
    monkeypatch.setenv("HF_ENDPOINT", "http://hub.invalid")  # .invalid never resolves (RFC 6761)
    start = time.perf_counter()
    with pytest.raises(ModelNotFoundError, match=r"cannot resolve hub\.invalid"):
        resolve_model("someone/model", hub="huggingface", cache_dir=str(tmp_path))
    assert time.perf_counter() - start < 5.0


def test_a_reachable_hub_still_gets_the_real_client(hub_at, counting_hub, tmp_path):
    """The probe only vetoes hopeless cases: a hub that answers hands over to huggingface_hub's
    own snapshot_download, whose requests follow the probe's."""
    hub_at(counting_hub.server_address[1])
    _CountingHub.known = ("/api/models/someone/model/revision/main",)
    with pytest.raises(ModelNotFoundError, match="huggingface 'someone/model' -> "):
        resolve_model("someone/model", cache_dir=str(tmp_path))
    agents = [agent for _, agent in _CountingHub.seen]
    assert agents[0] == "gte_ui-hub-probe" and len(agents) >= 2
    assert all(a != "gte_ui-hub-probe" for a in agents[1:])  # the client's own requests


def test_download_command_fails_fast_too(hub_at, tmp_path):
    from conftest import free_port

    from gte_ui.engine.models.hub import download

    port = free_port()
    hub_at(port)
    start = time.perf_counter()
    with pytest.raises(ModelNotFoundError, match="connection refused"):
        download("thenlper/gte-large-zh", tmp_path / "m")
    assert time.perf_counter() - start < 5.0


def test_unreachable_hub_still_serves_the_cached_copy(hub_at, tiny_model_dir, tmp_path):
    """Retrying is pointless, but what huggingface_hub's cache holds is still used, as its client
    would after its retries."""
    from conftest import free_port

    snapshot = tmp_path / "models--someone--cached" / "snapshots" / ("0" * 40)
    shutil.copytree(tiny_model_dir, snapshot)
    (tmp_path / "models--someone--cached" / "refs").mkdir()
    (tmp_path / "models--someone--cached" / "refs" / "main").write_text("0" * 40)
    hub_at(free_port())
    assert resolve_model("someone/cached", cache_dir=str(tmp_path)) == snapshot


@pytest.mark.parametrize("hub_answers", [False, True])
def test_a_failed_download_leaves_no_empty_folder(hub_at, counting_hub, tmp_path, hub_answers):
    """Issue 30.10: a download that fails (hub unreachable, or reachable and then failing inside
    the client) removes the folders it made; a folder that was already there stays."""
    from conftest import free_port

    from gte_ui.engine.models.hub import download

    if hub_answers:
        hub_at(counting_hub.server_address[1])
        _CountingHub.known = ("/api/models/someone/model/revision/main",)
    else:
        hub_at(free_port())
    target = tmp_path / "models" / "gte"
    with pytest.raises(ModelNotFoundError, match="download of 'someone/model'"):
        download("someone/model", target)
    assert not (tmp_path / "models").exists()
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "notes.txt").write_text("keep", encoding="utf-8")
    with pytest.raises(ModelNotFoundError):
        download("someone/model", mine / "gte")
    assert sorted(p.name for p in mine.iterdir()) == ["notes.txt"]
