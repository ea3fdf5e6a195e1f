"""The collector's spool: where accepted measurements wait for the server's ingest.

Every write is durable before it is acknowledged: written to ``tmp/``, flushed to
disk, renamed into place (atomic on one file system) and the directory flushed. A
crash leaves either the whole file or none of it; ``tmp/`` leftovers are never read.

    <spool>/incoming/<measurement_uid>.json   one accepted measurement (JSON, one line)
    <spool>/reports/<report_id>.open          an open report's metadata
    <spool>/reports/<report_id>.closed        the same, once closed
    <spool>/tmp/                              writes in progress

Nothing here names a probe's address: reports keep the metadata the probe sent
(country, network, test, software), measurements their scrubbed content.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path
from typing import Literal

import msgspec

from voipwatch.collector.protocol import REPORT_ID, OpenReport
from voipwatch.collector.validate import Prepared
from voipwatch.durable import fsync_dir, write_durably

ReportState = Literal["open", "closed"]


class Spool:
    """The spool directory at ``root`` (made on first use)."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.incoming = root / "incoming"
        self.reports = root / "reports"
        self.tmp = root / "tmp"
        for d in (self.incoming, self.reports, self.tmp):
            d.mkdir(parents=True, exist_ok=True)

    def _write(self, dest: Path, data: bytes) -> None:
        write_durably(dest, data, tmp_dir=self.tmp)

    def open_report(self, report_id: str, meta: OpenReport) -> None:
        self._write(self.reports / f"{report_id}.open", msgspec.json.encode(meta))

    def state(self, report_id: str) -> ReportState | None:
        """``open``, ``closed``, or None for an id this collector never gave."""
        if not REPORT_ID.match(report_id):
            return None
        if (self.reports / f"{report_id}.open").is_file():
            return "open"
        if (self.reports / f"{report_id}.closed").is_file():
            return "closed"
        return None

    def meta(self, report_id: str) -> OpenReport:
        return msgspec.json.decode(
            (self.reports / f"{report_id}.open").read_bytes(), type=OpenReport
        )

    def store(self, prepared: Prepared) -> Path:
        """Keep one measurement; the same uid again replaces it with the same bytes."""
        dest = self.incoming / f"{prepared.uid}.json"
        self._write(dest, prepared.data)
        return dest

    def close(self, report_id: str) -> None:
        src = self.reports / f"{report_id}.open"
        with contextlib.suppress(FileNotFoundError):
            os.replace(src, self.reports / f"{report_id}.closed")
            fsync_dir(self.reports)
