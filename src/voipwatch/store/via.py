"""The read side of ``via_outcomes``: what still works, through which tool, where.

One row per (app, plane, tool, outcome) of a country: how many app-role measurements
through that tool had that outcome, on which networks, first and last seen. The
country page and the brief show the ``restored`` rows as "what still works" and the
others beside them, so a tool is never said to work where it was only tried.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import duckdb

__all__ = ["ToolResult", "what_still_works"]


@dataclass(frozen=True, slots=True)
class ToolResult:
    """App ``service``'s ``plane`` through ``tool``: ``count`` role measurements had
    ``outcome`` (restored, still_blocked, not_carried), on ``networks``."""

    service: str
    plane: str
    tool: str
    outcome: str
    count: int
    networks: tuple[str, ...]
    first: datetime | None
    last: datetime | None
    #: Of those, how many found the tool itself blocked.
    tool_blocked: int


_SQL = """
    SELECT v.service, v.plane, v.tool, v.outcome, count(*) AS n,
           list(DISTINCT m.probe_asn ORDER BY m.probe_asn) AS nets,
           min(m.measurement_start_time), max(m.measurement_start_time),
           count(*) FILTER (WHERE v.tool_status = 'blocked') AS tool_blocked
    FROM via_outcomes v JOIN measurements m USING (key)
    WHERE m.probe_cc = ? AND v.outcome IN ('restored', 'still_blocked', 'not_carried')
      AND (CAST(? AS TIMESTAMP) IS NULL OR m.measurement_start_time >= ?)
      AND (CAST(? AS TIMESTAMP) IS NULL OR m.measurement_start_time < ?)
    GROUP BY v.service, v.plane, v.tool, v.outcome
    ORDER BY v.service, v.plane, v.outcome <> 'restored', v.tool, v.outcome
"""


def what_still_works(
    con: duckdb.DuckDBPyConnection,
    cc: str,
    *,
    since: datetime | None = None,
    until: datetime | None = None,
) -> list[ToolResult]:
    """The via results of country ``cc`` in [since, until), restored first per app and
    plane; roles that were not blocked directly are left out (nothing was restored)."""
    rows = con.execute(_SQL, [cc.upper(), since, since, until, until]).fetchall()
    return [
        ToolResult(
            service=str(r[0]),
            plane=str(r[1]),
            tool=str(r[2]),
            outcome=str(r[3]),
            count=int(r[4]),
            networks=tuple(str(n) for n in r[5] or ()),
            first=r[6],
            last=r[7],
            tool_blocked=int(r[8]),
        )
        for r in rows
    ]
