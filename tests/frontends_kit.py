"""Calls into each front end the way a client makes them: the serverless handler with an HTTP-API
event, a raw Gradio call read from its event stream, the CLI in-process. Shared by the contract
tests (tests/e2e/test_contract.py) and the engine-side security tests."""

from __future__ import annotations

import json
import time

import requests

from gte_ui.frontends import cli, serverless


def invoke(path: str, body) -> tuple[int, dict]:
    res = serverless.handler({"rawPath": path, "requestContext": {"http": {"method": "POST", "path": path}},
                              "body": json.dumps(body)}, None)
    return res["statusCode"], json.loads(res["body"])


def gradio_call_error(url: str, client, endpoint: str, texts: list[str]) -> str:
    """POST texts to a named Gradio endpoint as raw JSON (``\\ud800`` escapes survive, which
    gradio_client cannot send) with every other parameter at its default, and read the answer's
    error event (SSE). Bounded: 60 s at most."""
    params = client.view_api(return_format="dict", print_info=False)["named_endpoints"][f"/{endpoint}"]["parameters"]
    data = [p.get("parameter_default") for p in params]
    data[:len(texts)] = texts
    raw = json.dumps({"data": data}).encode()  # ensure_ascii: a lone surrogate goes out as its escape
    r = requests.post(f"{url}/gradio_api/call/{endpoint}", data=raw,
                      headers={"Content-Type": "application/json"}, timeout=30)
    r.raise_for_status()
    lines: list[str] = []
    deadline = time.monotonic() + 60
    with requests.get(f"{url}/gradio_api/call/{endpoint}/{r.json()['event_id']}", stream=True, timeout=60) as sse:
        for line in sse.iter_lines(chunk_size=None, decode_unicode=True):  # as it arrives, not per 512 B
            lines.append(line)
            finished = line.startswith("data:") and any(x.startswith(("event: error", "event: complete"))
                                                         for x in lines)
            if finished or time.monotonic() > deadline:
                break  # the stream stays open for heartbeats
    stream = "\n".join(lines)
    assert "event: error" in stream, stream
    return stream


def run_cli(capsys, tiny_model_dir, *args: str) -> tuple[int, str, str]:
    rc = cli.main([*args, "--model", str(tiny_model_dir), "--device", "cpu", "--precision", "fp32"])
    out = capsys.readouterr()
    return rc, out.out, out.err
