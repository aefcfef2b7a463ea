"""Several models in one server, unknown-token warnings, token alignment (issue 16)."""

from __future__ import annotations

import csv

import numpy as np
import pytest
import torch

from gte_ui.core.errors import ConfigError, ErrorType, GteError
from gte_ui.core.settings import Settings, parse_model_spec, parse_settings
from gte_ui.engine.memory import estimate_bytes
from gte_ui.service.service import EmbeddingService


@pytest.fixture(scope="module")
def two_models(tiny_model_dir, minilm_dir):
    """The tiny Chinese BERT (default) and the real MiniLM, loaded by one service."""
    settings = Settings(model=str(tiny_model_dir), device="cpu", precision="fp32",
                        models=(f"minilm={minilm_dir}",))
    service = EmbeddingService.from_settings(settings, batching=False)
    yield service
    service.close()


def test_model_spec_syntax():
    assert parse_model_spec("small=thenlper/gte-small-zh@int8") == parse_model_spec(" small = thenlper/gte-small-zh@int8")
    spec = parse_model_spec("small=thenlper/gte-small-zh@int8")
    assert (spec.name, spec.source, spec.precision) == ("small", "thenlper/gte-small-zh", "int8")
    assert parse_model_spec("./models/gte-base").name is None
    with pytest.raises(ConfigError, match="unknown precision"):
        parse_model_spec("a=./m@int4")
    with pytest.raises(ConfigError, match="empty name"):
        parse_model_spec("=./m")
    assert parse_settings(["--models", "a=./x@int8,./y", "--max-memory", "1.5G"]).max_memory == int(1.5 * 2**30)
    with pytest.raises(ConfigError):
        parse_settings(["--models", "a=./x@int4"])


def test_each_model_answers_with_its_own_vectors(two_models, minilm_dir):
    from sentence_transformers import SentenceTransformer

    assert [s.name for s in two_models.models()] == [two_models.name, "minilm"]
    assert two_models.for_model(None) is two_models and two_models.for_model("") is two_models
    minilm = two_models.for_model("minilm")
    texts = ["A man is playing a guitar.", "The cat sits on the mat."]
    got = minilm.embed(texts)
    assert got.vectors.shape == (2, 384) and got.model == "minilm"
    reference = SentenceTransformer(str(minilm_dir), device="cpu").encode(texts, normalize_embeddings=True)
    np.testing.assert_allclose(got.vectors, reference, atol=1e-5)
    assert two_models.embed(texts).vectors.shape[1] == two_models.dim != 384


def test_each_model_runs_in_its_own_precision(tiny_model_dir, tmp_path):
    """NAME=SOURCE@int8 serves that model in int8 beside the fp32 default (the same folder twice:
    how a user sees what int8 costs), and the comparison table names each one's precision."""
    from gte_ui.core.pairs import LabelledPairs
    from gte_ui.evaluation.compare import compare_models

    settings = Settings(model=str(tiny_model_dir), device="cpu", precision="fp32",
                        models=(f"tiny-int8={tiny_model_dir}@int8",), export_cache=str(tmp_path))
    service = EmbeddingService.from_settings(settings, batching=False)
    try:
        int8 = service.for_model("tiny-int8")
        assert (service.info.precision, int8.info.precision) == ("fp32", "int8")
        texts = ["今天天气很好", "我想借钱", "这款手机电池续航很强"]
        fp, q = service.embed(texts).vectors, int8.embed(texts).vectors
        assert not np.array_equal(fp, q)  # a different computation …
        assert float(np.min(np.sum(fp * q, axis=1))) > 0.9  # … of the same model
        pairs = LabelledPairs(texts, texts[::-1], [1.0, 0.0, 1.0], "crafted")
        rows = compare_models(service.models(), pairs).rows
        assert [(r.model, r.precision) for r in rows] == [(service.name, "fp32"), ("tiny-int8", "int8")]
    finally:
        service.close()


def test_an_unknown_model_is_a_404_naming_the_loaded_ones(two_models):
    with pytest.raises(GteError) as err:
        two_models.for_model("gte-huge")
    assert err.value.error_type is ErrorType.UNKNOWN_MODEL and err.value.status_code == 404
    assert "minilm" in err.value.en and two_models.name in err.value.en


def test_max_memory_refuses_the_model_that_does_not_fit(tiny_model_dir, minilm_dir):
    tiny_need = estimate_bytes(tiny_model_dir, "fp32")
    settings = Settings(model=str(tiny_model_dir), device="cpu", precision="fp32",
                        models=(f"minilm={minilm_dir}",), max_memory=tiny_need + 1024)
    with pytest.raises(ConfigError) as err:
        EmbeddingService.from_settings(settings, batching=False)
    assert "minilm" in err.value.en and "--max-memory" in err.value.en
    # an int8 variant of the same model is estimated smaller: it is what the message suggests
    assert estimate_bytes(minilm_dir, "int8") < estimate_bytes(minilm_dir, "fp32")


def test_two_models_with_one_name_are_refused(tiny_model_dir):
    settings = Settings(model=str(tiny_model_dir), device="cpu", precision="fp32",
                        models=(f"{tiny_model_dir}",))
    with pytest.raises(ConfigError, match="give one a name"):
        EmbeddingService.from_settings(settings, batching=False)


def test_answers_carry_ratios_and_a_warning_above_the_threshold(tiny_service):
    r = tiny_service.pair("你好🙂", "你好")
    assert r.unknown_token_ratio == [pytest.approx(1 / 3, abs=1e-4), 0.0]
    assert len(r.warnings) == 1 and "🙂" in r.warnings[0] and "33%" in r.warnings[0]
    assert r.to_dict()["warnings"] == r.warnings
    quiet = tiny_service.pair("你好", "天气很好")
    assert quiet.warnings == [] and quiet.unknown_token_ratio == [0.0, 0.0]
    ranked = tiny_service.rank("你好", ["齉齉", "你好"])
    assert {row.text: row.unknown_token_ratio for row in ranked.rows} == {"齉齉": 1.0, "你好": 0.0}
    assert len(ranked.warnings) == 1 and "齉" in ranked.warnings[0]


def test_alignment_equals_the_models_hidden_states(two_models, minilm_dir):
    from transformers import AutoModel, AutoTokenizer

    minilm = two_models.for_model("minilm")
    a, b = "A man is playing a guitar.", "Someone plays an instrument."
    got = minilm.align(a, b)
    tok = AutoTokenizer.from_pretrained(str(minilm_dir))
    model = AutoModel.from_pretrained(str(minilm_dir)).eval()

    def states(text):
        enc = tok(text, return_tensors="pt")
        with torch.no_grad():
            h = model(**enc).last_hidden_state[0, 1:-1]  # [CLS] … [SEP]
        return tok.convert_ids_to_tokens(enc["input_ids"][0, 1:-1].tolist()), h.numpy()

    (ta, ha), (tb, hb) = states(a), states(b)
    assert got.tokens_a == ta and got.tokens_b == tb
    direct = (ha / np.linalg.norm(ha, axis=1, keepdims=True)) @ (hb / np.linalg.norm(hb, axis=1, keepdims=True)).T
    np.testing.assert_allclose(got.matrix, direct, atol=1e-5)
    assert got.best_b == list(direct.argmax(axis=1)) and got.best_a == list(direct.argmax(axis=0))
    assert got.recall == pytest.approx(direct.max(axis=1).mean(), abs=1e-6)
    assert got.precision == pytest.approx(direct.max(axis=0).mean(), abs=1e-6)


def test_raw_and_calibrated_verdicts_side_by_side(tiny_encoder, tiny_settings):
    from gte_ui.core.scoring import VerdictBands

    service = EmbeddingService(tiny_encoder, tiny_settings, bands=VerdictBands(high=0.99, mid=0.98, source="calibrated"))
    r = service.pair("你好", "天气很好")
    assert r.default_verdict is not None
    assert r.to_dict()["default_verdict"] == r.default_verdict.zh
    plain = EmbeddingService(tiny_encoder, tiny_settings).pair("你好", "天气很好")
    assert plain.default_verdict is None and "default_verdict" not in plain.to_dict()


def test_comparison_reproduces_each_models_own_evaluation(two_models, tmp_path):
    from gte_ui.core.resources import SAMPLES
    from gte_ui.evaluation.compare import (
        compare_models,
        rank_agreement,
        write_comparison_csv,
    )
    from gte_ui.evaluation.metrics import evaluate, read_pairs

    pairs = read_pairs(SAMPLES / "stsb_en_300.tsv")
    pairs = type(pairs)(pairs.a[:40], pairs.b[:40], pairs.labels[:40], pairs.name)
    comparison = compare_models(two_models.models(), pairs)
    assert [r.model for r in comparison.rows] == [s.name for s in two_models.models()]
    for row, service in zip(comparison.rows, two_models.models()):
        alone = evaluate(service, pairs)
        assert row.result.spearman == alone.spearman and row.result.pearson == alone.pearson
        assert row.sentences_per_s > 0 and row.memory_bytes and row.memory_bytes > 0
    csv_text = write_comparison_csv(comparison, tmp_path / "c.csv").read_text(encoding="utf-8-sig")
    assert csv_text.splitlines()[0].startswith("model,precision,n,spearman") and len(csv_text.splitlines()) == 3
    tau = rank_agreement({"x": [0.1, 0.5, 0.9], "y": [0.2, 0.4, 0.8], "z": [0.9, 0.5, 0.1]})
    assert tau[("x", "y")] == pytest.approx(1.0) and tau[("x", "z")] == pytest.approx(-1.0)


def test_every_route_answers_with_the_model_it_names(two_model_server, minilm_dir):
    import requests
    from sentence_transformers import SentenceTransformer

    url = two_model_server.url
    default = two_model_server.service
    listed = requests.get(url + "/v1/models", timeout=30).json()["data"]
    assert [(m["id"], m["dimensions"], m["default"]) for m in listed] == [(default.name, default.dim, True),
                                                                          ("minilm", 384, False)]
    texts = ["A man is playing a guitar.", "Someone plays an instrument."]
    reference = SentenceTransformer(str(minilm_dir), device="cpu").encode(texts, normalize_embeddings=True)
    oa = requests.post(url + "/v1/embeddings", json={"input": texts, "model": "minilm"}, timeout=60).json()
    assert oa["model"] == "minilm"
    np.testing.assert_allclose([d["embedding"] for d in oa["data"]], reference, atol=1e-5)
    tei = requests.post(url + "/embed", json={"inputs": texts, "model": "minilm"}, timeout=60).json()
    np.testing.assert_allclose(tei, reference, atol=1e-5)
    plain = requests.post(url + "/embed", json={"inputs": texts}, timeout=60).json()
    assert len(plain[0]) == default.dim != 384
    pair = requests.post(url + "/similarity", json={"sentence_a": texts[0], "sentence_b": texts[1],
                                                   "model": "minilm"}, timeout=60).json()
    assert pair["similarity"] == pytest.approx(float(reference[0] @ reference[1]), abs=1e-5)
    scores = requests.post(url + "/similarity", json={"inputs": {"source_sentence": texts[0], "sentences": [texts[1]]},
                                                      "model": "minilm"}, timeout=60).json()
    assert scores == [pytest.approx(float(reference[0] @ reference[1]), abs=1e-5)]
    health = requests.get(url + "/health", timeout=30).json()
    assert [m["name"] for m in health["models"]] == [default.name, "minilm"]
    assert all(str(minilm_dir) not in str(m) for m in health["models"])


def test_the_legacy_predict_route_takes_the_model_too(two_model_server, minilm_dir):
    """/api/predict (the articles' Gradio-3 shape) takes an optional "model" beside "data"."""
    import requests
    from sentence_transformers import SentenceTransformer

    url = two_model_server.url + "/api/predict"
    texts = ["A man is playing a guitar.", "Someone plays an instrument."]
    reference = SentenceTransformer(str(minilm_dir), device="cpu").encode(texts, normalize_embeddings=True)
    vector = requests.post(url, json={"data": [texts[0], ""], "model": "minilm"}, timeout=60).json()["data"]
    np.testing.assert_allclose(vector, reference[0], atol=1e-5)
    scores = requests.post(url, json={"data": texts, "model": "minilm"}, timeout=60).json()["data"]
    assert scores == [pytest.approx(float(reference[0] @ reference[1]), abs=1e-5)]
    default = requests.post(url, json={"data": [texts[0], ""]}, timeout=60).json()["data"]
    assert len(default) == two_model_server.service.dim != 384
    bad = requests.post(url, json={"data": [texts[0], ""], "model": 3}, timeout=30)
    assert bad.status_code == 422 and "model" in bad.json()["error"]


def test_api_answers_carry_unknown_token_ratios_and_warnings(live_server):
    """Over HTTP, not only in the service's result: /similarity (the pair shape) and
    /v1/embeddings carry unknown_token_ratio per text and the warning naming the characters."""
    import requests

    url = live_server.url
    pair = requests.post(url + "/similarity", json={"sentence_a": "你好🙂", "sentence_b": "你好"}, timeout=60).json()
    assert pair["unknown_token_ratio"] == [pytest.approx(1 / 3, abs=1e-4), 0.0]
    assert len(pair["warnings"]) == 1 and "🙂" in pair["warnings"][0] and "33%" in pair["warnings"][0]
    assert " / " in pair["warnings"][0]  # 中文 / English
    assert pair["model"] == live_server.service.name and pair["bands"]["source"]
    quiet = requests.post(url + "/similarity", json={"sentence_a": "你好", "sentence_b": "天气很好"}, timeout=60).json()
    assert quiet["warnings"] == [] and quiet["unknown_token_ratio"] == [0.0, 0.0]
    oa = requests.post(url + "/v1/embeddings", json={"input": ["齉齉", "你好"], "model": "x"}, timeout=60).json()
    assert oa["unknown_token_ratio"] == [1.0, 0.0]
    assert len(oa["warnings"]) == 1 and "齉" in oa["warnings"][0]


def test_the_pair_route_carries_the_fixed_band_verdict_beside_the_calibrated_one(tiny_encoder, tiny_settings):
    import requests
    from conftest import LiveServer

    from gte_ui.core.scoring import VerdictBands
    from gte_ui.server import create_app

    service = EmbeddingService(tiny_encoder, tiny_settings, bands=VerdictBands(high=0.99, mid=0.98, source="calibrated"))
    expected = service.pair("你好", "天气很好")
    with LiveServer(create_app(service, tiny_settings)) as server:
        got = requests.post(server.url + "/similarity", json={"sentence_a": "你好", "sentence_b": "天气很好"},
                            timeout=60).json()
    assert got["bands"] == {"high": 0.99, "mid": 0.98, "source": "calibrated"}
    assert (got["verdict"], got["default_verdict"]) == (expected.verdict.zh, expected.default_verdict.zh)
    assert got["default_verdict_en"] == expected.default_verdict.en


def test_an_unknown_model_is_404_on_every_route(two_model_server):
    import requests

    url = two_model_server.url
    for path, body in [("/v1/embeddings", {"input": "x", "model": "gte-huge"}),
                       ("/embed", {"inputs": "x", "model": "gte-huge"}),
                       ("/similarity", {"sentence_a": "a", "sentence_b": "b", "model": "gte-huge"})]:
        r = requests.post(url + path, json=body, timeout=30)
        assert r.status_code == 404, path
        assert "minilm" in r.text and "gte-huge" in r.text
    assert requests.get(url + "/health", timeout=30).status_code == 200  # still serving


def test_gradio_endpoints_take_the_model(two_model_server, minilm_dir):
    from gradio_client import Client

    client = Client(two_model_server.url + "/", verbose=False)
    res = client.predict(texts="A man is playing a guitar.", model="minilm", api_name="/embed")
    assert res["dim"] == 384 and res["model"] == "minilm"
    al = client.predict(sentence_a="A man is playing a guitar.", sentence_b="A man plays guitar.", model="minilm",
                        api_name="/align")
    assert al["tokens_a"][:2] == ["a", "man"] and len(al["matrix"]) == len(al["tokens_a"])


def test_serverless_takes_the_model(tiny_model_dir, minilm_dir, monkeypatch):
    import json

    from gte_ui.frontends import serverless

    monkeypatch.setenv("GTE_MODEL", str(tiny_model_dir))
    monkeypatch.setenv("GTE_MODELS", f"minilm={minilm_dir}")
    monkeypatch.setenv("GTE_PRECISION", "fp32")
    monkeypatch.setattr(serverless, "_SERVICE", None)
    try:
        res = serverless.handler({"httpMethod": "POST", "path": "/embed",
                                  "body": json.dumps({"texts": ["hello"], "model": "minilm"})}, None)
        assert res["statusCode"] == 200 and json.loads(res["body"])["dim"] == 384
        res = serverless.handler({"httpMethod": "POST", "path": "/embed",
                                  "body": json.dumps({"texts": ["hello"], "model": "nope"})}, None)
        assert res["statusCode"] == 404
    finally:
        if serverless._SERVICE is not None:
            serverless._SERVICE.close()
        monkeypatch.setattr(serverless, "_SERVICE", None)


# ------------------------------------------------------------------ the UI's callbacks (no browser)
TEXT_OPTIONS = (False, False, False, "truncate")


def test_ui_compares_every_model_on_a_pair(two_models):
    from gte_ui.frontends.ui.common import COMPARE, model_choices
    from gte_ui.frontends.ui.tabs import pairwise

    assert model_choices(two_models) == [two_models.name, "minilm", COMPARE]
    md, fig = pairwise.on_pair(two_models, "A man is playing a guitar.", "Someone plays an instrument.",
                               *TEXT_OPTIONS, COMPARE)
    expected = [s.pair("A man is playing a guitar.", "Someone plays an instrument.").score for s in two_models.models()]
    assert list(fig.data[0].y) == pytest.approx(expected) and list(fig.data[0].x) == [two_models.name, "minilm"]
    assert "minilm" in md and f"{expected[1]:.4f}" in md
    single_md, gauge = pairwise.on_pair(two_models, "A man is playing a guitar.", "Someone plays an instrument.",
                                        *TEXT_OPTIONS, "minilm")
    assert f"{expected[1]:.4f}" in single_md and gauge.data[0].type == "indicator"


def test_ui_warns_about_unknown_characters_and_shows_the_alignment(two_models):
    from gte_ui.frontends.ui.tabs import pairwise

    md, _ = pairwise.on_pair(two_models, "你好🙂", "你好", *TEXT_OPTIONS, "")
    assert "⚠️" in md and "🙂" in md and "33%" in md
    summary, fig = pairwise.on_align(two_models, "A man is playing a guitar.", "A man plays guitar.", "minilm")
    al = two_models.for_model("minilm").align("A man is playing a guitar.", "A man plays guitar.")
    assert f"F1 {al.f1:.3f}" in summary
    np.testing.assert_allclose(fig.data[0].z, al.matrix, atol=1e-9)


def test_ui_ranking_compare_has_a_column_per_model_and_kendall_tau(two_models):
    from gte_ui.evaluation.compare import rank_agreement
    from gte_ui.frontends.ui.common import COMPARE
    from gte_ui.frontends.ui.tabs import ranking, vector

    cands = ["A woman plays a violin.", "Stock markets fell.", "Someone plays an instrument."]
    summary, table, fig, csv_path = ranking.on_rank(two_models, "A man is playing a guitar.", "\n".join(cands),
                                                    None, 0, *TEXT_OPTIONS, COMPARE)
    assert len(fig.data) == 2
    scores = {s.name: s.rank("A man is playing a guitar.", cands).scores for s in two_models.models()}
    assert list(table["minilm 得分 score"]) == pytest.approx([round(x, 4) for x in scores["minilm"]])
    with open(csv_path, encoding="utf-8-sig", newline="") as f:  # the download: the same columns, 6 decimals
        rows = list(csv.reader(f))
    assert rows[0] == ["index", "text", f"{two_models.name} score", f"{two_models.name} rank", "minilm score", "minilm rank"]
    assert [r[1] for r in rows[1:]] == cands
    assert [float(r[4]) for r in rows[1:]] == pytest.approx(scores["minilm"], abs=1e-6)
    assert [int(r[5]) for r in rows[1:]] == list(table["minilm 名次 rank"])
    tau = rank_agreement(scores)[(two_models.name, "minilm")]
    assert f"τ = {tau:.3f}" in summary
    out = vector.on_vectors(two_models, "hello", *TEXT_OPTIONS, COMPARE, progress=None)
    assert out[0].startswith("⚠️") and "pick one model" in out[0]


def test_ui_evaluate_compares_every_model_into_one_table_and_csv(two_models):
    from gte_ui.frontends.ui.common import COMPARE
    from gte_ui.frontends.ui.tabs import evaluate

    md, fig, files, state = evaluate.on_evaluate(two_models, None, "stsb_en_300.tsv", "", 30, COMPARE, progress=None)
    assert "minilm" in md and two_models.name in md and len(fig.data) == 2
    rows = open(files[0], encoding="utf-8-sig").read().splitlines()
    assert rows[0].startswith("model,precision") and len(rows) == 3 and state == {}


def test_ui_gauge_shows_the_raw_cosine_in_the_calibrated_bands_with_both_verdicts(tiny_encoder, tiny_settings):
    """Where calibrated bands exist, the gauge's coloured bands are the calibrated thresholds, its
    needle the raw cosine, and the text names both verdicts (calibrated, and under 0.75 / 0.50)."""
    from gte_ui.core.scoring import VerdictBands
    from gte_ui.frontends.ui.tabs import pairwise

    service = EmbeddingService(tiny_encoder, tiny_settings, bands=VerdictBands(high=0.99, mid=0.98, source="calibrated"))
    r = service.pair("你好", "天气很好")
    assert r.verdict != r.default_verdict  # the two band sets disagree on this pair
    md, gauge = pairwise.on_pair(service, "你好", "天气很好", *TEXT_OPTIONS, "")
    for verdict in (r.verdict, r.default_verdict):
        assert verdict.zh in md and verdict.en in md
    assert "calibrated" in md and "0.75 / 0.50" in md
    g = gauge.data[0]
    assert g.value == pytest.approx(r.percent)  # the service's percent: the headline shows the same (issue 30.8)
    assert [tuple(step["range"]) for step in g.gauge.steps] == [(0, 98.0), (98.0, 99.0), (99.0, 100)]
