"""What every importer shares: the batch it returns, dates, and the checks on a record."""

from __future__ import annotations

import csv
import io
from collections import Counter
from collections.abc import Callable, Iterator, Set
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import BinaryIO, TextIO

from voipwatch.cases.model import SourceRecord
from voipwatch.cases.names import country_code
from voipwatch.errors import InputError


@dataclass
class Batch:
    """What one file yielded: records, rows left out on purpose (by reason), and bad rows.

    ``problems`` make the whole import fail (one transaction: nothing is written);
    ``skipped`` rows are fine but not about calls or messaging, or repeat a record.
    """

    source: str
    records: list[SourceRecord] = field(default_factory=list)
    skipped: Counter[str] = field(default_factory=Counter)
    #: Dirty cells repaired (by what was done), for the import summary.
    notes: Counter[str] = field(default_factory=Counter)
    problems: list[InputError] = field(default_factory=list)
    rows: int = 0
    #: Where records go instead of ``records`` when given: an import streams them to
    #: the store, so a file of a million rows is never held whole.
    sink: Callable[[SourceRecord], None] | None = None

    def add(self, record: SourceRecord) -> None:
        if self.sink is None:
            self.records.append(record)
        else:
            self.sink(record)

    def overfull(self, row: dict[str, str], *, source: str, line: int) -> bool:
        """Whether ``row`` has more cells than the header has columns (as :func:`read_csv`
        marks it), counted as a problem: such a row is read no further."""
        if not row.get(""):
            return False
        self.problems.append(
            InputError("more cells than the header has columns", source=source, line=line)
        )
        return True


#: A file's content: its bytes, or the open file (read as it is parsed).
Content = bytes | BinaryIO


@contextmanager
def as_text(data: Content) -> Iterator[TextIO]:
    """The content as text, decoded as it is read (a byte-order mark dropped); an open
    file is left open for its owner to close."""
    raw = io.BytesIO(data) if isinstance(data, bytes) else data
    text = io.TextIOWrapper(raw, encoding="utf-8-sig", errors="replace", newline="")
    try:
        yield text
    finally:
        text.detach()


def as_bytes(data: Content) -> bytes:
    """The whole content (JSON documents are parsed whole)."""
    return data if isinstance(data, bytes) else data.read()


def parse_day(value: str, *, what: str) -> date:
    """A day from ``YYYY-MM-DD`` or an ISO timestamp (``2023-04-27T00:00:00.000000Z``)."""
    text = value.strip()
    try:
        if len(text) == 10:
            return date.fromisoformat(text)
        return datetime.fromisoformat(text.replace("Z", "+00:00")).date()
    except ValueError:
        raise ValueError(f"{what} {value!r} is not a date (YYYY-MM-DD)") from None


def resolve_country(name: str) -> str:
    code = country_code(name)
    if code is None:
        raise ValueError(f"unknown country {name!r}")
    return code


def check_dates(start: date, end: date | None, *, today: date) -> None:
    """Dates a source cannot know yet are an error, not a forecast."""
    if start > today:
        raise ValueError(f"start {start.isoformat()} is in the future")
    if end is not None and end > today:
        raise ValueError(f"end {end.isoformat()} is in the future")


def split_list(value: str) -> list[str]:
    """Items of a cell that holds a list (``a; b``, ``a, b``), empty ones dropped."""
    sep = ";" if ";" in value else ","
    return [p.strip() for p in value.split(sep) if p.strip()]


def read_csv(
    text: str | TextIO, *, source: str
) -> tuple[list[str], Iterator[tuple[int, dict[str, str]]]]:
    """Header and (line, row) pairs, read as they are iterated; a file csv cannot read is
    an InputError naming the line.

    A row with more cells than the header gets the extra cells under ``""`` so the
    importer can report it.
    """
    stream = io.StringIO(text) if isinstance(text, str) else text
    reader = csv.DictReader(stream, restkey="")

    def failed(exc: csv.Error) -> InputError:
        return InputError(f"not a readable CSV file ({exc})", source=source, line=reader.line_num)

    try:
        header = list(reader.fieldnames or [])
    except csv.Error as exc:
        raise failed(exc) from None

    def rows() -> Iterator[tuple[int, dict[str, str]]]:
        try:
            for row in reader:
                extra = row.pop("", None)
                cells = {k: (v or "") for k, v in row.items()}
                if extra:
                    cells[""] = ",".join(str(x) for x in extra)
                yield reader.line_num, cells
        except csv.Error as exc:
            raise failed(exc) from None

    return header, rows()


def read_sheet(
    text: str | TextIO, *, source: str, columns: Set[str], kind: str
) -> Iterator[tuple[int, dict[str, str]]]:
    """(line, row) pairs of a CSV file that must have every one of ``columns``; a file
    without them is an InputError saying it is not ``kind`` ("a CenAlert events list")."""
    header, rows = read_csv(text, source=source)
    missing = columns - set(header)
    if missing:
        raise InputError(f"not {kind}: no {', '.join(sorted(missing))} column", source=source)
    return rows
