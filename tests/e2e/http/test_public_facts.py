"""What every client may see of the server: the model's id or folder name, never the folder's
absolute path (issue 18.10). The path stays in ModelInfo for the logs."""

from __future__ import annotations

import requests


def test_no_answer_contains_the_model_folders_path(live_server, tiny_model_dir):
    path = str(tiny_model_dir)
    url = live_server.url
    answers = {
        "/health": requests.get(url + "/health", timeout=10),
        "/v1/models": requests.get(url + "/v1/models", timeout=10),
        "/v1/embeddings": requests.post(url + "/v1/embeddings", json={"input": ["今天天气很好"]}, timeout=30),
        "/v1/embeddings (error)": requests.post(url + "/v1/embeddings", json={"input": [""]}, timeout=10),
        "/similarity": requests.post(url + "/similarity", json={"sentence_a": "好", "sentence_b": "坏"}, timeout=30),
        "/ (page)": requests.get(url + "/", timeout=10),
        "/config (UI values)": requests.get(url + "/config", timeout=10),
        "/gradio_api/info": requests.get(url + "/gradio_api/info", timeout=10),
    }
    for name, r in answers.items():
        assert r.status_code in (200, 422), (name, r.status_code)
        assert path not in r.text, f"{name} shows the server's path"
    assert answers["/health"].json()["model"] == tiny_model_dir.name
    assert "path" not in answers["/health"].json()
    assert answers["/v1/models"].json()["data"][0]["id"] == tiny_model_dir.name
    assert answers["/v1/embeddings"].json()["model"] == tiny_model_dir.name
    assert tiny_model_dir.name in answers["/config (UI values)"].text  # the header names the model
    assert live_server.service.info.path == path  # the path is still known (for the logs)

