"""Cases as JSON objects and CSV rows (pure: cases in, dicts and text out).

The JSON form is the whole case — sources, annotations, matched events with their
measurements, and the cost — and is what ``voipwatch cases import`` reads back. The CSV
form is one flat row per case (lists joined with ``; ``) for spreadsheets, or one row
per source record, annotation or matched event.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable
from typing import Any

import msgspec

from voipwatch.cases.model import Case
from voipwatch.events import Event
from voipwatch.untrusted import csv_cell

CASE_COLUMNS = (
    "case_id",
    "country",
    "region",
    "kind",
    "apps",
    "other_services",
    "networks",
    "operators",
    "start",
    "start_precision",
    "end",
    "end_precision",
    "end_status",
    "status",
    "title",
    "cause",
    "legal_basis",
    "sources",
    "reported_by",
    "links",
    "events",
    "notes",
    "cost_low",
    "cost_central",
    "cost_high",
    "cost_upper_bound_full_shutdown",
    "cost_currency",
    "cost_note",
)
SOURCE_COLUMNS = (
    "case_id",
    "source",
    "record_id",
    "country",
    "region",
    "apps",
    "kind",
    "start",
    "start_precision",
    "end",
    "end_status",
    "title",
    "cause",
    "legal_basis",
    "reported_by",
    "links",
    "services_stated",
    "file",
    "line",
)
ANNOTATION_COLUMNS = ("case_id", "at", "status", "legal_basis", "note", "links", "author")
EVENT_COLUMNS = (
    "case_id",
    "event_id",
    "reason",
    "service",
    "asns",
    "techniques",
    "start",
    "end",
    "confidence",
    "measurements",
)
TABLES = ("cases", "sources", "annotations", "events")


def _join(items: Iterable[object]) -> str:
    return "; ".join(str(i) for i in items)


def event_summary(event: Event, reason: str, cost: dict[str, object] | None) -> dict[str, Any]:
    """What a case shows of a matched event: its measurements, not the whole evidence."""
    out: dict[str, Any] = {
        "event_id": event.event_id,
        "reason": reason,
        "kind": event.kind,
        "service": event.service,
        "asns": event.asns,
        "national": event.national,
        "roles": event.roles,
        "plane": event.plane,
        "techniques": event.techniques,
        "start": event.start.isoformat(),
        "end": event.end.isoformat() if event.end else None,
        "confidence": event.confidence,
        "measurements": event.measurements,
        "blocked_share": event.blocked_share,
    }
    if cost is not None:
        out["cost"] = cost
    return out


def case_dict(
    case: Case,
    *,
    cost: dict[str, object] | None = None,
    events: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """The JSON object of a case: the case itself, its matched events and its cost."""
    out: dict[str, Any] = {"case_id": case.case_id, **msgspec.to_builtins(case)}
    out["links"] = case.links
    if events is not None:
        out["event_details"] = events
    if cost is not None:
        out["cost"] = cost
    return out


def case_row(case: Case, cost: dict[str, object] | None = None) -> dict[str, object]:
    cost = cost or {}
    available = bool(cost.get("available"))
    return {
        "case_id": case.case_id,
        "country": case.country,
        "region": case.region,
        "kind": case.kind,
        "apps": _join(case.apps),
        "other_services": _join(case.other_services),
        "networks": _join(case.networks),
        "operators": _join(case.operators),
        "start": case.start.isoformat(),
        "start_precision": case.start_precision,
        "end": case.end.isoformat() if case.end else "",
        "end_precision": case.end_precision,
        "end_status": case.end_status,
        "status": case.status,
        "title": case.title,
        "cause": case.cause,
        "legal_basis": case.legal_basis,
        "sources": _join(f"{s.source}:{s.record_id}" for s in case.sources),
        "reported_by": _join(dict.fromkeys(r for s in case.sources for r in s.reported_by)),
        "links": _join(case.links),
        "events": _join(case.events),
        "notes": _join(a.note for a in case.annotations if a.note),
        "cost_low": cost.get("low", "") if available else "",
        "cost_central": cost.get("central", "") if available else "",
        "cost_high": cost.get("high", "") if available else "",
        "cost_upper_bound_full_shutdown": (
            cost.get("upper_bound_full_shutdown", "") if available else ""
        ),
        "cost_currency": cost.get("currency", "") if available else "",
        "cost_note": "" if available else str(cost.get("reason", "")),
    }


def source_rows(case: Case) -> list[dict[str, object]]:
    return [
        {
            "case_id": case.case_id,
            "source": s.source,
            "record_id": s.record_id,
            "country": s.country,
            "region": s.region,
            "apps": _join(s.apps),
            "kind": s.kind,
            "start": s.start.isoformat(),
            "start_precision": s.start_precision,
            "end": s.end.isoformat() if s.end else "",
            "end_status": s.end_status,
            "title": s.title,
            "cause": s.cause,
            "legal_basis": s.legal_basis,
            "reported_by": _join(s.reported_by),
            "links": _join(s.links),
            "services_stated": s.services_stated,
            "file": s.file,
            "line": s.line,
        }
        for s in case.sources
    ]


def annotation_rows(case: Case) -> list[dict[str, object]]:
    return [
        {
            "case_id": case.case_id,
            "at": a.at.isoformat(),
            "status": a.status or "",
            "legal_basis": a.legal_basis,
            "note": a.note,
            "links": _join(a.links),
            "author": a.author,
        }
        for a in case.annotations
    ]


def event_rows(case_id: str, events: list[dict[str, Any]]) -> list[dict[str, object]]:
    return [
        {
            "case_id": case_id,
            "event_id": e["event_id"],
            "reason": e["reason"],
            "service": e.get("service", ""),
            "asns": _join(e.get("asns", [])),
            "techniques": _join(e.get("techniques", [])),
            "start": e.get("start", ""),
            "end": e.get("end") or "",
            "confidence": e.get("confidence", ""),
            "measurements": e.get("measurements", ""),
        }
        for e in events
    ]


def to_csv(columns: tuple[str, ...], rows: Iterable[dict[str, object]]) -> str:
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=list(columns), lineterminator="\n")
    writer.writeheader()
    # Case titles, causes and sources are imported text: a spreadsheet must not run them.
    writer.writerows({k: csv_cell(v) for k, v in r.items()} for r in rows)
    return buf.getvalue()
