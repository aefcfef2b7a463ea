"""Shared by the Gradio UI's unit tests (tests/unit/frontends/ui/): the page's default text options,
example texts, the refusal check every callback must pass, and finding a component on a built page."""

from __future__ import annotations

import gradio as gr
import pytest

OPTIONS = (False, False, False, "truncate")  # 繁→简, NFKC, whitespace, long texts
SOURCE = "这款手机电池续航很强"
CANDS = ["手机电量很耐用", "充电速度特别快", "电池容量大，用一天没问题"]


def refused(call, fragment: str):
    """Run a callback that must refuse: a UserWarning (gr.Warning outside a request) and the message."""
    with pytest.warns(UserWarning, match=fragment):
        out = call()
    first = out[0] if isinstance(out, tuple) else out
    assert first.startswith("⚠️") and fragment in first
    return out


def component(demo: gr.Blocks, elem_id: str):
    """The component of a built page with this elem_id."""
    return next(b for b in demo.blocks.values() if getattr(b, "elem_id", None) == elem_id)
