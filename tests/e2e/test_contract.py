"""One contract: the same inputs through every front end give the same numbers and field names.

REST (the live app on loopback), ``gradio_client`` against the same app, the serverless handler
and the CLI each answer from the service's typed results (gte_ui/service/results.py); foreign
shapes add their own names, never drop or rename the canonical ones. Also: the service is the
only door (front ends never reach for the encoder or the cache), Settings is the only reader of
the environment, lone surrogates get a 422 that names the field and position everywhere, and
the articles' shapes (``/embed {"texts"}``, the bare serverless event) work.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import requests

from gte_ui.core.errors import HTTP_STATUS, ErrorType, GteError
from gte_ui.core.jsonbody import parse_json
from gte_ui.frontends import serverless
from gte_ui.service.options import TextOptions

from frontends_kit import gradio_call_error, invoke, run_cli  # shared with the engine-side security tests

ROOT = Path(__file__).resolve().parents[2]
A, B = "这款手机电池续航很强", "手机电量很耐用"
# each test its own texts: a text cached by an earlier test would change the batch the model sees,
# and padding to another batch shape moves float32 results in the last bit
SOURCE, CANDS = "电池容量大，用一天没问题", ["这台设备待机时间久", "充电速度特别快", "今天下雨了"]
TEXTS = ["今天天气很好", "我想借钱"]
#: the canonical fields of a pair, identical wherever a pair is answered (elapsed_ms and cached
#: depend on the run: each front end here has its own service and cache)
PAIR_FIELDS = ("score", "percent", "verdict", "verdict_en", "tokens", "truncated")
ROW_FIELDS = ("rank", "index", "text", "score", "percent", "verdict", "verdict_en", "tokens", "truncated", "duplicate")


@pytest.fixture()
def lambda_env(serverless_instance):
    """A cold serverless instance over the tiny model (conftest.serverless_instance)."""


@pytest.fixture(scope="module")
def gradio(live_server):
    from gradio_client import Client

    return Client(live_server.url, verbose=False)


def canonical(d: dict, fields: tuple[str, ...]) -> dict:
    return {k: d[k] for k in fields}


# ------------------------------------------------------------------ same numbers everywhere
def test_pair_is_identical_through_rest_gradio_serverless_and_cli(live_server, gradio, lambda_env, capsys,
                                                                  tiny_model_dir):
    expected = live_server.service.pair(A, B).to_dict()
    rest = requests.post(live_server.url + "/similarity", json={"sentence_a": A, "sentence_b": B}, timeout=30).json()
    via_gradio = gradio.predict(A, B, api_name="/similarity")
    status, lam = invoke("/similarity", {"sentence_a": A, "sentence_b": B})
    rc, out, _ = run_cli(capsys, tiny_model_dir, "similarity", A, B)
    assert status == 200 and rc == 0
    answers = {"rest": rest, "gradio": via_gradio, "serverless": lam, "cli": json.loads(out)}
    for name, got in answers.items():
        assert canonical(got, PAIR_FIELDS) == canonical(expected, PAIR_FIELDS), name  # exact, not approx
        assert isinstance(got["elapsed_ms"], float), name  # differs by run
        assert "cached" not in got, name  # would tell a visitor what others sent (issue 26)
    # the foreign names ride along, carrying the same number
    assert rest["similarity"] == lam["similarity"] == expected["score"] and rest["status"] == "success"
    assert lam["interpretation"] == expected["verdict"]


def test_ranking_is_identical_through_every_front_end(live_server, gradio, lambda_env, capsys, tiny_model_dir):
    expected = live_server.service.rank(SOURCE, CANDS)
    rows = [r.to_dict() for r in expected.rows]
    legacy = requests.post(live_server.url + "/api/predict", json={"data": [SOURCE, "\n".join(CANDS)]}, timeout=30)
    tei = requests.post(live_server.url + "/similarity",
                        json={"inputs": {"source_sentence": SOURCE, "sentences": CANDS}}, timeout=30)
    assert legacy.json()["data"] == tei.json() == expected.scores  # scores in candidate order
    via_gradio = gradio.predict(SOURCE, "\n".join(CANDS), 0, api_name="/rank")
    status, lam = invoke("/rank", {"source": SOURCE, "candidates": CANDS})
    rc, out, _ = run_cli(capsys, tiny_model_dir, "rank", SOURCE, *CANDS, "--json")
    assert status == 200 and rc == 0 and lam["scores"] == expected.scores
    for name, got in {"gradio": via_gradio, "serverless": lam["ranking"], "cli": json.loads(out)}.items():
        assert [canonical(r, ROW_FIELDS) for r in got] == [canonical(r, ROW_FIELDS) for r in rows], name


def test_vectors_are_identical_through_every_shape(live_server, gradio, lambda_env):
    want = live_server.service.embed(TEXTS).vectors.tolist()
    url = live_server.url
    texts_shape = requests.post(url + "/embed", json={"texts": TEXTS}, timeout=30).json()
    tei = requests.post(url + "/embed", json={"inputs": TEXTS}, timeout=30).json()
    openai = requests.post(url + "/v1/embeddings", json={"input": TEXTS}, timeout=30).json()
    legacy = [requests.post(url + "/api/predict", json={"data": [t, ""]}, timeout=30).json()["data"] for t in TEXTS]
    via_gradio = gradio.predict("\n".join(TEXTS), api_name="/embed")
    status, lam = invoke("/embed", {"texts": TEXTS})
    assert status == 200
    assert texts_shape == tei == [d["embedding"] for d in openai["data"]] == legacy == want
    assert via_gradio["vectors"] == lam["vectors"] == want
    fields = ("dim", "tokens", "truncated", "chunks", "total_tokens")
    assert canonical(via_gradio, fields) == canonical(lam, fields)
    assert openai["usage"]["total_tokens"] == lam["total_tokens"]


def test_text_options_mean_the_same_everywhere(live_server, gradio, lambda_env):
    trad, simp = "蘋果手機很好用", "苹果手机很好用"
    svc = live_server.service.pair(trad, simp, options=TextOptions(t2s=True, nfkc=True, collapse_whitespace=True))
    rest = requests.post(live_server.url + "/similarity", json={
        "sentence_a": trad, "sentence_b": simp, "t2s": True, "nfkc": True, "collapse_whitespace": True},
        timeout=30).json()
    via_gradio = gradio.predict(trad, simp, True, "", True, True, api_name="/similarity")
    _, lam = invoke("/similarity", {"sentence_a": trad, "sentence_b": simp, "t2s": True, "nfkc": True,
                                    "collapse_whitespace": True})
    assert rest["score"] == via_gradio["score"] == lam["score"] == svc.score == pytest.approx(1.0, abs=1e-6)
    status, bad = invoke("/similarity", {"sentence_a": "a", "sentence_b": "b", "long_text": "split"})
    assert status == 422 and "long_text must be one of truncate, chunk" in bad["error"]
    status, bad = invoke("/similarity", {"sentence_a": "a", "sentence_b": "b", "t2s": "yes"})
    assert status == 422 and "t2s must be true or false" in bad["error"]


# ------------------------------------------------------------------ lone surrogates (issue 14 item 7)
def test_lone_surrogates_get_422_naming_field_and_position_in_every_front_end(live_server, gradio, lambda_env,
                                                                              capsys, tiny_model_dir):
    r = requests.post(live_server.url + "/api/predict", data=b'{"data": ["\\ud800abc", ""]}',
                      headers={"Content-Type": "application/json"}, timeout=30)
    assert r.status_code == 422 and r.json()["error_type"] == "validation"
    assert "data[0] has a lone surrogate U+D800 at character 0" in r.json()["error"]
    r = requests.post(live_server.url + "/v1/embeddings", data=b'{"input": ["ok", "x\\udc00"]}',
                      headers={"Content-Type": "application/json"}, timeout=30)
    assert r.status_code == 422 and "input[1] has a lone surrogate U+DC00 at character 1" in r.json()["error"]["message"]
    status, body = invoke("/similarity", {"sentence_a": "ok", "sentence_b": "ab\ud800"})
    assert status == 422 and "sentence B has a lone surrogate U+D800 at character 2" in body["error"]
    # gradio_client cannot even encode such a string, so post the JSON escape as any HTTP client can
    assert "sentence A has a lone surrogate U+D800 at character 0" in gradio_call_error(
        live_server.url, gradio, "similarity", ["\ud800abc", "b"])
    rc, _, err = run_cli(capsys, tiny_model_dir, "similarity", "a\udcff", "b")  # undecodable argv byte
    assert rc == 2 and "sentence A has a lone surrogate U+DCFF at character 1" in err
    assert requests.post(live_server.url + "/api/predict", json={"data": ["abc", ""]}, timeout=30).ok  # still serving


# ------------------------------------------------------------------ the articles' shapes (issue 14 item 6)
def test_bare_serverless_event_means_post_similarity_with_interpretation(lambda_env, tiny_service):
    res = serverless.handler({"body": json.dumps({"sentence_a": A, "sentence_b": B})}, None)
    body = json.loads(res["body"])
    expected = tiny_service.pair(A, B)
    assert res["statusCode"] == 200
    assert body["similarity"] == pytest.approx(expected.score, abs=1e-6)
    assert body["interpretation"] == expected.verdict.zh == body["verdict"]


def test_embed_takes_texts_or_inputs_but_not_both(live_server):
    url = live_server.url + "/embed"
    both = requests.post(url, json={"texts": ["a"], "inputs": ["a"]}, timeout=30)
    neither = requests.post(url, json={"text": ["a"]}, timeout=30)
    empty = requests.post(url, json={"texts": ["ok", ""]}, timeout=30)
    assert both.status_code == neither.status_code == 422 and "exactly one" in both.json()["error"]
    assert empty.status_code == 422 and "texts[1] is empty" in empty.json()["error"]


@pytest.mark.slow
def test_locustfile_runs_clean_against_a_tiny_model_server():
    """bench/loadtest.py (locust headless, bounded: 4 users x 6 s) with the articles' /embed task."""
    r = subprocess.run([sys.executable, str(ROOT / "bench" / "loadtest.py"), "--users", "4", "--seconds", "6",
                        "--pool", "40"], capture_output=True, text=True, timeout=300, cwd=ROOT)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    row = next(line for line in r.stdout.splitlines() if line.startswith("POST /embed (texts)"))
    requests_, errors, wrong = (int(x) for x in row.split()[3:6])
    assert requests_ > 0 and errors == 0 and wrong == 0
    assert "RESULT: PASS" in r.stdout


# ------------------------------------------------------------------ one JSON parser, one status table
@pytest.mark.parametrize("raw,fragment", [
    (b"{not json", "malformed JSON in the request body: Expecting property name enclosed in double quotes at line 1"),
    (b"\xff\xfe", "the request body is not UTF-8"),
    (b"[" * 100_000, "nested too deeply"),
])
def test_one_json_parser_answers_400_the_same_on_rest_and_serverless(live_server, raw, fragment):
    with pytest.raises(GteError) as err:
        parse_json(raw)
    assert err.value.error_type is ErrorType.MALFORMED and HTTP_STATUS[ErrorType.MALFORMED] == 400
    r = requests.post(live_server.url + "/embed", data=raw, headers={"Content-Type": "application/json"}, timeout=30)
    assert r.status_code == 400 and fragment in r.json()["error"] and r.json()["error_type"] == "malformed"
    if raw.startswith(b"\xff"):
        return  # serverless bodies arrive as text; undecodable bytes cannot be a string body
    res = serverless.handler({"rawPath": "/embed", "requestContext": {"http": {"method": "POST"}},
                              "body": raw.decode()}, None)
    assert res["statusCode"] == 400 and fragment in json.loads(res["body"])["error"]


# ------------------------------------------------------------------ the service is the only door
def _frontend_sources() -> dict[str, str]:
    return {str(p.relative_to(ROOT)): p.read_text(encoding="utf-8")
            for p in (ROOT / "gte_ui" / "frontends").rglob("*.py")}


def test_no_front_end_touches_the_encoder_or_the_cache():
    # no exception: the Ray Serve replica that hosts an Encoder is a deployment (gte_ui/deploy/), not a front end
    offenders = [f"{path}: {m.group(0)}" for path, src in _frontend_sources().items()
                 for m in re.finditer(r"\.(encoder|cache|runner)\b(?!_)", src)]
    assert offenders == []


def test_settings_is_the_only_reader_of_the_environment():
    # gte_ui/testing builds random models for tests and benchmarks; it is not part of the app
    # hub.py only *sets* a ModelScope client variable (os.environ.setdefault), it reads nothing of ours
    readers = [str(p.relative_to(ROOT)) for p in (ROOT / "gte_ui").rglob("*.py")
               if "testing" not in p.parts and re.search(r"os\.environ(?!\.setdefault)|getenv\(",
                                                         p.read_text(encoding="utf-8"))]
    assert readers == ["gte_ui/core/settings.py"]


def test_one_cosine_one_normalisation_one_tokenizer_load():
    sources = {str(p.relative_to(ROOT)): p.read_text(encoding="utf-8") for p in (ROOT / "gte_ui").rglob("*.py")}
    norm = [p for p, s in sources.items() if re.search(r"linalg\.norm\(|functional\.normalize\(", s)]
    tokenizer = [p for p, s in sources.items() if "AutoTokenizer.from_pretrained(" in s]
    clip = [p for p, s in sources.items() if re.search(r"np\.clip\([^)]*@|np\.dot\(", s)]
    assert norm == ["gte_ui/core/scoring.py"] or sorted(norm) == ["gte_ui/core/scoring.py", "gte_ui/frontends/ui/views.py"]
    assert tokenizer == ["gte_ui/engine/tokenizer.py"] and clip in ([], ["gte_ui/core/scoring.py"])


# ------------------------------------------------------------------ service methods the front ends use
def test_dimensions_are_cut_and_renormalised_by_the_service(tiny_service):
    full = tiny_service.embed(TEXTS).vectors
    cut = tiny_service.embed(TEXTS, dimensions=8).vectors
    assert cut.shape == (2, 8)
    np.testing.assert_allclose(np.linalg.norm(cut, axis=1), 1.0, atol=1e-6)
    np.testing.assert_allclose(cut, full[:, :8] / np.linalg.norm(full[:, :8], axis=1, keepdims=True), atol=1e-6)
    with pytest.raises(GteError, match="dimensions=33 is more than the model's 32"):
        tiny_service.embed(TEXTS, dimensions=33)


def test_warm_cache_reports_progress_and_fills_the_cache(tiny_service):
    texts = [f"句子 {i}" for i in range(150)]
    seen: list[tuple[int, int]] = []
    assert tiny_service.warm_cache(texts, progress=lambda done, total: seen.append((done, total)), chunk=64) == 150
    assert seen == [(64, 150), (128, 150), (150, 150)]
    calls = tiny_service.encoder.forward_calls
    assert tiny_service.embed(texts, limit=150).cached == 150 and tiny_service.encoder.forward_calls == calls
    assert tiny_service.warm_cache(texts[:10]) == 0  # small inputs need no warming


def test_embed_corpus_skips_the_cache_and_names_lines(tiny_service):
    res = tiny_service.embed_corpus(TEXTS, ["line 1", "line 2"])
    np.testing.assert_allclose(res.vectors, tiny_service.embed(TEXTS).vectors, atol=1e-6)
    assert len(tiny_service.cache) == 2  # only the embed() call above cached anything
    with pytest.raises(GteError, match="line 7 is empty"):
        tiny_service.embed_corpus(["ok", "  "], ["line 3", "line 7"])
