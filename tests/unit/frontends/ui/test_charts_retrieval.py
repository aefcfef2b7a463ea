"""Retrieval evaluation figures (gte_ui.frontends.ui.charts_retrieval): metric bars per model and
stage, the recall@k curve, both in the Evaluate tab's one plot."""

from __future__ import annotations

import pytest

from gte_ui.evaluation.retrieval import METRICS, RetrievalReport, StageResult
from gte_ui.frontends.ui import charts_retrieval


def stage(model: str, stage: str, base: float) -> StageResult:
    metrics = {k: base + i / 100 for i, k in enumerate(METRICS)}
    return StageResult(model=model, stage=stage, reranker="ce" if stage == "rerank" else None, metrics=metrics,
                       recall_curve={1: base, 10: base + 0.2, 100: base + 0.3}, seconds=1.0)


@pytest.fixture()
def report() -> RetrievalReport:
    stages = [stage("gte", "embedding", 0.4), stage("gte", "rerank", 0.5), stage("bge", "embedding", 0.3)]
    return RetrievalReport(name="toy", layout="beir", queries=3, documents=10, judgements=4, top_k=100, stages=stages)


def test_bars_per_stage_times_100_reranked_hatched_in_its_models_colour(report):
    fig = charts_retrieval.retrieval_bars(report)
    assert [t.name for t in fig.data] == ["gte", "gte + ce", "bge"]
    assert list(fig.data[0].x) == list(METRICS.values())
    assert list(fig.data[1].y) == pytest.approx([(0.5 + i / 100) * 100 for i in range(len(METRICS))])
    assert [t.marker.pattern.shape for t in fig.data] == ["", "/", ""]
    assert fig.data[0].marker.color == fig.data[1].marker.color != fig.data[2].marker.color
    assert fig.data[0].text[0] == "40"  # three stages: whole numbers (narrow bars)


def test_recall_curve_is_each_stages_recall_at_k(report):
    fig = charts_retrieval.recall_curve(report)
    assert list(fig.data[2].x) == [1, 10, 100] and list(fig.data[2].y) == pytest.approx([30.0, 50.0, 60.0])
    assert [t.line.dash for t in fig.data] == ["solid", "dash", "solid"] and fig.layout.xaxis.type == "log"


def test_one_figure_holds_both_and_a_broken_report_is_a_note(report):
    fig = charts_retrieval.retrieval_figure(report)
    assert [t.type for t in fig.data] == ["bar"] * 3 + ["scatter"] * 3
    assert all(t.showlegend is False for t in fig.data[3:])  # one legend entry per stage, from the bars
    assert fig.layout.xaxis2.type == "log"
    broken = RetrievalReport(name="x", layout="beir", queries=0, documents=0, judgements=0, top_k=10,
                             stages=[StageResult("m", "embedding", None, {}, {}, 0.0)])
    assert "Chart unavailable" in charts_retrieval.retrieval_figure(broken).layout.annotations[0].text
