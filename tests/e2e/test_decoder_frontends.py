"""Every front end on a decoder model (tiny random Qwen3-Embedding): REST, OpenAI client, named
Gradio endpoints, CLI, evaluation, and one tab in a real browser."""

from __future__ import annotations

import json
import os
import shutil

import numpy as np
import pytest
import requests

from gte_ui.core.settings import Settings
from gte_ui.frontends import cli
from gte_ui.service.options import TextOptions
from gte_ui.testing.decoder_model import QUERY_PROMPT, build_random_decoder

from conftest import serve_app

TASK = "Given a question, retrieve passages that answer it"
PROMPT = f"Instruct: {TASK}\nQuery:"
SOURCE = "这款手机电池续航很强"
CANDS = ["手机电量很耐用", "这台设备待机时间久", "充电速度特别快"]


@pytest.fixture(scope="module")
def qwen3_dir(tmp_path_factory):
    return build_random_decoder(tmp_path_factory.mktemp("dec") / "Qwen3-Embedding-tiny", "qwen3", seed=1)


@pytest.fixture(scope="module")
def decoder_server(qwen3_dir):

    settings = Settings(model=str(qwen3_dir), device="cpu", precision="fp32")
    with serve_app(settings) as server:
        yield server


def post(server, path, **kw):
    return requests.post(server.url + path, timeout=30, **kw)


def vectors(server, texts, prompt=None):
    """What the engine gives for ``texts`` with ``prompt`` before each (the reference)."""
    return server.service.encoder.encode([(prompt or "") + t for t in texts]).vectors


# ------------------------------------------------------------------ REST
def test_health_says_decoder_prompts_and_dimensions(decoder_server):
    health = requests.get(decoder_server.url + "/health", timeout=10).json()
    assert health["decoder"] is True and health["pooling"] == "lasttoken" and health["min_dimensions"] == 32
    assert health["prompts"]["prompts"]["query"] == QUERY_PROMPT
    assert health["prompts"]["default_instruction"].startswith("Given a web search query")


def test_openai_client_with_instruction_and_dimensions(decoder_server):
    from openai import OpenAI

    client = OpenAI(base_url=decoder_server.url + "/v1", api_key="unused")
    out = client.embeddings.create(model="gte", input=[SOURCE, CANDS[0]], dimensions=32,
                                   extra_body={"instruction": TASK})
    got = np.array([d.embedding for d in out.data])
    full = vectors(decoder_server, [SOURCE, CANDS[0]], PROMPT)[:, :32]
    np.testing.assert_allclose(got, full / np.linalg.norm(full, axis=1, keepdims=True), atol=1e-6)
    raw = post(decoder_server, "/v1/embeddings", json={"input": SOURCE, "prompt_name": "query"}).json()
    assert raw["prompt"] == QUERY_PROMPT and raw["warnings"] == []
    np.testing.assert_allclose(raw["data"][0]["embedding"], vectors(decoder_server, [SOURCE], QUERY_PROMPT)[0], atol=1e-6)


@pytest.mark.parametrize("body, fragment", [
    ({"input": "a", "dimensions": 16}, "below 32, the smallest output this model was trained for"),
    ({"input": "a", "prompt_name": "passage"}, "unknown prompt_name 'passage'"),
    ({"input": "a", "prompt_name": "query", "instruction": TASK}, "either prompt_name or instruction"),
    ({"input": "a", "instruction": 5}, "instruction"),
])
def test_openai_errors(decoder_server, body, fragment):
    r = post(decoder_server, "/v1/embeddings", json=body)
    assert r.status_code == 422 and fragment in r.json()["error"]["message"]
    assert post(decoder_server, "/v1/embeddings", json={"input": "a"}).status_code == 200  # still serving


def test_tei_and_flask_shapes_carry_the_prompt(decoder_server):
    r = post(decoder_server, "/embed", json={"inputs": [SOURCE], "prompt_name": "query"})
    assert r.status_code == 200 and json.loads(r.headers["X-Prompt"]) == QUERY_PROMPT
    np.testing.assert_allclose(r.json()[0], vectors(decoder_server, [SOURCE], QUERY_PROMPT)[0], atol=1e-6)
    assert "X-Prompt" not in post(decoder_server, "/embed", json={"inputs": SOURCE}).headers
    pair = post(decoder_server, "/similarity", json={"sentence_a": SOURCE, "sentence_b": CANDS[0],
                                                     "instruction": TASK}).json()
    q, d = vectors(decoder_server, [SOURCE], PROMPT)[0], vectors(decoder_server, [CANDS[0]])[0]
    assert pair["prompt"] == PROMPT and pair["similarity"] == pytest.approx(float(q @ d), abs=1e-5)
    tei = post(decoder_server, "/similarity", json={"inputs": {"source_sentence": SOURCE, "sentences": CANDS},
                                                    "instruction": TASK})
    np.testing.assert_allclose(tei.json(), vectors(decoder_server, CANDS) @ q, atol=1e-5)
    assert json.loads(tei.headers["X-Prompt"]) == PROMPT


def test_bert_model_refuses_prompts_and_keeps_serving(live_server):
    r = post(live_server, "/v1/embeddings", json={"input": "今天天气很好", "instruction": TASK})
    assert r.status_code == 422 and "no instruction prompts" in r.json()["error"]["message"]
    r = post(live_server, "/similarity", json={"sentence_a": "a", "sentence_b": "b", "prompt_name": "query"})
    assert r.status_code == 422 and "没有指令提示词" in r.json()["error"]
    ok = post(live_server, "/v1/embeddings", json={"input": "今天天气很好", "dimensions": 8}).json()
    assert "not trained for truncated outputs" in ok["warnings"][0]


# ------------------------------------------------------------------ gradio_client
def test_named_gradio_endpoints_take_prompts_and_dimensions(decoder_server):
    from gradio_client import Client

    client = Client(decoder_server.url, verbose=False)
    emb = client.predict(SOURCE, instruction=TASK, dimensions=32, api_name="/embed")
    full = vectors(decoder_server, [SOURCE], PROMPT)[:, :32]
    assert emb["dim"] == 32 and emb["prompt"] == PROMPT
    np.testing.assert_allclose(emb["vectors"], full / np.linalg.norm(full, axis=1, keepdims=True), atol=1e-5)
    sim = client.predict(SOURCE, CANDS[0], prompt_name="query", api_name="/similarity")
    assert sim["prompt"] == QUERY_PROMPT
    assert sim["score"] == pytest.approx(decoder_server.service.pair(SOURCE, CANDS[0], options=TextOptions(prompt_name="query")).score, abs=1e-6)
    rows = client.predict(SOURCE, "\n".join(CANDS), instruction=TASK, api_name="/rank")
    expected = decoder_server.service.rank(SOURCE, CANDS, options=TextOptions(instruction=TASK))
    assert [r["text"] for r in rows] == [r.text for r in expected.rows] and rows[0]["prompt"] == PROMPT
    with pytest.raises(Exception, match="unknown prompt_name"):
        client.predict(SOURCE, CANDS[0], prompt_name="passage", api_name="/similarity")


# ------------------------------------------------------------------ CLI and evaluation
def test_cli_on_a_decoder(qwen3_dir, decoder_server, tmp_path, capsys):
    args = ["--model", str(qwen3_dir), "--device", "cpu", "--precision", "fp32"]
    assert cli.main(["similarity", SOURCE, CANDS[0], "--instruction", TASK, *args]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["prompt"] == PROMPT
    assert out["score"] == pytest.approx(decoder_server.service.pair(SOURCE, CANDS[0], options=TextOptions(instruction=TASK)).score, abs=1e-6)
    assert cli.main(["rank", SOURCE, *CANDS, "--prompt-name", "query", "--json", *args]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert [r["text"] for r in rows] == [r.text for r in decoder_server.service.rank(SOURCE, CANDS, options=TextOptions(prompt_name="query")).rows]
    src = tmp_path / "c.txt"
    src.write_text("\n".join(CANDS), encoding="utf-8")
    assert cli.main(["embed", str(src), "--out", str(tmp_path / "v.npy"), "--quiet", *args]) == 0
    capsys.readouterr()
    np.testing.assert_allclose(np.load(tmp_path / "v.npy"), vectors(decoder_server, CANDS), atol=1e-6)
    assert cli.main(["similarity", "a", "b", "--prompt-name", "nope", *args]) == 2
    assert "unknown prompt_name 'nope'" in capsys.readouterr().err


def test_evaluation_runs_on_a_decoder(decoder_server):
    from gte_ui.core.resources import SAMPLES
    from gte_ui.evaluation import metrics

    pairs = metrics.read_pairs(SAMPLES / "stsb_zh_300.tsv")
    pairs = type(pairs)(pairs.a[:40], pairs.b[:40], pairs.labels[:40], pairs.name)
    result = metrics.evaluate(decoder_server.service, pairs)
    scores = [float(decoder_server.service.pair(a, b).score) for a, b in zip(pairs.a[:3], pairs.b[:3])]
    assert -1 <= result.to_dict()["spearman"] <= 1 and result.n == 40
    np.testing.assert_allclose(np.asarray(result.cosines[:3]), scores, atol=1e-5)


# ------------------------------------------------------------------ the browser
@pytest.mark.browser
@pytest.mark.slow
def test_browser_pairwise_tab_on_a_decoder(decoder_server):
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        if os.environ.get("CI"):
            pytest.fail("playwright is not installed")
        pytest.skip("playwright is not installed")
    exe = shutil.which("chromium") or shutil.which("chromium-browser")
    if not exe:
        if os.environ.get("CI"):
            pytest.fail("chromium is not installed")
        pytest.skip("chromium is not installed")
    from browser_kit import ARGS, shot  # shared browser helpers (a test file is never imported)

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=exe, args=ARGS)
        page = browser.new_page(viewport={"width": 1280, "height": 900}, locale="zh-CN")
        page.set_default_timeout(30_000)
        page.goto(decoder_server.url + "/")
        page.wait_for_selector("#btn-pair")
        instruction = page.locator("#instruction textarea, #instruction input").first
        assert instruction.input_value().startswith("Given a web search query")
        instruction.fill(TASK)
        page.locator("#sent-a textarea").fill(SOURCE)
        page.locator("#sent-b textarea").fill(CANDS[0])
        page.click("#btn-pair")
        expected = decoder_server.service.pair(SOURCE, CANDS[0], options=TextOptions(instruction=TASK))
        page.wait_for_function(
            "s => document.querySelector('#gte-score h3') && document.querySelector('#gte-score h3').innerText.startsWith(s)",
            arg=f"{expected.score:.4f}")
        assert TASK in page.locator("#gte-score").inner_text()  # the prompt is shown with the score
        shot(page, "8-pairwise-decoder")
        browser.close()
