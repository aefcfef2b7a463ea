"""What every tab's callbacks share (gte_ui.frontends.ui.common): the never-raise wrapper, binding
the service, text options, the model selector."""

from __future__ import annotations

from ui_kit import OPTIONS, refused

from gte_ui.frontends.ui.common import INTERNAL_ERROR
from gte_ui.frontends.ui.tabs import matrix


def test_unexpected_errors_become_a_message(tiny_service, monkeypatch):
    def broken(*args, **kwargs):
        raise RuntimeError("/secret/internal/path exploded")

    monkeypatch.setattr(tiny_service, "matrix", broken)
    out = refused(lambda: matrix.on_matrix(tiny_service, "a\nb", *OPTIONS), INTERNAL_ERROR)
    assert "/secret" not in out[0]

