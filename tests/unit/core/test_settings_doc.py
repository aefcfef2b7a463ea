"""core/settings_doc.py: docs/settings.md rendered from the parser (whether the file is current is
tests/project/test_docs.py's check)."""

from __future__ import annotations

import argparse

from gte_ui.core import settings_doc
from gte_ui.core.settings_doc import HEADER, render, rows


def test_rows_split_env_from_help_escape_pipes_and_put_long_flags_first():
    parser = argparse.ArgumentParser()
    parser.add_argument("-p", "--port", type=int, default=7860, help="port, default %(default)s [env: GTE_PORT, PORT]")
    parser.add_argument("--mode", help="a | b\nor c")
    parser.add_argument("positional")
    assert rows(parser) == [("`--port` / `-p`", "`GTE_PORT`, `PORT`", "port, default 7860"),
                            ("`--mode`", "", "a \\| b or c")]


def test_render_is_the_header_and_one_row_per_flag():
    text = render()
    assert text.startswith(HEADER)
    table = text[len(HEADER):].splitlines()
    assert table and all(line.startswith("| `--") for line in table)
    assert any("`--model`" in line and "`GTE_MODEL`" in line for line in table)


def test_main_prints_writes_or_refuses(tmp_path, monkeypatch, capsys):
    assert settings_doc.main([]) == 0 and capsys.readouterr().out == render()
    assert settings_doc.main(["--nope"]) == 2 and "usage" in capsys.readouterr().err
    monkeypatch.setattr(settings_doc, "DOC", tmp_path / "settings.md")
    assert settings_doc.main(["--write"]) == 0
    assert (tmp_path / "settings.md").read_text(encoding="utf-8") == render()
