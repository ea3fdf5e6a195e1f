"""Read-only snapshots that a running server publishes of the store it writes.

DuckDB lets one process write a store file, and while it does no other process may
open that file, not even to read it. A server that keeps ingesting while it serves
therefore publishes, after each committed batch, a copy of its store: it
checkpoints (so the file alone holds every committed row), copies the file under a
new generation name, syncs it to disk, and only then atomically replaces a small
pointer naming that generation and the server's process id. A reader that finds the
store locked opens the generation the pointer names, read-only: it sees the store
as of the last whole batch, never part of one.

Generations never change once published. The one before the current is kept, so a
reader that has just read the pointer still finds its file; older ones are removed
(on Linux a reader that already opened one keeps reading it).
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Final

import duckdb

from voipwatch.durable import write_durably
from voipwatch.errors import StoreError
from voipwatch.process import pid_alive

__all__ = ["Publisher", "current_snapshot", "published_dir"]

POINTER: Final = "current.json"
_PREFIX: Final = "gen-"
_SUFFIX: Final = ".duckdb"


def published_dir(store_path: Path) -> Path:
    """Where the snapshots of the store at ``store_path`` live (beside it)."""
    return store_path.with_name(store_path.name + ".published")


def current_snapshot(store_path: Path) -> Path | None:
    """The snapshot a running server last published of this store, if there is one.

    ``None`` when no server publishes (no pointer, a damaged one, or one left by a
    server that is no longer running).
    """
    pointer = published_dir(store_path) / POINTER
    try:
        data = json.loads(pointer.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(data, dict):
        return None
    pid, name = data.get("pid"), data.get("file")
    if not isinstance(pid, int) or not isinstance(name, str) or not pid_alive(pid):
        return None
    if not (name.startswith(_PREFIX) and name.endswith(_SUFFIX)) or "/" in name:
        return None
    path = pointer.parent / name
    return path if path.is_file() else None


def _copy(source: Path, target: Path) -> None:
    """Copy the store file from another process.

    DuckDB holds its lock with a POSIX record lock, and POSIX drops every such lock a
    process holds on a file as soon as the process closes *any* descriptor of that
    file: copying it here would quietly unlock the store for other writers.
    """
    subprocess.run(
        ["cp", "--reflink=auto", "--", str(source), str(target)],
        check=True,
        capture_output=True,
        timeout=3600,
    )


class Publisher:
    """Publishes generations of one store; used by the process that writes it."""

    def __init__(self, store_path: Path, *, pid: int | None = None) -> None:
        self.store_path = store_path
        self.dir = published_dir(store_path)
        self.pid = os.getpid() if pid is None else pid
        self.generation = 0
        # Whatever a previous server left (after a kill) is of no use to anyone.
        self.retire()
        try:
            self.dir.mkdir(exist_ok=True)
        except OSError as exc:
            raise StoreError(f"{self.dir}: cannot create: {exc.strerror or exc}") from exc

    def publish(self, con: duckdb.DuckDBPyConnection) -> Path:
        """Checkpoint ``con``'s store and publish a copy; return the new generation's file.

        The caller holds the store's write lock: no transaction may run between the
        checkpoint and the end of the copy.
        """
        self.generation += 1
        target = self.dir / f"{_PREFIX}{self.generation:09d}{_SUFFIX}"
        tmp = self.dir / f".{target.name}.tmp"
        try:
            con.execute("CHECKPOINT")
            _copy(self.store_path, tmp)
            with tmp.open("rb+") as f:
                os.fsync(f.fileno())
            os.replace(tmp, target)
            pointer = {"pid": self.pid, "file": target.name, "generation": self.generation}
            write_durably(self.dir / POINTER, json.dumps(pointer).encode())
        except (OSError, subprocess.SubprocessError, duckdb.Error) as exc:
            with contextlib.suppress(OSError):
                tmp.unlink()
            raise StoreError(f"{self.dir}: publishing a snapshot failed: {exc}") from exc
        for old in self.dir.glob(f"{_PREFIX}*{_SUFFIX}"):
            if old.name < f"{_PREFIX}{self.generation - 1:09d}{_SUFFIX}":
                with contextlib.suppress(OSError):
                    old.unlink()
        return target

    def retire(self) -> None:
        """Remove every snapshot: readers then open the store itself again."""
        with contextlib.suppress(OSError):
            (self.dir / POINTER).unlink()
        shutil.rmtree(self.dir, ignore_errors=True)
