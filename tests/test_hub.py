"""Model resolution: folders, ids, offline mode, and the promised messages."""

from __future__ import annotations

import shutil

import pytest

from gte_ui.core.errors import ModelNotFoundError
from gte_ui.engine.hub import check_model_folder, pick_hub, resolve_model


def test_hub_choice():
    assert pick_hub("iic/nlp_gte_sentence-embedding_chinese-large") == "modelscope"
    assert pick_hub("damo/nlp_gte_sentence-embedding_chinese-base") == "modelscope"
    assert pick_hub("thenlper/gte-large-zh") == "huggingface"
    assert pick_hub("thenlper/gte-large-zh", "modelscope") == "modelscope"


def test_folder_resolves_to_itself(tiny_model_dir):
    assert resolve_model(str(tiny_model_dir)) == tiny_model_dir.resolve()


def test_sentence_transformers_folder(minilm_dir):
    assert resolve_model(str(minilm_dir)) == minilm_dir.resolve()


def test_missing_folder_message(tmp_path):
    with pytest.raises(ModelNotFoundError) as err:
        resolve_model(str(tmp_path / "nope"))
    assert "does not exist" in err.value.message and "模型目录" in err.value.message


def test_incomplete_folder_names_what_is_missing(tiny_model_dir, tmp_path):
    bad = tmp_path / "bad"
    shutil.copytree(tiny_model_dir, bad)
    (bad / "model.safetensors").unlink()
    with pytest.raises(ModelNotFoundError, match=r"missing weights"):
        check_model_folder(bad)


def test_offline_default_model_says_what_it_tried_and_how_to_fix(tmp_path):
    with pytest.raises(ModelNotFoundError) as err:
        resolve_model("iic/nlp_gte_sentence-embedding_chinese-large", offline=True,
                      cache_dir=str(tmp_path))
    msg = err.value.message
    assert "modelscope 'iic/nlp_gte_sentence-embedding_chinese-large' (offline, cache only)" in msg
    assert "huggingface 'thenlper/gte-large-zh' (offline, cache only)" in msg
    assert "--model ./models/gte" in msg and "python -m gte_ui download" in msg


def test_unknown_hf_id_offline(tmp_path):
    with pytest.raises(ModelNotFoundError, match="huggingface 'someone/not-a-model'"):
        resolve_model("someone/not-a-model", offline=True, cache_dir=str(tmp_path))
