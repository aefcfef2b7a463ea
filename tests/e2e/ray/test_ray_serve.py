"""--replicas on a real local Ray (num_cpus=2): the same app and vectors through Ray Serve, both
replicas serving, a killed replica replaced with no request lost or answered wrongly."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import numpy as np
import pytest
import requests
import yaml

from conftest import free_port

ray = pytest.importorskip("ray")
pytestmark = pytest.mark.timeout(400)  # Serve waiting on resources it will never get waits forever
from ray import serve  # noqa: E402

ROOT = Path(__file__).resolve().parents[3]


def running_replicas() -> list[str]:
    status = serve.status().applications["gte"].deployments["Embedder"]
    return [k for k, v in status.replica_states.items() if k == "RUNNING" for _ in range(v)]


def embedder_actors() -> list[str]:
    return sorted(a["name"] for a in ray.util.list_named_actors(all_namespaces=True)
                  if "Embedder" in a["name"] and a["name"].startswith("SERVE_REPLICA"))


@pytest.fixture(scope="module")
def serve_app(tiny_model_dir):
    from gte_ui.core.settings import Settings
    from gte_ui.server import serve_application

    settings = Settings(model=str(tiny_model_dir), device="cpu", precision="fp32", replicas=2,
                        batch_wait_ms=2.0)
    t0 = time.perf_counter()
    ray.init(num_cpus=2, include_dashboard=False, namespace="gte-test", log_to_driver=False)
    port = free_port()
    serve.start(http_options={"host": "127.0.0.1", "port": port})
    serve.run(serve_application(settings), name="gte", route_prefix="/")
    started = time.perf_counter() - t0
    print(f"\nRay + Serve with 2 replicas up in {started:.1f} s")
    yield f"http://127.0.0.1:{port}"
    serve.shutdown()
    ray.shutdown()


@pytest.fixture(scope="module")
def reference(tiny_encoder, tiny_settings):
    from gte_ui.service.service import EmbeddingService

    return EmbeddingService(tiny_encoder, tiny_settings)


def test_two_replicas_give_the_single_process_vectors_and_both_serve(serve_app, reference):
    texts = [f"第{i}句：复制的副本给出同样的向量" for i in range(48)]
    expected = reference.embed(texts).vectors
    answers: dict[int, list] = {}

    def client(i: int) -> None:
        r = requests.post(serve_app + "/embed", json={"inputs": texts[i * 3:(i + 1) * 3]}, timeout=60)
        answers[i] = r.json() if r.status_code == 200 else r.text

    threads = [threading.Thread(target=client, args=(i,)) for i in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    got = np.array([v for i in range(16) for v in answers[i]], dtype=np.float32)
    np.testing.assert_allclose(got, expected, atol=1e-6)
    health = requests.get(serve_app + "/health", timeout=30).json()
    assert len(health["batcher"]["replicas"]) == 2, health["batcher"]  # both replicas answered
    assert sum(health["batcher"]["replicas"].values()) == health["batcher"]["requests"] >= 2


def test_same_routes_and_ui_through_serve(serve_app):
    page = requests.get(serve_app + "/", timeout=30)
    assert page.status_code == 200 and "gradio" in page.text.lower()
    r = requests.post(serve_app + "/similarity", json={"sentence_a": "今天天气很好", "sentence_b": "今天天气不错"},
                      timeout=30)
    assert r.status_code == 200 and 0 <= r.json()["percent"] <= 100
    bad = requests.post(serve_app + "/embed", data=b"{not json", headers={"Content-Type": "application/json"},
                        timeout=30)
    assert bad.status_code == 400 and " / " in bad.json()["error"]
    assert "gte_http_requests_total" in requests.get(serve_app + "/metrics", timeout=30).text
    from gradio_client import Client

    client = Client(serve_app + "/", verbose=False)
    assert client.view_api(print_info=False, return_format="dict")["named_endpoints"]


def test_killed_replica_is_replaced_and_no_request_is_lost(serve_app, reference):
    texts = [f"杀掉副本时的第{i}句" for i in range(30)]
    expected = {t: v for t, v in zip(texts, reference.embed(texts).vectors)}
    before = embedder_actors()
    assert len(before) == 2
    failures: list[str] = []
    done = [0]
    lock = threading.Lock()

    def client(c: int) -> None:
        with requests.Session() as s:
            for i in range(20):
                batch = [texts[(c * 5 + i + k) % len(texts)] for k in range(2)]
                try:
                    r = s.post(serve_app + "/embed", json={"inputs": batch}, timeout=60)
                    ok = r.status_code == 200 and np.allclose(r.json(), [expected[t] for t in batch], atol=1e-6)
                    if not ok:
                        failures.append(f"{r.status_code} {r.text[:200]}")
                except requests.RequestException as exc:
                    failures.append(repr(exc))
                with lock:
                    done[0] += 1
                time.sleep(0.02)

    clients = [threading.Thread(target=client, args=(c,)) for c in range(8)]
    for t in clients:
        t.start()
    deadline = time.time() + 60
    while done[0] < 40 and time.time() < deadline:
        time.sleep(0.02)
    victim = before[0]
    ray.kill(ray.get_actor(victim, namespace="serve"), no_restart=True)
    for t in clients:
        t.join(timeout=180)
    assert done[0] == 160 and failures == []
    deadline = time.time() + 90
    while time.time() < deadline:
        after = embedder_actors()
        if len(after) == 2 and victim not in after and len(running_replicas()) == 2:
            break
        time.sleep(0.5)
    assert len(after) == 2 and victim not in after and len(running_replicas()) == 2  # replaced
    # and the replacement serves: fresh texts, right vectors
    fresh = [f"替换之后的第{i}句" for i in range(6)]
    r = requests.post(serve_app + "/embed", json={"inputs": fresh}, timeout=60)
    np.testing.assert_allclose(r.json(), reference.embed(fresh).vectors, atol=1e-6)


def test_serve_config_file_builds_the_same_application(tiny_model_dir):
    from ray.serve.schema import ServeDeploySchema

    config = yaml.safe_load((ROOT / "deploy" / "serve_config.yaml").read_text())
    schema = ServeDeploySchema.model_validate(config) if hasattr(ServeDeploySchema, "model_validate") \
        else ServeDeploySchema.parse_obj(config)
    app = schema.applications[0]
    assert app.route_prefix == "/" and app.import_path == "gte_ui.server:build_serve_app"
    names = {d.name for d in app.deployments}
    assert names == {"Embedder", "Ingress"}
    ingress = next(d for d in app.deployments if d.name == "Ingress")
    assert ingress.ray_actor_options.num_cpus == 0  # else serve.run waits forever on 2 cores
    from gte_ui.server import build_serve_app

    built = build_serve_app({**app.args, "model": str(tiny_model_dir), "device": "cpu"})
    assert type(built).__name__ == "Application"
    rayservice = yaml.safe_load((ROOT / "deploy" / "rayservice.yaml").read_text())
    assert rayservice["kind"] == "RayService"
    embedded = yaml.safe_load(rayservice["spec"]["serveConfigV2"])
    assert embedded["applications"][0]["import_path"] == app.import_path
