"""engine/pooling.py: token states to one vector (cls, mean, max, last token), the folder's pooling
config, and padding a batch on either side."""

from __future__ import annotations

import json

import pytest
import torch

from gte_ui.core.errors import ConfigError
from gte_ui.engine.pooling import last_token_index, pad_batch, pool, read_pooling_mode

HIDDEN = torch.tensor([[[1.0, 10.0], [3.0, -2.0], [100.0, 100.0]],
                       [[2.0, 0.0], [4.0, 6.0], [0.0, 8.0]]])  # [2, 3, 2]
MASK = torch.tensor([[1, 1, 0], [1, 1, 1]])  # row 0's third token is padding


def test_last_token_pooling_finds_the_last_real_token_on_either_side():
    hidden = torch.arange(2 * 4 * 1, dtype=torch.float32).reshape(2, 4, 1)
    right = torch.tensor([[1, 1, 0, 0], [1, 1, 1, 1]])
    left = torch.tensor([[0, 0, 1, 1], [1, 1, 1, 1]])
    assert last_token_index(right).tolist() == [1, 3] and last_token_index(left).tolist() == [3, 3]
    assert pool(hidden, right, "lasttoken")[:, 0].tolist() == [1.0, 7.0]
    assert pool(hidden, left, "lasttoken")[:, 0].tolist() == [3.0, 7.0]


def test_cls_mean_and_max_ignore_padding():
    assert pool(HIDDEN, MASK, "cls").tolist() == [[1.0, 10.0], [2.0, 0.0]]
    assert pool(HIDDEN, MASK, "mean").tolist() == [[2.0, 4.0], [2.0, pytest.approx(14 / 3)]]
    assert pool(HIDDEN, MASK, "max").tolist() == [[3.0, 10.0], [4.0, 8.0]]  # never the padded 100s
    assert pool(HIDDEN.half(), MASK, "mean").dtype == torch.float32


def test_unknown_mode_is_refused():
    with pytest.raises(ValueError, match="unknown pooling mode 'sum'"):
        pool(HIDDEN, MASK, "sum")


def test_pad_batch_right_or_left():
    ids, mask = pad_batch([[5, 6, 7], [8]], pad_id=0)
    assert ids.tolist() == [[5, 6, 7], [8, 0, 0]] and mask.tolist() == [[1, 1, 1], [1, 0, 0]]
    ids, mask = pad_batch([[5, 6, 7], [8]], pad_id=9, pad_left=True)
    assert ids.tolist() == [[5, 6, 7], [9, 9, 8]] and mask.tolist() == [[1, 1, 1], [0, 0, 1]]
    assert ids.dtype == mask.dtype == torch.long
    assert last_token_index(mask).tolist() == [2, 2]


def write_pooling(folder, config, path="1_Pooling"):
    (folder / "modules.json").write_text(json.dumps([{"idx": 0, "type": "sentence_transformers.models.Transformer"},
                                                     {"idx": 1, "path": path,
                                                      "type": "sentence_transformers.models.Pooling"}]))
    (folder / path).mkdir(exist_ok=True)
    (folder / path / "config.json").write_text(json.dumps(config))


@pytest.mark.parametrize(("config", "mode"), [({"pooling_mode_cls_token": True}, "cls"),
                                              ({"pooling_mode_mean_tokens": True}, "mean"),
                                              ({"pooling_mode_max_tokens": True}, "max"),
                                              ({"pooling_mode_lasttoken": True}, "lasttoken"),
                                              ({"pooling_mode": "mean"}, "mean")])
def test_the_folders_pooling_config_is_read(tmp_path, config, mode):
    write_pooling(tmp_path, {"pooling_mode_cls_token": False, **config})
    assert read_pooling_mode(tmp_path) == mode


def test_no_config_means_the_default(tmp_path):
    assert read_pooling_mode(tmp_path) == "cls"  # GTE's own folders have no modules.json
    assert read_pooling_mode(tmp_path, default="mean") == "mean"
    (tmp_path / "modules.json").write_text(json.dumps([{"type": "sentence_transformers.models.Pooling",
                                                        "path": "missing"}]))
    assert read_pooling_mode(tmp_path, default="mean") == "mean"


def test_broken_or_unsupported_configs_are_config_errors(tmp_path):
    (tmp_path / "modules.json").write_text("[{")
    with pytest.raises(ConfigError, match="not valid JSON"):
        read_pooling_mode(tmp_path)
    write_pooling(tmp_path, {"pooling_mode_weightedmean_tokens": True})
    with pytest.raises(ConfigError, match="unsupported pooling"):
        read_pooling_mode(tmp_path)
