"""评估 Evaluate tab: evaluation of samples and uploads, and saving calibrated verdict bands only
with authority (--auth / --allow-calibration)."""

from __future__ import annotations

from pathlib import Path

import plotly.graph_objects as go
import pytest
from ui_kit import OPTIONS, component, refused

from gte_ui.core.bands import load_bands
from gte_ui.core.resources import SAMPLES
from gte_ui.evaluation import jobs
from gte_ui.frontends.ui.app import build_demo
from gte_ui.frontends.ui.tabs import evaluate, pairwise
from gte_ui.service.service import EmbeddingService


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
    button = component(build_demo(service), "btn-calibrate")
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
    assert component(build_demo(service), "btn-calibrate").interactive is True



def test_a_query_doc_label_file_is_the_rerank_task(tiny_service):
    summary, fig, files, state = evaluate.on_evaluate(tiny_service, None, "rerank_stsb_zh_groups.tsv", "", 5,
                                                      progress=None)
    job = jobs.rerank_job(tiny_service, SAMPLES / "rerank_stsb_zh_groups.tsv", limit=5, out=None, name="x")
    (want,) = job.results  # no --reranker: the embedding model alone
    assert "5 queries" in summary and f"**{want.mrr_at_10 * 100:.2f}**" in summary and "no --reranker" in summary
    assert [t.name for t in fig.data] == ["嵌入 Embedding"]
    assert list(fig.data[0].y) == pytest.approx([want.mrr_at_10 * 100, want.ndcg_at_10 * 100, want.spearman * 100])
    assert files and all(Path(f).is_file() for f in files) and state is None  # nothing to calibrate from
