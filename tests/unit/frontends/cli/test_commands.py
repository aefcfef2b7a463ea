"""The model subcommands (gte_ui/frontends/cli/commands.py): parse → the service → an adapter's
output, and every input refused before a model loads."""

from __future__ import annotations

import json

import pytest

from gte_ui.core.errors import GteError
from gte_ui.frontends.cli.commands import run
from gte_ui.frontends.cli.parser import build_parser
from gte_ui.frontends.protocols import cli_output

#: a model flag no model answers: a command that got past its input checks would fail on it
NO_MODEL = ["--model", "/nonexistent/model-folder", "--offline", "--device", "cpu"]


def _run(argv: list[str]) -> int:
    args, rest = build_parser().parse_known_args(argv)
    return run(args, rest)


@pytest.fixture()
def model_args(tiny_model_dir) -> list[str]:
    return ["--model", str(tiny_model_dir), "--device", "cpu", "--precision", "fp32"]


def test_rank_json_prints_the_adapters_shape_of_the_services_result(tiny_service, model_args, capsys):
    source, cands = "今天天气很好", ["今天天气不错", "我想借钱", "手机电池续航很强"]
    assert _run(["rank", source, *cands, "--top-k", "2", "--json", *model_args]) == 0
    out = capsys.readouterr().out
    want = json.loads(cli_output.rank_json(tiny_service.rank(source, cands, top_k=2)))
    got = json.loads(out)
    assert isinstance(got, list) and len(got) == 2
    assert [r["text"] for r in got] == [r["text"] for r in want]
    assert [r["score"] for r in got] == pytest.approx([r["score"] for r in want], abs=1e-6)


def test_rerank_reads_documents_from_a_file_too(tiny_service, model_args, tmp_path, capsys):
    docs = tmp_path / "docs.txt"
    docs.write_text("我想借钱\n手机电池续航很强\n", encoding="utf-8")
    assert _run(["rerank", "今天天气很好", "今天天气不错", "--file", str(docs), *model_args]) == 0
    out, err = capsys.readouterr()
    assert sorted(line.split("\t")[2] for line in out.splitlines()) == sorted(["我想借钱", "今天天气不错", "手机电池续航很强"])
    assert "# method: embedding" in err


@pytest.mark.parametrize("argv", [
    ["rank", "s", "--file", "{missing}"],
    ["rerank", "q", "--file", "{missing}"],
    ["embed", "{missing}", "--out", "{tmp}/o.npy"],
])
def test_a_missing_input_is_refused_before_the_model_loads(tmp_path, argv):
    argv = [a.format(missing=tmp_path / "none.txt", tmp=tmp_path) for a in argv]
    with pytest.raises(GteError) as err:
        _run([*argv, *NO_MODEL])
    assert "none.txt does not exist" in err.value.message


def test_embed_ray_refuses_a_bad_column_before_ray_starts(tmp_path):
    """The Ray path's first step is the local reader (gte_ui/cluster/ray_data.py): no cluster work
    for an input the local path would refuse, and the same message."""
    src = tmp_path / "c.csv"
    src.write_text("id,sentence\n1,你好\n", encoding="utf-8")
    with pytest.raises(GteError) as err:
        _run(["embed", str(src), "--out", str(tmp_path / "o.parquet"), "--ray", "--quiet", *NO_MODEL])
    assert "no column 'text'" in err.value.message and "--column" in err.value.message
    ray = pytest.importorskip("ray")
    assert not ray.is_initialized()
