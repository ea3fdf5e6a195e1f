"""Importers of documented cases: OONI incidents, Access Now STOP, CenAlert, and our own
export. Each turns one file into :class:`~voipwatch.cases.model.SourceRecord` rows (pure:
bytes in, a :class:`Batch` out); the format is detected from the content unless named.
"""

from __future__ import annotations

import io
from collections.abc import Callable
from datetime import UTC, date, datetime
from pathlib import Path
from typing import BinaryIO

import msgspec.structs

from voipwatch.cases.importers.cenalert import read_cenalert
from voipwatch.cases.importers.common import Batch, Content
from voipwatch.cases.importers.native import read_native
from voipwatch.cases.importers.ooni import read_ooni
from voipwatch.cases.importers.stop import read_stop
from voipwatch.cases.model import SourceRecord
from voipwatch.errors import InputError, InvalidValue

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
    data: Content,
    *,
    file: str,
    source: str | None = None,
    today: date | None = None,
    sink: Callable[[SourceRecord], None] | None = None,
) -> Batch:
    """Parse one file's content with the reader ``source`` names, or the detected one.

    With ``sink``, records are handed to it as they are read instead of kept in the
    batch. An open file is read from where it stands; its first bytes must be peekable
    (a buffered file) when the format is detected.
    """
    if source is None:
        head = data[:4096] if isinstance(data, bytes) else _peek(data)
        fmt = detect_format(head)
    else:
        fmt = source
    if fmt is None:
        raise InputError(
            "format not recognised (not OONI incidents, an Access Now STOP sheet, a CenAlert "
            "list or a voipwatch export); name it with --source",
            source=file,
        )
    if fmt not in READERS:
        raise InvalidValue("source", fmt, f"{fmt!r} is not one of {', '.join(READERS)}")
    day = today or datetime.now(UTC).date()

    def dated(r: SourceRecord) -> SourceRecord:
        # A voipwatch export keeps the day its records were first read.
        return r if r.as_of is not None else msgspec.structs.replace(r, as_of=day)

    out: Callable[[SourceRecord], None] | None = None
    if sink is not None:
        given = sink

        def out(r: SourceRecord) -> None:
            given(dated(r))

    try:
        batch = READERS[fmt](data, file=file, today=day, sink=out)
    except RecursionError:
        # msgspec (and any reader) gives up on absurdly deep JSON; no real case file nests.
        raise InputError("JSON nested too deeply to read", source=file) from None
    batch.records = [dated(r) for r in batch.records]
    return batch


def _peek(stream: BinaryIO) -> bytes:
    head = stream.peek(4096) if isinstance(stream, io.BufferedReader) else b""
    return head[:4096]


def read_file(
    path: Path,
    *,
    source: str | None = None,
    today: date | None = None,
    sink: Callable[[SourceRecord], None] | None = None,
) -> Batch:
    """Read one file of cases, streamed from disk (records to ``sink`` when given)."""
    try:
        with path.open("rb") as f:
            return read_cases(f, file=str(path), source=source, today=today, sink=sink)
    except OSError as exc:
        raise InputError(f"cannot read: {exc.strerror or exc}", source=str(path)) from None
