"""voipwatch's own case format: what ``voipwatch cases export --format json`` writes, or
cases written by hand in the same shape (JSON lines, or a JSON list).

A case with ``sources`` brings each source record back as exported; a case without is
one record of source ``voipwatch``. Here the apps are checked strictly: each must be a
catalogue service (or one of its names), since no source text stands behind them.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from typing import Any

import msgspec

from voipwatch.cases.importers.common import Batch, Content, as_bytes, check_dates, resolve_country
from voipwatch.cases.model import KINDS, SOURCES, SourceRecord, record_digest
from voipwatch.cases.names import PSEUDO_APPS, app_for
from voipwatch.errors import InputError
from voipwatch.untrusted import web_link


def _record(obj: dict[str, Any], *, file: str, line: int, today: date) -> SourceRecord:
    obj = {k: v for k, v in obj.items() if k in SourceRecord.__struct_fields__}
    source = obj.get("source") or "voipwatch"
    if source not in SOURCES:
        raise ValueError(f"unknown source {source!r} (one of {', '.join(SOURCES)})")
    if not obj.get("country"):
        raise ValueError("no country")
    obj["country"] = resolve_country(str(obj["country"]))
    names = obj.get("apps") or []
    if not isinstance(names, list):
        raise ValueError(f"apps must be a list of app names, not {names!r}")
    apps = []
    for name in names:
        app = app_for(str(name))
        if app is None:
            raise ValueError(f"unknown app {name!r} (not in the service catalogue)")
        if app not in PSEUDO_APPS:
            apps.append(app)
    obj["apps"] = sorted(set(apps))
    if obj.get("kind") not in KINDS:
        raise ValueError(f"kind {obj.get('kind')!r} is not one of {', '.join(KINDS)}")
    if not obj.get("start"):
        raise ValueError("no start date")
    obj["source"] = source
    if not obj.get("record_id"):
        obj["record_id"] = record_digest(
            obj["country"], str(obj["start"]), ",".join(obj["apps"]), str(obj.get("region", ""))
        )
    links = obj.get("links")
    if isinstance(links, list):
        # Only web links: a javascript: or data: link would become a live link in a brief.
        obj["links"] = [u for u in map(web_link, links) if u]
    obj["file"], obj["line"] = file, line
    try:
        rec = msgspec.convert(obj, SourceRecord)
    except msgspec.ValidationError as exc:
        raise ValueError(str(exc)) from None
    check_dates(rec.start, rec.end, today=today)
    if rec.end is not None and rec.end < rec.start:
        raise ValueError(f"end {rec.end} is before start {rec.start}")
    return rec


def read_native(
    data: Content,
    *,
    file: str,
    today: date,
    sink: Callable[[SourceRecord], None] | None = None,
) -> Batch:
    batch = Batch(source="voipwatch", sink=sink)
    text = as_bytes(data).decode("utf-8-sig", errors="replace").strip()
    items: list[tuple[int, Any]] = []
    if text.startswith("["):
        try:
            items = list(enumerate(msgspec.json.decode(text), 1))
        except msgspec.DecodeError as exc:
            raise InputError(f"not valid JSON ({exc})", source=file) from None
    else:
        for n, raw in enumerate(text.splitlines(), 1):
            if not raw.strip():
                continue
            try:
                items.append((n, msgspec.json.decode(raw)))
            except msgspec.DecodeError as exc:
                batch.problems.append(InputError(f"not valid JSON ({exc})", source=file, line=n))
    for n, obj in items:
        batch.rows += 1
        if not isinstance(obj, dict):
            batch.problems.append(InputError("not a JSON object", source=file, line=n))
            continue
        parts = obj.get("sources") or [obj]
        if not isinstance(parts, list):
            batch.problems.append(
                InputError("sources must be a list of source records", source=file, line=n)
            )
            continue
        for part in parts:
            try:
                if not isinstance(part, dict):
                    raise ValueError("a source that is not an object")
                batch.add(_record(part, file=file, line=n, today=today))
            except ValueError as exc:
                batch.problems.append(InputError(str(exc), source=file, line=n))
    return batch
