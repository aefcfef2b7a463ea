"""``download``, ``embed``, ``similarity``, ``rank``, ``rerank`` and ``health``: parse → call the
service → print an adapter's output (:mod:`gte_ui.frontends.protocols.cli_output`)."""

from __future__ import annotations

import argparse
from pathlib import Path

from gte_ui.cluster import ray_data
from gte_ui.core.settings import parse_settings
from gte_ui.core.textfiles import read_candidates_file
from gte_ui.frontends.cli.errors import emit, missing_file
from gte_ui.frontends.cli.health import health
from gte_ui.frontends.cli.parser import prog, text_options
from gte_ui.frontends.protocols import cli_output
from gte_ui.service.corpus import embed_file
from gte_ui.service.options import read_options


def run(args: argparse.Namespace, rest: list[str]) -> int:
    """One parsed subcommand of the top-level parser; ``rest`` holds the model flags."""
    if args.command == "health":
        ok, said = health(args.url, args.timeout)
        emit(cli_output.health_output(ok, said))
        return 0 if ok else 1
    for name in ("input", "file"):  # a missing input is refused before the model loads
        given = getattr(args, name, None)
        if given is not None and not Path(given).is_file():
            raise missing_file(given)
    if args.command == "download":
        # the hub clients on first use: `--help` and `health` stay instant
        from gte_ui.service.models import download_model

        folder = download_model(args.model, args.to, hub=args.hub, revision=args.revision)
        print(f"saved to {folder}; run offline with: {prog()} serve --model {folder} --offline")
        return 0
    # model flags; anything else is refused by its parser, whose usage line names the subcommand
    settings = parse_settings(rest, prog=f"{prog()} {args.command}")
    options = read_options(text_options(args))
    if args.command == "embed" and args.ray:
        return emit(cli_output.embed_output(ray_data.embed_file_ray(
            settings, args.input, args.out, address=args.ray, column=args.column, field=args.field,
            actors=args.ray_actors, progress=not args.quiet, options=options)))
    # the model stack on first use: `--help` and `health` (Docker's HEALTHCHECK) stay instant
    from gte_ui.service.service import EmbeddingService

    service = EmbeddingService.from_settings(settings, batching=False)
    if args.command == "embed":
        return emit(cli_output.embed_output(embed_file(
            service, args.input, args.out, column=args.column, field=args.field, chunk_size=args.chunk_size,
            restart=args.restart, progress=not args.quiet, options=options)))
    if args.command == "similarity":
        return emit(cli_output.pair_output(service.pair(args.a, args.b, options=options)))
    if args.command == "rerank":
        docs = list(args.documents) + (read_candidates_file(args.file, settings.max_upload_bytes) if args.file else [])
        return emit(cli_output.rerank_output(service.rerank(
            args.query, docs, top_n=args.top_n, raw_scores=args.raw_scores, method=args.method, options=options),
            args.json))
    cands = list(args.candidates) + (read_candidates_file(args.file, settings.max_upload_bytes) if args.file else [])
    return emit(cli_output.rank_output(service.rank(args.source, cands, top_k=args.top_k, options=options), args.json))
