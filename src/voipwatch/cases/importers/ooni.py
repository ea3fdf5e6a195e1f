"""OONI's published incidents (``incidents.json`` of ooni/data, or its flattened CSV).

Each incident names countries, networks (ASNs), the OONI tests whose measurements show
the block and tags; the apps are the catalogue services of those tests plus the apps
the tags and title name. Incidents that name no calling or messaging app are left out.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from typing import Any

import msgspec

from voipwatch.cases.importers.common import (
    Batch,
    Content,
    as_bytes,
    check_dates,
    parse_day,
    read_csv,
    resolve_country,
    split_list,
)
from voipwatch.cases.model import CaseKind, SourceRecord
from voipwatch.cases.names import VOIP, services_in, split_apps
from voipwatch.catalog import load as load_catalog
from voipwatch.errors import InputError
from voipwatch.untrusted import web_link

FINDINGS_URL = "https://explorer.ooni.org/findings/{id}"
CSV_COLUMNS = frozenset({"id", "title", "start_time", "end_time", "ccs", "asns", "test_names"})


def _apps_of_tests(test_names: list[str]) -> list[str]:
    by_test = {s.ooni_test: sid for sid, s in load_catalog().services.items() if s.ooni_test}
    return [by_test[t] for t in test_names if t in by_test]


def _as_list(value: Any, *, what: str) -> list[Any]:
    if value is None:
        return []
    if isinstance(value, str):
        return split_list(value)
    if not isinstance(value, list):
        raise ValueError(f"{what} is not a list")
    return value


def incident_records(
    incident: dict[str, Any], *, file: str, line: int, today: date
) -> tuple[list[SourceRecord], str]:
    """The records of one incident (one per country), or none and why it was left out.

    Raises ValueError naming the field when the incident is malformed.
    """
    iid = str(incident.get("id") or "").strip()
    if not iid:
        raise ValueError("incident without an id")
    if str(incident.get("published", True)).lower() in ("false", "f", "0"):
        return [], "not published"
    title = str(incident.get("title") or "")
    tests = [str(t) for t in _as_list(incident.get("test_names"), what="test_names")]
    tags = [str(t) for t in _as_list(incident.get("tags"), what="tags")]
    named, others = services_in("; ".join([title, *tags]))
    apps, unnamed = split_apps([*_apps_of_tests(tests), *named])
    if not apps and unnamed is None:
        return [], "names no calling or messaging app"
    raw_start = incident.get("start_time")
    if not raw_start:
        raise ValueError("incident without a start_time")
    start = parse_day(str(raw_start), what="start_time")
    raw_end = incident.get("end_time")
    end = parse_day(str(raw_end), what="end_time") if raw_end else None
    check_dates(start, end, today=today)
    if end is not None and end < start:
        raise ValueError(f"end_time {end} is before start_time {start}")
    try:
        asns = sorted(
            {
                int(str(a).upper().removeprefix("AS"))
                for a in _as_list(incident.get("ASNs", incident.get("asns")), what="ASNs")
            }
        )
    except ValueError:
        raise ValueError(f"ASNs {incident.get('ASNs')!r} are not AS numbers") from None
    ccs = [str(c) for c in _as_list(incident.get("CCs", incident.get("ccs")), what="CCs")]
    if not ccs:
        raise ValueError("incident names no country (CCs)")
    lower_tags = {t.lower() for t in tags}
    kind: CaseKind = "throttling" if "throttling" in lower_tags else "service_block"
    if not apps and unnamed == VOIP:
        kind = "voip_only"
    links = [FINDINGS_URL.format(id=iid)]
    # Only web links: a javascript: or data: link would become a live link in a brief.
    links += [u for u in map(web_link, _as_list(incident.get("links"), what="links")) if u]
    authors = str(incident.get("reported_by") or "")
    records = []
    for cc in ccs:
        records.append(
            SourceRecord(
                source="ooni",
                record_id=iid if len(ccs) == 1 else f"{iid}-{cc.upper()}",
                country=resolve_country(cc),
                asns=asns,
                apps=apps,
                other_services=others,
                kind=kind,
                start=start,
                start_precision="day",
                end=end,
                end_precision="day" if end else "unknown",
                end_status="ended" if end else "ongoing",
                title=title,
                cause=", ".join(t for t in tags if t.lower() not in {"censorship", *apps}),
                reported_by=["OONI", *([authors] if authors else [])],
                links=links,
                services_stated=", ".join(tests),
                file=file,
                line=line,
            )
        )
    return records, ""


def read_ooni(
    data: Content,
    *,
    file: str,
    today: date,
    sink: Callable[[SourceRecord], None] | None = None,
) -> Batch:
    """Parse incidents from JSON (``{"incidents": [...]}`` or a list) or the CSV form."""
    batch = Batch(source="ooni", sink=sink)
    data = as_bytes(data)
    text = data.decode("utf-8-sig", errors="replace")
    items: list[tuple[int, dict[str, Any]]]
    if text.lstrip().startswith(("{", "[")):
        try:
            doc = msgspec.json.decode(data)
        except msgspec.DecodeError as exc:
            raise InputError(f"not valid JSON ({exc})", source=file) from None
        listed = doc.get("incidents") if isinstance(doc, dict) else doc
        if not isinstance(listed, list):
            raise InputError('no list of incidents (expected {"incidents": [...]})', source=file)
        items = [(0, i) for i in listed]
    else:
        header, rows = read_csv(text, source=file)
        missing = CSV_COLUMNS - {h.lower() for h in header}
        if missing:
            raise InputError(
                f"not an OONI incidents CSV: no {', '.join(sorted(missing))} column", source=file
            )
        items = [(n, dict(r)) for n, r in rows]
    for n, (line, item) in enumerate(items, 1):
        batch.rows += 1
        where = line or n
        if not isinstance(item, dict):
            batch.problems.append(InputError("incident is not an object", source=file, line=where))
            continue
        try:
            records, why = incident_records(item, file=file, line=where, today=today)
        except ValueError as exc:
            iid = item.get("id", "?")
            batch.problems.append(InputError(f"incident {iid}: {exc}", source=file, line=where))
            continue
        if why:
            batch.skipped[why] += 1
        for record in records:
            batch.add(record)
    return batch
