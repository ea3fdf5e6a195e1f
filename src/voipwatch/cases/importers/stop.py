"""Access Now's #KeepItOn STOP sheet (the CSV export of its "Combined" sheet).

Kept: full-network shutdowns (they cut every app) and service-based blocks that name a
calling or messaging app (the ``whatsapp_affected`` / ``telegram_affected`` columns and
the free text of ``other_affected``). The sheet repeats a block that lasts into another
year once per year (``count_year``), sometimes with the area respelled ("National",
then "Nationwide"); rows of one country, start and extent whose years follow on from
each other are one record, read from the latest.
Dirty cells are repaired, never guessed: an end before the start is dropped, the
free-text ``duration`` only fills a missing end (as an estimate) when it is a plausible
number of hours, and estimated start dates keep that precision.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import date, timedelta
from typing import Final

from voipwatch.cases.importers.common import (
    Batch,
    Content,
    as_text,
    check_dates,
    parse_day,
    read_sheet,
    resolve_country,
)
from voipwatch.cases.model import CaseKind, EndStatus, Precision, SourceRecord, record_digest
from voipwatch.cases.names import VOIP, services_in, split_apps
from voipwatch.errors import InputError

COLUMNS = frozenset({"start_date", "country", "shutdown_extent", "end_date", "area_name"})
APP_COLUMNS = {"whatsapp_affected": "whatsapp", "telegram_affected": "telegram"}
OTHER_COLUMNS = {
    "facebook_affected": "facebook",
    "twitter_affected": "twitter",
    "instagram_affected": "instagram",
}
NATIONAL = frozenset(
    {"", "nationwide", "nation wide", "national", "countrywide", "whole country", "entire country"}
)
#: A duration past a year of hours is an Excel serial or a typo, not a duration.
MAX_DURATION_HOURS = 24 * 366
_OPERATOR_SPLIT = re.compile(r",\s*(?=[^,:]+:\s)")


def _operators(cell: str) -> list[str]:
    """``India: Airtel (Bharti Airtel), India: BSNL`` → ``["Airtel (Bharti Airtel)", "BSNL"]``."""
    out = []
    for part in _OPERATOR_SPLIT.split(cell):
        name = part.split(":", 1)[1] if ":" in part else part
        if name.strip():
            out.append(name.strip())
    return out


def _links(*cells: str) -> list[str]:
    found: dict[str, None] = {}
    for cell in cells:
        for url in re.findall(r"https?://[^\s;,]+", cell):
            found[url.rstrip(".")] = None
    return list(found)


#: Access platforms STOP files as "Full network" when they alone are banned (their
#: sale, import, licence or use) while every other network works.
PLATFORMS: Final = frozenset({"starlink"})
#: Words that say the Internet or a network itself was cut, not only a platform.
_OUTAGE: Final = re.compile(
    r"(?<!starlink )\b(?:internet|network|phone lines|mobile data|connectivity)\b"
    r"[^.;]{0,40}?\b(?:shut ?down|cut|disrupted)"
    r"|\b(?:network|internet) shutdown|shut ?down (?:the |all )?(?:internet|network)",
    re.IGNORECASE,
)
_PLATFORM_SPLIT: Final = re.compile(r"[,;/]|\band\b")


def platform_only(row: dict[str, str]) -> bool:
    """Whether a "Full network" row bans only an access platform, not the network.

    The services it names are platforms only (Starlink), and its text never says the
    Internet or a network was cut: Iran's 2025 ban on buying or using Starlink, Sudan's
    confiscation of Starlink kits. Tanzania's 2025 "full nationwide network shutdown,
    including Starlink" stays a shutdown.
    """
    named = [p.strip().lower() for p in _PLATFORM_SPLIT.split(row.get("other_affected", ""))]
    named = [p for p in named if p]
    if not named or any(p not in PLATFORMS for p in named):
        return False
    text = " ".join(row.get(k, "") for k in ("event", "actual_cause_details"))
    return _OUTAGE.search(text) is None


def _kind(extent: str, shutdown_type: str, apps: list[str], unnamed: str | None) -> CaseKind | None:
    service = "service-based" in extent.lower()
    full = "full network" in extent.lower()
    throttle = shutdown_type.strip().lower() == "throttle"
    if service and (apps or unnamed):
        if throttle:
            return "throttling"
        return "voip_only" if not apps and unnamed == VOIP else "service_block"
    if full:
        return "throttling" if throttle else "full_shutdown"
    return None


def _row_record(
    rows: list[dict[str, str]], *, file: str, line: int, today: date, batch: Batch
) -> list[SourceRecord]:
    """The record(s) of one block from its rows (several when it spans years)."""
    latest = max(rows, key=lambda r: r.get("count_year", ""))
    app_set: set[str] = set()
    other_set: set[str] = set()
    stated: dict[str, None] = {}
    for r in rows:
        for col, app in APP_COLUMNS.items():
            if r.get(col, "").strip().lower() == "yes":
                app_set.add(app)
                stated[app] = None
        for col, svc in OTHER_COLUMNS.items():
            if r.get(col, "").strip().lower() == "yes":
                other_set.add(svc)
                stated[svc] = None
        if r.get("other_affected", "").strip():
            named, others = services_in(r["other_affected"])
            app_set.update(named)
            other_set.update(others)
            stated[r["other_affected"].strip()] = None
    apps, unnamed = split_apps(sorted(app_set))
    kind = _kind(latest.get("shutdown_extent", ""), latest.get("shutdown_type", ""), apps, unnamed)
    if kind == "full_shutdown" and platform_only(latest):
        kind = "platform_ban"
    if kind is None:
        batch.skipped["service block of no calling or messaging app"] += 1
        return []
    if kind in ("full_shutdown", "platform_ban") or (
        kind == "throttling" and not apps and not unnamed
    ):
        apps = []
    start = parse_day(latest["start_date"], what="start_date")
    end = parse_day(latest["end_date"], what="end_date") if latest.get("end_date") else None
    end_precision: Precision = "day" if end else "unknown"
    if end is not None and end < start:
        batch.notes["end before start (end dropped)"] += 1
        end, end_precision = None, "unknown"
    if end is None:
        try:
            hours = float(latest.get("duration", "").strip())
        except ValueError:
            hours = 0.0
        if 0 < hours <= MAX_DURATION_HOURS:
            end = start + timedelta(hours=hours)
            end = min(end, today)
            end_precision = "estimated"
            batch.notes["end estimated from duration"] += 1
    check_dates(start, end if end_precision == "day" else None, today=today)
    status = latest.get("shutdown_status", "").strip().lower()
    end_status: EndStatus = (
        "ongoing" if status == "ongoing" else "ended" if status == "ended" or end else "unknown"
    )
    area = latest.get("area_name", "").strip()
    region = "" if area.lower() in NATIONAL else area
    cause_parts = [latest.get("actual_cause", "").strip()]
    if latest.get("gov_justification", "").strip() not in ("", "Unknown"):
        cause_parts.append(f"stated justification: {latest['gov_justification'].strip()}")
    if latest.get("ordered_by", "").strip():
        cause_parts.append(f"ordered by: {latest['ordered_by'].strip()}")
    legal = latest.get("legal_method", "").strip()
    if legal.lower() in ("no", "yes", "unknown"):
        legal = ""
    links = _links(*(r.get(c, "") for r in rows for c in ("an_link", "info_source_link")))
    names = [c.strip() for c in latest["country"].split(";") if c.strip()]
    # The earliest row names the record: a newer copy of the sheet adds later years.
    earliest = min(rows, key=lambda r: r.get("count_year", ""))
    first_area = earliest.get("area_name", "").strip()
    ident = (
        earliest["country"],
        earliest["start_date"],
        "" if first_area.lower() in NATIONAL else first_area,
        earliest.get("shutdown_extent", ""),
    )
    records = []
    for name in names:
        cc = resolve_country(name)
        if cc == "SO" and name.lower() == "somaliland" and not region:
            region = "Somaliland"
        rid = record_digest(*ident) if len(names) == 1 else record_digest(*ident, cc)
        records.append(
            SourceRecord(
                source="stop",
                record_id=rid,
                country=cc,
                region=region,
                operators=_operators(latest.get("telcos_involved", "")),
                apps=apps,
                other_services=sorted(other_set),
                kind=kind,
                start=start,
                start_precision=(
                    "estimated"
                    if latest.get("start_date_type", "").strip().lower() == "estimated"
                    else "day"
                ),
                end=end,
                end_precision=end_precision,
                end_status=end_status,
                title=latest.get("event", "").strip()[:300],
                cause="; ".join(p for p in cause_parts if p),
                legal_basis=legal,
                reported_by=["Access Now"],
                links=links,
                services_stated="; ".join(stated),
                file=file,
                line=line,
            )
        )
    return records


def _years(members: list[tuple[int, dict[str, str]]]) -> list[str]:
    return sorted(r.get("count_year", "") for _, r in members)


def _fold_years(
    groups: dict[tuple[str, ...], list[tuple[int, dict[str, str]]]],
) -> list[list[tuple[int, dict[str, str]]]]:
    """Join groups of one country, start and extent whose years follow on (a block
    listed again in a later year under a respelled area), in the sheet's order."""
    chains: dict[tuple[str, ...], list[list[tuple[int, dict[str, str]]]]] = {}
    for key, members in sorted(groups.items(), key=lambda kv: (_years(kv[1]), kv[1][0][0])):
        bucket = chains.setdefault(key[:3], [])
        for chain in bucket:
            if _years(chain)[-1] < _years(members)[0]:
                chain.extend(members)
                break
        else:
            bucket.append(list(members))
    return sorted((c for b in chains.values() for c in b), key=lambda c: c[0][0])


def read_stop(
    data: Content,
    *,
    file: str,
    today: date,
    sink: Callable[[SourceRecord], None] | None = None,
) -> Batch:
    # Rows are grouped before they become records (a block repeated per year is one),
    # so a STOP sheet is held whole; it has a few thousand rows.
    batch = Batch(source="stop", sink=sink)
    with as_text(data) as text:
        rows = read_sheet(text, source=file, columns=COLUMNS, kind="an Access Now STOP sheet")
        groups: dict[tuple[str, ...], list[tuple[int, dict[str, str]]]] = {}
        for line, row in rows:
            batch.rows += 1
            if batch.overfull(row, source=file, line=line):
                continue
            if not row.get("start_date", "").strip() or not row.get("country", "").strip():
                batch.problems.append(
                    InputError("row without a start_date or country", source=file, line=line)
                )
                continue
            area = row.get("area_name", "").strip()
            key = (
                row["country"].strip(),
                row["start_date"].strip(),
                row.get("shutdown_extent", "").strip(),
                "" if area.lower() in NATIONAL else area,
            )
            groups.setdefault(key, []).append((line, row))
        for members in _fold_years(groups):
            if len(members) > 1:
                batch.skipped["repeats a block of another year's row"] += len(members) - 1
            line = members[0][0]
            try:
                for record in _row_record(
                    [r for _, r in members], file=file, line=line, today=today, batch=batch
                ):
                    batch.add(record)
            except ValueError as exc:
                batch.problems.append(InputError(str(exc), source=file, line=line))
    return batch
