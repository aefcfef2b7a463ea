"""docs/settings.md, rendered from the server's own argparse parser: one source for the flags.

Regenerate after adding or changing a flag in :mod:`gte_ui.core.settings`::

    python3 -m gte_ui.core.settings_doc --write

``tests/project/test_docs.py`` fails while docs/settings.md differs from :func:`render`.
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

from gte_ui.core.settings import build_parser

DOC = Path(__file__).resolve().parents[2] / "docs" / "settings.md"

HEADER = """# Settings

<!-- Generated from gte_ui/core/settings.py by `python3 -m gte_ui.core.settings_doc --write`; edit the flags' help there, not here. -->

Every flag has an environment variable; a flag wins over its variable. `python3 app.py --help`
prints the same list. The CLI's subcommands (`python -m gte_ui embed …`) take these model flags
too ([cli.md](cli.md)).

| flag | environment | meaning |
|---|---|---|
"""


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def rows(parser: argparse.ArgumentParser) -> list[tuple[str, str, str]]:
    """(flags, environment variables, help) of every flag, in the parser's order."""
    out = []
    for action in parser._actions:  # argparse keeps no public list of its actions
        if isinstance(action, argparse._HelpAction) or not action.option_strings:
            continue
        help_text = parser._get_formatter()._expand_help(action) if action.help else ""  # %-expansion, as --help
        match = re.search(r"\s*\[env: ([^\]]+)\]$", help_text)
        envs = match.group(1).split(", ") if match else []
        help_text = help_text[:match.start()] if match else help_text
        flags = " / ".join(f"`{f}`" for f in sorted(action.option_strings, key=lambda f: (not f.startswith("--"), f)))
        out.append((flags, ", ".join(f"`{e}`" for e in envs), _cell(help_text.strip())))
    return out


def render() -> str:
    """The whole of docs/settings.md."""
    return HEADER + "".join(f"| {f} | {e} | {h} |\n" for f, e, h in rows(build_parser()))


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if args == ["--write"]:
        DOC.write_text(render(), encoding="utf-8")
        print(f"wrote {DOC}")
        return 0
    if args:
        print("usage: python3 -m gte_ui.core.settings_doc [--write]", file=sys.stderr)
        return 2
    sys.stdout.write(render())
    return 0


if __name__ == "__main__":
    sys.exit(main())
