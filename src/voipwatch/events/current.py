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
from datetime import datetime
from typing import Any, Final

import duckdb

from voipwatch.events.standing import Judgement, baselines, judge, standing
from voipwatch.store.current import RoleCount, latest_time, role_counts

__all__ = ["ARTEFACT_KINDS", "counts_text", "current_blocks", "latest_time", "rows_of"]

#: Event kinds whose verdicts are not counted as blocks on the map.
ARTEFACT_KINDS: Final = ("target_change", "outage")


def _time(value: datetime | None) -> str | None:
    return value.strftime("%Y-%m-%dT%H:%M:%SZ") if value is not None else None


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
    window = role_counts(cur, days=days, probe_cc=probe_cc, artefact_kinds=ARTEFACT_KINDS)
    if window is None:
        return {"since": None, "until": None, "days": days, "rows": []}
    return {
        "since": _time(window.since),
        "until": _time(window.until),
        "days": days,
        "rows": rows_of(window.cells, window.measurements, service=service, plane=plane),
    }


def rows_of(
    cells: list[RoleCount],
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
    groups: dict[tuple[str, str, str], list[RoleCount]] = defaultdict(list)
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
