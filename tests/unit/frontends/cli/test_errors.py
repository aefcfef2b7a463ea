"""The CLI's one error path and one output path (gte_ui/frontends/cli/errors.py)."""

from __future__ import annotations

import errno

import pytest

from gte_ui.core.errors import ErrorType, GteError
from gte_ui.frontends.cli.errors import emit, guarded, missing_file, os_error
from gte_ui.frontends.protocols.cli_output import CliOutput


def _raises(exc: BaseException):
    def command() -> int:
        raise exc
    return command


def test_a_gte_error_is_one_bilingual_line_and_exit_2(capsys):
    assert guarded(_raises(GteError(ErrorType.VALIDATION, "bad input", "输入有误"))) == 2
    out, err = capsys.readouterr()
    assert out == "" and err == "error: 输入有误 / bad input\n"


@pytest.mark.parametrize("exc, says", [
    (FileNotFoundError(errno.ENOENT, "No such file", "/data/in.txt"), "/data/in.txt does not exist"),
    (IsADirectoryError(errno.EISDIR, "Is a directory", "/data"), "/data is a folder, not a file"),
    (PermissionError(errno.EACCES, "Permission denied", "/out.npy"), "no permission to use /out.npy"),
    (OSError(errno.EIO, "Input/output error", "/disk/x"), "/disk/x: Input/output error"),
])
def test_an_os_error_names_its_path_without_a_traceback(capsys, exc, says):
    assert guarded(_raises(exc)) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and says in err and " / " in err and "Traceback" not in err


def test_a_full_disk_is_named_as_the_pipeline_names_it(tmp_path):
    message = os_error(OSError(errno.ENOSPC, "No space left on device", str(tmp_path / "o.npy"))).message
    assert "o.npy" in message and ("disk" in message or "space" in message)


def test_ctrl_c_exits_130_and_says_what_resumes(capsys):
    assert guarded(_raises(KeyboardInterrupt())) == 130
    err = capsys.readouterr().err
    assert "interrupted" in err and "embed" in err and "index build" in err


def test_other_exceptions_are_not_swallowed():
    """A bug must surface as one, not as a user error."""
    with pytest.raises(ZeroDivisionError):
        guarded(lambda: 1 // 0)


def test_missing_file_tells_a_folder_from_nothing(tmp_path):
    assert "is a folder" in missing_file(str(tmp_path)).message
    assert "does not exist" in missing_file(str(tmp_path / "none.txt")).message


def test_emit_prints_notes_on_stderr_and_the_shape_on_stdout(capsys):
    assert emit(CliOutput('[{"rank": 1}]', ("warning: a", "note: b"))) == 0
    out, err = capsys.readouterr()
    assert out == '[{"rank": 1}]\n' and err == "warning: a\nnote: b\n"
    emit(CliOutput("", ("wrote x",)))
    assert capsys.readouterr() == ("", "wrote x\n")  # notes only: no empty stdout line
