"""What a brief reads from the store: coverage, daily verdicts per role, evidence.

Parameterised queries over the store's ``measurements`` and ``verdicts`` tables,
returning plain rows that the brief's chart builders and templates read (and the
pages, for the operators' names). Events, cases, legal context and cost come from the
dossiers (:mod:`voipwatch.views.dossiers`).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import duckdb
import msgspec

from voipwatch.store.aggregate import MEASUREMENT_STATUSES, ROLE_STATUSES
from voipwatch.store.rows import decompress


@dataclass(frozen=True, slots=True)
class Coverage:
    """How much the store holds for a country: the ground every claim stands on."""

    measurements: int
    networks: list[str]
    first: datetime | None
    last: datetime | None
    tests: dict[str, int]


def period(
    since: datetime | None, until: datetime | None, column: str = "measurement_start_time"
) -> tuple[str, list[Any]]:
    """A SQL condition (`` AND …``) keeping ``column`` in ``[since, until)``, and its
    parameters; empty when neither is given."""
    sql, params = "", []
    if since is not None:
        sql += f" AND {column} >= ?"
        params.append(since.replace(tzinfo=None))
    if until is not None:
        sql += f" AND {column} < ?"
        params.append(until.replace(tzinfo=None))
    return sql, params


def coverage(
    con: duckdb.DuckDBPyConnection,
    cc: str,
    *,
    since: datetime | None = None,
    until: datetime | None = None,
) -> Coverage:
    judged = ", ".join(f"'{s}'" for s in MEASUREMENT_STATUSES)
    when, at = period(since, until)
    row = con.execute(
        f"""
        SELECT count(*), min(measurement_start_time), max(measurement_start_time)
        FROM measurements WHERE probe_cc = ? AND status IN ({judged}) {when}
        """,
        [cc, *at],
    ).fetchone()
    nets = con.execute(
        f"""
        SELECT probe_asn, count(*) AS n FROM measurements
        WHERE probe_cc = ? AND status IN ({judged}) {when}
        GROUP BY probe_asn ORDER BY n DESC, probe_asn
        """,
        [cc, *at],
    ).fetchall()
    tests = con.execute(
        f"""
        SELECT test_name, count(*) FROM measurements
        WHERE probe_cc = ? AND status IN ({judged}) {when}
        GROUP BY test_name ORDER BY test_name
        """,
        [cc, *at],
    ).fetchall()
    n, first, last = row if row else (0, None, None)
    return Coverage(
        measurements=int(n),
        networks=[str(a) for a, _ in nets],
        first=first,
        last=last,
        tests={str(t): int(c) for t, c in tests},
    )


def role_timeline(
    con: duckdb.DuckDBPyConnection,
    cc: str,
    *,
    services: list[str] | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
) -> list[dict[str, Any]]:
    """Daily role-verdict counts per service, role and plane (with ``confirmed_count``).

    Rows fit :func:`voipwatch.report.charts.timeline`: ``day, service, role, plane``,
    one ``<status>_count`` per role status, ``confirmed_count`` (blocked verdicts a
    control or fingerprint confirmed) and ``verdict_count``.
    """
    counts = ", ".join(f"count(*) FILTER (WHERE v.status = '{s}') AS {s}" for s in ROLE_STATUSES)
    params: list[Any] = [cc]
    where = ""
    if services:
        where = f"AND v.service IN ({', '.join('?' for _ in services)})"
        params.extend(services)
    when, at = period(since, until, "m.measurement_start_time")
    where += when
    params.extend(at)
    judged = ", ".join(f"'{s}'" for s in MEASUREMENT_STATUSES)
    roles = ", ".join(f"'{s}'" for s in ROLE_STATUSES)
    rows = con.execute(
        f"""
        SELECT strftime(date_trunc('day', m.measurement_start_time), '%Y-%m-%d') AS day,
               v.service, v.role, v.plane, {counts},
               count(*) FILTER (WHERE v.status = 'blocked' AND v.confirmed) AS confirmed,
               count(*) AS total
        FROM verdicts v JOIN measurements m ON m.key = v.key
        WHERE m.probe_cc = ? AND m.status IN ({judged}) AND v.status IN ({roles}) {where}
          AND m.measurement_start_time IS NOT NULL
        GROUP BY ALL ORDER BY day, v.service, v.role
        """,
        params,
    ).fetchall()
    out = []
    for r in rows:
        day, service, role, plane, *n = r
        row: dict[str, Any] = {"day": day, "service": service, "role": role, "plane": plane}
        row.update({f"{s}_count": int(c) for s, c in zip(ROLE_STATUSES, n, strict=False)})
        row["confirmed_count"] = int(n[-2])
        row["verdict_count"] = int(n[-1])
        out.append(row)
    return out


def measured_services(
    con: duckdb.DuckDBPyConnection,
    cc: str,
    *,
    since: datetime | None = None,
    until: datetime | None = None,
) -> dict[str, dict[str, int]]:
    """Per service: role verdicts by status, over what is held for the country (in the
    period, when one is given)."""
    when, at = period(since, until, "m.measurement_start_time")
    rows = con.execute(
        f"""
        SELECT v.service, v.status, count(*) FROM verdicts v JOIN measurements m ON m.key = v.key
        WHERE m.probe_cc = ? {when} GROUP BY ALL ORDER BY 1, 2
        """,
        [cc, *at],
    ).fetchall()
    out: dict[str, dict[str, int]] = {}
    for service, status, n in rows:
        out.setdefault(str(service), {})[str(status)] = int(n)
    return out


def _behind_event(
    cc: str, roles: list[str], since: datetime, until: datetime | None, asns: list[int] | None
) -> tuple[str, list[Any]]:
    """The verdict rows behind an event: a ``FROM … WHERE`` over ``v`` and ``m``, and its
    parameters — a verdict on one of ``roles`` of ``blocked`` or ``partial`` in the
    event's window and networks."""
    params: list[Any] = [cc, *roles, since]
    where = ""
    if until is not None:
        where += " AND m.measurement_start_time <= ?"
        params.append(until)
    if asns:
        where += f" AND m.probe_asn IN ({', '.join('?' for _ in asns)})"
        params.extend(f"AS{a}" for a in asns)
    sql = f"""
        FROM verdicts v JOIN measurements m ON m.key = v.key
        WHERE m.probe_cc = ? AND v.role IN ({", ".join("?" for _ in roles)})
          AND v.status IN ('blocked', 'partial') AND m.measurement_start_time >= ? {where}
    """
    return sql, params


def evidence_raw(
    con: duckdb.DuckDBPyConnection,
    cc: str,
    *,
    roles: list[str],
    since: datetime,
    until: datetime | None,
    asns: list[int] | None = None,
    limit: int,
) -> tuple[list[bytes], int]:
    """The stored raw bytes (zstd) of the measurements behind an event, oldest first,
    at most ``limit`` of them; and how many there are in all.

    The same measurements as :func:`evidence_samples`: a verdict on one of ``roles`` of
    ``blocked`` or ``partial`` in the event's window, each measurement once.
    """
    if not roles:
        return [], 0
    rows_sql, params = _behind_event(cc, roles, since, until, asns)
    behind = f"SELECT DISTINCT m.key {rows_sql}"
    row = con.execute(f"SELECT count(*) FROM ({behind})", params).fetchone()
    total = int(row[0]) if row else 0
    rows = con.execute(
        f"""
        SELECT m.raw_zstd FROM measurements m WHERE m.key IN ({behind})
        ORDER BY m.measurement_start_time, m.measurement_uid, m.key LIMIT ?
        """,
        [*params, limit],
    ).fetchall()
    return [bytes(r[0]) for r in rows], total


def evidence_samples(
    con: duckdb.DuckDBPyConnection,
    cc: str,
    *,
    roles: list[str],
    since: datetime,
    until: datetime | None,
    asns: list[int] | None = None,
    limit: int = 3,
) -> list[dict[str, Any]]:
    """A few measurements behind an event: uid, network, time, role, technique, atoms."""
    if not roles:
        return []
    rows_sql, params = _behind_event(cc, roles, since, until, asns)
    params.append(limit)
    rows = con.execute(
        f"""
        SELECT m.measurement_uid, m.probe_asn, m.measurement_start_time, m.test_name,
               v.role, v.status, v.technique, v.evidence, v.confirmed
        {rows_sql}
        ORDER BY m.measurement_start_time, m.measurement_uid LIMIT ?
        """,
        params,
    ).fetchall()
    out = []
    for uid, asn, t, test, role, status, technique, evidence, confirmed in rows:
        atoms = msgspec.json.decode(evidence) if evidence else []
        out.append(
            {
                "measurement_uid": uid,
                "probe_asn": asn,
                "time": t,
                "test_name": test,
                "role": role,
                "status": status,
                "technique": technique,
                "confirmed": bool(confirmed),
                "atoms": atoms[:3] if isinstance(atoms, list) else [],
            }
        )
    return out


def network_names(con: duckdb.DuckDBPyConnection, cc: str, asns: list[str]) -> dict[str, str]:
    """Operator names as the measurements record them (OONI's ``probe_network_name``)."""
    names: dict[str, str] = {}
    for asn in asns:
        row = con.execute(
            "SELECT raw_zstd FROM measurements WHERE probe_cc = ? AND probe_asn = ? LIMIT 1",
            [cc, asn],
        ).fetchone()
        if not row:
            continue
        try:
            doc = msgspec.json.decode(decompress(row[0]))
        except (msgspec.DecodeError, ValueError):
            continue
        name = doc.get("probe_network_name") if isinstance(doc, dict) else None
        if isinstance(name, str) and name.strip():
            names[asn] = name.strip()
    return names
