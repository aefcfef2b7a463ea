"""What every tab's callbacks share: the never-raise wrapper, binding the service, text options.

Callbacks are plain module functions whose first parameter is the service; :func:`bind` fixes
it for Gradio, so unit tests call the very same functions with a real service and no browser.
"""

from __future__ import annotations

import functools
import inspect
import logging
from collections.abc import Callable
from typing import Any

import gradio as gr
from gradio.utils import get_upload_folder

from gte_ui.core.errors import ErrorType, GteError, disk_full
from gte_ui.core.textfiles import uploaded_file
from gte_ui.service.options import read_options
from gte_ui.service.service import EmbeddingService

log = logging.getLogger(__name__)

INTERNAL_ERROR = "内部错误，请重试 / Internal error, please retry"


def safe(n_outputs: int, fill: Callable[[], tuple] | None = None) -> Callable:
    """Turn a GteError (or anything unexpected) into a warning toast plus ``⚠️ message`` in the
    first output; the other outputs get ``fill()`` or None. A raising callback would leave the
    page stuck, so these never raise.
    """

    def decorate(fn: Callable) -> Callable:
        @functools.wraps(fn)
        def wrapper(*args, **kwargs):
            try:
                return fn(*args, **kwargs)
            except GteError as exc:
                message = exc.message
            except Exception as exc:  # noqa: BLE001 - the page must keep working; the log has the details
                log.exception("UI callback %s failed", fn.__name__)
                full = disk_full(exc)
                message = full.message if full else INTERNAL_ERROR
            gr.Warning(message)
            first = f"⚠️ {message}"
            if n_outputs == 1:
                return first
            rest = tuple(fill()) if fill else (None,) * (n_outputs - 1)
            return (first, *rest)

        return wrapper

    return decorate


def bind(fn: Callable, service: EmbeddingService) -> Callable:
    """``fn`` with its first argument (the service) fixed, keeping the rest of its signature.

    Not ``functools.partial``: Gradio reads type hints (``gr.Request``) and defaults
    (``gr.Progress``) off the callable, and a partial hides the hints.
    """

    @functools.wraps(fn)
    def bound(*args: Any, **kwargs: Any) -> Any:
        return fn(service, *args, **kwargs)

    signature = inspect.signature(fn)
    bound.__signature__ = signature.replace(parameters=list(signature.parameters.values())[1:])
    return bound


def upload_path(upload: str) -> str:
    """The file an upload field names, when it is one this page received (Gradio's upload folder);
    else one refusal that does not say whether the path exists. Every tab opens uploads through
    this: the field's value comes from the client, and Gradio's own check of it is off in an app
    mounted with ``gr.mount_gradio_app`` unless :func:`gte_ui.server.create_app` turns it on."""
    return str(uploaded_file(upload, [get_upload_folder()]))


def text_options(t2s: bool, nfkc: bool, ws: bool, long_text: str | None,
                 instruction: str | None = None) -> dict[str, Any]:
    """The Options accordion's four values, and the instruction (instruction models: the query
    side), as the service's keyword arguments."""
    return {"options": read_options({"t2s": bool(t2s), "nfkc": bool(nfkc), "collapse_whitespace": bool(ws),
                                     "long_text": long_text, "instruction": (instruction or "").strip()})}


def instruction_box(service: EmbeddingService) -> gr.Textbox:
    """The instruction field of instruction models (Qwen3-Embedding, gte-Qwen2-instruct), filled
    with the model's default task; hidden (and always empty) for models without prompts."""
    task = service.prompts.default_task
    return gr.Textbox(label="指令 Instruction (query side: sentence A, the ranking source; documents stay bare)",
                      value=task or "", visible=task is not None, elem_id="instruction", lines=1,
                      info="作为 'Instruct: {指令}\\nQuery:' 加在查询前 / sent as 'Instruct: {task}\\nQuery:' "
                           "before the query; empty = no prompt")


def progress_bar(progress: gr.Progress | None) -> Callable[[int, int], None] | None:
    """The service's ``progress(done, total)`` (``warm_cache``) as Gradio's progress bar."""
    if progress is None:
        return None
    return lambda done, total: progress(done / total, desc="嵌入中 Embedding")


#: the model selector's extra choice when several models are loaded
COMPARE = "⚖️ 全部比较 Compare all"


def texts_with_upload(label: str, value: str, elem_id: str, lines: int,
                      top_k: tuple[int, int, str]) -> tuple[gr.Textbox, gr.File, gr.Slider]:
    """One text a line in a box, an upload (.txt/.csv/.tsv) and a top-k slider beside it, as the
    ranking and rerank tabs lay them out (call inside the tab). ``top_k``: (minimum, value, label)."""
    with gr.Row():
        box = gr.Textbox(label=label, lines=lines, value=value, elem_id=elem_id, scale=3)
        with gr.Column(scale=1):
            upload = gr.File(label="或上传 .txt/.csv Or upload", file_types=[".txt", ".csv", ".tsv"], type="filepath")
            minimum, default, slider_label = top_k
            slider = gr.Slider(minimum, 100, value=default, step=1, label=slider_label)
    return box, upload, slider


def model_choices(service: EmbeddingService) -> list[str]:
    """The model selector's choices: every loaded model, plus "compare all" when there are several."""
    names = [s.name for s in service.models()]
    return names + ([COMPARE] if len(names) > 1 else [])


def comparing(choice: str | None) -> bool:
    return choice == COMPARE


def pick_model(service: EmbeddingService, choice: str | None, what: str) -> EmbeddingService:
    """The service of the selected model; "compare all" is refused where one model must answer."""
    if comparing(choice):
        raise GteError(ErrorType.VALIDATION,
                       f"compare mode is for pairwise, ranking and evaluation; pick one model for {what}",
                       f"比较模式只用于相似度、排序和评估；{what} 请选择一个模型")
    return service.for_model(choice or None)
