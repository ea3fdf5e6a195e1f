"""Circumvention-usage series: daily use of Tor, Psiphon or a VPN per country, from CSV.

The file has a header naming ``date``, ``country`` and a value column (``value``, or
``users`` as in Tor Metrics' ``userstats`` files); ``#`` lines are comments. Any
malformed row stops the import with the file and line, so nothing partial is stored.
"""

from __future__ import annotations

import csv
import io
import math
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Final

from voipwatch.errors import InputError

VALUE_COLUMNS: Final = ("value", "users", "clients", "count")


@dataclass(frozen=True, slots=True)
class UsageRow:
    date: date
    country: str
    value: float


def read_usage_csv(path: Path) -> list[UsageRow]:
    """Rows of a usage CSV; a malformed one raises :class:`InputError` with its line.

    Rows without a country (Tor's world totals) or without a value (``NA``, empty) are
    skipped: they say nothing about one country on one day.
    """
    source = str(path)
    try:
        text = path.read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        raise InputError("no such file", source=source) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"cannot read: {exc}", source=source) from None
    lines = [(n, line) for n, line in enumerate(text.splitlines(), 1)]
    lines = [(n, line) for n, line in lines if line.strip() and not line.lstrip().startswith("#")]
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
    i_date, i_cc, i_val = header.index("date"), header.index("country"), header.index(value_col)
    rows: list[UsageRow] = []
    reader = csv.reader(io.StringIO("\n".join(line for _, line in lines[1:])))
    for (n, _), fields in zip(lines[1:], reader, strict=True):
        if len(fields) != len(header):
            raise InputError(
                f"{len(fields)} fields, the header has {len(header)}", source=source, line=n
            )
        raw_date, cc, raw_value = (
            fields[i_date].strip(),
            fields[i_cc].strip(),
            fields[i_val].strip(),
        )
        try:
            day = date.fromisoformat(raw_date)
        except ValueError:
            raise InputError(
                f"not a date (YYYY-MM-DD): {raw_date!r}", source=source, line=n
            ) from None
        if not cc or raw_value in ("", "NA", "NaN", "null"):
            continue
        if len(cc) != 2 or not cc.isalpha():
            raise InputError(f"not a two-letter country code: {cc!r}", source=source, line=n)
        try:
            value = float(raw_value)
        except ValueError:
            raise InputError(f"not a number: {raw_value!r}", source=source, line=n) from None
        if not math.isfinite(value) or value < 0:
            raise InputError(f"not a usage figure: {raw_value!r}", source=source, line=n)
        rows.append(UsageRow(day, cc.upper(), value))
    return rows
