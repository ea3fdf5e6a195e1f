"""The store queries behind the API and the pages (parameterised SQL, rows out).

Aggregations go through :mod:`voipwatch.store.aggregate`, so a page's chart and the
API's ``/api/v1/aggregation`` count the same rows the same way. This module adds what
the aggregation does not answer: lists of measurements, one measurement with its
verdicts and evidence; "current blocks" are :mod:`voipwatch.events.current`'s, imported
here so the API and the pages take them from one place. User values are only ever
bound as parameters.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final

import duckdb
import orjson
import zstandard

from voipwatch.errors import UsageError
from voipwatch.events import current_blocks as current_blocks
from voipwatch.events import latest_time as latest_time
from voipwatch.store.aggregate import (
    MEASUREMENT_STATUSES,
    ROLE_STATUSES,
    AggregateQuery,
    _in,
    measurement_conditions,
    parse_query,
    role_conditions,
)
from voipwatch.store.rows import decompress
from voipwatch.views.plain import Plain

#: Role statuses that say an app part is (at least partly) blocked.
BLOCKING: Final = ("blocked", "partial")
#: Largest page of ``/api/v1/measurements`` and the deepest offset (query cost).
MAX_LIMIT: Final = 1000
MAX_OFFSET: Final = 100_000
UID_PATTERN: Final = r"^[A-Za-z0-9._-]{1,128}$"


@dataclass(frozen=True, kw_only=True, slots=True)
class MeasurementFilter:
    """Which measurements to list: the aggregation's filters plus statuses."""

    query: AggregateQuery
    status: tuple[str, ...] = ()
    verdict_status: tuple[str, ...] = ()
    report_id: str | None = None
    order: str = "desc"


def _split(value: str | None) -> tuple[str, ...]:
    return tuple(v.strip() for v in (value or "").split(",") if v.strip())


def parse_filter(
    *,
    status: str | None = None,
    verdict_status: str | None = None,
    report_id: str | None = None,
    order: str | None = None,
    anomaly: bool | None = None,
    confirmed: bool | None = None,
    failure: bool | None = None,
    **query: str | None,
) -> MeasurementFilter:
    """Validate a measurement-list request; OONI's tri-state flags become statuses."""
    q = parse_query(**query)
    statuses = list(_split(status))
    for s in statuses:
        if s not in MEASUREMENT_STATUSES:
            raise UsageError(f"status: {s!r} is not one of {', '.join(MEASUREMENT_STATUSES)}")
    flags = {"anomaly": anomaly, "confirmed": confirmed, "failure": failure}
    if any(v is not None for v in flags.values()):
        wanted = {
            s
            for s in MEASUREMENT_STATUSES
            if all((s == name) == value for name, value in flags.items() if value is not None)
        }
        statuses = [s for s in (statuses or MEASUREMENT_STATUSES) if s in wanted] or ["none"]
    vstatuses = _split(verdict_status)
    for s in vstatuses:
        if s not in ROLE_STATUSES:
            raise UsageError(f"verdict_status: {s!r} is not one of {', '.join(ROLE_STATUSES)}")
    direction = (order or "desc").lower()
    if direction not in ("asc", "desc"):
        raise UsageError(f"order: {order!r} is not asc or desc")
    if report_id is not None and not re.fullmatch(r"[A-Za-z0-9._-]{1,200}", report_id):
        raise UsageError(f"report_id: {report_id!r} is not a report id")
    return MeasurementFilter(
        query=q,
        status=tuple(statuses),
        verdict_status=vstatuses,
        report_id=report_id,
        order=direction,
    )


def _where(f: MeasurementFilter) -> tuple[str, list[Any]]:
    """The WHERE clause over ``measurements AS m`` for ``f``, and its parameters.

    The measurement-level conditions are the aggregation's own; role conditions
    become a semi-join, so each measurement is listed once however many roles match.
    """
    q = f.query
    params: list[Any] = []
    where = measurement_conditions(q, params)
    if f.status:
        where.append(_in("m.status", f.status, params))
    if f.report_id:
        where.append("m.report_id = ?")
        params.append(f.report_id)
    role = role_conditions(q, params)
    if f.verdict_status:
        role.append(_in("v.status", f.verdict_status, params))
    if role:
        where.append(f"m.key IN (SELECT v.key FROM verdicts AS v WHERE {' AND '.join(role)})")
    return " AND ".join(where), params


_LIST_COLUMNS: Final = (
    "measurement_uid",
    "report_id",
    "probe_cc",
    "probe_asn",
    "test_name",
    "measurement_start_time",
    "input",
    "status",
)


def list_measurements(
    cur: duckdb.DuckDBPyConnection, f: MeasurementFilter, *, offset: int, limit: int
) -> tuple[list[dict[str, Any]], bool]:
    """One page of measurements (newest first unless ``order=asc``) and whether more follow."""
    where, params = _where(f)
    direction = "ASC" if f.order == "asc" else "DESC"
    sql = (
        f"SELECT m.key, {', '.join('m.' + c for c in _LIST_COLUMNS)} FROM measurements AS m "
        f"WHERE {where} ORDER BY m.measurement_start_time {direction} NULLS LAST, m.key "
        "LIMIT ? OFFSET ?"
    )
    rows = cur.execute(sql, [*params, limit + 1, offset]).fetchall()
    more = len(rows) > limit
    rows = rows[:limit]
    keys = [r[0] for r in rows]
    blocked = _blocked_roles(cur, keys)
    out = []
    for r in rows:
        item = dict(zip(_LIST_COLUMNS, r[1:], strict=True))
        item["measurement_start_time"] = _time(item["measurement_start_time"])
        item["anomaly"] = item["status"] in ("anomaly", "confirmed")
        item["confirmed"] = item["status"] == "confirmed"
        item["failure"] = item["status"] == "failure"
        item["blocked_roles"] = blocked.get(r[0], [])
        out.append(item)
    return out, more


def _blocked_roles(cur: duckdb.DuckDBPyConnection, keys: list[str]) -> dict[str, list[str]]:
    if not keys:
        return {}
    params: list[Any] = []
    cond = _in("key", tuple(keys), params)
    rows = cur.execute(
        f"SELECT key, list(role ORDER BY role) FROM verdicts WHERE {cond} "
        f"AND status IN ('blocked', 'partial') GROUP BY key",
        params,
    ).fetchall()
    return {k: list(v) for k, v in rows}


def _time(value: datetime | None) -> str | None:
    return value.strftime("%Y-%m-%dT%H:%M:%SZ") if value is not None else None


@dataclass(frozen=True, slots=True)
class MeasurementFacts:
    """What a list of measurements says of each (and its own answer too)."""

    measurement_uid: str
    report_id: str | None
    probe_cc: str
    probe_asn: str
    test_name: str
    measurement_start_time: str | None
    input: str | None
    status: str


@dataclass(frozen=True, slots=True)
class MeasurementHead(MeasurementFacts):
    """What the store records of a measurement, beside its raw document."""

    test_version: str | None
    rules_version: int | None
    notes: list[Plain]


@dataclass(frozen=True, slots=True)
class RoleVerdict:
    """One role's verdict with its evidence atoms (as the store holds them)."""

    service: str
    role: str
    plane: str
    status: str
    technique: str | None
    confidence: float | None
    evidence: list[Plain]
    confirmed: bool


@dataclass(frozen=True, slots=True)
class Observation:
    """What one step of the test saw."""

    layer: str
    role: str | None
    target: str | None
    ok: bool | None
    ip: str | None
    port: int | None
    operation: str | None
    failure: str | None
    detail: str | None


@dataclass(frozen=True, slots=True)
class MeasurementDossier:
    """One measurement: its head, role verdicts, observations and raw OONI document."""

    measurement: MeasurementHead
    verdicts: list[RoleVerdict]
    observations: list[Observation]
    raw_measurement: Plain


def get_measurement(cur: duckdb.DuckDBPyConnection, uid: str) -> MeasurementDossier | None:
    """One measurement's dossier, or None when the store has no such measurement."""
    row = cur.execute(
        f"SELECT key, {', '.join(_LIST_COLUMNS)}, test_version, notes, rules_version, "
        "source, raw_zstd FROM measurements WHERE measurement_uid = ? ORDER BY key LIMIT 1",
        [uid],
    ).fetchone()
    if row is None:
        return None
    key = row[0]
    uid_, report_id, probe_cc, probe_asn, test_name, start, input_, status = row[1:9]
    head = MeasurementHead(
        measurement_uid=uid_,
        report_id=report_id,
        probe_cc=probe_cc,
        probe_asn=probe_asn,
        test_name=test_name,
        measurement_start_time=_time(start),
        input=input_,
        status=status,
        test_version=row[9],
        rules_version=row[11],
        notes=_json_list(row[10]),
    )
    verdicts = [
        RoleVerdict(
            service=v[0],
            role=v[1],
            plane=v[2],
            status=v[3],
            technique=v[4],
            confidence=v[5],
            evidence=_json_list(v[6]),
            confirmed=bool(v[7]),
        )
        for v in cur.execute(
            "SELECT service, role, plane, status, technique, confidence, evidence, confirmed "
            "FROM verdicts WHERE key = ? ORDER BY idx",
            [key],
        ).fetchall()
    ]
    observations = [
        Observation(*o)
        for o in cur.execute(
            "SELECT layer, role, target, ok, ip, port, operation, failure, detail "
            "FROM observations WHERE key = ? ORDER BY idx",
            [key],
        ).fetchall()
    ]
    try:
        raw: Plain = orjson.loads(decompress(row[13]))
    except (orjson.JSONDecodeError, ValueError, zstandard.ZstdError):
        raw = None
    return MeasurementDossier(head, verdicts, observations, raw)


def _json_list(text: str | None) -> list[Plain]:
    if not text:
        return []
    try:
        value = json.loads(text)
    except ValueError:
        return [text]
    return value if isinstance(value, list) else [value]


def countries(cur: duckdb.DuckDBPyConnection) -> list[dict[str, Any]]:
    """Every country in the store with its measurement count and time range."""
    rows = cur.execute(
        "SELECT probe_cc, count(*), min(measurement_start_time), max(measurement_start_time) "
        "FROM measurements WHERE status <> 'unsupported' GROUP BY probe_cc ORDER BY probe_cc"
    ).fetchall()
    return [
        {"probe_cc": r[0], "measurement_count": r[1], "first": _time(r[2]), "last": _time(r[3])}
        for r in rows
    ]


def networks(cur: duckdb.DuckDBPyConnection, probe_cc: str) -> list[dict[str, Any]]:
    """The networks of a country, with counts of measurements and of blocked verdicts."""
    rows = cur.execute(
        """
        SELECT m.probe_asn, count(DISTINCT m.key),
               count(*) FILTER (WHERE v.status IN ('blocked', 'partial'))
        FROM measurements AS m LEFT JOIN verdicts AS v ON v.key = m.key
        WHERE m.probe_cc = ? AND m.status <> 'unsupported'
        GROUP BY m.probe_asn ORDER BY count(DISTINCT m.key) DESC, m.probe_asn
        """,
        [probe_cc],
    ).fetchall()
    return [{"probe_asn": r[0], "measurement_count": r[1], "blocked_verdicts": r[2]} for r in rows]


def services(cur: duckdb.DuckDBPyConnection) -> list[str]:
    rows = cur.execute("SELECT DISTINCT service FROM verdicts ORDER BY service").fetchall()
    return [r[0] for r in rows]


def country_services(cur: duckdb.DuckDBPyConnection, probe_cc: str) -> list[str]:
    """The apps with role verdicts in a country."""
    rows = cur.execute(
        "SELECT DISTINCT v.service FROM verdicts v JOIN measurements m ON m.key = v.key "
        "WHERE m.probe_cc = ? ORDER BY 1",
        [probe_cc],
    ).fetchall()
    return [r[0] for r in rows]


def measurement_count(cur: duckdb.DuckDBPyConnection) -> int:
    """How many measurements the store holds (judged or not)."""
    row = cur.execute("SELECT count(*) FROM measurements").fetchone()
    return int(row[0]) if row else 0


def network_periods(
    cur: duckdb.DuckDBPyConnection,
) -> list[tuple[str, str, datetime | None, datetime | None]]:
    """Each measured network: its country, its ASN, its first and last measurement."""
    rows = cur.execute(
        "SELECT probe_cc, probe_asn, min(measurement_start_time), "
        "max(measurement_start_time) FROM measurements GROUP BY ALL"
    ).fetchall()
    return [(str(cc), str(asn), lo, hi) for cc, asn, lo, hi in rows]
