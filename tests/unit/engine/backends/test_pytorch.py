"""engine/backends/pytorch.py: the eager PyTorch backend, its first-token-only last layer, weights
copied out of the checkpoint's memory map, dynamic int8."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch.ao.nn.quantized.dynamic import Linear as DynamicLinear

from gte_ui.engine.backends.pytorch import (
    TorchBackend,
    keep_first_token_only,
    own_weights,
    quantize_dynamic_int8,
)
from gte_ui.engine.backends.registry import lookup


@pytest.mark.parametrize("family", ["bert", "roberta"])
def test_first_token_last_layer_is_exact_on_bert_family_models(family):
    """The pruned last layer gives the unpruned first-token state, padded rows included
    (RoBERTa / XLM-R layers have BERT's structure, e.g. bge-m3 with CLS pooling)."""
    import transformers


    torch.manual_seed(0)
    config_cls, model_cls = {"bert": (transformers.BertConfig, transformers.BertModel),
                             "roberta": (transformers.RobertaConfig, transformers.RobertaModel)}[family]
    config = config_cls(vocab_size=200, hidden_size=32, num_hidden_layers=3, num_attention_heads=4,
                        intermediate_size=64, max_position_embeddings=64)
    model = model_cls(config).eval()
    ids = torch.randint(5, 200, (3, 11))
    mask = torch.ones_like(ids)
    mask[1, 7:] = 0  # a padded row
    mask[2, 3:] = 0
    with torch.no_grad():
        full = model(input_ids=ids, attention_mask=mask).last_hidden_state
        assert keep_first_token_only(model) and keep_first_token_only(model)  # idempotent
        first = model(input_ids=ids, attention_mask=mask).last_hidden_state
    assert first.shape == (3, 1, 32)
    torch.testing.assert_close(first[:, 0], full[:, 0], atol=1e-5, rtol=1e-5)


def test_first_token_pruning_leaves_other_architectures_alone():

    class NotBert(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.encoder = torch.nn.Module()
            self.encoder.layer = torch.nn.ModuleList([torch.nn.Linear(4, 4)])

    model = NotBert()
    assert not keep_first_token_only(model) and isinstance(model.encoder.layer[0], torch.nn.Linear)
    assert not keep_first_token_only(torch.nn.Linear(4, 4))


def test_torch_is_registered_for_every_precision_on_cpu_and_cuda():
    spec = lookup("torch")
    assert set(spec.devices) == {"cpu", "cuda"} and set(spec.precisions) == {"fp32", "fp16", "bf16", "int8"}


def test_forward_returns_every_tokens_last_layer_state(tiny_model_dir):
    from transformers import AutoModel

    backend = TorchBackend(tiny_model_dir)
    ids = torch.tensor([[2, 10, 11, 3], [2, 12, 3, 0]])
    mask = torch.tensor([[1, 1, 1, 1], [1, 1, 1, 0]])
    states = backend.forward(ids, mask, token_type_ids=torch.zeros_like(ids))
    assert backend.dim == 32 and states.shape == (2, 4, 32) and states.dtype == torch.float32
    with torch.no_grad():
        want = AutoModel.from_pretrained(str(tiny_model_dir)).eval()(input_ids=ids, attention_mask=mask).last_hidden_state
    torch.testing.assert_close(states, want, atol=1e-5, rtol=1e-5)


def test_own_weights_copies_out_of_the_checkpoint_file(tiny_model_dir, tmp_path):
    """A weights file rewritten while serving must not change (or SIGBUS) the running model."""
    import shutil

    from transformers import AutoModel

    folder = tmp_path / "m"
    shutil.copytree(tiny_model_dir, folder)
    model = AutoModel.from_pretrained(str(folder)).eval()
    before = {n: t.data_ptr() for n, t in model.named_parameters()}
    own_weights(model)
    assert all(t.data_ptr() != before[n] for n, t in model.named_parameters())
    reference = model.embeddings.word_embeddings.weight.detach().clone()
    (folder / "model.safetensors").write_bytes(b"\0" * 64)  # truncated in place
    torch.testing.assert_close(model.embeddings.word_embeddings.weight.detach(), reference)


def test_dynamic_int8_quantises_every_linear_and_stays_close(tiny_model_dir):
    fp32 = TorchBackend(tiny_model_dir)
    dyn = TorchBackend(tiny_model_dir, precision="int8", int8_mode="dynamic")
    assert dyn.name == "torch-int8-dynamic"
    modules = list(dyn.model.modules())
    assert not any(type(m) is torch.nn.Linear for m in modules)  # every nn.Linear swapped
    assert any(isinstance(m, DynamicLinear) for m in modules)
    ids = torch.tensor([[2, 10, 11, 12, 3]])
    mask = torch.ones_like(ids)
    a, b = fp32.forward(ids, mask)[0, 0].numpy(), dyn.forward(ids, mask)[0, 0].numpy()
    cos = float(a @ b / np.linalg.norm(a) / np.linalg.norm(b))
    assert 0.95 < cos < 1.0 - 1e-7  # int8 really ran, close to fp32


def test_quantize_dynamic_int8_leaves_non_linear_modules(tiny_model_dir):
    model = quantize_dynamic_int8(torch.nn.Sequential(torch.nn.Linear(4, 4), torch.nn.LayerNorm(4)))
    assert isinstance(model[0], DynamicLinear) and isinstance(model[1], torch.nn.LayerNorm)
    with pytest.raises(KeyError):
        TorchBackend(tiny_model_dir, precision="fp8")
