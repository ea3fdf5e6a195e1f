"""The watched folder: files wait in ``incoming/`` and leave it only once stored.

A writer (a collector, a sync job, a person) puts each file into ``incoming/`` by an
atomic rename; names starting with a dot or ending in ``.tmp`` or ``.part`` are files
still being written and are left alone. After the batch holding a file has
committed, the file moves to ``done/`` — or to ``quarantine/`` when nothing in it
could be read — so a worker killed at any moment leaves the file in ``incoming/``
and takes it again on restart (ingest skips measurements already stored).
"""

from __future__ import annotations

import contextlib
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from voipwatch.durable import fsync_dir
from voipwatch.errors import StoreError
from voipwatch.ooni.reader import is_measurement_file

__all__ = ["Spool"]

_UNFINISHED: Final = (".tmp", ".part")


@dataclass(frozen=True, slots=True)
class Spool:
    """A watched directory and its three sub-directories."""

    root: Path

    @property
    def incoming(self) -> Path:
        return self.root / "incoming"

    @property
    def done(self) -> Path:
        return self.root / "done"

    @property
    def quarantine(self) -> Path:
        return self.root / "quarantine"

    def prepare(self) -> None:
        """Create the directories (the root must exist: a typo should not create one)."""
        if not self.root.is_dir():
            raise StoreError(f"{self.root}: not a directory")
        try:
            for d in (self.incoming, self.done, self.quarantine):
                d.mkdir(exist_ok=True)
        except OSError as exc:
            raise StoreError(f"{self.root}: cannot create its folders: {exc.strerror}") from exc

    def pending(self, *, max_files: int, max_bytes: int) -> list[Path]:
        """The next batch: oldest files first, at most ``max_files`` and about ``max_bytes``.

        A single file larger than ``max_bytes`` still makes a batch of its own.
        """
        found: list[tuple[int, str, Path, int]] = []
        try:
            entries = list(os.scandir(self.incoming))
        except OSError:
            return []
        for e in entries:
            if e.name.startswith(".") or e.name.endswith(_UNFINISHED):
                continue
            try:
                if not e.is_file(follow_symlinks=False):
                    continue
                st = e.stat(follow_symlinks=False)
            except OSError:
                continue
            found.append((st.st_mtime_ns, e.name, Path(e.path), st.st_size))
        found.sort()
        batch: list[Path] = []
        size = 0
        for _, _, path, n in found:
            if batch and (len(batch) >= max_files or size + n > max_bytes):
                break
            batch.append(path)
            size += n
        return batch

    def is_readable_kind(self, path: Path) -> bool:
        """Whether ingest reads files named like this one (the others go to quarantine)."""
        return is_measurement_file(path)

    def settle(self, path: Path, *, good: bool) -> Path:
        """Move an ingested file out of ``incoming/``; return where it went."""
        folder = self.done if good else self.quarantine
        target = folder / path.name
        n = 0
        while target.exists():
            n += 1
            target = folder / f"{path.stem}.{n}{path.suffix}"
        try:
            os.replace(path, target)
        except FileNotFoundError:
            return target
        except OSError as exc:
            raise StoreError(f"{path}: cannot move it to {folder}: {exc.strerror}") from exc
        with contextlib.suppress(OSError):
            fsync_dir(folder)
        return target
