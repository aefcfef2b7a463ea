"""``main`` (gte_ui/frontends/cli/__init__.py): the dispatch — ``serve`` refused, ``evaluate``,
``map``, ``index`` and ``search`` handed to their own parsers, stray flags of ``download`` and
``health`` refused, every other command parsed and run."""

from __future__ import annotations

import json
import sys

import pytest

from gte_ui.frontends import cli

#: a model flag no model answers: a command that got past its input checks would fail on it
NO_MODEL = ["--model", "/nonexistent/model-folder", "--offline", "--device", "cpu"]


@pytest.fixture(autouse=True)
def typed_as_module(monkeypatch):
    """Usage lines name what was typed (sys.argv[0]): pin it to ``python -m gte_ui``."""
    monkeypatch.setattr(sys, "argv", ["/usr/lib/python3/site-packages/gte_ui/__main__.py"])


@pytest.mark.parametrize("argv", [["serve"], ["serve", "--port", "7861", "--model", "/nowhere"]])
def test_serve_is_refused_with_the_command_that_starts_it(argv, capsys):
    assert cli.main(argv) == 2
    out, err = capsys.readouterr()
    assert out == "" and err == "error: start the server with `python -m gte_ui serve` or `python app.py`\n"


def test_the_serve_hint_names_the_console_script_when_that_was_typed(monkeypatch, capsys):
    monkeypatch.setattr(sys, "argv", ["/venv/bin/gte-ui"])
    assert cli.main(["serve"]) == 2
    assert "`gte-ui serve`" in capsys.readouterr().err


@pytest.mark.parametrize("command, own", [
    ("evaluate", "MRR@10 / nDCG@10 on query-document groups"),
    ("map", "--index INDEX"),
    ("index", "corpus indexes: build (resumable)"),
    ("search", "--highlight"),
])
def test_own_parser_commands_answer_their_own_help(command, own, capsys):
    """The top-level parser lists them without flags (add_help=False): only their own parser knows
    ``--help`` and what it lists."""
    with pytest.raises(SystemExit) as done:
        cli.main([command, "--help"])
    assert done.value.code == 0
    out = capsys.readouterr().out
    assert out.startswith(f"usage: python -m gte_ui {command} ") and own in out


@pytest.mark.parametrize("argv, says", [
    (["evaluate", "{tmp}/none.tsv"], "none.tsv does not exist"),
    (["map", "{tmp}/none.txt", "--out", "{tmp}/m.html"], "none.txt"),
    (["map", "--index", "none", "--out", "{tmp}/m.html", "--index-dir", "{tmp}"], "'none'"),
    (["search", "none", "天气", "--index-dir", "{tmp}"], "'none'"),
])
def test_own_parser_commands_refuse_through_the_one_error_path(argv, says, tmp_path, capsys):
    """``map`` raises; ``main`` wraps it in the CLI's one error path: one line, exit 2, no traceback."""
    assert cli.main([a.format(tmp=tmp_path) for a in argv] + NO_MODEL) == 2
    out, err = capsys.readouterr()
    assert out == "" and err.startswith("error: ") and says in err
    assert "Traceback" not in err and "nonexistent" not in err
    assert not (tmp_path / "m.html").exists()


def test_index_subcommands_reach_the_index_parser(tmp_path, capsys):
    assert cli.main(["index", "list", "--json", "--index-dir", str(tmp_path)]) == 0
    assert capsys.readouterr().out == "[]\n"


@pytest.mark.parametrize("argv, stray", [
    (["health", "--url", "http://127.0.0.1:1/health", "--device", "cpu"], "--device cpu"),
    (["download", "--model", "thenlper/gte-small-zh", "--to", "{tmp}/m", "--precision", "fp16"], "--precision fp16"),
])
def test_download_and_health_refuse_flags_they_do_not_take(argv, stray, tmp_path, capsys):
    """They load no model, so model flags are a mistake, not something passed on."""
    with pytest.raises(SystemExit) as done:
        cli.main([a.format(tmp=tmp_path) for a in argv])
    assert done.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith("usage: python -m gte_ui ") and f"error: unrecognized arguments: {stray}\n" in err
    assert not (tmp_path / "m").exists()


def test_embed_refuses_a_chunk_size_under_one_before_anything_else(tmp_path, capsys):
    with pytest.raises(SystemExit) as done:  # the input is missing too: the flag is named first
        cli.main(["embed", str(tmp_path / "none.txt"), "--out", str(tmp_path / "o.npy"), "--chunk-size", "0"])
    assert done.value.code == 2
    err = capsys.readouterr().err
    assert "error: --chunk-size must be at least 1" in err and "none.txt" not in err


def test_a_missing_command_is_a_usage_error(capsys):
    with pytest.raises(SystemExit) as done:
        cli.main([])
    assert done.value.code == 2
    assert "the following arguments are required: COMMAND" in capsys.readouterr().err


def test_similarity_runs_on_the_model_the_flags_after_it_name(tiny_service, tiny_model_dir, monkeypatch, capsys):
    """No argv: ``main`` reads sys.argv, as the console script calls it; the model flags after the
    command reach the settings parser."""
    a, b = "这款手机电池续航很强", "手机电量很耐用"
    monkeypatch.setattr(sys, "argv", ["/venv/bin/gte-ui", "similarity", a, b, "--model", str(tiny_model_dir),
                                      "--device", "cpu", "--precision", "fp32"])
    assert cli.main() == 0
    out = capsys.readouterr().out
    got, want = json.loads(out), tiny_service.pair(a, b)
    assert got["score"] == pytest.approx(want.score, abs=1e-6) and got["verdict"] == want.verdict.zh
    assert got["model"] == tiny_service.name


def test_an_unknown_flag_of_a_model_command_names_the_command_in_its_usage(capsys, tiny_model_dir):
    """The model flags' parser answers a stray flag with the subcommand's own usage line, not the
    interpreter's script name (it said ``usage: app.py …``)."""
    with pytest.raises(SystemExit) as done:
        cli.main(["similarity", "甲", "乙", "--model", str(tiny_model_dir), "--bogus"])
    assert done.value.code == 2
    err = capsys.readouterr().err
    assert "usage: " in err and " similarity" in err.splitlines()[0] and "--bogus" in err
