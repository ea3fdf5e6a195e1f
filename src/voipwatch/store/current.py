"""The store's last days of role verdicts, counted per network and role: what the
one rule for "blocked here" (:mod:`voipwatch.events.current`) judges.

Verdicts that an artefact explains — a detected event of one of the given kinds (a
``target_change`` or an ``outage``) for that country and role, at that time — are
counted apart, never as blocks.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Final, NamedTuple

import duckdb

_BLOCKING: Final = "('blocked', 'partial')"
_JUDGED: Final = "('ok', 'blocked', 'partial', 'degraded')"


class RoleCount(NamedTuple):
    """One network's verdicts of one role on one plane in the window."""

    probe_cc: str
    asn: str
    service: str
    role: str
    plane: str
    blocked: int
    judged: int
    first_blocked: datetime | None
    techniques: list[str] | None
    target_changes: int


class Window(NamedTuple):
    """The counts of the store's last days, and the measurements per country, service
    and plane."""

    since: datetime
    until: datetime
    cells: list[RoleCount]
    measurements: dict[tuple[str, str, str], int]


def latest_time(cur: duckdb.DuckDBPyConnection) -> datetime | None:
    """The newest measurement's start time (naive UTC), if any."""
    row = cur.execute(
        "SELECT max(measurement_start_time) FROM measurements WHERE status <> 'unsupported'"
    ).fetchone()
    return row[0] if row else None


def _has_table(cur: duckdb.DuckDBPyConnection, name: str) -> bool:
    row = cur.execute(
        "SELECT count(*) FROM information_schema.tables WHERE table_name = ?", [name]
    ).fetchone()
    return bool(row and row[0])


def role_counts(
    cur: duckdb.DuckDBPyConnection,
    *,
    days: int,
    probe_cc: tuple[str, ...],
    artefact_kinds: tuple[str, ...],
) -> Window | None:
    """Each network's role verdicts over the last ``days`` days of the store (None when
    it holds no measurement), optionally of some countries only."""
    end = latest_time(cur)
    if end is None:
        return None
    since = (end - timedelta(days=days)).replace(microsecond=0)
    params: list[object] = [since]
    where = ["m.measurement_start_time > ?", "m.status IN ('ok', 'anomaly', 'confirmed')"]
    if probe_cc:
        params.extend(probe_cc)
        where.append(f"m.probe_cc IN ({', '.join('?' for _ in probe_cc)})")
    kinds = ", ".join(f"'{k}'" for k in artefact_kinds)
    changes = (
        f"""
        EXISTS (SELECT 1 FROM (SELECT probe_cc, unnest(roles) AS role, start, "end"
                               FROM events WHERE kind IN ({kinds})) AS tc
                WHERE tc.probe_cc = m.probe_cc AND tc.role = v.role
                  AND m.measurement_start_time >= tc.start
                  AND (tc."end" IS NULL OR m.measurement_start_time < tc."end"))
        """
        if artefact_kinds and _has_table(cur, "events")
        else "false"
    )
    sql = f"""
        WITH tagged AS (
            SELECT m.probe_cc, m.probe_asn, v.service, v.role, v.plane, v.status,
                   v.technique, v.key, m.measurement_start_time AS t,
                   v.status IN {_BLOCKING} AND NOT {changes} AS is_block,
                   v.status IN {_BLOCKING} AND {changes} AS is_change
            FROM verdicts AS v JOIN measurements AS m ON m.key = v.key
            WHERE {" AND ".join(where)}
        )
        SELECT probe_cc, coalesce(probe_asn, ''), service, role, plane,
               count(*) FILTER (WHERE is_block) AS blocked_count,
               count(*) FILTER (WHERE status IN {_JUDGED} AND NOT is_change) AS judged_count,
               min(t) FILTER (WHERE is_block) AS first_blocked,
               list(DISTINCT technique ORDER BY technique)
                   FILTER (WHERE is_block AND technique IS NOT NULL) AS techniques,
               count(*) FILTER (WHERE is_change) AS target_change_count
        FROM tagged
        GROUP BY ALL ORDER BY ALL
    """
    cells = [
        RoleCount(
            str(r[0]),
            str(r[1]),
            str(r[2]),
            str(r[3]),
            str(r[4]),
            int(r[5]),
            int(r[6]),
            r[7],
            None if r[8] is None else [str(t) for t in r[8]],
            int(r[9]),
        )
        for r in cur.execute(sql, params).fetchall()
    ]
    counted = cur.execute(
        "SELECT m.probe_cc, v.service, v.plane, count(DISTINCT v.key) "
        "FROM verdicts AS v JOIN measurements AS m ON m.key = v.key "
        f"WHERE {' AND '.join(where)} GROUP BY ALL",
        params,
    ).fetchall()
    return Window(
        since=since,
        until=end,
        cells=cells,
        measurements={(str(r[0]), str(r[1]), str(r[2])): int(r[3]) for r in counted},
    )
