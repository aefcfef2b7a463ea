"""``python -m gte_ui …`` and the ``gte-ui`` console script: ``serve`` starts the server, every
other command is the command line's (:mod:`gte_ui.frontends.cli`)."""

from __future__ import annotations

import sys

from gte_ui.frontends import cli


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] == "serve":
        from gte_ui.launch import main as serve  # torch, gradio: only when serving

        return serve(argv[1:])
    return cli.main(argv)


if __name__ == "__main__":
    sys.exit(main())
