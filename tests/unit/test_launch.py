"""launch.py: start-up refuses bad settings and a missing model before the heavy imports; what one
connection may hold; SIGTERM drains gRPC beside uvicorn."""

from __future__ import annotations

import os
import platform
import subprocess
import sys
from pathlib import Path

import pytest

from gte_ui import launch
from gte_ui.core.settings import Settings


def test_app_reports_an_unreachable_hub_before_loading_gradio(tmp_path):
    """`python app.py` offline: the message comes before gradio and transformers are imported
    (seconds of them; torch may be there: importing modelscope, to look in its cache, loads it)."""
    from conftest import free_port

    port = free_port()
    env = {k: v for k, v in os.environ.items() if k not in ("HF_HUB_OFFLINE", "GTE_OFFLINE", "GTE_MODEL")}
    env.update(HF_ENDPOINT=f"http://127.0.0.1:{port}", MODELSCOPE_ENDPOINT=f"http://127.0.0.1:{port}",
               HF_HOME=str(tmp_path / "hf"), MODELSCOPE_CACHE=str(tmp_path / "ms"))
    code = ("import sys; from gte_ui.launch import main; rc = main([]); "
            "print('heavy:', sorted(m for m in ('gradio', 'transformers', 'uvicorn') if m in sys.modules)); "
            "sys.exit(rc)")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=False,
                          cwd=Path(__file__).resolve().parents[2], timeout=120)
    assert done.returncode == 2, done.stderr[-2000:]
    assert "heavy: []" in done.stdout
    error = next(line for line in done.stderr.splitlines() if line.startswith("error: "))
    assert "无法加载模型" in error and error.count("connection refused") == 2


@pytest.mark.parametrize(("argv", "fragment"), [
    (["--model", "/nonexistent/model", "--offline"], "model folder /nonexistent/model does not exist"),
    (["--max-texts", "0"], "--max-texts must be at least 1, got 0"),
])
def test_bad_settings_or_a_missing_model_exit_2_with_one_error_line(argv, fragment, capsys):
    assert launch.main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and fragment in err and "Traceback" not in err


def test_uvicorn_limits_come_from_the_settings():
    s = Settings(max_header_bytes=4096, max_connections=7, shutdown_timeout=3.5)
    assert launch.uvicorn_limits(s) == {"http": "h11", "h11_max_incomplete_event_size": 4096,
                                        "limit_concurrency": 7, "timeout_keep_alive": 5,
                                        "timeout_graceful_shutdown": 3.5}


def test_sigterm_drains_the_grpc_server_beside_uvicorn(tiny_service):
    import signal

    import uvicorn
    from conftest import free_port

    from gte_ui.frontends.grpc.server import serve_grpc

    grpc_server = serve_grpc(tiny_service, tiny_service.settings, port=free_port(), host="127.0.0.1")
    try:
        server = launch._draining_server(uvicorn.Server, uvicorn.Config(app=None), grpc_server, 1.0)
        assert isinstance(server, uvicorn.Server) and not server.should_exit
        server.handle_exit(signal.SIGTERM, None)
        assert server.should_exit
        assert grpc_server.drain(1.0).wait(5)  # already stopping: the same drain, finished
    finally:
        grpc_server.wait(1.0)


def test_versions_name_python_and_the_libraries():
    import torch

    line = launch.versions()
    assert line.startswith(f"Python {platform.python_version()} · torch {torch.__version__}")
    assert "transformers " in line and "gradio " in line
