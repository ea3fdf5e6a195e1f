"""Importers of documented cases: OONI incidents, Access Now STOP, CenAlert, and our own
export. Each turns one file into :class:`~voipwatch.cases.model.SourceRecord` rows (pure:
bytes in, a :class:`Batch` out); the format is detected from the content unless named.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime
from pathlib import Path

import msgspec.structs

from voipwatch.cases.importers.cenalert import read_cenalert
from voipwatch.cases.importers.common import Batch
from voipwatch.cases.importers.native import read_native
from voipwatch.cases.importers.ooni import read_ooni
from voipwatch.cases.importers.stop import read_stop
from voipwatch.errors import InputError, UsageError

__all__ = ["READERS", "Batch", "detect_format", "read_cases", "read_file"]

Reader = Callable[..., Batch]
READERS: dict[str, Reader] = {
    "ooni": read_ooni,
    "stop": read_stop,
    "cenalert": read_cenalert,
    "voipwatch": read_native,
}


def detect_format(data: bytes) -> str | None:
    """Which reader a file is for, from its first bytes; None when none fits."""
    head = data[:4096].decode("utf-8-sig", errors="replace").lstrip()
    if head.startswith("{") or head.startswith("["):
        if '"incidents"' in head or '"test_names"' in head or '"CCs"' in head:
            return "ooni"
        return "voipwatch"
    first = head.splitlines()[0].lower() if head else ""
    cols = {c.strip().strip('"') for c in first.split(",")}
    if {"shutdown_extent", "start_date"} <= cols:
        return "stop"
    if {"affected_services", "country_code"} <= cols:
        return "cenalert"
    if {"ccs", "test_names"} <= cols:
        return "ooni"
    return None


def read_cases(
    data: bytes, *, file: str, source: str | None = None, today: date | None = None
) -> Batch:
    """Parse one file's bytes with the reader ``source`` names, or the detected one."""
    fmt = source or detect_format(data)
    if fmt is None:
        raise InputError(
            "format not recognised (not OONI incidents, an Access Now STOP sheet, a CenAlert "
            "list or a voipwatch export); name it with --source",
            source=file,
        )
    if fmt not in READERS:
        raise UsageError(f"--source: {fmt!r} is not one of {', '.join(READERS)}")
    day = today or datetime.now(UTC).date()
    try:
        batch = READERS[fmt](data, file=file, today=day)
    except RecursionError:
        # msgspec (and any reader) gives up on absurdly deep JSON; no real case file nests.
        raise InputError("JSON nested too deeply to read", source=file) from None
    # A voipwatch export keeps the day its records were first read.
    batch.records = [
        r if r.as_of is not None else msgspec.structs.replace(r, as_of=day) for r in batch.records
    ]
    return batch


def read_file(path: Path, *, source: str | None = None, today: date | None = None) -> Batch:
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise InputError(f"cannot read: {exc.strerror or exc}", source=str(path)) from None
    return read_cases(data, file=str(path), source=source, today=today)
