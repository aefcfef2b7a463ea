"""core/bands.py: per-model verdict bands on disk (the user's folder first, then the shipped ones)."""

from __future__ import annotations

import json

from gte_ui.core import bands as bands_store
from gte_ui.core.bands import load_bands, model_key, save_bands
from gte_ui.core.scoring import VerdictBands


def test_model_key_is_the_hub_id_or_the_folder_name_made_file_safe(tmp_path):
    folder = tmp_path / "my model (v2)"
    folder.mkdir()
    assert model_key("thenlper/gte-large-zh") == "thenlper_gte-large-zh"
    assert model_key(str(folder) + "/") == "my_model_v2"  # a local folder: only its name, never the path
    assert model_key("///") == "model"


def test_save_then_load_round_trips_and_names_the_file(tmp_path):
    path = save_bands("thenlper/gte-base-zh", VerdictBands(high=0.9, mid=0.8, source="sts"), tmp_path / "cal")
    assert path == tmp_path / "cal" / "thenlper_gte-base-zh.json"
    data = json.loads(path.read_text(encoding="utf-8"))
    assert (data["model"], data["high"], data["mid"], data["source"]) == ("thenlper/gte-base-zh", 0.9, 0.8, "sts")
    assert not list((tmp_path / "cal").glob("*.tmp"))  # written whole, then moved in
    loaded = load_bands("thenlper/gte-base-zh", tmp_path / "cal")
    assert (loaded.high, loaded.mid) == (0.9, 0.8) and loaded.source == "sts [thenlper_gte-base-zh.json]"


def test_user_bands_win_over_shipped_ones_and_broken_files_fall_through(tmp_path, monkeypatch):
    shipped, user = tmp_path / "shipped", tmp_path / "user"
    monkeypatch.setattr(bands_store, "SHIPPED", shipped)
    save_bands("m", VerdictBands(high=0.7, mid=0.6, source="shipped"), shipped)
    assert load_bands("m", user).source.startswith("shipped")
    save_bands("m", VerdictBands(high=0.95, mid=0.9, source="mine"), user)
    assert load_bands("m", user).high == 0.95
    (user / "m.json").write_text("{broken", encoding="utf-8")
    assert load_bands("m", user).source.startswith("shipped")  # a broken user file never stops start-up
    (user / "m.json").write_text(json.dumps({"high": 0.2, "mid": 0.9}), encoding="utf-8")
    assert load_bands("m", user).source.startswith("shipped")  # impossible bands (mid > high) are skipped too
    assert load_bands("other", user) is None
