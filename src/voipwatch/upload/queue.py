"""The probe's upload queue: measurements wait here until a collector acknowledges them.

One file per measurement, written whole (temporary file, flushed, renamed), so a
crash or a full disk never leaves half a measurement to send. A measurement leaves
``pending/`` only when a collector acknowledged it (deleted) or refused it for good
(moved to ``rejected/`` beside a ``.reason`` file): nothing is dropped silently.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
from pathlib import Path

import platformdirs

from voipwatch.durable import write_durably


def default_queue() -> Path:
    return Path(platformdirs.user_data_dir("voipwatch")) / "upload-queue"


class Queue:
    """The queue at ``root`` (made on first use)."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.pending_dir = root / "pending"
        self.rejected_dir = root / "rejected"
        for d in (self.pending_dir, self.rejected_dir):
            d.mkdir(parents=True, exist_ok=True)

    def put(self, measurement: bytes) -> Path:
        """Queue one measurement (JSON bytes); the same bytes twice are queued once."""
        name = hashlib.sha256(measurement).hexdigest()[:32] + ".json"
        dest = self.pending_dir / name
        write_durably(dest, measurement, tmp_dir=self.root)
        return dest

    def pending(self) -> list[Path]:
        """The measurements still to send, oldest first."""
        files = [p for p in self.pending_dir.glob("*.json") if p.is_file()]
        return sorted(files, key=lambda p: (p.stat().st_mtime_ns, p.name))

    def sent(self, path: Path) -> None:
        with contextlib.suppress(FileNotFoundError):
            path.unlink()

    def reject(self, path: Path, reason: str) -> Path:
        """Keep a measurement the collector refused for good, with the reason."""
        dest = self.rejected_dir / path.name
        (self.rejected_dir / f"{path.stem}.reason").write_text(reason + "\n", encoding="utf-8")
        os.replace(path, dest)
        return dest
