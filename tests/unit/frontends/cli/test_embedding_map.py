"""``map`` (gte_ui/frontends/cli/embedding_map.py): FILE exists only without --index, so model
flags' values are never read as FILE."""

from __future__ import annotations

import pytest

from gte_ui.core.errors import GteError
from gte_ui.frontends.cli.embedding_map import map_command, map_parser


def test_with_index_there_is_no_file_argument():
    argv = ["--index", "news", "--out", "m.html", "--device", "cpu"]
    args, rest = map_parser(argv).parse_known_args(argv)
    assert args.index == "news" and not hasattr(args, "file") and rest == ["--device", "cpu"]
    argv = ["corpus.txt", "--out", "m.html", "--clusters", "3"]
    args, rest = map_parser(argv).parse_known_args(argv)
    assert (args.file, args.clusters, rest) == ("corpus.txt", 3, [])


def test_a_missing_index_is_refused_before_a_model_loads(tmp_path):
    with pytest.raises(GteError) as err:
        map_command(["--index", "none", "--out", str(tmp_path / "m.html"), "--index-dir", str(tmp_path),
                     "--model", "/nonexistent/model-folder", "--offline"])
    assert "'none'" in err.value.message and not (tmp_path / "m.html").exists()
