"""The one error path and the one output path of every subcommand."""

from __future__ import annotations

import errno
import sys
from collections.abc import Callable
from pathlib import Path

from gte_ui.core.errors import ErrorType, GteError
from gte_ui.frontends.protocols.cli_output import CliOutput
from gte_ui.service.corpus import disk_full_error


def emit(output: CliOutput) -> int:
    """Print a subcommand's output: its notes on stderr, its shape on stdout. Returns exit code 0."""
    for note in output.notes:
        print(note, file=sys.stderr)
    if output.stdout:
        print(output.stdout)
    return 0


def guarded(command: Callable[[], int]) -> int:
    """Run a subcommand: a :class:`GteError` (or an ``OSError``, turned into one that names the
    path) prints ``error: 中文 / English`` on stderr and exits 2; never a traceback. Ctrl-C exits 130."""
    try:
        return command()
    except GteError as exc:
        print(f"error: {exc.message}", file=sys.stderr)
        return 2
    except OSError as exc:  # unreadable input, no permission on --out, a full disk
        print(f"error: {os_error(exc).message}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted (`embed` and `index build` resume when the same command runs again)", file=sys.stderr)
        return 130


def os_error(exc: OSError) -> GteError:
    """An ``OSError`` as a bilingual :class:`GteError` naming the path it is about."""
    where = exc.filename or "?"
    if isinstance(exc, FileNotFoundError):
        return _err(f"{where} does not exist", f"{where} 不存在")
    if isinstance(exc, IsADirectoryError):
        return _err(f"{where} is a folder, not a file", f"{where} 是文件夹，不是文件")
    if isinstance(exc, PermissionError):
        return _err(f"no permission to use {where}", f"没有权限访问 {where}")
    if exc.errno in (errno.ENOSPC, errno.EDQUOT):
        return disk_full_error(Path(exc.filename or "."), 0)
    return _err(f"{where}: {exc.strerror or exc}", f"{where}：{exc.strerror or exc}")


def missing_file(given: str) -> GteError:
    """A path given as an input file that is not one: a folder, or nothing."""
    if Path(given).is_dir():
        return os_error(IsADirectoryError(errno.EISDIR, "", given))
    return os_error(FileNotFoundError(errno.ENOENT, "", given))


def _err(en: str, zh: str) -> GteError:
    return GteError(ErrorType.VALIDATION, en, zh)
