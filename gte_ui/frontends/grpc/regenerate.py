"""Regenerate the committed gRPC stubs from tei.proto: ``python -m gte_ui.frontends.grpc.regenerate``.

The stubs (``tei_pb2.py``, ``tei_pb2.pyi``, ``tei_pb2_grpc.py``) are committed so that serving
needs only grpcio and protobuf; grpcio-tools (requirements-test.txt) makes them here, and
tests/unit/frontends/grpc/test_regenerate.py checks the committed files equal what it makes now.
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
#: the repository (or site-packages) root: the proto is compiled under its package path, so the
#: stubs import each other as ``gte_ui.frontends.grpc.tei_pb2``
ROOT = HERE.parents[2]
PROTO = HERE / "tei.proto"
STUBS = ("tei_pb2.py", "tei_pb2.pyi", "tei_pb2_grpc.py")


def generate() -> dict[str, str]:
    """The stubs grpcio-tools makes from tei.proto now, by file name."""
    # grpcio-tools: a development dependency, needed only to regenerate
    from grpc_tools import protoc

    with tempfile.TemporaryDirectory() as out:
        rel = PROTO.relative_to(ROOT).as_posix()
        code = protoc.main(["grpc_tools.protoc", f"-I{ROOT}", f"--python_out={out}", f"--pyi_out={out}",
                            f"--grpc_python_out={out}", rel])
        if code != 0:
            raise RuntimeError(f"protoc failed on {rel} (exit {code})")
        made = Path(out) / PROTO.parent.relative_to(ROOT)
        return {name: (made / name).read_text(encoding="utf-8") for name in STUBS}


def main() -> int:
    for name, text in generate().items():
        (HERE / name).write_text(text, encoding="utf-8")
        print(f"wrote {HERE / name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
