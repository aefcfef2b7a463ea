"""engine/models/families.py: what a folder holds (decoder, hub code, Matryoshka floor), read from
config.json before anything loads."""

from __future__ import annotations

import json

import pytest

from gte_ui.core.errors import ConfigError
from gte_ui.engine.models.families import (
    check_remote_code,
    native_type,
    read_config,
    read_traits,
)


def folder_with(tmp_path, cfg):
    (tmp_path / "config.json").write_text(json.dumps(cfg), encoding="utf-8")
    return tmp_path


def test_a_bert_encoder(tiny_model_dir):
    t = read_traits(tiny_model_dir, "thenlper/gte-large-zh")
    assert (t.model_type, t.decoder, t.remote_code, t.hidden_size, t.min_dimensions) == ("bert", False, None, 32, None)


@pytest.mark.parametrize(("cfg", "pooling"), [({"model_type": "qwen3"}, None),
                                              ({"model_type": "bert", "architectures": ["XForCausalLM"]}, None),
                                              ({"model_type": "bert"}, "lasttoken")])
def test_decoders_by_type_architecture_or_pooling(tmp_path, cfg, pooling):
    assert read_traits(folder_with(tmp_path, cfg), pooling=pooling).decoder


def test_hub_code_is_named_only_for_types_transformers_lacks(tmp_path):
    auto_map = {"AutoConfig": "configuration.NewConfig", "AutoModel": "modeling.NewModel", "x": 3}
    unknown = read_traits(folder_with(tmp_path, {"model_type": "new", "auto_map": auto_map}))
    assert unknown.remote_code == "configuration.NewConfig, modeling.NewModel"
    known = read_traits(folder_with(tmp_path, {"model_type": "qwen2", "auto_map": auto_map}))
    assert known.remote_code is None  # gte-Qwen2's modeling_qwen.py: transformers runs its own Qwen2
    assert native_type("bert") and not native_type("new") and not native_type(None)


def test_check_remote_code_refuses_unless_trusted(tmp_path):
    traits = read_traits(folder_with(tmp_path, {"model_type": "new", "auto_map": {"AutoModel": "m.NewModel"}}))
    with pytest.raises(ConfigError, match=r"auto_map -> m.NewModel.*--trust-remote-code") as info:
        check_remote_code(traits, trusted=False)
    assert "trust-remote-code" in info.value.zh
    check_remote_code(traits, trusted=True)
    check_remote_code(read_traits(folder_with(tmp_path, {"model_type": "bert"})), trusted=False)


def test_matryoshka_floor_from_the_config_list_or_the_name(tmp_path):
    listed = folder_with(tmp_path, {"model_type": "xlm-roberta", "matryoshka_dimensions": [1024, 256, 64]})
    assert read_traits(listed).min_dimensions == 64
    plain = folder_with(tmp_path, {"model_type": "qwen3", "hidden_size": 1024})
    assert read_traits(plain, "Qwen/Qwen3-Embedding-0.6B").min_dimensions == 32
    assert read_traits(plain, "Alibaba-NLP/gte-Qwen2-1.5B-instruct").min_dimensions is None
    bad = folder_with(tmp_path, {"model_type": "bert", "matryoshka_dimensions": [0, "x"]})
    assert read_traits(bad).min_dimensions is None  # an unusable list is not a floor


def test_missing_or_broken_config(tmp_path):
    assert read_config(tmp_path) == {} and read_traits(tmp_path).model_type is None
    (tmp_path / "config.json").write_text("{nope", encoding="utf-8")
    with pytest.raises(ConfigError, match="config.json of the model is not valid JSON"):
        read_traits(tmp_path)
