"""The Dockerfile stays in step with what CI runs. There is no Docker engine here, so the file is
parsed with BuildKit's own parser (the ``dockerfile`` package) and its pieces are checked against
the repository: the torch CI pins, the requirements file CI installs, README's start command, the
settings' environment variables. Then the image's start command runs with the image's ENV (a
baked tiny model standing in for /opt/gte-model) and the image's HEALTHCHECK is run against it.
"""

from __future__ import annotations

import fnmatch
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import dockerfile
import pytest
import yaml

from gte_ui.core.settings import _OPTIONS, Settings, parse_settings

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def instructions() -> list[dockerfile.Command]:
    return list(dockerfile.parse_file(str(ROOT / "Dockerfile")))


def only(cmds: list[dockerfile.Command], name: str) -> list[dockerfile.Command]:
    return [c for c in cmds if c.cmd == name]


def build_args(cmds, **given: str) -> dict[str, str]:
    """ARG defaults, overridden by ``--build-arg`` style values."""
    args = {}
    for c in only(cmds, "ARG"):
        name, _, default = c.value[0].partition("=")
        args[name] = given.get(name, default)
    return args


def expand(value: str, variables: dict[str, str]) -> str:
    """Docker's variable substitution: ``$V``, ``${V}``, ``${V:-word}``, ``${V:+word}``."""
    def sub(m: re.Match) -> str:
        name, op, word = m.group(1) or m.group(4), m.group(2), m.group(3)
        v = variables.get(name, "")
        if op == ":-":
            return v or expand(word, variables)
        if op == ":+":
            return expand(word, variables) if v else ""
        return v

    return re.sub(r"\$\{(\w+)(?:(:[-+])((?:[^{}]|\{[^{}]*\})*))?\}|\$(\w+)", sub, value)


def image_env(cmds, args: dict[str, str]) -> dict[str, str]:
    env: dict[str, str] = {}
    for c in only(cmds, "ENV"):
        pairs = c.value
        for k, v in zip(pairs[::2], pairs[1::2]):
            env[k] = expand(v, {**args, **env})
    return env


def ci_torch_pin() -> str:
    return re.search(r"torch==([\w.+]+)", (ROOT / ".ci" / "run").read_text(encoding="utf-8")).group(1)


# ------------------------------------------------------------------ static invariants
def test_base_image_python_and_torch_match_ci(instructions):
    args = build_args(instructions)
    (base,) = only(instructions, "FROM")
    assert expand(base.value[0], args) == f"python:{args['PYTHON_VERSION']}-slim"
    front = yaml.safe_load((ROOT / "README.md").read_text(encoding="utf-8").split("---")[1])
    assert args["PYTHON_VERSION"] == str(front["python_version"])  # the same Python as the Space
    assert args["TORCH_VERSION"] == ci_torch_pin()
    assert f"torch=={ci_torch_pin()}" in (ROOT / "README.md").read_text(encoding="utf-8")
    assert args["TORCH_INDEX"] == "cpu"  # CPU by default; CUDA by --build-arg TORCH_INDEX=cu128


def test_installs_the_requirements_ci_installs(instructions):
    runs = " && ".join(expand(c.value[0], build_args(instructions)) for c in only(instructions, "RUN"))
    assert f"pip install torch=={ci_torch_pin()} --index-url https://download.pytorch.org/whl/cpu" in runs
    assert "pip install -r requirements.txt" in runs
    # CI installs requirements-test.txt, which must pull in exactly this file.
    test_reqs = (ROOT / "requirements-test.txt").read_text(encoding="utf-8").split()
    assert "-r" in test_reqs and test_reqs[test_reqs.index("-r") + 1] == "requirements.txt"
    assert "requirements-test.txt" in (ROOT / ".ci" / "run").read_text(encoding="utf-8")


def test_start_command_user_port_volume_healthcheck(instructions):
    (cmd,) = only(instructions, "CMD")
    assert cmd.json and list(cmd.value) == ["python", "app.py"]  # README's start command
    assert "python3 app.py" in (ROOT / "README.md").read_text(encoding="utf-8")
    users = only(instructions, "USER")
    assert users and users[-1].value[0] not in ("root", "0")
    assert only(instructions, "USER")[-1].start_line < cmd.start_line
    (expose,) = only(instructions, "EXPOSE")
    env = image_env(instructions, build_args(instructions))
    assert expose.value[0] == env["GRADIO_SERVER_PORT"] == str(Settings().port) == "7860"
    assert env["GRADIO_SERVER_NAME"] == "0.0.0.0"  # reachable from outside the container
    (volume,) = only(instructions, "VOLUME")
    assert env["HF_HOME"].startswith(volume.value[0] + "/") and env["MODELSCOPE_CACHE"].startswith(volume.value[0] + "/")
    # int8 exports on the volume too: a restarted container does not export again
    assert env["GTE_EXPORT_CACHE"].startswith(volume.value[0] + "/")
    (health,) = only(instructions, "HEALTHCHECK")
    assert health.value[0] == "CMD" and list(health.value[1:]) == ["python", "-m", "gte_ui", "health"]
    assert any(f.startswith("--start-period=") for f in health.flags)  # model load is not a failure


def test_env_names_are_settings_the_app_reads(instructions):
    known = {var for _name, _flags, envs, _type, _help in _OPTIONS for var in envs}
    env = image_env(instructions, build_args(instructions, MODEL_DIR="models/x"))
    ours = {k for k in env if k.startswith("GTE_") or k in ("GRADIO_SERVER_NAME", "GRADIO_SERVER_PORT")}
    assert ours and ours <= known, ours - known
    # Without a baked model the variables are empty, which the app treats as unset.
    plain = image_env(instructions, build_args(instructions))
    assert plain["GTE_MODEL"] == "" and plain["GTE_OFFLINE"] == ""
    s = parse_settings([], env=plain)
    assert s.model == Settings().model and s.offline is False
    baked = parse_settings([], env=env)
    assert baked.model == "/opt/gte-model" and baked.offline is True


def test_every_copied_path_exists_and_is_in_the_build_context(instructions):
    ignored = [p.strip() for p in (ROOT / ".dockerignore").read_text(encoding="utf-8").splitlines()
               if p.strip() and not p.startswith("#")]
    args = build_args(instructions)
    for c in only(instructions, "COPY"):
        *sources, _dest = c.value
        for src in sources:
            src = expand(src, args)
            assert (ROOT / src).exists(), f"COPY {src}: not in the repository"
            assert not any(fnmatch.fnmatch(src, pat) or src.startswith(pat.rstrip("/") + "/") for pat in ignored), \
                f"COPY {src} is excluded by .dockerignore"
    for needed in ("app.py", "gte_ui", "requirements.txt"):
        assert any(expand(s, args) in (needed, needed + "/") for c in only(instructions, "COPY") for s in c.value[:-1])


# ------------------------------------------------------------------ the image's commands, run
@pytest.mark.slow
def test_start_command_with_image_env_passes_the_healthcheck(instructions, tiny_model_dir, tmp_path):
    """``docker run`` of an image built with MODEL_DIR, as far as it can be done without Docker:
    the build-time model check, then CMD with the image's ENV, then HEALTHCHECK until healthy.
    Paths inside the image map to the checkout and the tiny model; the listen address is
    overridden to loopback (tests never listen beyond 127.0.0.1)."""
    from conftest import free_port

    args = build_args(instructions, MODEL_DIR="models/tiny")
    (model_copy,) = [c for c in only(instructions, "COPY") if "MODEL_DIR" in c.value[0]]
    image_model_dir = model_copy.value[-1].rstrip("/")
    port = free_port()
    env = {**os.environ, **image_env(instructions, args)}
    env.update(GTE_MODEL=env["GTE_MODEL"].replace(image_model_dir, str(tiny_model_dir)),
               HF_HOME=str(tmp_path / "hf"), MODELSCOPE_CACHE=str(tmp_path / "ms"),
               GRADIO_SERVER_NAME="127.0.0.1", GRADIO_SERVER_PORT=str(port))
    assert env["GTE_OFFLINE"] == "1"

    model_check = [expand(c.value[0], args) for c in only(instructions, "RUN") if "check_model_folder" in c.value[0]]
    assert len(model_check) == 1
    check = model_check[0].replace(image_model_dir, str(tiny_model_dir)).replace("python ", f"{sys.executable} ")
    assert subprocess.run(["sh", "-c", check], cwd=ROOT, env=env, timeout=60).returncode == 0
    broken = model_check[0].replace(image_model_dir, str(tmp_path)).replace("python ", f"{sys.executable} ")
    r = subprocess.run(["sh", "-c", broken], cwd=ROOT, env=env, timeout=60, capture_output=True, text=True)
    assert r.returncode != 0 and "is incomplete" in r.stderr  # a wrong MODEL_DIR fails the build

    (cmd,) = only(instructions, "CMD")
    (health,) = only(instructions, "HEALTHCHECK")
    health_cmd = [sys.executable if a == "python" else a for a in health.value[1:]]
    assert subprocess.run(health_cmd, cwd=ROOT, env=env, timeout=60, capture_output=True).returncode == 1
    proc = subprocess.Popen([sys.executable if a == "python" else a for a in cmd.value], cwd=ROOT, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        deadline = time.time() + 180
        while True:
            r = subprocess.run(health_cmd, cwd=ROOT, env=env, timeout=60, capture_output=True, text=True)
            if r.returncode == 0:
                break
            assert proc.poll() is None, proc.stdout.read()
            assert time.time() < deadline, "the container command never became healthy"
            time.sleep(0.5)
        import requests

        info = requests.get(f"http://127.0.0.1:{port}/health", timeout=10).json()
        assert info["model"] == tiny_model_dir.name and info["dim"] == 32 and "path" not in info
    finally:
        proc.terminate()
        proc.wait(timeout=30)
