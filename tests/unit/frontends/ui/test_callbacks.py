"""Each tab's callbacks, called as plain functions with the real tiny-BERT service (no browser).

Every callback must answer bad input with a warning and a message in its first output, never an
exception: a raising Gradio callback leaves the page stuck.
"""

from __future__ import annotations

import json
import threading
from pathlib import Path

import gradio as gr
import numpy as np
import plotly.graph_objects as go
import pytest

from gte_ui.core.bands import load_bands
from gte_ui.core.scoring import VerdictBands, verdict
from gte_ui.core.settings import parse_settings
from gte_ui.frontends.ui.app import build_demo, header_html
from gte_ui.frontends.ui.common import INTERNAL_ERROR
from gte_ui.frontends.ui import views
from gte_ui.frontends.ui.tabs import about, evaluate, matrix, pairwise, ranking, vector
from gte_ui.service.service import EmbeddingService

OPTIONS = (False, False, False, "truncate")  # 繁→简, NFKC, whitespace, long texts
SOURCE = "这款手机电池续航很强"
CANDS = ["手机电量很耐用", "充电速度特别快", "电池容量大，用一天没问题"]


@pytest.fixture(autouse=True)
def uploads_in_tmp_path(monkeypatch, tmp_path):
    """Files a test writes to its tmp_path count as uploads (Gradio's upload folder), as the page's
    do: the tabs open no other path (tests/e2e/http/test_security_boundary.py proves the refusal)."""
    monkeypatch.setenv("GRADIO_TEMP_DIR", str(tmp_path))


def refused(call, fragment: str):
    """Run a callback that must refuse: a UserWarning (gr.Warning outside a request) and the message."""
    with pytest.warns(UserWarning, match=fragment):
        out = call()
    first = out[0] if isinstance(out, tuple) else out
    assert first.startswith("⚠️") and fragment in first
    return out


# ------------------------------------------------------------------ pairwise
def test_pair_scores_like_the_service_and_never_says_cached(tiny_service):
    text, gauge = pairwise.on_pair(tiny_service, "今天天气很好", "我想借钱", *OPTIONS)
    expected = tiny_service.pair("今天天气很好", "我想借钱")
    assert text.startswith(f"### {expected.score:.4f}") and expected.verdict.zh in text
    assert "ms" in text and "From cache" not in text  # the first call ran the model
    assert gauge.data[0].value == pytest.approx(expected.percent, abs=0.05)
    again, _ = pairwise.on_pair(tiny_service, "今天天气很好", "我想借钱", *OPTIONS)
    # a repeat is served from the cache, but the answer must not say so (issue 26): it would tell
    # a visitor that someone sent these texts; and a sub-millisecond time reads "< 1 ms", not "0 ms"
    assert "From cache" not in again and "缓存" not in again and "0 ms" not in again


def test_pair_bad_input_keeps_a_figure(tiny_service):
    text, gauge = refused(lambda: pairwise.on_pair(tiny_service, "   ", "我想借钱", *OPTIONS), "sentence A is empty")
    assert isinstance(gauge, go.Figure)  # the score text is shown once a figure is drawn (style.css)
    refused(lambda: pairwise.on_pair(tiny_service, "好", None, *OPTIONS), "sentence B must be a string")
    too_long = "长" * (tiny_service.settings.max_chars + 1)
    refused(lambda: pairwise.on_pair(tiny_service, too_long, "好", *OPTIONS), "the limit is")
    refused(lambda: pairwise.on_pair(tiny_service, "好", "坏", False, False, False, "summarise"),
            "long_text must be one of")


def test_swap():
    assert pairwise.on_swap("甲", "乙") == ("乙", "甲")


# ------------------------------------------------------------------ ranking
def test_rank_matches_the_service_and_writes_csv(tiny_service):
    summary, rows, bars, csv_path = ranking.on_rank(tiny_service, SOURCE, "\n".join(CANDS), None, 0, *OPTIONS)
    expected = tiny_service.rank(SOURCE, CANDS)
    assert "3 个候选" in summary
    assert list(rows.columns) == views.RANK_COLUMNS
    assert list(rows[views.RANK_COLUMNS[4]]) == [r.text for r in expected.rows]
    assert list(bars.data[0].x) == pytest.approx([r.score for r in expected.rows])
    assert Path(csv_path).read_text(encoding="utf-8-sig").splitlines()[1].split(",")[5] == expected.rows[0].text
    _, top, _, _ = ranking.on_rank(tiny_service, SOURCE, "\n".join(CANDS), None, 2, *OPTIONS)
    assert len(top) == 2


def test_rank_upload_wins_and_big_inputs_warm_the_cache(tiny_service, tmp_path):
    upload = tmp_path / "cands.txt"
    lines = [f"候选句子{i}" for i in range(150)]  # over the 64-text warm-up chunk
    upload.write_text("\n".join(lines), encoding="gb18030")
    summary, rows, _, _ = ranking.on_rank(tiny_service, SOURCE, "ignored", str(upload), 0, *OPTIONS,
                                          progress=gr.Progress())
    assert "150 个候选" in summary and set(rows[views.RANK_COLUMNS[4]]) == set(lines)
    assert tiny_service.cache.stats()["hits"] >= 150  # the ranking itself read the warmed cache


def test_rank_bad_inputs(tiny_service, tmp_path):
    refused(lambda: ranking.on_rank(tiny_service, SOURCE, "\n \n", None, 0, *OPTIONS), "no candidates given")
    refused(lambda: ranking.on_rank(tiny_service, "", "a", None, 0, *OPTIONS), "source is empty")
    refused(lambda: ranking.on_rank(tiny_service, SOURCE, "a", None, "lots", *OPTIONS), "top-k must be a number")
    binary = tmp_path / "x.txt"
    binary.write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00")
    out = refused(lambda: ranking.on_rank(tiny_service, SOURCE, "", str(binary), 0, *OPTIONS), "binary file")
    assert out[1:] == (None, None, None)
    many = "\n".join(f"c{i}" for i in range(tiny_service.settings.max_candidates + 1))
    refused(lambda: ranking.on_rank(tiny_service, SOURCE, many, None, 0, *OPTIONS), "the limit is")


# ------------------------------------------------------------------ vector
def test_vector_json_is_pretty_and_exact(tiny_service):
    summary, text, files = vector.on_vectors(tiny_service, "今天天气很好\n我想借钱", *OPTIONS)
    expected = tiny_service.embed(["今天天气很好", "我想借钱"]).vectors
    data = json.loads(text)
    assert [d["text"] for d in data] == ["今天天气很好", "我想借钱"]
    np.testing.assert_allclose([d["vector"] for d in data], expected, atol=1e-6)
    assert max(len(line) for line in text.splitlines()) <= 120  # no sideways scrolling
    assert len(text.splitlines()) > 2 * tiny_service.dim / 8
    assert sorted(Path(f).name for f in files) == ["vectors.csv", "vectors.json", "vectors.npy"]
    np.testing.assert_allclose(np.load(next(f for f in files if f.endswith(".npy"))), expected, atol=1e-6)
    assert f"dimension **{tiny_service.dim}**" in summary


def test_vector_bad_inputs(tiny_service):
    refused(lambda: vector.on_vectors(tiny_service, "", *OPTIONS), "no texts given")
    many = "\n".join(f"t{i}" for i in range(tiny_service.settings.max_texts + 1))
    refused(lambda: vector.on_vectors(tiny_service, many, *OPTIONS), "the limit is")


# ------------------------------------------------------------------ matrix
def test_matrix_hover_shows_full_texts(tiny_service):
    long_text = "这是一个非常非常长的句子，" * 6
    texts = [long_text, "今天天气很好", "我想借钱"]
    note, fig, csv_path = matrix.on_matrix(tiny_service, "\n".join(texts), *OPTIONS)
    heat = fig.data[0]
    assert note.startswith("3 × 3") and Path(csv_path).is_file()
    assert "…" in heat.x[0]  # the axis label is cut …
    hover_row = heat.customdata[0][1]
    assert hover_row[0].replace("<br>", "") == f"1. {long_text}"  # … the hover is not
    assert hover_row[1] == "2. 今天天气很好" and "%{customdata[0]}" in heat.hovertemplate
    np.testing.assert_allclose(heat.z, tiny_service.matrix(texts).scores, atol=1e-6)


def test_matrix_bad_inputs(tiny_service):
    refused(lambda: matrix.on_matrix(tiny_service, "只有一条", *OPTIONS), "at least 2 texts")
    many = "\n".join(f"t{i}" for i in range(tiny_service.settings.max_matrix + 1))
    refused(lambda: matrix.on_matrix(tiny_service, many, *OPTIONS), "the limit is")


# ------------------------------------------------------------------ evaluate + calibration
def test_evaluate_a_sample_and_an_upload(tiny_service, tmp_path):
    summary, fig, files, state = evaluate.on_evaluate(tiny_service, None, "atec_300.tsv", "", 40)
    assert "40 pairs" in summary and "Spearman" in summary and isinstance(fig, go.Figure)
    assert state["result"].n == 40 and {Path(f).suffix for f in files} == {".json", ".csv"}
    upload = tmp_path / "mine.tsv"
    upload.write_text("s1\ts2\tlabel\n今天天气很好\t今天天气不错\t1\n我想借钱\t股票跌了\t0\n"
                      "手机电量很耐用\t电池续航很强\t1\n我想借钱\t天气很好\t0\n", encoding="utf-8")
    summary, _, _, state = evaluate.on_evaluate(tiny_service, str(upload), None, "", 0)
    assert "mine.tsv · 4 pairs" in summary and state["name"] == "mine.tsv"


def test_evaluate_bad_inputs(tiny_service, tmp_path):
    refused(lambda: evaluate.on_evaluate(tiny_service, None, None, "", 0), "upload a TSV/CSV")
    # the dropdown's value comes from the client: never a path outside the shipped samples
    out = refused(lambda: evaluate.on_evaluate(tiny_service, None, "../../../../etc/passwd", "", 0), "unknown sample")
    assert out[1:] == (None, None, None)
    junk = tmp_path / "junk.tsv"
    junk.write_text("a\tb\n", encoding="utf-8")
    with pytest.warns(UserWarning):
        assert evaluate.on_evaluate(tiny_service, str(junk), None, "", 0)[0].startswith("⚠️")
    big = tmp_path / "big.tsv"
    big.write_bytes(b"x" * (tiny_service.settings.max_upload_bytes + 1))
    refused(lambda: evaluate.on_evaluate(tiny_service, str(big), None, "", 0), "bytes")


def test_calibration_is_off_without_authority(tiny_encoder, tiny_settings, tmp_path):
    service = EmbeddingService(tiny_encoder, tiny_settings.replace(calibration_dir=str(tmp_path)))
    before = service.bands
    state = evaluate.on_evaluate(service, None, "atec_300.tsv", "", 0)[3]
    refused(lambda: evaluate.on_calibrate(service, state), "--allow-calibration")
    assert service.bands is before and not list(tmp_path.iterdir())
    button = _component(build_demo(service), "btn-calibrate")
    assert button.interactive is False and "off" in button.value


@pytest.mark.parametrize("changes", [{"allow_calibration": True}, {"auth": "admin:secret"}])
def test_calibration_with_authority_saves_and_applies(tiny_encoder, tiny_settings, tmp_path, changes):
    service = EmbeddingService(tiny_encoder, tiny_settings.replace(calibration_dir=str(tmp_path), **changes))
    refused(lambda: evaluate.on_calibrate(service, None), "run an evaluation first")
    state = evaluate.on_evaluate(service, None, "atec_300.tsv", "", 0)[3]
    note = evaluate.on_calibrate(service, state)
    assert note.startswith("✔") and service.bands.source.startswith("calibrated on atec_300.tsv")
    saved = load_bands(tiny_settings.model, tmp_path)
    assert (saved.high, saved.mid) == (service.bands.high, service.bands.mid)
    assert str(tmp_path) not in note  # the file's name, not the server's path
    assert pairwise.on_pair(service, "好", "坏", *OPTIONS)[0].count(f"> {service.bands.high:.2f}") == 1
    assert _component(build_demo(service), "btn-calibrate").interactive is True


def test_allow_calibration_setting_and_env():
    assert not parse_settings([], env={}).calibration_allowed
    assert parse_settings(["--allow-calibration"], env={}).calibration_allowed
    assert parse_settings([], env={"GTE_ALLOW_CALIBRATION": "1"}).calibration_allowed
    assert not parse_settings([], env={"GTE_ALLOW_CALIBRATION": "0"}).calibration_allowed
    assert parse_settings(["--auth", "u:p"], env={}).calibration_allowed


def test_set_bands_is_one_consistent_swap(tiny_encoder, tiny_settings, tmp_path):
    """Concurrent saves and scoring: every answer's verdict matches the bands it reports, and the
    file on disk holds the bands in use."""
    service = EmbeddingService(tiny_encoder, tiny_settings.replace(calibration_dir=str(tmp_path)))
    candidates = [VerdictBands(high=0.5 + i / 100, mid=0.1 + i / 100, source=f"t{i}") for i in range(20)]
    results, errors = [], []

    def save(bands):
        try:
            service.set_bands(bands)
        except Exception as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    def score():
        for _ in range(20):
            results.append(service.pair("今天天气很好", "我想借钱"))

    threads = [threading.Thread(target=save, args=(b,)) for b in candidates] + [threading.Thread(target=score)
                                                                                for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors and len(results) == 60
    assert all(r.verdict == verdict(r.score, r.bands) for r in results)
    on_disk = load_bands(tiny_settings.model, tmp_path)
    assert (on_disk.high, on_disk.mid) == (service.bands.high, service.bands.mid)
    with pytest.raises(Exception, match="VerdictBands"):
        service.set_bands({"high": 0.9, "mid": 0.1})


# ------------------------------------------------------------------ about + header
def test_about_uses_this_servers_address_and_no_path(tiny_service, tiny_model_dir):
    text = about.on_about(tiny_service, gr.Request(headers={"host": "gte.example.org:8123"}))
    assert 'requests.post("http://gte.example.org:8123/api/predict"' in text and ":7860" not in text
    assert str(tiny_model_dir) not in text and f"`{tiny_model_dir.name}`" in text
    behind_proxy = gr.Request(headers={"host": "10.0.0.5:7860", "x-forwarded-host": "me-gte.hf.space",
                                       "x-forwarded-proto": "https"})
    assert "https://me-gte.hf.space/v1/embeddings" in about.on_about(tiny_service, behind_proxy)
    # a Host header that could break out of the code block falls back to the configured address
    hostile = gr.Request(headers={"host": "x```\n<script>"})
    assert "http://127.0.0.1:7860/api/predict" in about.on_about(tiny_service, hostile)


def test_about_never_raises(tiny_encoder, tiny_settings, monkeypatch):
    # counters show behind credentials only (an open page shows no one's traffic)
    keyed = EmbeddingService(tiny_encoder, tiny_settings.replace(api_key="k"))
    assert "hit rate" in about.on_about(keyed, gr.Request(headers={}))
    monkeypatch.setattr(keyed, "stats", lambda: {})  # counters missing: a message, not a stuck tab
    refused(lambda: about.on_about(keyed, gr.Request(headers={})), INTERNAL_ERROR)


def test_base_url_from_settings(tiny_settings):
    assert about.base_url(tiny_settings.replace(host="0.0.0.0", port=9001)) == "http://127.0.0.1:9001"
    assert about.base_url(tiny_settings.replace(host="::1", port=80)) == "http://[::1]:80"
    assert about.base_url(tiny_settings.replace(host="gte.lan", port=8000), None) == "http://gte.lan:8000"


def test_header_shows_the_folder_name_not_its_path(tiny_service, tiny_model_dir):
    header = header_html(tiny_service)
    assert tiny_model_dir.name in header and str(tiny_model_dir) not in header


def test_unexpected_errors_become_a_message(tiny_service, monkeypatch):
    def broken(*args, **kwargs):
        raise RuntimeError("/secret/internal/path exploded")

    monkeypatch.setattr(tiny_service, "matrix", broken)
    out = refused(lambda: matrix.on_matrix(tiny_service, "a\nb", *OPTIONS), INTERNAL_ERROR)
    assert "/secret" not in out[0]


def _component(demo: gr.Blocks, elem_id: str):
    return next(b for b in demo.blocks.values() if getattr(b, "elem_id", None) == elem_id)


def test_alignment_follows_the_pair_shown(tiny_service):
    """Issue 30.3: after a new score the open alignment panel shows the new pair's F1 (or says
    why there is none), never the previous pair's; unused, it stays empty."""
    assert pairwise.on_follow_alignment(tiny_service, "你好", "你们好", "", False) == ("", None)
    md, fig = pairwise.on_follow_alignment(tiny_service, "今天天气很好", "我们去公园散步", "", True)
    f1 = tiny_service.align("今天天气很好", "我们去公园散步").f1
    assert f"F1 {f1:.3f}" in md and isinstance(fig, go.Figure)
    md, fig = pairwise.on_follow_alignment(tiny_service, "   ", "我们去公园散步", "", True)
    assert md.startswith("⚠️") and "sentence A is empty" in md and fig is None


def test_layout_slips_of_issue_30_8(tiny_service):
    """The Options title says what is on; the Vector button names the chosen width; the
    truncation warning is bilingual and promises no score; plots carry no label badge over their
    axes; without a reranker the Rerank tab has no empty columns or chart."""
    from gte_ui.frontends.ui.app import options_title
    from gte_ui.frontends.ui.tabs import rerank

    assert "all off" in options_title(False, False, False, "truncate", "truncate")
    on = options_title(True, False, False, "chunk", "truncate")
    assert "繁→简" in on and "chunk" in on and "全角" not in on
    assert "64 维" in vector.button_label(64) and "32" not in vector.button_label(64)
    summary, _json, _files = vector.on_vectors(tiny_service, "今天天气很好", *OPTIONS, dimensions=8, progress=None)
    assert "未为截断训练" in summary and "score" not in summary
    demo = build_demo(tiny_service)
    plots = [b for b in demo.blocks.values() if isinstance(b, gr.Plot)]
    assert plots and all(p.show_label is False for p in plots)
    assert next(p for p in plots if p.elem_id == "rr-plot").visible is False
    table = next(b for b in demo.blocks.values() if getattr(b, "elem_id", None) == "rr-table")
    assert table.headers == rerank.EMBEDDING_COLUMNS
