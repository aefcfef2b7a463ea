"""engine/backends/onnx_export.py: the int8 ONNX export's cache (keys, pruning, two venvs), its
checksummed record, staged writes that never leave half an export, and the progress it shows.
(The exported graphs' numbers against torch: tests/unit/engine/backends/test_int8.py.)"""

from __future__ import annotations

import json
import os
import time

import numpy as np
import pytest
import torch

from gte_ui.engine.backends.onnx_export import (
    RECORD,
    TMP_PREFIX,
    file_records,
    file_sha256,
    int64_feed,
    move_in,
    remove_abandoned_exports,
    staged_export,
    verify_export,
    why_export,
)


def test_export_key_changes_when_the_weights_change(tiny_model_dir, tmp_path):
    import shutil

    from gte_ui.engine.backends.onnx_export import export_key

    copy = tmp_path / "copy"
    shutil.copytree(tiny_model_dir, copy)
    before = export_key(copy, "fast", False)
    assert export_key(copy, "fast", False) == before
    assert export_key(copy, "accurate", False) != before and export_key(copy, "fast", True) != before
    weights = copy / "model.safetensors"
    weights.write_bytes(weights.read_bytes() + b"\0")
    assert export_key(copy, "fast", False) != before


def test_a_new_export_prunes_stale_exports_of_the_same_model_and_mode(tiny_model_dir, tmp_path):
    import json

    from gte_ui.engine.backends.onnx_export import (
        EXPORT_VERSION,
        ONNX_EXPORT_LIBRARIES,
        cached_int8_export,
        library_versions,
    )

    def fake(name: str, model: str, mode: str, **extra):
        d = tmp_path / name
        d.mkdir()
        (d / "model.onnx").write_bytes(b"old")
        (d / "source.json").write_text(json.dumps({"model": model, "mode": mode, **extra}), encoding="utf-8")
        return d

    stale = fake("tiny-int8-fast-old", str(tiny_model_dir), "fast")
    other_mode = fake("tiny-int8-accurate-old", str(tiny_model_dir), "accurate")
    other_model = fake("other-int8-fast-old", "/somewhere/else", "fast")
    old_first = fake("tiny-int8-fast-first-old", str(tiny_model_dir), "fast", first_token_only=True,
                     export_version=EXPORT_VERSION - 1)
    current_first = fake("tiny-int8-fast-first-now", str(tiny_model_dir), "fast", first_token_only=True,
                         export_version=EXPORT_VERSION, versions=library_versions(ONNX_EXPORT_LIBRARIES))
    target = cached_int8_export(tiny_model_dir, "fast", cache_dir=tmp_path)
    assert target.is_file() and not stale.exists()
    assert other_mode.exists() and other_model.exists()
    # an older export version goes whatever its output; the current first-token-only export of
    # the same model + mode is another graph in use, not a stale one
    assert not old_first.exists() and current_first.exists()
    first = cached_int8_export(tiny_model_dir, "fast", cache_dir=tmp_path, first_token_only=True)
    assert first.is_file() and first != target and target.is_file() and not current_first.exists()


def test_export_progress_is_a_bar_on_a_terminal_and_whole_lines_in_a_log(tiny_model_dir, tmp_path, monkeypatch):
    """Issue 30.10: redirected to a log file, the bar's carriage-return updates piled up in it."""
    import io

    from gte_ui.engine.backends.onnx_export import export_progress

    def run(stream) -> str:
        monkeypatch.setattr("sys.stderr", stream)
        with export_progress(tiny_model_dir, tmp_path) as step:
            step("loading the fp32 weights")
            step("calibrating and quantising")
            step("writing the ONNX graph")
        return stream.getvalue()

    log_file = run(io.StringIO())
    assert "\r" not in log_file
    lines = log_file.splitlines()
    assert len(lines) == 5 and lines[0].startswith("exporting the int8 model once (~")
    assert lines[3].endswith(": 3/3 writing the ONNX graph") and ": done in " in lines[4]

    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    assert "\r" in run(Terminal()) and "3/3 writing the ONNX graph" in run(Terminal())


def test_two_venvs_with_other_torch_versions_keep_both_exports(tiny_model_dir, tmp_path, monkeypatch):
    """Issue 30.10: two venvs sharing one export cache deleted each other's export at every start.
    The export is real; only the second venv's torch version is pretended."""
    import json

    from gte_ui.engine.backends import onnx_export

    mine, note = onnx_export.ensure_int8_export(tiny_model_dir, "fast", tmp_path)
    assert note and json.loads((mine.parent / "source.json").read_text(encoding="utf-8"))["versions"] == \
        onnx_export.library_versions(onnx_export.ONNX_EXPORT_LIBRARIES)
    real = onnx_export.library_versions
    with monkeypatch.context() as m:
        m.setattr(onnx_export, "library_versions", lambda packages: {**real(packages), "torch": "2.12.0"})
        theirs, note = onnx_export.ensure_int8_export(tiny_model_dir, "fast", tmp_path)
        assert note and theirs != mine and mine.is_file()  # their own export, ours kept
        assert json.loads((theirs.parent / "source.json").read_text(encoding="utf-8"))["versions"]["torch"] == "2.12.0"
    again, note = onnx_export.ensure_int8_export(tiny_model_dir, "fast", tmp_path)
    assert (again, note) == (mine, "") and theirs.is_file()  # back in the first venv: read, not re-exported


def exported(folder, payload=b"graph bytes"):
    """A finished one-file export with its record, as move_in leaves it."""
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / "model.onnx"
    target.write_bytes(payload)
    (folder / RECORD).write_text(json.dumps({"size": len(payload), "sha256": file_sha256(target)}))
    return target


def test_verify_export_checks_size_then_checksum(tmp_path):
    target = exported(tmp_path / "e")
    assert verify_export(target) is None and why_export(target) is None
    target.write_bytes(b"graph bytez")  # same size, other bytes
    assert verify_export(target) == "its SHA-256 differs from the one recorded at export"
    target.write_bytes(b"graph")
    assert verify_export(target) == "5 bytes where 11 were written"
    assert why_export(target, "OpenVINO ").startswith("re-exported: the cached OpenVINO export was damaged")
    (tmp_path / "e" / RECORD).unlink()
    assert verify_export(target) == "no checksum recorded for it"
    assert why_export(tmp_path / "none" / "model.onnx") == "exported at this start"


def test_a_multi_file_record_checks_every_file(tmp_path):
    xml, weights = tmp_path / "model.xml", tmp_path / "model.bin"
    xml.write_text("<net/>")
    weights.write_bytes(b"\1" * 32)
    (tmp_path / RECORD).write_text(json.dumps(file_records([xml, weights])))
    assert verify_export(xml) is None
    weights.write_bytes(b"\1" * 31)
    assert verify_export(xml) == "31 bytes where 32 were written (model.bin)"
    weights.unlink()
    assert verify_export(xml) == "model.bin is missing"
    assert verify_export(tmp_path / "other.xml") == "no checksum recorded for it"  # not in the record


def test_staged_export_leaves_nothing_when_it_fails_and_move_in_writes_the_record_last(tmp_path):
    target = tmp_path / "cache" / "m-int8" / "model.onnx"
    with pytest.raises(RuntimeError), staged_export(target) as tmp:
        (tmp / "model.onnx").write_bytes(b"half")
        raise RuntimeError("killed mid-export")
    assert not target.parent.exists()  # a failed first export leaves no folder behind
    with staged_export(target) as tmp:
        (tmp / "model.onnx").write_bytes(b"whole")
        move_in([tmp / "model.onnx"], {"size": 5, "sha256": file_sha256(tmp / "model.onnx")}, target.parent)
    assert sorted(p.name for p in target.parent.iterdir()) == ["model.onnx", RECORD]
    assert verify_export(target) is None


def test_only_old_abandoned_exports_are_removed(tmp_path):
    old, fresh = tmp_path / f"{TMP_PREFIX}old", tmp_path / f"{TMP_PREFIX}fresh"
    old.mkdir()
    fresh.mkdir()
    (tmp_path / "kept").mkdir()
    two_hours_ago = time.time() - 7200
    os.utime(old, (two_hours_ago, two_hours_ago))
    assert remove_abandoned_exports(tmp_path) == [old]
    assert not old.exists() and fresh.exists()  # another process may be exporting into it now


def test_int64_feed_adds_segment_ids_only_where_the_graph_reads_them():
    ids = torch.tensor([[2, 5, 3]], dtype=torch.int32)
    mask = torch.ones_like(ids)
    plain = int64_feed(ids, mask, None, reads_token_types=False)
    assert set(plain) == {"input_ids", "attention_mask"} and plain["input_ids"].dtype == np.int64
    typed = int64_feed(ids, mask, None, reads_token_types=True)
    assert typed["token_type_ids"].tolist() == [[0, 0, 0]]
    given = int64_feed(ids, mask, torch.tensor([[0, 1, 1]]), reads_token_types=True)
    assert given["token_type_ids"].tolist() == [[0, 1, 1]]
