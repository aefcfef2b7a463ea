"""The fast CPU default: --precision auto picks int8 where the CPU has VNNI / AMX, and the first
int8 start says what it is doing instead of printing the exporter's warnings."""

from __future__ import annotations

import pytest

from gte_ui.core.settings import Settings
from gte_ui.engine.backends import registry
from gte_ui.engine.encoder import Encoder


def test_first_int8_start_says_it_exports_once_and_prints_no_warnings(tiny_model_dir, tmp_path, capfd):
    cache = tmp_path / "exports"
    enc = Encoder.load(Settings(model=str(tiny_model_dir), device="cpu", precision="int8", export_cache=str(cache)))
    err = capfd.readouterr().err  # file-descriptor level: the exporter's C++ warnings land there too
    assert "exporting the int8 model once (~" in err and f"cached in {cache}" in err
    assert "3/3 writing the ONNX graph" in err and "done in" in err
    assert "shape inference" not in err and "Warning" not in err, err
    assert enc.encode(["北京"]).vectors.shape == (1, enc.dim)
    # a second start opens the cached export: nothing to say
    Encoder.load(Settings(model=str(tiny_model_dir), device="cpu", precision="int8", export_cache=str(cache)))
    assert "exporting" not in capfd.readouterr().err


def test_auto_precision_loads_int8_on_a_vnni_cpu_and_fp32_stays_a_flag_away(tiny_model_dir, tmp_path, monkeypatch):
    monkeypatch.setattr(registry, "cpu_int8_instructions", lambda: ["avx512_vnni"])
    auto = Encoder.load(Settings(model=str(tiny_model_dir), device="cpu", export_cache=str(tmp_path)))
    assert (auto.info.precision, auto.info.backend) == ("int8", "onnx-int8-accurate")
    fp32 = Encoder.load(Settings(model=str(tiny_model_dir), device="cpu", precision="fp32"))
    assert (fp32.info.precision, fp32.info.backend) == ("fp32", "torch")
    monkeypatch.setattr(registry, "cpu_int8_instructions", lambda: [])
    plain = Encoder.load(Settings(model=str(tiny_model_dir), device="cpu"))
    assert plain.info.precision == "fp32"


@pytest.mark.skipif(not registry.cpu_int8_instructions(), reason="this CPU has no VNNI / AMX")
def test_this_machine_defaults_to_int8():
    assert registry.resolve_runtime("auto", "auto", cuda_available=False) == ("cpu", "int8")
