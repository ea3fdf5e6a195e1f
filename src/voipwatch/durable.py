"""Writing a file so that a crash leaves the old file or the new, never half of one.

The bytes go to a temporary file (in ``tmp_dir``, or beside the destination as a
dot-file ending ``.part``, which no reader of ``*.json`` or ``*.mmdb`` picks up), are
flushed to disk, renamed over the destination (atomic on one file system), and the
directory is flushed so that the rename itself survives a power cut.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path

__all__ = ["fsync_dir", "write_durably"]


def fsync_dir(path: Path) -> None:
    """Flush a directory's entries (a rename into it) to disk."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_durably(dest: Path, data: bytes, *, tmp_dir: Path | None = None) -> None:
    """Replace ``dest`` with ``data``; when this returns, both are on disk."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{dest.name}.", suffix=".part", dir=tmp_dir or dest.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, dest)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    fsync_dir(dest.parent)
