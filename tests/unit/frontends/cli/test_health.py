"""The CLI's ``/health`` client (gte_ui/frontends/cli/health.py): Docker's HEALTHCHECK runs it
every 30 s, so it must tell a ready server from every other answer and never raise."""

from __future__ import annotations

import http.server
import threading

import pytest

from gte_ui.frontends.cli.health import health


def test_a_ready_server_is_healthy(live_server):
    ok, said = health(live_server.url + "/health")
    assert ok and said == f"{live_server.url}/health: ok"


def test_the_default_url_is_the_servers_own_port(live_server, monkeypatch):
    """No --url: 127.0.0.1 on the port the server's settings read (GTE_PORT here)."""
    for name in ("GRADIO_SERVER_PORT", "PORT"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("GTE_PORT", str(live_server.port))
    ok, said = health()
    assert ok and said.startswith(f"http://127.0.0.1:{live_server.port}/health")


class _Answer(http.server.BaseHTTPRequestHandler):
    body = b""
    status = 200

    def do_GET(self):
        self.send_response(self.status)
        self.end_headers()
        self.wfile.write(self.body)

    def log_message(self, *args):  # quiet
        pass


@pytest.fixture()
def answering():
    """A server that answers /health with whatever the test sets."""
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Answer)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}/health"
    server.shutdown()
    server.server_close()


@pytest.mark.parametrize("status, body, says", [
    (200, b'{"status": "loading"}', ": loading"),  # up, not ready
    (200, b"<html>a proxy page</html>", "Expecting value"),  # not JSON
    (200, b'["ok"]', "['ok']"),  # JSON, not the object
    (503, b'{"status": "ok"}', "503"),  # an error status is not healthy whatever the body says
])
def test_every_other_answer_is_unhealthy(answering, status, body, says):
    _Answer.status, _Answer.body = status, body
    ok, said = health(answering, timeout=2)
    assert not ok and said.startswith(answering) and says in said


def test_nobody_listening_is_unhealthy_not_an_exception():
    from conftest import free_port

    ok, said = health(f"http://127.0.0.1:{free_port()}/health", timeout=1)
    assert not ok and "refused" in said.lower()
