"""The top-level parser (gte_ui/frontends/cli/parser.py): the text options are one set of flags,
the same on every subcommand that takes them, read by the service's one normaliser."""

from __future__ import annotations

import argparse

import pytest

from gte_ui.frontends.cli.index import build_parser as index_parser
from gte_ui.frontends.cli.parser import build_parser, text_options
from gte_ui.service.options import read_options

TEXT_FLAGS = ("--t2s", "--nfkc", "--collapse-whitespace")


def _subparsers(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    action = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return dict(action.choices)


def _flags(parser: argparse.ArgumentParser) -> dict[str, str]:
    return {f: a.help for a in parser._actions for f in a.option_strings}


def test_every_text_option_is_one_flag_with_one_help():
    subs = _subparsers(build_parser())
    takers = [subs[c] for c in ("embed", "similarity", "rank", "rerank")] + [_subparsers(index_parser("x"))["build"]]
    helps = [{f: _flags(p)[f] for f in TEXT_FLAGS} for p in takers]
    assert all(h == helps[0] for h in helps) and all(helps[0].values())


@pytest.mark.parametrize("argv, want", [
    (["similarity", "a", "b", "--t2s", "--collapse-whitespace"], {"t2s": True, "collapse_whitespace": True}),
    (["rank", "s", "c", "--instruction", "找出相同的句子"], {"instruction": "找出相同的句子"}),
    (["rerank", "q", "d", "--prompt-name", "query", "--nfkc"], {"prompt_name": "query", "nfkc": True}),
    (["embed", "in.txt", "--out", "o.npy"], {}),
])
def test_text_options_reach_the_services_normaliser(argv, want):
    args, rest = build_parser().parse_known_args(argv)
    given = text_options(args)
    assert {k: v for k, v in given.items() if v} == want and rest == []
    options = read_options(given)
    assert (options.norm.t2s, options.norm.nfkc, options.norm.collapse_whitespace) == (
        bool(want.get("t2s")), bool(want.get("nfkc")), bool(want.get("collapse_whitespace")))
    assert (options.prompt_name, options.instruction) == (want.get("prompt_name"), want.get("instruction"))


def test_model_flags_are_left_for_the_settings_parser():
    args, rest = build_parser().parse_known_args(["rank", "s", "c", "--model", "m", "--device", "cpu", "--json"])
    assert args.json and rest == ["--model", "m", "--device", "cpu"]
