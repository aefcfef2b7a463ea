"""The committed gRPC stubs and the command that regenerates them from tei.proto
(gte_ui.frontends.grpc.regenerate)."""

from __future__ import annotations

import pytest

from gte_ui.frontends.grpc import regenerate
from gte_ui.frontends.grpc import tei_pb2 as pb


def test_committed_stubs_are_what_grpcio_tools_makes_from_the_proto():
    pytest.importorskip("grpc_tools", reason="grpcio-tools (requirements-test.txt) regenerates the stubs")
    made = regenerate.generate()
    for name, text in made.items():
        committed = (regenerate.HERE / name).read_text(encoding="utf-8")
        assert committed == text, f"{name} is stale: python -m gte_ui.frontends.grpc.regenerate"
    assert {s.full_name for s in pb.DESCRIPTOR.services_by_name.values()} == {
        "tei.v1.Info", "tei.v1.Embed", "tei.v1.Predict", "tei.v1.Rerank", "tei.v1.Tokenize"}


def test_main_writes_the_three_stubs_beside_the_proto(monkeypatch, tmp_path, capsys):
    pytest.importorskip("grpc_tools", reason="grpcio-tools (requirements-test.txt) regenerates the stubs")
    monkeypatch.setattr(regenerate, "HERE", tmp_path)
    assert regenerate.main() == 0
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(regenerate.STUBS)
    assert "from gte_ui.frontends.grpc import tei_pb2" in (tmp_path / "tei_pb2_grpc.py").read_text(encoding="utf-8")
    assert capsys.readouterr().out.count("wrote ") == 3
