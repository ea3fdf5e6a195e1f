"""What is blocked now: the store's last days of role verdicts, judged by one rule.

Rows per country × app × plane, as the map, the grid, ``/api/v1/current``, the app
and country pages and the brief show them. Each network's roles are counted apart and
judged by :func:`voipwatch.events.standing.judge` against that network's own
baseline; a row takes the state of its worst network and role
(:func:`~voipwatch.events.standing.standing`) and carries the counts and the bound
that decided it.

Verdicts that an artefact explains — a ``target_change`` (the app changed) or an
``outage`` (the app's servers were down) detected for that country and role — are not
blocks: they stand apart as ``target_change_count``.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime, timedelta
from typing import Any, Final

import duckdb

from voipwatch.events.standing import Judgement, baselines, judge, standing

#: Event kinds whose verdicts are not counted as blocks on the map.
ARTEFACT_KINDS: Final = ("target_change", "outage")


def latest_time(cur: duckdb.DuckDBPyConnection) -> datetime | None:
    row = cur.execute(
        "SELECT max(measurement_start_time) FROM measurements WHERE status <> 'unsupported'"
    ).fetchone()
    return row[0] if row else None


def _time(value: datetime | None) -> str | None:
    return value.strftime("%Y-%m-%dT%H:%M:%SZ") if value is not None else None


def _has_table(cur: duckdb.DuckDBPyConnection, name: str) -> bool:
    row = cur.execute(
        "SELECT count(*) FROM information_schema.tables WHERE table_name = ?", [name]
    ).fetchone()
    return bool(row and row[0])


def _in(column: str, values: tuple[str, ...], params: list[Any]) -> str:
    params.extend(values)
    return f"{column} IN ({', '.join('?' for _ in values)})"


def current_blocks(
    cur: duckdb.DuckDBPyConnection,
    *,
    days: int,
    probe_cc: tuple[str, ...] = (),
    service: tuple[str, ...] = (),
    plane: tuple[str, ...] = (),
) -> dict[str, Any]:
    """Per country × app × plane, the state of the store's last ``days`` days.

    "Current" is relative to the newest measurement in the store, so a store of old
    data still shows its last state. Baselines take every role of a network, whatever
    the ``service`` and ``plane`` asked for, so a filter never changes a state.
    """
    end = latest_time(cur)
    if end is None:
        return {"since": None, "until": None, "days": days, "rows": []}
    since = (end - timedelta(days=days)).replace(microsecond=0)
    params: list[Any] = [since]
    where = ["m.measurement_start_time > ?", "m.status IN ('ok', 'anomaly', 'confirmed')"]
    if probe_cc:
        where.append(_in("m.probe_cc", probe_cc, params))
    kinds = ", ".join(f"'{k}'" for k in ARTEFACT_KINDS)
    changes = (
        f"""
        EXISTS (SELECT 1 FROM (SELECT probe_cc, unnest(roles) AS role, start, "end"
                               FROM events WHERE kind IN ({kinds})) AS tc
                WHERE tc.probe_cc = m.probe_cc AND tc.role = v.role
                  AND m.measurement_start_time >= tc.start
                  AND (tc."end" IS NULL OR m.measurement_start_time < tc."end"))
        """
        if _has_table(cur, "events")
        else "false"
    )
    sql = f"""
        WITH tagged AS (
            SELECT m.probe_cc, m.probe_asn, v.service, v.role, v.plane, v.status,
                   v.technique, v.key, m.measurement_start_time AS t,
                   v.status IN ('blocked', 'partial') AND NOT {changes} AS is_block,
                   v.status IN ('blocked', 'partial') AND {changes} AS is_change
            FROM verdicts AS v JOIN measurements AS m ON m.key = v.key
            WHERE {" AND ".join(where)}
        )
        SELECT probe_cc, coalesce(probe_asn, ''), service, role, plane,
               count(*) FILTER (WHERE is_block) AS blocked_count,
               count(*) FILTER (WHERE status IN ('ok', 'blocked', 'partial', 'degraded')
                                AND NOT is_change) AS judged_count,
               min(t) FILTER (WHERE is_block) AS first_blocked,
               list(DISTINCT technique ORDER BY technique)
                   FILTER (WHERE is_block AND technique IS NOT NULL) AS techniques,
               count(*) FILTER (WHERE is_change) AS target_change_count
        FROM tagged
        GROUP BY ALL ORDER BY ALL
    """
    cells = cur.execute(sql, params).fetchall()
    counted = cur.execute(
        "SELECT m.probe_cc, v.service, v.plane, count(DISTINCT v.key) "
        "FROM verdicts AS v JOIN measurements AS m ON m.key = v.key "
        f"WHERE {' AND '.join(where)} GROUP BY ALL",
        params,
    ).fetchall()
    return {
        "since": _time(since),
        "until": _time(end),
        "days": days,
        "rows": rows_of(
            cells, {(r[0], r[1], r[2]): r[3] for r in counted}, service=service, plane=plane
        ),
    }


def rows_of(
    cells: list[tuple[Any, ...]],
    measurements: dict[tuple[str, str, str], int],
    *,
    service: tuple[str, ...] = (),
    plane: tuple[str, ...] = (),
) -> list[dict[str, Any]]:
    """Cells rolled up to rows.

    A cell is (country, network, app, role, plane, blocked, judged, first blocked,
    techniques, target-change count); ``measurements`` counts the measurements of each
    country, app and plane.
    """
    per_net: dict[tuple[str, str], dict[str, tuple[int, int]]] = defaultdict(dict)
    for cc, asn, _svc, role, _pl, blocked, judged, *_ in cells:
        b, n = per_net[cc, asn].get(role, (0, 0))
        per_net[cc, asn][role] = (b + blocked, n + judged)
    base = {net: baselines(roles) for net, roles in per_net.items()}
    groups: dict[tuple[str, str, str], list[tuple[Any, ...]]] = defaultdict(list)
    for c in cells:
        if (service and c[2] not in service) or (plane and c[4] not in plane):
            continue
        groups[c[0], c[2], c[4]].append(c)
    rows = []
    for (cc, svc, pl), group in sorted(groups.items()):
        parts: list[tuple[Judgement, str, str]] = [
            (judge(c[5], c[6], base[cc, c[1]][c[3]]), c[1], c[3]) for c in group
        ]
        state = standing(j for j, _, _ in parts)
        where = next(((a, r) for j, a, r in parts if j is state), None)
        blocked = sum(c[5] for c in group)
        judged = sum(c[6] for c in group)
        firsts = [c[7] for c in group if c[7] is not None]
        rows.append(
            {
                "probe_cc": cc,
                "service": svc,
                "plane": pl,
                "status": state.status,
                "lower_bound": state.lower_bound,
                "baseline": state.baseline,
                "decided_by": None
                if where is None
                else {
                    "probe_asn": where[0],
                    "role": where[1],
                    "blocked_count": state.blocked,
                    "judged_count": state.judged,
                },
                "networks_blocked": sorted({a for j, a, _ in parts if j.significant}, key=str),
                "blocked_count": blocked,
                "judged_count": judged,
                "measurement_count": measurements.get((cc, svc, pl), 0),
                "blocked_share": round(blocked / judged, 4) if judged else 0.0,
                "blocked": state.status == "blocked",
                "first_blocked": _time(min(firsts)) if firsts else None,
                "techniques": sorted({t for c in group for t in (c[8] or [])}),
                "target_change_count": sum(c[9] for c in group),
            }
        )
    return rows


def counts_text(row: dict[str, Any]) -> str:
    """The counts and bound behind a row's state, in the words every face shows."""
    decided = row.get("decided_by")
    if row["status"] != "ok" and decided:
        return (
            f"{decided['blocked_count']} of {decided['judged_count']} blocked on "
            f"{decided['probe_asn']} ({decided['role']}), at least "
            f"{100 * row['lower_bound']:.0f} % against a usual {100 * row['baseline']:.0f} %"
        )
    if row["blocked_count"]:
        return f"a few anomalies ({row['blocked_count']} of {row['judged_count']})"
    return f"{row['judged_count']} verdicts, none blocked"
