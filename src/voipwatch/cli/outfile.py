"""Where ``--out`` may write: a regular file in a folder that exists, or stdout (``-``).

Output is written beside the target and renamed over it, so a reader never sees half
a file; renaming over a device (``/dev/full``), a pipe or a folder would replace it
with a regular file and report a success that never happened, so those are refused,
as is a folder that does not exist (a typo would otherwise create a tree).
"""

from __future__ import annotations

import os
import stat
import sys
from pathlib import Path
from typing import Final

from voipwatch.errors import UsageError

#: ``--out -`` writes to standard output.
STDOUT: Final = "-"


def is_stdout(path: Path | None) -> bool:
    return path is not None and str(path) == STDOUT


def check_target(path: Path, flag: str = "--out") -> Path:
    """``path`` if a regular file may be written there; else :class:`UsageError`."""
    path = path.expanduser()
    try:
        mode = path.stat().st_mode
    except FileNotFoundError:
        mode = None
    except OSError as exc:
        raise UsageError(f"{flag} {path}: {exc.strerror or exc}") from None
    if mode is not None and not stat.S_ISREG(mode):
        kind = "a folder" if stat.S_ISDIR(mode) else "not a regular file"
        raise UsageError(f"{flag} {path}: {kind}; give the path of a file to write")
    parent = path.parent
    if not parent.is_dir():
        raise UsageError(f"{flag} {path}: the folder {parent} does not exist")
    return path


def write_target(path: Path, data: bytes, flag: str = "--out") -> None:
    """Write ``data`` to ``path`` whole (or to stdout for ``-``); :class:`UsageError`
    if it cannot be, with nothing left behind."""
    if is_stdout(path):
        sys.stdout.buffer.write(data)
        sys.stdout.buffer.flush()
        return
    path = check_target(path, flag)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.part")
    try:
        with open(tmp, "xb") as f:
            f.write(data)
        os.replace(tmp, path)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise UsageError(f"{flag} {path}: {exc.strerror or exc}") from None
