"""``index`` and ``search`` (gte_ui/frontends/cli/index.py): refusals take the CLI's one error
path (exit 2, one bilingual line) before any model loads."""

from __future__ import annotations

from gte_ui.frontends.cli.index import main

NO_MODEL = ["--model", "/nonexistent/model-folder", "--offline", "--device", "cpu"]


def test_search_of_a_missing_index_names_it(tmp_path, capsys):
    assert main(["search", "none", "天气", "--index-dir", str(tmp_path), *NO_MODEL], "gte-ui") == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "'none'" in err and " / " in err and "nonexistent" not in err


def test_build_refusals_are_bilingual_lines(tmp_path, capsys):
    src = tmp_path / "c.txt"
    src.write_text("你好\n", encoding="utf-8")
    assert main(["index", "build", str(src), "--name", "x", "--chunk-size", "0", *NO_MODEL], "gte-ui") == 2
    assert "--chunk-size must be at least 1" in capsys.readouterr().err
    assert main(["index", "build", str(tmp_path / "none.txt"), "--name", "x", *NO_MODEL], "gte-ui") == 2
    err = capsys.readouterr().err
    assert "none.txt" in err and "不存在" in err and "does not exist" in err


def test_list_of_an_empty_folder(tmp_path, capsys):
    assert main(["index", "list", "--index-dir", str(tmp_path)], "gte-ui") == 0
    out, err = capsys.readouterr()
    assert out == "" and err == f"no indexes in {tmp_path}\n"
    assert main(["index", "list", "--json", "--index-dir", str(tmp_path)], "gte-ui") == 0
    assert capsys.readouterr().out == "[]\n"
