"""Evaluation on labelled pairs and calibrated verdict bands."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from gte_ui.core.errors import GteError
from gte_ui.core.settings import Settings
from gte_ui.evaluation import metrics as evaluation
from gte_ui.frontends.ui import charts
from gte_ui.service.service import EmbeddingService

ROOT = Path(__file__).resolve().parents[3]
SAMPLES = ROOT / "assets" / "samples"


@pytest.mark.slow
def test_stsb_spearman_equals_the_engine_figure(minilm_dir):
    """The evaluation path gives MiniLM's published STS-B Spearman (as tests/unit/engine/test_minilm.py does)."""
    svc = EmbeddingService.from_settings(Settings(model=str(minilm_dir), precision="fp32", cache_size=0), batching=False)
    pairs = evaluation.read_pairs(ROOT / "tests" / "data" / "stsb_en" / "sts-test.tsv")
    assert len(pairs) == 1379
    seen = []
    result = evaluation.evaluate(svc, pairs, lambda f, d: seen.append(f))
    assert result.spearman == pytest.approx(0.8203, abs=0.001)
    assert not result.binary and result.auc is None and seen[-1] == 1.0
    assert list(result.by_label) == ["0–1", "1–2", "2–3", "3–4", "4–5"]  # binned, not 60 groups
    assert result.by_label["4–5"]["mean"] > result.by_label["0–1"]["mean"]


def test_binary_metrics_match_sklearn():
    from sklearn.metrics import accuracy_score, f1_score, roc_auc_score

    rng = np.random.default_rng(0)
    labels = rng.integers(0, 2, 400).astype(float)
    cos = np.clip(0.6 + 0.2 * labels + rng.normal(0, 0.1, 400), -1, 1)
    r = evaluation.evaluate_scores(cos, labels)
    assert r.binary and r.auc == pytest.approx(roc_auc_score(labels, cos))
    assert r.accuracy == pytest.approx(accuracy_score(labels, cos >= r.best_threshold))
    assert r.f1 == pytest.approx(f1_score(labels, cos >= r.f1_threshold))
    # no other threshold does better (to the 4-decimal grid the search uses)
    assert r.accuracy >= max(accuracy_score(labels, cos >= t) for t in np.linspace(0, 1, 101)) - 1e-9
    assert r.f1 >= max(f1_score(labels, cos >= t) for t in np.linspace(0, 1, 101)) - 1e-9
    from sklearn.metrics import balanced_accuracy_score

    assert r.balanced_accuracy == pytest.approx(balanced_accuracy_score(labels, cos >= r.balanced_threshold))
    assert r.balanced_accuracy >= max(balanced_accuracy_score(labels, cos >= t) for t in np.linspace(0, 1, 101)) - 1e-9


@pytest.mark.parametrize("sample, a0, label0, n", [
    ("atec_300.tsv", "怎么花呗不可以用来生活缴费了呀", 0.0, 300),
    ("stsb_zh_300.tsv", "一个女孩在给她的头发做发型。", 2.0, 300),
    ("stsb_en_300.tsv", "A girl is styling her hair.", 2.5, 300),
])
def test_layouts_are_detected(sample, a0, label0, n):
    pairs = evaluation.read_pairs(SAMPLES / sample)
    assert (pairs.a[0], pairs.labels[0], len(pairs)) == (a0, label0, n)


def test_named_and_indexed_columns(tmp_path):
    f = tmp_path / "p.csv"
    f.write_text('q,doc,rel\n"你好,朋友",您好,1\n再见,拜拜,0\n', encoding="utf-8")
    p = evaluation.read_pairs(f, ["q", "doc", "rel"])
    assert p.a == ["你好,朋友", "再见"] and p.labels == [1.0, 0.0]
    g = tmp_path / "p.tsv"
    g.write_text("x\t你好\t您好\t1\nx\t再见\t拜拜\t0\n", encoding="utf-8")
    assert evaluation.read_pairs(g, ["1", "2", "3"]).b == ["您好", "拜拜"]


@pytest.mark.parametrize("content, columns, fragment", [
    (b"a\tb\t1\nc\td\tnot-a-number\n", ["0", "1", "2"], "row 2: label 'not-a-number' is not a number"),
    (b"foo,bar\n1,2\n", None, "cannot tell which columns"),
    (b"sentence1,sentence2,score\n\"broken,x,1\n", None, "not valid CSV"),
    (b"\x00\x01\x02binary", None, "looks like a binary file"),
    (b"\x81\xff\x80\xfe" * 10, None, "neither UTF-8 nor GB18030"),
    (b"s1\ts2\tlabel\na\tb\t1\n", None, "at least 2 labelled pairs"),
    (b"s1,s2,label\na,b,1\n", ["s1", "s2", "nope"], "has no column 'nope'"),
    (b"a\tb\t1\nc\td\t1\n", None, "every label is the same"),
])
def test_bad_files_are_explained(tmp_path, tiny_service, content, columns, fragment):
    f = tmp_path / "bad.csv"
    f.write_bytes(content)
    with pytest.raises(GteError) as err:
        pairs = evaluation.read_pairs(f, columns)
        evaluation.evaluate(tiny_service, pairs)
    assert fragment in err.value.message and " / " in err.value.message


def test_results_files_and_figure(tiny_service, tmp_path):
    pairs = evaluation.read_pairs(SAMPLES / "atec_300.tsv")
    r = evaluation.evaluate(tiny_service, pairs)
    assert r.binary and 0 <= r.auc <= 1 and r.n == 300
    metrics, per_pair = evaluation.write_results(r, pairs, tmp_path)
    assert json.loads(metrics.read_text())["auc"] == pytest.approx(r.auc)
    assert per_pair.read_text(encoding="utf-8-sig").count("\n") == 301
    fig = charts.evaluation_figure(r)
    assert len(fig.data) == 2 and "ROC-AUC" in evaluation.summary_markdown(r)


def test_graded_labels_are_binned_into_integer_bands():
    """Issue 18.6: STS-B's 0-5 scores (dozens of distinct values) give five bands, in by_label and
    in the box plots alike; the top score 5 falls in the last band."""
    pairs = evaluation.read_pairs(SAMPLES / "stsb_en_300.tsv")
    assert len(set(pairs.labels)) > 20
    rng = np.random.default_rng(1)
    cos = np.clip(np.asarray(pairs.labels) / 5 + rng.normal(0, 0.1, len(pairs)), -1, 1)
    r = evaluation.evaluate_scores(cos, pairs.labels)
    assert list(r.by_label) == ["0–1", "1–2", "2–3", "3–4", "4–5"]
    lab = np.asarray(pairs.labels)
    assert r.by_label["4–5"]["n"] == int(((lab >= 4) & (lab <= 5)).sum())
    assert r.by_label["0–1"]["n"] == int((lab < 1).sum())
    assert sum(g["n"] for g in r.by_label.values()) == len(pairs)
    fig = charts.evaluation_figure(r)
    assert [t.name for t in fig.data] == [f"label {k}" for k in r.by_label]


def test_label_groups_few_values_stay_apart_and_wide_ranges_become_quintiles():
    assert [name for name, _ in evaluation.label_groups([0, 1, 2, 3, 4, 5, 5])] == ["0", "1", "2", "3", "4", "5"]
    wide = np.linspace(0, 100, 101)
    groups = evaluation.label_groups(wide)
    assert len(groups) == 5 and all(19 <= int(m.sum()) <= 22 for _, m in groups)
    assert sum(int(m.sum()) for _, m in groups) == 101
    assert groups[0][0] == "0–20" and groups[-1][0] == "80–100"


def test_imbalanced_binary_reports_majority_baseline_and_balanced_accuracy():
    """Issue 18.7: ATEC-like labels (259 of 300 are 0) and a weak model: the accuracy-best threshold
    only matches the majority baseline, and the summary says so beside the balanced accuracy."""
    from sklearn.metrics import balanced_accuracy_score

    rng = np.random.default_rng(2)
    labels = np.array([0.0] * 259 + [1.0] * 41)
    cos = np.clip(0.8 + 0.01 * labels + rng.normal(0, 0.08, 300), -1, 1)
    r = evaluation.evaluate_scores(cos, labels)
    assert r.majority_baseline == pytest.approx(259 / 300)
    assert r.accuracy_is_baseline and r.accuracy <= r.majority_baseline + evaluation.BASELINE_MARGIN
    assert r.balanced_accuracy == pytest.approx(balanced_accuracy_score(labels, cos >= r.balanced_threshold))
    assert r.balanced_accuracy >= max(balanced_accuracy_score(labels, cos >= t)
                                      for t in np.linspace(0.5, 1, 51)) - 1e-9
    md = evaluation.summary_markdown(r, "atec")
    assert "多数类基线 Majority baseline" in md and f"{259 / 300:.4f}" in md and "平衡准确率 Balanced accuracy" in md
    assert "does no better than always answering the majority label" in md
    text = evaluation.summary_text(r, "atec")
    assert "majority baseline 0.8633" in text and "balanced" in text and "majority label" in text
    metrics = r.to_dict()
    assert metrics["majority_baseline"] == pytest.approx(259 / 300) and "balanced_accuracy" in metrics

    # A model that separates the classes beats the baseline: no warning.
    good = np.clip(0.6 + 0.3 * labels + rng.normal(0, 0.03, 300), -1, 1)
    r = evaluation.evaluate_scores(good, labels)
    assert not r.accuracy_is_baseline and r.accuracy > r.majority_baseline
    assert "majority label" not in evaluation.summary_markdown(r)


def test_columns_message_fits_every_front_end_and_names_the_files_columns():
    with pytest.raises(GteError) as err:
        evaluation.read_pairs(b"foo,bar,baz\nx,y,z\n", name="f.csv")
    message = err.value.message
    assert "foo,bar,baz" in message and "sentence1" not in message
    assert "Columns" in message and "列" in message  # the UI's field, not only the CLI's flag

