"""Evaluate the loaded model on labelled sentence pairs, the way C-MTEB judges GTE.

Input: a TSV/CSV of pairs with a label each — graded scores (0–5, STS-B) or 0/1 (ATEC, LCQMC,
BQ…); columns chosen by name or detected (the sbert STS-B layout, common header names, or the
header-less ``sentence1 TAB sentence2 TAB label`` layout). Output: Spearman and Pearson of cosine
vs label (scipy); for 0/1 labels also ROC-AUC and the best thresholds for accuracy, balanced
accuracy and F1, with the majority-class baseline beside accuracy (scikit-learn); score
distributions per label group (:func:`label_groups`: graded labels are binned, not one group
per distinct score).

``python -m gte_ui evaluate FILE [--columns s1,s2,label] [--out DIR] [--json] [--save-calibration]``
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from gte_ui.core import csvsafe
from gte_ui.core.errors import ErrorType, GteError
from gte_ui.core.pairs import LabelledPairs
from gte_ui.core.scoring import cosine_pairs, pearson, spearman
from gte_ui.core.tables import (
    cells,
    column_index,
    find_column,
    is_number,
    number,
    read_text,
    text_rows,
)

A_NAMES = ("sentence1", "sentence_a", "text_a", "text1", "s1", "query", "句子1", "sent1", "question1")
B_NAMES = ("sentence2", "sentence_b", "text_b", "text2", "s2", "title", "句子2", "sent2", "question2")
LABEL_NAMES = ("score", "label", "labels", "similarity", "gold", "标签", "分数", "relevance")
#: At most this many label groups in ``by_label`` and the box plots (STS-B has 60 distinct scores).
MAX_LABEL_GROUPS = 10
#: Accuracy within this of the majority baseline is reported as no better than the baseline.
BASELINE_MARGIN = 0.005


@dataclass
class Columns:
    a: int
    b: int
    label: int
    header: bool


@dataclass
class EvalResult:
    n: int
    spearman: float
    pearson: float
    binary: bool
    auc: float | None = None
    best_threshold: float | None = None
    accuracy: float | None = None
    #: accuracy of always answering the more frequent label (0/1 labels): what accuracy must beat
    majority_baseline: float | None = None
    balanced_threshold: float | None = None
    balanced_accuracy: float | None = None  # mean of the recalls of 0 and 1: 0.5 = no skill
    f1_threshold: float | None = None
    f1: float | None = None
    by_label: dict[str, dict[str, float]] = field(default_factory=dict)
    unknown_token_share: float = 0.0  # share of the data's tokens the model's vocabulary does not know
    warnings: list[str] = field(default_factory=list)  # e.g. data the model mostly cannot read
    cosines: list[float] = field(default_factory=list, repr=False)
    labels: list[float] = field(default_factory=list, repr=False)

    @property
    def accuracy_is_baseline(self) -> bool:
        """True when the accuracy-best threshold does no better than always answering the majority
        label (imbalanced sets such as ATEC): its accuracy then says nothing about the model."""
        return (self.accuracy is not None and self.majority_baseline is not None
                and self.accuracy <= self.majority_baseline + BASELINE_MARGIN)

    def to_dict(self) -> dict[str, object]:
        """The canonical serialisation: every metric (None where it does not apply), without the
        per-pair cosines and labels."""
        d = asdict(self)
        d.pop("cosines")
        d.pop("labels")
        return d


# --------------------------------------------------------------------------- reading
def read_pairs(source: str | Path | bytes, columns: Sequence[str | int] | None = None,
               name: str = "") -> LabelledPairs:
    """Parse labelled pairs from a path or raw bytes (UTF-8, UTF-16 with BOM, or GB18030).

    Args:
        columns: (sentence A, sentence B, label) as header names or 0-based indices; None: detect.
    Raises:
        GteError: unreadable file, unknown columns, non-numeric labels, fewer than 2 pairs.
    """
    text, name = read_text(source, name)
    rows = text_rows(text, name, strict=True)
    cols = resolve_columns(rows[0][1], columns, name)
    a, b, labels = [], [], []
    for line, row in rows[1:] if cols.header else rows:
        first, second, label = cells(row, (cols.a, cols.b, cols.label), name, line)
        a.append(first)
        b.append(second)
        labels.append(number(label, name, line))
    if len(labels) < 2:
        raise GteError(ErrorType.VALIDATION, "need at least 2 labelled pairs", "至少需要 2 对带标签的句子")
    return LabelledPairs(a, b, labels, name=name)


def resolve_columns(first_row: Sequence[str], columns: Sequence[str | int] | None, name: str = "file") -> Columns:
    """Where sentence A, sentence B and the label are: ``columns`` by name or index, else the
    header's own names (:data:`A_NAMES` …), else the header-less ``A, B, label`` layout."""
    if columns:
        if len(columns) != 3:
            raise GteError(ErrorType.VALIDATION, "columns must be three: sentence A, sentence B, label",
                           "需要三列：句子 A、句子 B、标签")
        idx = [column_index(first_row, c, name) for c in columns]
        by_name = any(isinstance(c, str) and not c.strip().isdigit() for c in columns)
        return Columns(*idx, header=by_name or not is_number(first_row[idx[2]]))
    a, b, label = find_column(first_row, A_NAMES), find_column(first_row, B_NAMES), find_column(first_row, LABEL_NAMES)
    if a is not None and b is not None and label is not None:
        return Columns(a, b, label, header=True)
    if len(first_row) >= 3 and is_number(first_row[2]):
        return Columns(0, 1, 2, header=False)  # C-MTEB / text2vec layout
    example = "0,1,2" if len(first_row) >= 3 else "0,1,2 (the file has fewer than 3 columns)"
    if len(first_row) >= 3 and not any(is_number(c) for c in first_row):  # a header: its own names
        example += " or " + ",".join(c.strip() for c in first_row[:3])
    raise GteError(ErrorType.VALIDATION,
                   f"cannot tell which columns hold sentence A, sentence B and the label (first row: "
                   f"{list(first_row)[:6]}); give the columns (the Columns field, or --columns on the command line) "
                   f"as 0-based indices or header names, e.g. {example}",
                   f"无法识别句子列和标签列：请在“列 Columns”中（命令行用 --columns）按顺序给出句子 A、句子 B、标签的列号"
                   f"（从 0 起）或表头名，如 {example.split(' (')[0]}")


# --------------------------------------------------------------------------- scoring
def score_pairs(service, pairs: LabelledPairs, progress: Callable[[float, str], None] | None = None,
                chunk: int = 128) -> np.ndarray:
    """Cosine of every pair (distinct texts embedded once, in chunks that report progress)."""
    unique = list(dict.fromkeys(pairs.a + pairs.b))
    index = {t: i for i, t in enumerate(unique)}
    vectors = np.zeros((len(unique), service.dim), dtype=np.float32)
    for start in range(0, len(unique), chunk):
        part = unique[start:start + chunk]
        vectors[start:start + len(part)] = service.embed(part, limit=chunk, what="pair texts").vectors
        if progress:
            progress(min(1.0, (start + len(part)) / len(unique)), "嵌入中 Embedding")
    return cosine_pairs(vectors[[index[t] for t in pairs.a]], vectors[[index[t] for t in pairs.b]])


def evaluate_scores(cosines: Sequence[float], labels: Sequence[float]) -> EvalResult:
    """Correlations; for 0/1 labels AUC, the majority baseline, and the thresholds that maximise
    accuracy, balanced accuracy and F1; cosine statistics per :func:`label_groups` group."""
    cos = np.asarray(cosines, dtype=np.float64)
    lab = np.asarray(labels, dtype=np.float64)
    if len(cos) != len(lab) or len(cos) < 2:
        raise GteError(ErrorType.VALIDATION, "need at least 2 scored pairs", "至少需要 2 对句子")
    if np.ptp(lab) == 0:
        raise GteError(ErrorType.VALIDATION, "every label is the same; correlation is undefined",
                       "所有标签都相同，无法计算相关性")
    res = EvalResult(n=len(cos), spearman=spearman(cos, lab), pearson=pearson(cos, lab),
                     binary=set(np.unique(lab)) <= {0.0, 1.0}, cosines=cos.tolist(), labels=lab.tolist())
    if res.binary:
        # scikit-learn: loaded only for 0/1 labels
        from sklearn.metrics import accuracy_score, f1_score, roc_auc_score

        res.auc = float(roc_auc_score(lab, cos))
        candidates = np.unique(np.round(cos, 4))  # 4 decimals: enough, and bounded work
        accs = [accuracy_score(lab, cos >= t) for t in candidates]
        best = int(np.argmax(accs))
        res.best_threshold = float(candidates[best])
        res.accuracy = float(accs[best])
        positives = float(lab.mean())
        res.majority_baseline = max(positives, 1.0 - positives)
        # Mean of the two recalls at every candidate at once (sorted counts; the test checks it
        # against sklearn's balanced_accuracy_score): no third per-threshold loop.
        pos, neg = np.sort(cos[lab == 1.0]), np.sort(cos[lab == 0.0])
        recall_1 = 1.0 - np.searchsorted(pos, candidates, side="left") / pos.size  # cos >= t
        recall_0 = np.searchsorted(neg, candidates, side="left") / neg.size  # cos < t
        balanced = (recall_1 + recall_0) / 2.0
        best_balanced = int(np.argmax(balanced))
        res.balanced_threshold = float(candidates[best_balanced])
        res.balanced_accuracy = float(balanced[best_balanced])
        # Imbalanced sets (ATEC: 18 % positive) make the accuracy-best threshold degenerate
        # ("everything negative"); the F1-best one is what a retrieval cut-off should use.
        f1s = [f1_score(lab, cos >= t, zero_division=0.0) for t in candidates]
        best_f1 = int(np.argmax(f1s))
        res.f1_threshold = float(candidates[best_f1])
        res.f1 = float(f1s[best_f1])
    for name, members in label_groups(lab):
        sel = cos[members]
        res.by_label[name] = {"n": int(sel.size), "mean": float(sel.mean()), "median": float(np.median(sel)),
                                      "p10": float(np.percentile(sel, 10)), "p90": float(np.percentile(sel, 90))}
    return res


def label_groups(labels: Sequence[float]) -> list[tuple[str, np.ndarray]]:
    """Pairs grouped by label, as (name, boolean mask) in label order.

    One group per distinct label when there are at most :data:`MAX_LABEL_GROUPS` (0/1, integer
    0–5); otherwise integer bands ``"4–5"`` when the labels span few integers (graded STS
    scores), else quintiles. Bands are half-open ``[low, high)`` except the last, which holds
    the top label too. Empty bands are left out.
    """
    lab = np.asarray(labels, dtype=np.float64)
    values = np.unique(lab)
    if values.size <= MAX_LABEL_GROUPS:
        return [(f"{v:g}", lab == v) for v in values]
    low, high = np.floor(lab.min()), np.ceil(lab.max())
    if high - low <= MAX_LABEL_GROUPS:
        edges = np.arange(low, high + 1.0)
    else:
        edges = np.unique(np.quantile(lab, np.linspace(0.0, 1.0, 6)))
    band = np.clip(np.searchsorted(edges, lab, side="right") - 1, 0, len(edges) - 2)
    return [(f"{edges[i]:g}–{edges[i + 1]:g}", band == i) for i in range(len(edges) - 1) if (band == i).any()]


def evaluate(service, pairs: LabelledPairs, progress: Callable[[float, str], None] | None = None) -> EvalResult:
    result = evaluate_scores(score_pairs(service, pairs, progress), pairs.labels)
    result.unknown_token_share, result.warnings = service.unknown_share(pairs.a + pairs.b)
    return result


# --------------------------------------------------------------------------- presentation
def summary_markdown(result: EvalResult, name: str = "") -> str:
    """The Evaluate tab's summary, one metric a row: correlations (× 100, as C-MTEB reports them);
    for 0/1 labels AUC, accuracy with the majority baseline under it, balanced accuracy and F1
    with their thresholds, and a warning when accuracy only reflects the majority label."""
    rows = [("**Spearman** × 100", f"**{result.spearman * 100:.2f}**", ""),
            ("Pearson × 100", f"{result.pearson * 100:.2f}", "")]
    if result.binary:
        rows += [("ROC-AUC", f"{result.auc:.4f}", ""),
                 ("准确率 Accuracy", f"{result.accuracy:.4f}", f"≥ {result.best_threshold:.4f}"),
                 ("多数类基线 Majority baseline", f"{result.majority_baseline:.4f}", "全部判为多数类 all one label"),
                 ("平衡准确率 Balanced accuracy", f"{result.balanced_accuracy:.4f}", f"≥ {result.balanced_threshold:.4f}"),
                 ("F1", f"{result.f1:.4f}", f"≥ {result.f1_threshold:.4f}")]
    lines = [f"### {name} · {result.n} pairs", "| 指标 Metric | 值 Value | 阈值 Threshold (cosine) |", "|---|---|---|"]
    lines += [f"| {metric} | {value} | {threshold} |" for metric, value, threshold in rows]
    if result.accuracy_is_baseline:
        lines += ["", baseline_warning(result, markdown=True)]
    lines += [f"\n⚠️ {w}" for w in result.warnings]
    return "\n".join(lines)


def baseline_warning(result: EvalResult, markdown: bool = False) -> str:
    """Bilingual note for an accuracy no better than always answering the majority label."""
    mark = "**" if markdown else ""
    return (f"{mark}注意 Note:{mark} 准确率最优阈值不比“全部判为多数类”更好"
            f"（基线 {result.majority_baseline:.4f}），请看平衡准确率或 F1 / the accuracy-best threshold "
            f"does no better than always answering the majority label (baseline "
            f"{result.majority_baseline:.4f}); judge by balanced accuracy or F1 and use their thresholds.")


def summary_text(result: EvalResult, name: str = "") -> str:
    """A compact plain-text report for the terminal (the CLI's default; ``--json`` gives all)."""
    out = [f"{name or 'pairs'} · {result.n} pairs",
           f"  Spearman   {result.spearman:.4f}   (C-MTEB: x 100 = {result.spearman * 100:.2f})",
           f"  Pearson    {result.pearson:.4f}"]
    if result.binary:
        out += [f"  ROC-AUC    {result.auc:.4f}",
                f"  accuracy   {result.accuracy:.4f} at cosine >= {result.best_threshold:.4f}"
                f"   (majority baseline {result.majority_baseline:.4f})",
                f"  balanced   {result.balanced_accuracy:.4f} at cosine >= {result.balanced_threshold:.4f}"
                "   (0.5 = no skill)",
                f"  F1         {result.f1:.4f} at cosine >= {result.f1_threshold:.4f}"]
        if result.accuracy_is_baseline:
            out.append("  " + baseline_warning(result))
    out += [f"  warning: {w}" for w in result.warnings]  # above the per-label table, which ends the report
    width = max(len("label"), *(len(k) for k in result.by_label))
    out.append(f"  {'label':<{width}}  {'n':>5}  {'mean':>7}  {'median':>7}  {'p10':>7}  {'p90':>7}")
    for label, stats in result.by_label.items():
        out.append(f"  {label:<{width}}  {stats['n']:>5}  {stats['mean']:>7.4f}  {stats['median']:>7.4f}"
                   f"  {stats['p10']:>7.4f}  {stats['p90']:>7.4f}")
    return "\n".join(out)


def write_results(result: EvalResult, pairs: LabelledPairs, folder: Path) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    metrics = folder / "metrics.json"
    metrics.write_text(json.dumps(result.to_dict(), ensure_ascii=False, indent=2), encoding="utf-8")
    per_pair = folder / "pairs_scored.csv"
    with open(per_pair, "w", encoding="utf-8-sig", newline="") as f:
        w = csvsafe.writer(f)
        w.writerow(["sentence1", "sentence2", "label", "cosine"])
        for a, b, lab, c in zip(pairs.a, pairs.b, pairs.labels, result.cosines):
            w.writerow([a, b, lab, f"{c:.6f}"])
    return [metrics, per_pair]
