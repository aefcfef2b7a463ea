"""evaluation/compare.py: several models judged on the same pairs, each exactly as alone; Kendall's τ."""

from __future__ import annotations

import csv

import pytest

from gte_ui.core.pairs import LabelledPairs
from gte_ui.evaluation.compare import (
    compare_models,
    rank_agreement,
    write_comparison_csv,
)
from gte_ui.evaluation.metrics import evaluate
from gte_ui.service.service import EmbeddingService

A = ["今天天气很好", "我想借钱", "这款手机电池续航很强", "快递明天到", "充电速度特别快", "北京今天下雪了"]
B = ["今天天气不错", "电池容量大", "手机电量很耐用", "明天会下雨吗", "充电很快", "上海下雨了"]
PAIRS = LabelledPairs(A, B, [1.0, 0.0, 1.0, 0.0, 1.0, 0.0], "crafted")


@pytest.fixture()
def two_services(tiny_encoder, tiny_settings, tiny_model_dir, tmp_path_factory):
    """The tiny model, and a second tiny model (another seed) under its own name."""
    from gte_ui.core.settings import Settings
    from gte_ui.engine.encoder import Encoder
    from gte_ui.testing.toymodel import build_random_bert

    folder = build_random_bert(tmp_path_factory.mktemp("seed7") / "tiny7", "tiny", seed=7)
    other = EmbeddingService(Encoder.load(Settings(model=str(folder), device="cpu", precision="fp32")), name="seed7")
    return [EmbeddingService(tiny_encoder, tiny_settings), other]


def test_each_row_is_that_models_own_evaluation(two_services):
    steps = []
    comparison = compare_models(two_services, PAIRS, progress=lambda f, d: steps.append((f, d)))
    assert comparison.name == "crafted" and [r.model for r in comparison.rows] == [s.name for s in two_services]
    for row, service in zip(comparison.rows, two_services):
        alone = evaluate(service, PAIRS)
        assert (row.result.spearman, row.result.auc) == (alone.spearman, alone.auc)
        assert row.precision == "fp32" and row.sentences_per_s > 0 and row.seconds >= 0
    assert comparison.rows[0].result.spearman != comparison.rows[1].result.spearman  # two models really
    fractions = [f for f, _ in steps]
    assert fractions == sorted(fractions) and fractions[-1] <= 1.0
    first = two_services[0].name + ": "
    assert all(f <= 0.5 for f, d in steps if d.startswith(first))  # the first model fills the first half
    assert all(f >= 0.5 for f, d in steps if d.startswith("seed7: ")) and any(d.startswith("seed7: ") for _, d in steps)


def test_the_csv_has_one_row_per_model(two_services, tmp_path):
    comparison = compare_models(two_services, PAIRS)
    path = write_comparison_csv(comparison, tmp_path / "c.csv")
    with open(path, encoding="utf-8-sig", newline="") as f:
        rows = list(csv.DictReader(f))
    assert [r["model"] for r in rows] == [s.name for s in two_services]
    assert float(rows[1]["spearman"]) == pytest.approx(comparison.rows[1].result.spearman)
    assert comparison.to_dict()["models"][0]["model"] == two_services[0].name


def test_rank_agreement_is_kendalls_tau_for_every_two_models():
    tau = rank_agreement({"x": [0.1, 0.5, 0.9], "y": [0.2, 0.4, 0.8], "z": [0.9, 0.5, 0.1], "c": [0.3, 0.3, 0.3]})
    assert set(tau) == {("x", "y"), ("x", "z"), ("x", "c"), ("y", "z"), ("y", "c"), ("z", "c")}
    assert tau[("x", "y")] == pytest.approx(1.0) and tau[("x", "z")] == pytest.approx(-1.0)
    assert tau[("x", "c")] == 1.0  # constant scores: no disagreement, not NaN
    partial = rank_agreement({"p": [1, 2, 3, 4], "q": [1, 3, 2, 4]})[("p", "q")]
    assert partial == pytest.approx(4 / 6)  # one discordant pair of six
