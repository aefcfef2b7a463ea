"""SIGTERM drains: a real server process stops accepting, answers every request it had already
taken, then exits 0 (what a rolling update needs)."""

from __future__ import annotations

import http.client
import json
import signal
import socket
import threading
import time

import requests

from conftest import AppProcess


def in_progress(app: AppProcess) -> float:
    text = requests.get(app.url + "/metrics", timeout=5).text
    line = next(l for l in text.splitlines() if l.startswith("gte_http_requests_in_progress "))
    return float(line.split()[1]) - 1  # minus this scrape


def test_sigterm_mid_load_loses_no_request(tiny_model_dir, tmp_path):
    # A 1 s batching window keeps requests in flight long enough to catch them mid-way.
    app = AppProcess(tiny_model_dir, tmp_path, "--metrics-open", "--batch-wait-ms", "1000",
                     "--shutdown-timeout", "20").start()
    stop = threading.Event()
    outcomes: list[str] = []
    lock = threading.Lock()

    def client(c: int) -> None:
        n = 0
        while not stop.is_set():
            texts = [f"客户端{c}第{n}个请求的第{i}句" for i in range(8)]
            n += 1
            conn = http.client.HTTPConnection("127.0.0.1", app.port, timeout=30)
            try:
                conn.connect()
            except OSError:
                with lock:
                    outcomes.append("refused")  # never accepted: a load balancer retries it elsewhere
                return
            try:
                conn.request("POST", "/embed", body=json.dumps({"inputs": texts}),
                             headers={"Content-Type": "application/json"})
                r = conn.getresponse()
                body = json.loads(r.read())
                ok = r.status == 200 and len(body) == len(texts) and len(body[0]) == 32
                result = "ok" if ok else f"bad {r.status}"
            except (OSError, http.client.HTTPException, ValueError) as exc:
                result = f"lost {exc!r}"
            finally:
                conn.close()
            with lock:
                outcomes.append(result)

    clients = [threading.Thread(target=client, args=(c,)) for c in range(12)]
    try:
        for t in clients:
            t.start()
        deadline = time.time() + 30
        while in_progress(app) < 8:
            assert time.time() < deadline, "the load never built up"
            time.sleep(0.05)
        # Clients start nothing new from here; what they sent is in the server's hands.
        stop.set()
        time.sleep(0.1)
        taken = in_progress(app)
        app.proc.send_signal(signal.SIGTERM)
        time.sleep(0.3)
        # Draining: new connections are refused while the taken requests are still being answered.
        refused = False
        try:
            socket.create_connection(("127.0.0.1", app.port), timeout=1).close()
        except OSError:
            refused = True
        for t in clients:
            t.join(timeout=60)
        code = app.proc.wait(timeout=30)
    finally:
        stop.set()
        app.stop()
    lost = [o for o in outcomes if o != "ok"]
    assert taken >= 8 and lost == [] and len(outcomes) >= taken
    assert refused and code == 0
    assert "drained and stopped" in app.log
