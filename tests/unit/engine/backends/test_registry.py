"""The backend registry (gte_ui/engine/backends/registry.py): engines register themselves and are
chosen by (device, precision, engine); an engine for a precision other than int8 is one more entry."""

from __future__ import annotations

import errno

import pytest
import torch

from gte_ui.core.errors import ConfigError
from gte_ui.core.settings import INT8_MODE_NAMES, OPENVINO_INT8_MODES
from gte_ui.engine.backends import registry
from gte_ui.engine.backends.int8 import INT8_MODES
from gte_ui.engine.backends.onnx_export import OrtInt8Backend
from gte_ui.engine.backends.openvino_int8 import OvInt8Backend
from gte_ui.engine.backends.pytorch import TorchBackend


@pytest.fixture
def own_registry(monkeypatch):
    """A copy of the registry for one test, so a fake engine never leaks into the next test."""
    monkeypatch.setattr(registry, "BACKENDS", dict(registry.BACKENDS))
    return registry


def test_the_three_engines_register_themselves_with_what_they_serve():
    torch_spec, onnx, openvino = (registry.lookup(n) for n in ("torch", "onnx", "openvino"))
    assert (torch_spec.devices, torch_spec.precisions) == (("cpu", "cuda"), ("fp32", "fp16", "bf16", "int8"))
    assert (onnx.devices, onnx.precisions, onnx.int8_modes) == (("cpu",), ("int8",), ("accurate", "fast"))
    assert (openvino.devices, openvino.precisions, openvino.int8_modes) == (("cpu",), ("int8",), OPENVINO_INT8_MODES)
    assert onnx.bert_family_only and openvino.bert_family_only and not torch_spec.bert_family_only
    assert openvino.require is not None and onnx.require is None
    assert registry.choose("cpu", "int8", "onnx") is onnx
    assert registry.choose("cuda", "fp16") is torch_spec


def test_the_int8_modes_table_has_exactly_the_settings_choices():
    """settings holds the names a user picks; the engine holds what each keeps fp32."""
    assert tuple(INT8_MODES) == INT8_MODE_NAMES


def test_an_unknown_engine_is_a_bilingual_error_naming_the_registered_ones():
    with pytest.raises(ConfigError) as err:
        registry.lookup("tensorrt")
    assert err.value.en == "unknown inference engine 'tensorrt'; registered engines: onnx, openvino, torch"
    assert err.value.zh == "未知的推理引擎 'tensorrt'；已注册的引擎：onnx, openvino, torch"
    with pytest.raises(ConfigError, match="registered engines: onnx, openvino, torch"):
        registry.load_backend("unused", "cpu", "int8", int8_engine="tensorrt")


def test_an_engine_asked_for_a_precision_it_does_not_serve_names_those_that_do():
    with pytest.raises(ConfigError) as err:
        registry.choose("cpu", "fp32", "onnx")
    assert err.value.en == "the onnx engine does not serve fp32 on cpu; engines that do: torch"
    assert "onnx 引擎不支持 cpu 上的 fp32" in err.value.zh


class RecordingBackend(TorchBackend):
    """A real eager backend under another engine's name, remembering what it was built for."""

    def __init__(self, request: registry.BackendRequest) -> None:
        super().__init__(request.folder, device=request.device, precision=request.precision)
        self.name = "fake-fp32"
        self.request = request


def test_a_fake_engine_registered_in_a_test_is_chosen_for_its_precision(own_registry, tiny_model_dir):
    own_registry.register(registry.BackendSpec("fake", "Fake", RecordingBackend, devices=("cpu",),
                                               precisions=("fp32",)))
    backend = own_registry.load_backend(tiny_model_dir, "cpu", "fp32", threads=3, engine="fake")
    assert isinstance(backend, RecordingBackend) and backend.name == "fake-fp32" and backend.note == ""
    assert (backend.request.folder, backend.request.threads) == (tiny_model_dir, 3)
    # the same hidden states as the plain engine: it really ran the model
    plain = own_registry.load_backend(tiny_model_dir, "cpu", "fp32")
    assert type(plain) is TorchBackend
    ids, mask = torch.tensor([[1, 5, 2]]), torch.ones(1, 3, dtype=torch.long)
    torch.testing.assert_close(backend.forward(ids, mask), plain.forward(ids, mask))
    with pytest.raises(ValueError, match="already registered"):
        own_registry.register(registry.BackendSpec("fake", "Fake", RecordingBackend, ("cpu",), ("fp32",)))


def test_an_engine_that_fails_to_load_falls_back_to_eager_pytorch_saying_why(own_registry, tiny_model_dir):
    def full_disk(request):
        raise OSError(errno.ENOSPC, "No space left on device", "/secret/path/model.engine")

    own_registry.register(registry.BackendSpec("fake", "Fake", full_disk, devices=("cpu",), precisions=("fp32",)))
    backend = own_registry.load_backend(tiny_model_dir, "cpu", "fp32", engine="fake")
    assert type(backend) is TorchBackend
    assert backend.note == "Fake fp32 unavailable (OSError: No space left on device): serving eager PyTorch fp32"


def test_int8_engines_are_still_chosen_as_before(tiny_model_dir, tmp_path):
    """The int8 axis through the registry: onnx's missing ``dynamic`` form runs torch's, a decoder
    runs eager PyTorch with a note, and OpenVINO refuses ``dynamic`` before any fallback."""
    dynamic = registry.load_backend(tiny_model_dir, "cpu", "int8", "dynamic", "onnx", export_cache=tmp_path)
    assert type(dynamic) is TorchBackend and dynamic.name == "torch-int8-dynamic" and dynamic.note == ""
    with pytest.raises(ConfigError, match="--int8-mode dynamic has no OpenVINO form"):
        registry.load_backend(tiny_model_dir, "cpu", "int8", "dynamic", "openvino", export_cache=tmp_path)
    onnx = registry.load_backend(tiny_model_dir, "cpu", "int8", "fast", "onnx", export_cache=tmp_path)
    assert isinstance(onnx, OrtInt8Backend) and onnx.name == "onnx-int8-fast"
    assert not issubclass(OvInt8Backend, TorchBackend)
