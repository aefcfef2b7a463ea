"""Command line: ``python -m gte_ui {serve,download,embed,index,search,similarity,rank,rerank,evaluate,map,health}``.

Subcommands only dispatch: parse → call the service (or :mod:`gte_ui.cluster.ray_data` for
``--ray``) → print an adapter's output (:mod:`gte_ui.frontends.protocols.cli_output`). Every
error takes one path (:func:`gte_ui.frontends.cli.errors.guarded`): ``error: 中文 / English`` on
stderr, exit 2, never a traceback.

``embed`` exports vectors at corpus scale through the resumable pipeline of
:mod:`gte_ui.service.corpus`: it streams the input in chunks of ``--chunk-size`` texts, saves each
finished chunk before the next, and resumes a killed run where it stopped; OUT is either absent or
complete, never half-written.

Only the standard library and light modules are imported at module level: ``python -m gte_ui
health`` (Docker's HEALTHCHECK, every 30 s) and ``--help`` stay instant.

Modules: :mod:`.parser` (the top-level parser), :mod:`.commands` (download, embed, similarity,
rank, rerank, health), :mod:`.evaluate`, :mod:`.index` (index, search), :mod:`.embedding_map`
(map), :mod:`.health` (the ``/health`` client), :mod:`.errors` (the one error and output path).
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

from gte_ui.frontends.cli import embedding_map, index
from gte_ui.frontends.cli.commands import run
from gte_ui.frontends.cli.errors import guarded
from gte_ui.frontends.cli.evaluate import evaluate_command
from gte_ui.frontends.cli.health import health
from gte_ui.frontends.cli.parser import build_parser, prog

__all__ = ["build_parser", "health", "main"]


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] == "serve":  # the server lives above the front ends: see gte_ui.__main__
        print(f"error: start the server with `{prog()} serve` or `python app.py`", file=sys.stderr)
        return 2
    if argv and argv[0] == "evaluate":  # its own parser owns every flag
        return evaluate_command(argv[1:])
    if argv and argv[0] == "map":  # its own parser owns every flag
        return guarded(lambda: embedding_map.map_command(argv[1:]))
    if argv and argv[0] in ("index", "search"):  # their own parsers
        return index.main(argv, prog())
    parser = build_parser()
    args, rest = parser.parse_known_args(argv)
    if args.command in ("download", "health") and rest:
        parser.error(f"unrecognized arguments: {' '.join(rest)}")
    if args.command == "embed" and args.chunk_size < 1:
        parser.error("--chunk-size must be at least 1")
    return guarded(lambda: run(args, rest))
