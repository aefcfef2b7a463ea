"""What every tab's callbacks share (gte_ui.frontends.ui.common): the never-raise wrapper, binding
the service, text options, the model selector."""

from __future__ import annotations

import errno
import inspect

import gradio as gr
import pytest
from ui_kit import OPTIONS, refused

from gte_ui.core.errors import GteError
from gte_ui.frontends.ui.common import (
    COMPARE,
    INTERNAL_ERROR,
    bind,
    comparing,
    model_choices,
    pick_model,
    progress_bar,
    safe,
    text_options,
    upload_path,
)
from gte_ui.frontends.ui.tabs import about, matrix, ranking


def test_unexpected_errors_become_a_message(tiny_service, monkeypatch):
    def broken(*args, **kwargs):
        raise RuntimeError("/secret/internal/path exploded")

    monkeypatch.setattr(tiny_service, "matrix", broken)
    out = refused(lambda: matrix.on_matrix(tiny_service, "a\nb", *OPTIONS), INTERNAL_ERROR)
    assert "/secret" not in out[0]



def test_safe_fills_the_other_outputs_and_says_a_full_disk(tiny_service):
    @safe(3, fill=lambda: ("filled", "too"))
    def full(service):
        raise OSError(errno.ENOSPC, "No space left on device: /var/secret")

    @safe(1)
    def fine(service):
        return "ok"

    out = refused(lambda: full(tiny_service), "disk is full")
    assert out[1:] == ("filled", "too") and "/var/secret" not in out[0]
    assert fine(tiny_service) == "ok"  # an answer passes through untouched


def test_bind_fixes_the_service_and_keeps_hints_and_defaults(tiny_service):
    bound = bind(about.on_about, tiny_service)
    params = inspect.signature(bound).parameters
    assert list(params) == ["request"] and params["request"].annotation in (gr.Request, "gr.Request")
    assert "hit rate" not in bound(gr.Request(headers={}))  # called with the bound (open) service
    progress = inspect.signature(bind(ranking.on_rank, tiny_service)).parameters["progress"]
    assert isinstance(progress.default, gr.Progress)  # Gradio's progress idiom survives binding


def test_text_options_are_the_services_options():
    opts = text_options(True, False, True, "chunk", "  找答案  ")["options"]
    assert (opts.t2s, opts.nfkc, opts.collapse_whitespace, opts.long_text) == (True, False, True, "chunk")
    assert opts.instruction == "找答案"
    assert text_options(False, False, False, None)["options"].instruction is None  # blank: no prompt
    with pytest.raises(GteError, match="long_text must be one of"):
        text_options(False, False, False, "summarise")


def test_model_choices_and_compare(tiny_service, two_models):
    assert model_choices(tiny_service) == [tiny_service.name]  # one model: no "compare all"
    choices = model_choices(two_models)
    assert choices[-1] == COMPARE and choices[:-1] == [s.name for s in two_models.models()] and "twin" in choices
    assert comparing(COMPARE) and not comparing("twin") and not comparing(None)
    assert pick_model(two_models, "twin", "x").name == "twin"
    assert pick_model(two_models, "", "x").name == two_models.name  # empty: the default model
    with pytest.raises(GteError) as err:
        pick_model(two_models, COMPARE, "the matrix")
    assert "pick one model for the matrix" in err.value.message
    assert "比较模式" in err.value.message


def test_upload_path_opens_only_this_pages_uploads(tmp_path, tmp_path_factory):
    mine = tmp_path / "mine.txt"  # tmp_path is Gradio's upload folder here (conftest)
    mine.write_text("一\n", encoding="utf-8")
    assert upload_path(str(mine)) == str(mine.resolve())
    elsewhere = tmp_path_factory.mktemp("elsewhere") / "secret.txt"
    elsewhere.write_text("x", encoding="utf-8")
    for path in (str(elsewhere), str(tmp_path / "missing.txt"), "/etc/passwd", str(tmp_path / ".." / "x")):
        with pytest.raises(GteError, match="not uploaded through this page"):
            upload_path(path)


def test_progress_bar_reports_the_fraction():
    assert progress_bar(None) is None
    seen = []
    progress_bar(lambda fraction, desc: seen.append((fraction, desc)))(32, 128)
    assert seen == [(0.25, "嵌入中 Embedding")]
