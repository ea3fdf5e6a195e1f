"""Circumvention-usage series: daily use of Tor, Psiphon or a VPN per country, from CSV.

Two shapes are read:

* Tor Metrics' per-country user estimates (``userstats-relay-country`` and
  ``userstats-bridge-country``, https://metrics.torproject.org/): ``#`` comment lines,
  then ``date,country,users,lower,upper,frac``, lower-case country codes, an empty
  country for the world total and Tor's own pseudo-codes (``??``, ``a1``, ``a2``,
  ``o1``, ``ap``, ``eu``) for users of no one country. The tool is Tor.
* a generic ``date,country,users`` (or ``value``, ``clients``, ``count``) file, as
  Psiphon and others publish; a ``# tool: NAME`` comment names the tool.

A malformed row (a bad date or number, a negative count, a country code that is not
ISO 3166) is a problem with the file and its line; the good rows are kept. Only a file
that cannot be read at all, or whose header lacks the columns, stops the import.
"""

from __future__ import annotations

import csv
import io
import math
import re
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Final

import pycountry

from voipwatch.errors import InputError

VALUE_COLUMNS: Final = ("value", "users", "clients", "count")
#: The columns that make a file Tor Metrics' (besides date, country and users).
TOR_METRICS_COLUMNS: Final = ("lower", "upper", "frac")
#: Tor Metrics' codes for users of no one country: unknown, anonymous proxy,
#: satellite provider, other, Asia/Pacific, Europe (MaxMind's legacy codes).
NOT_A_COUNTRY: Final = frozenset({"??", "a1", "a2", "o1", "ap", "eu"})
_MISSING: Final = frozenset({"", "NA", "NaN", "null"})
_TOOL: Final = re.compile(r"^#\s*tool\s*:\s*(.+?)\s*$", re.IGNORECASE)


@dataclass(frozen=True, slots=True)
class UsageRow:
    date: date
    country: str
    value: float


@dataclass(frozen=True, slots=True)
class BadRow:
    """A row left out: where and why (``error``), and its text for the quarantine."""

    error: InputError
    text: str


@dataclass(slots=True)
class UsageFile:
    """One usage file read: its rows, the tool they count, what was left out and why.

    ``source`` is the file's name (the series' name in the store). ``skipped`` counts
    rows about no one country or with no figure (world totals, ``??``, ``NA``), which
    are not errors.
    """

    source: str
    tool: str
    shape: str  # "tor-metrics" or "generic"
    rows: list[UsageRow] = field(default_factory=list)
    bad: list[BadRow] = field(default_factory=list)
    skipped: int = 0


#: Codes in use for a country that ISO 3166 has not assigned: Kosovo (as MaxMind's
#: databases, and so Tor Metrics and OONI, write it).
USER_ASSIGNED: Final = frozenset({"XK"})


def is_country(cc: str) -> bool:
    """Whether ``cc`` is an ISO 3166-1 alpha-2 code (any case), or Kosovo's ``XK``."""
    code = cc.upper()
    return len(code) == 2 and (
        code in USER_ASSIGNED or pycountry.countries.get(alpha_2=code) is not None
    )


def read_usage_csv(path: Path) -> UsageFile:
    """A usage CSV read; malformed rows are in ``bad`` with their line, never raised.

    Raises :class:`InputError` when nothing can be read: no file, not text, no header
    with a date, a country and a value column.
    """
    source = str(path)
    try:
        text = path.read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        raise InputError("no such file", source=source) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"cannot read: {exc}", source=source) from None
    numbered = list(enumerate(text.splitlines(), 1))
    tool = next((m.group(1) for _, t in numbered if (m := _TOOL.match(t.strip()))), "")
    lines = [(n, t) for n, t in numbered if t.strip() and not t.lstrip().startswith("#")]
    if not lines:
        raise InputError("empty: expected a header with date, country and value", source=source)
    header_no, header_line = lines[0]
    header = [h.strip().lower() for h in next(csv.reader([header_line]))]
    value_col = next((c for c in VALUE_COLUMNS if c in header), None)
    missing = [c for c in ("date", "country") if c not in header]
    if missing or value_col is None:
        need = ", ".join([*missing, *([] if value_col else ["value"])])
        raise InputError(
            f"header lacks {need} (has: {', '.join(header)})", source=source, line=header_no
        )
    tor = all(c in header for c in TOR_METRICS_COLUMNS)
    out = UsageFile(
        source=path.name,
        tool=tool or ("Tor" if tor else ""),
        shape="tor-metrics" if tor else "generic",
    )
    cols = (header.index("date"), header.index("country"), header.index(value_col))
    reader = csv.reader(io.StringIO("\n".join(t for _, t in lines[1:])))
    for (n, line), fields in zip(lines[1:], reader, strict=True):
        try:
            row = _row(fields, len(header), cols)
        except ValueError as exc:
            out.bad.append(BadRow(InputError(str(exc), source=source, line=n), line))
            continue
        if row is None:
            out.skipped += 1
        else:
            out.rows.append(row)
    return out


def _row(fields: list[str], width: int, cols: tuple[int, int, int]) -> UsageRow | None:
    """One data row; None for a row about no one country or with no figure."""
    if len(fields) != width:
        raise ValueError(f"{len(fields)} fields, the header has {width}")
    raw_date, cc, raw_value = (fields[i].strip() for i in cols)
    try:
        day = date.fromisoformat(raw_date)
    except ValueError:
        raise ValueError(f"not a date (YYYY-MM-DD): {raw_date!r}") from None
    if not cc or cc.lower() in NOT_A_COUNTRY or raw_value in _MISSING:
        return None
    if not is_country(cc):
        raise ValueError(f"not a country code (ISO 3166 two letters): {cc!r}")
    try:
        value = float(raw_value)
    except ValueError:
        raise ValueError(f"not a number: {raw_value!r}") from None
    if not math.isfinite(value) or value < 0:
        raise ValueError(f"not a count of users (negative or infinite): {raw_value!r}")
    return UsageRow(day, cc.upper(), value)
