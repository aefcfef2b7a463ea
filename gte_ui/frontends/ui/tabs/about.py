"""关于 About: the model's public facts, live counters, and how to call the API on *this* server.

Counters (what others sent, how much is cached) show only on a server that asks for credentials
(``--api-key`` or ``--auth``): an open page shows no one's traffic. Library versions never show
here; the start-up log has them."""

from __future__ import annotations

import html
import re

import gradio as gr

from gte_ui.core.settings import Settings
from gte_ui.frontends.ui.common import bind, safe
from gte_ui.service.service import EmbeddingService

#: what a Host header may look like before it goes into the snippet (name or [v6] address, port)
_HOST = re.compile(r"^(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9.-]+)(:\d{1,5})?$")


def base_url(settings: Settings, request: gr.Request | None = None) -> str:
    """The address a client reaches this server at: the browser's own (Host header, and the
    proxy's X-Forwarded-Proto/Host behind Spaces or nginx), else the configured host and port
    (a wildcard bind shown as 127.0.0.1)."""
    headers = getattr(request, "headers", None) or {}
    host = (headers.get("x-forwarded-host") or headers.get("host") or "").split(",")[0].strip()
    if host and _HOST.match(host):
        proto = (headers.get("x-forwarded-proto") or "http").split(",")[0].strip().lower()
        return f"{'https' if proto == 'https' else 'http'}://{host}"
    name = "127.0.0.1" if settings.host in ("0.0.0.0", "::", "") else settings.host
    if ":" in name:
        name = f"[{name}]"
    return f"http://{name}:{settings.port}"


def about_markdown(service: EmbeddingService, url: str | None = None) -> str:
    """The About tab: model facts (its public name, never the server's path), counters, API snippet."""
    info = service.info
    url = url or base_url(service.settings)
    bands = service.bands
    return f"""
### 模型 Model
| 项目 Item | 值 Value |
|---|---|
| 模型 Model | `{info.name}` |
| 维度 Dimension | {info.dim} |
| 最大长度 Max length | {info.max_length} tokens |
| 池化 Pooling | {info.pooling}{' (decoder)' if info.decoder else ''} |
| 指令 Prompts | {_prompts_cell(info.prompts)} |
| 输出维度 Output dimensions | {_dimensions_cell(info)} |
| 设备 / 精度 Device / precision | {info.device} / {info.precision} ({info.backend}){_note(info.backend_note)} |
| 加载耗时 Load time | {info.load_seconds:.2f} s |
| 重排模型 Reranker | {reranker_line(service)} |
| 判定阈值 Verdict bands | > {bands.high:.2f} 高度相似 · > {bands.mid:.2f} 中等相似 · else 差异较大 ({bands.source}) |
{counter_rows(service)}

### API 用法 How to call the API
```python
import requests
requests.post("{url}/api/predict", json={{"data": ["源句子", "候选1\\n候选2"]}}).json()   # scores
requests.post("{url}/api/predict", json={{"data": ["文本", "", False, False, False, False]}}).json()  # {info.dim} floats
requests.post("{url}/v1/embeddings", json={{"input": ["文本"], "model": "gte"}}).json()  # OpenAI shape
requests.post("{url}/rerank", json={{"query": "查询", "docs": ["文档1", "文档2"]}}).json()  # {{"scores", "method"}}
```
`/similarity`, `/embed`, `/rerank`, `/v1/rerank`, `/health` and the OpenAPI page `{url}/docs` are described in the README;
`gradio_client` users: see "Use via API" at the bottom of this page.
"""


def counter_rows(service: EmbeddingService) -> str:
    """The cache and batcher counters as table rows, on a server with credentials; on an open one
    a row saying where they are (they tell what others sent)."""
    s = service.settings
    if not (s.api_key or s.auth):
        return "| 计数 Counters | 开放服务器不显示 hidden on an open server (`/metrics`, `/health`) |"
    st = service.stats()
    cache, shared = st["cache"]["local"], st["cache"]["shared"]
    shared_row = (f"{'up' if shared['up'] else 'DOWN'} · {shared['hits']} hits / {shared['misses']} misses · "
                  f"{shared['errors']} errors" if shared["enabled"] else "off (--cache-url)")
    return (f"| 缓存 Cache | {cache['entries']} entries · {cache['hits']} hits / {cache['misses']} misses "
            f"(hit rate {cache['hit_rate']:.1%}) |\n"
            f"| 共享缓存 Shared cache (Redis) | {shared_row} |\n"
            f"| 批处理 Batches | {st['batcher'].get('batches', '—')} model calls for "
            f"{st['batcher'].get('requests', '—')} requests |")


def reranker_line(service: EmbeddingService) -> str:
    """The reranker's public facts, or that rerank answers from the embedding cosine."""
    facts = service.reranker_facts()
    if not facts["loaded"]:
        return "— 未加载 none: rerank answers from the embedding cosine (`--reranker MODEL` to load one)"
    line = (f"`{facts['model']}` · {facts['architecture']} ({facts['kind']}) · {facts['device']} / "
            f"{facts['precision']} ({facts['backend']}) · max {facts['max_length']} tokens · "
            f"{facts['pairs_scored']} pairs scored")
    return line + (f" · 指令 instruction: “{facts['instruction']}”" if facts.get("instruction") else "")


@safe(1)
def on_about(service: EmbeddingService, request: gr.Request) -> str:
    """Fresh counters, and the snippet pointed at the address this browser used."""
    return about_markdown(service, base_url(service.settings, request))


def build(service: EmbeddingService) -> None:
    with gr.Tab("关于 About", id="about") as about_tab:
        about_md = gr.Markdown(about_markdown(service), elem_id="about")
    about_tab.select(bind(on_about, service), None, about_md, queue=False, api_visibility="private")


def _prompts_cell(prompts: dict) -> str:
    """The model's prompt names and default task (instruction models), else a dash."""
    if not prompts:
        return "— (none)"
    names = ", ".join(f"`{k}`" for k in prompts.get("prompts", {}))
    task = prompts.get("default_instruction")
    return names + (f" · default task: {html.escape(task)}" if task else "")


def _dimensions_cell(info) -> str:
    if info.min_dimensions:
        return f"{info.min_dimensions}–{info.dim} (trained for truncated outputs)"
    return f"{info.dim} (truncating loses quality)"


def _note(note: str) -> str:
    return f" · {html.escape(note)}" if note else ""
