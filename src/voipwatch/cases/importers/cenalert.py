"""CenAlert's merged list of service blocks (``events/custom/All.csv`` of the paper's data).

The list merges Access Now, OONI, NetBlocks, ISOC Pulse and the authors' own findings;
its ``source`` column says who reported each block and is kept as ``reported_by``.
Rows whose source is ``Other`` explain spikes that are not censorship (COVID, geo-
restrictions) and are left out, as are blocks that name no calling or messaging app.
The file is a concatenation: a repeated header row is skipped.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import date

from voipwatch.cases.importers.common import (
    Batch,
    Content,
    as_text,
    check_dates,
    parse_day,
    read_sheet,
    resolve_country,
)
from voipwatch.cases.model import CaseKind, SourceRecord, record_digest
from voipwatch.cases.names import VOIP, country_code, services_in, split_apps
from voipwatch.errors import InputError

COLUMNS = frozenset({"country", "country_code", "start_date", "end_date", "affected_services"})
NATIONAL = frozenset({"", "nationwide", "national", "countrywide"})


def _row_record(
    row: dict[str, str], *, file: str, line: int, today: date, batch: Batch
) -> SourceRecord | str:
    """The record of one row, or why the row is left out; ValueError when it is bad."""
    reporters = [s.strip() for s in row.get("source", "").split(",") if s.strip()]
    if reporters == ["Other"]:
        return "explains a spike that is not censorship (source Other)"
    services = row.get("affected_services", "")
    named, others = services_in(services)
    apps, unnamed = split_apps(named)
    if not apps and unnamed is None:
        return "names no calling or messaging app"
    code = row.get("country_code", "").strip()
    if code:
        if country_code(code) is None and code.upper() != "XK":
            raise ValueError(f"unknown country code {code!r}")
        cc = code.upper()
    else:
        cc = resolve_country(row.get("country", ""))
    start = parse_day(row.get("start_date", ""), what="start_date")
    end = parse_day(row["end_date"], what="end_date") if row.get("end_date", "").strip() else None
    check_dates(start, end, today=today)
    if end is not None and end < start:
        batch.notes["end before start (end dropped)"] += 1
        end = None
    kind: CaseKind = "throttling" if "throttl" in services.lower() else "service_block"
    if not apps and unnamed == VOIP:
        kind = "voip_only"
    regions = row.get("affected_regions", "").strip()
    return SourceRecord(
        source="cenalert",
        record_id=record_digest(
            cc, row.get("start_date", ""), regions, services, row.get("source", "")
        ),
        country=cc,
        region="" if regions.lower() in NATIONAL else regions,
        apps=apps,
        other_services=others,
        kind=kind,
        start=start,
        end=end,
        end_precision="day" if end else "unknown",
        end_status="ended" if end else "unknown",
        cause=row.get("cause", "").strip(),
        reported_by=reporters,
        links=list(
            dict.fromkeys(
                u.rstrip(".") for u in re.findall(r"https?://[^\s;,]+", row.get("link", ""))
            )
        ),
        services_stated=services.strip(),
        file=file,
        line=line,
    )


def read_cenalert(
    data: Content,
    *,
    file: str,
    today: date,
    sink: Callable[[SourceRecord], None] | None = None,
) -> Batch:
    batch = Batch(source="cenalert", sink=sink)
    with as_text(data) as text:
        rows = read_sheet(text, source=file, columns=COLUMNS, kind="a CenAlert events list")
        seen: set[str] = set()
        for line, row in rows:
            if row.get("country") == "country" and row.get("country_code") == "country_code":
                continue  # the header again, where two lists were concatenated
            batch.rows += 1
            if batch.overfull(row, source=file, line=line):
                continue
            try:
                got = _row_record(row, file=file, line=line, today=today, batch=batch)
            except ValueError as exc:
                batch.problems.append(InputError(str(exc), source=file, line=line))
                continue
            if isinstance(got, str):
                batch.skipped[got] += 1
            elif got.record_id in seen:
                batch.skipped["repeats another row"] += 1
            else:
                seen.add(got.record_id)
                batch.add(got)
    return batch
