"""``evaluate`` (gte_ui/frontends/cli/evaluate.py): its input by file or sample name, and bad
input refused before any model loads."""

from __future__ import annotations

import pytest

from gte_ui.core.errors import GteError
from gte_ui.core.resources import sample_names, sample_path
from gte_ui.frontends.cli.evaluate import (
    evaluate_command,
    evaluate_file,
    evaluate_parser,
)

NO_MODEL = ["--model", "/nonexistent/model-folder", "--offline", "--device", "cpu"]


def test_a_sample_name_is_the_evaluate_tabs_sample(tmp_path):
    name = sample_names()[0]
    assert evaluate_file(name) == sample_path(name)
    own = tmp_path / name  # a file of that name, given by its path, is the file
    own.write_text("a\tb\t1\n", encoding="utf-8")
    assert evaluate_file(str(own)) == own


def test_neither_file_nor_sample_is_named_with_the_samples(tmp_path):
    with pytest.raises(GteError) as err:
        evaluate_file(str(tmp_path / "none.tsv"))
    assert "none.tsv does not exist" in err.value.message and sample_names()[0] in err.value.message
    with pytest.raises(GteError, match="is a folder"):
        evaluate_file(str(tmp_path))


@pytest.mark.parametrize("argv, says", [
    (["{tmp}", "--task", "retrieval", "--top-k", "0"], "--top-k must be from 1 to 1000, got 0"),
    (["{tmp}/none.tsv"], "none.tsv does not exist"),
    (["{tmp}/bad.tsv", "--task", "rerank"], "bad.tsv"),
])
def test_bad_input_exits_2_before_a_model_loads(tmp_path, capsys, argv, says):
    (tmp_path / "bad.tsv").write_text("just one column\n", encoding="utf-8")
    assert evaluate_command([a.format(tmp=tmp_path) for a in argv] + NO_MODEL) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and says in err and "nonexistent" not in err


def test_its_parser_owns_the_retrieval_flags():
    args, rest = evaluate_parser().parse_known_args(["d", "--task", "retrieval", "--split", "dev", "--no-rerank"])
    assert (args.split, args.no_rerank, args.top_k, rest) == ("dev", True, 100, [])
