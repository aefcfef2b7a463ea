"""__main__.py: ``python -m gte_ui serve …`` starts the server (launch.py); every other command is the CLI's."""

from __future__ import annotations

import pytest

from gte_ui.__main__ import main


def test_serve_goes_to_the_servers_settings(capsys):
    assert main(["serve", "--model", "/nonexistent/model", "--offline"]) == 2
    assert "model folder /nonexistent/model does not exist" in capsys.readouterr().err
    with pytest.raises(SystemExit) as info:
        main(["serve", "--port", "x"])
    assert info.value.code == 2 and "argument --port: invalid int value" in capsys.readouterr().err


def test_other_commands_go_to_the_cli(capsys):
    with pytest.raises(SystemExit) as info:
        main(["frobnicate"])
    err = capsys.readouterr().err
    assert info.value.code == 2 and "python -m gte_ui: error: argument COMMAND: invalid choice" in err
    assert "'serve'" in err and "'embed'" in err  # the CLI lists serve beside its own commands


def test_argv_defaults_to_the_process_arguments(monkeypatch, capsys):
    monkeypatch.setattr("sys.argv", ["gte-ui", "serve", "--max-texts", "0"])
    assert main() == 2 and "--max-texts must be at least 1" in capsys.readouterr().err
